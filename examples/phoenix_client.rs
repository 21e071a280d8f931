//! A Phoenix-channels client in Rust: join `killmails:lobby` with some systems over WebSocket
//! (V2 frames), send a heartbeat every 30 s, and print each kill.
//!
//! ```sh
//! cargo run --example phoenix_client -- ws://localhost:4004 30000142,30002187 [kills to print]
//! ```

use std::time::Duration;

use awc::ws::{Frame, Message};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .ok_or("usage: phoenix_client <ws base url> <system ids> [kills]")?;
    let systems: Vec<u64> = args
        .next()
        .ok_or("no system ids")?
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let mut left = args.next().map_or(Ok(u64::MAX), |n| n.parse())?;

    let url = format!("{base}/socket/websocket?vsn=2.0.0&client_identifier=example-rust");
    let (_, mut socket) = awc::Client::new()
        .ws(url)
        .max_frame_size(16 * 1024 * 1024)
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let join = json!(["1", "1", "killmails:lobby", "phx_join",
                      {"systems": systems, "preload": {"enabled": false}}]);
    socket.send(Message::Text(join.to_string().into())).await?;

    let mut heartbeat = actix_web::rt::time::interval(Duration::from_secs(30));
    let mut reference = 1u64;
    loop {
        let frame = tokio::select! {
            frame = socket.next() => frame,
            _ = heartbeat.tick() => {
                reference += 1;
                let beat = json!([null, reference.to_string(), "phoenix", "heartbeat", {}]);
                socket.send(Message::Text(beat.to_string().into())).await?;
                continue;
            }
        };
        let Some(frame) = frame else {
            return Err("the server closed the connection".into());
        };
        let Frame::Text(text) = frame? else {
            continue;
        };
        let [_, _, topic, event, payload]: [Value; 5] =
            serde_json::from_slice::<Vec<Value>>(&text)?
                .try_into()
                .map_err(|_| "not a V2 frame")?;
        match (topic.as_str(), event.as_str()) {
            (Some("killmails:lobby"), Some("phx_reply")) => {
                if payload["status"] != "ok" {
                    return Err(format!("join refused: {}", payload["response"]).into());
                }
                println!("joined {}", payload["response"]["subscribed_systems"]);
            }
            (_, Some("killmail_update")) => {
                for kill in payload["killmails"].as_array().into_iter().flatten() {
                    let victim = &kill["victim"];
                    println!(
                        "kill {}: {} lost a {} in {}",
                        kill["killmail_id"],
                        victim["character_name"].as_str().unwrap_or("?"),
                        victim["ship_name"].as_str().unwrap_or("ship"),
                        kill["solar_system_name"].as_str().unwrap_or("?")
                    );
                    left = left.saturating_sub(1);
                    if left == 0 {
                        return Ok(());
                    }
                }
            }
            _ => {}
        }
    }
}
