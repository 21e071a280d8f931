//! One load-test client: a Phoenix V2 WebSocket client that records when each kill arrives.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use awc::ws::{Frame, Message};
use futures_util::{SinkExt, StreamExt};

use super::Receipts;

const CLIENT_HEARTBEAT: Duration = Duration::from_secs(30);

/// One Phoenix client: join, count itself ready at `preload_complete`, then record every
/// `killmail_update` it reads, sending a heartbeat every 30 s as the real apps do.
pub async fn client_task(
    http: awc::Client,
    url: String,
    join: String,
    instance: usize,
    receipts: Receipts,
    ready: Rc<RefCell<usize>>,
) {
    let Ok((_, mut socket)) = http.ws(url).connect().await else {
        return;
    };
    if socket.send(Message::Text(join.into())).await.is_err() {
        return;
    }
    let mut heartbeat = actix_web::rt::time::interval(CLIENT_HEARTBEAT);
    heartbeat.tick().await;
    let mut beats = 0u64;
    loop {
        tokio::select! {
            frame = socket.next() => match frame {
                Some(Ok(Frame::Text(bytes))) => {
                    if let Some(id) = kill_id(&bytes) {
                        receipts.borrow_mut().push((id, Instant::now(), instance));
                    } else if contains(&bytes, b"\"preload_complete\"") {
                        *ready.borrow_mut() += 1;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return,
            },
            _ = heartbeat.tick() => {
                beats += 1;
                let beat = format!(r#"[null,"hb{beats}","phoenix","heartbeat",{{}}]"#);
                if socket.send(Message::Text(beat.into())).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// The first `killmail_id` of a `killmail_update` frame, read without parsing the JSON.
pub fn kill_id(frame: &[u8]) -> Option<u64> {
    if !contains(frame, b"\"killmail_update\"") {
        return None;
    }
    let key = b"\"killmail_id\":";
    let at = frame.windows(key.len()).position(|w| w == key)? + key.len();
    let digits: &[u8] = &frame[at..];
    let end = digits
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

pub fn client() -> awc::Client {
    awc::Client::builder()
        // WebSocket connections hold their connector slot for life: no pool limit.
        .connector(awc::Connector::new().limit(0))
        .timeout(Duration::from_secs(30))
        .finish()
}
