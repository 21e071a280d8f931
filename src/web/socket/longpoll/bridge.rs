//! One LongPoll session: the very [`Session`] a WebSocket connection runs, fed through the same
//! WebSocket framing. What a client POSTs goes in as the frames a WebSocket client would send;
//! what the session sends comes out as frames, read back into the messages the next poll
//! answers with. Every rule of the channel (join, preload, resume, filters, each kill once,
//! the byte-bounded outbox) is the WebSocket session's own.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use actix_codec::{Decoder, Encoder};
use actix_web::web::{Bytes, BytesMut};
use actix_web_actors::ws;
use awc::ws::{Codec, Frame, Message};
use tokio::sync::{mpsc, Notify};

use crate::web::socket::metered::Drain;
use crate::web::socket::outlet::Runner;
use crate::web::socket::session::Session;

/// Bytes of messages a session holds for its next poll; past it the session's own outbox fills
/// (and its stall and byte limits apply, as for a WebSocket client that does not read).
const MAX_BUFFERED: usize = 4 * 1024 * 1024;
/// Frames waiting to go into the session.
const INPUT_QUEUE: usize = 256;

#[derive(Default)]
struct Buffered {
    messages: VecDeque<String>,
    bytes: usize,
    /// The session ended (left, cut, shut down): the next poll says the session is gone.
    closed: bool,
}

type Input = mpsc::Sender<Result<Bytes, actix_web::error::PayloadError>>;

pub struct Bridge {
    /// Taken when the session is ended, which ends the session's input.
    input: Mutex<Option<Input>>,
    out: Mutex<Buffered>,
    /// A poll waits on it for messages.
    arrived: Notify,
    /// The reader waits on it for room.
    room: Notify,
    last_seen: Mutex<Instant>,
}

impl Bridge {
    /// Starts `session` behind a bridge; the caller keeps the bridge under the session's token.
    pub fn start(session: Session, drain: Drain, max_frame_bytes: usize) -> Arc<Self> {
        let (input, rx) = mpsc::channel(INPUT_QUEUE);
        let bridge = Arc::new(Self {
            input: Mutex::new(Some(input)),
            out: Mutex::default(),
            arrived: Notify::new(),
            room: Notify::new(),
            last_seen: Mutex::new(Instant::now()),
        });
        let incoming = tokio_stream_of(rx);
        let codec = Codec::new().max_size(max_frame_bytes);
        let live = session.live();
        let session = ws::WebsocketContext::with_codec(session, incoming, codec);
        let mut session = Runner::new(Box::pin(session));
        let reader = Arc::clone(&bridge);
        actix_web::rt::spawn(async move {
            let mut codec = Codec::new().client_mode().max_size(usize::MAX >> 1);
            let mut pending = BytesMut::new();
            let mut batch = Vec::new();
            loop {
                let more = tokio::select! {
                    more = session.next_batch(&live.outlet, &mut batch) => more,
                    // Cut (it let too much pile up): the session ends here.
                    () = drain.cut_requested() => false,
                };
                for chunk in batch.drain(..) {
                    pending.extend_from_slice(&chunk);
                }
                while let Ok(Some(frame)) = codec.decode(&mut pending) {
                    match frame {
                        Frame::Text(text) => {
                            reader.push(String::from_utf8_lossy(&text).into_owned())
                        }
                        Frame::Close(_) => reader.close(),
                        _ => {}
                    }
                }
                while reader.full() && !reader.is_closed() {
                    reader.room.notified().await;
                }
                if !more || (reader.is_closed() && reader.input_ended()) {
                    break;
                }
            }
            reader.close();
        });
        bridge
    }

    fn out(&self) -> MutexGuard<'_, Buffered> {
        // Plain queues: a panic elsewhere cannot leave them half-changed.
        self.out.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, message: String) {
        let mut out = self.out();
        out.bytes += message.len();
        out.messages.push_back(message);
        drop(out);
        self.arrived.notify_one();
    }

    fn close(&self) {
        self.out().closed = true;
        self.arrived.notify_one();
    }

    fn full(&self) -> bool {
        self.out().bytes >= MAX_BUFFERED
    }

    pub fn is_closed(&self) -> bool {
        self.out().closed
    }

    /// Marks the client as seen now.
    pub fn touch(&self) {
        *self
            .last_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    /// How long the client has not been seen.
    pub fn idle(&self) -> Duration {
        self.last_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .elapsed()
    }

    fn input_ended(&self) -> bool {
        self.input
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }

    /// Hands `message` to the session as a WebSocket client's frame would; `false` when the
    /// session has ended.
    pub async fn send(&self, message: Message) -> bool {
        let mut codec = Codec::new().client_mode();
        let mut frame = BytesMut::new();
        if codec.encode(message, &mut frame).is_err() {
            return false;
        }
        let input = self
            .input
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match input {
            Some(input) => input.send(Ok(frame.freeze())).await.is_ok(),
            None => false,
        }
    }

    /// The messages waiting, once some are there or `window` has passed (empty then); `None`
    /// when the session has ended.
    pub async fn take(&self, window: Duration) -> Option<Vec<String>> {
        let deadline = tokio::time::Instant::now() + window;
        loop {
            {
                let mut out = self.out();
                if !out.messages.is_empty() {
                    let taken: Vec<String> = out.messages.drain(..).collect();
                    out.bytes = 0;
                    drop(out);
                    self.room.notify_one();
                    return Some(taken);
                }
                if out.closed {
                    return None;
                }
            }
            if tokio::time::timeout_at(deadline, self.arrived.notified())
                .await
                .is_err()
            {
                return Some(Vec::new());
            }
        }
    }

    /// Ends the session: its input ends, so the session stops (and leaves the registry).
    pub fn end(&self) {
        self.input
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        self.close();
        self.room.notify_one();
    }
}

/// The receiving half of the input queue as the stream a WebSocket context reads.
fn tokio_stream_of(
    mut rx: mpsc::Receiver<Result<Bytes, actix_web::error::PayloadError>>,
) -> impl futures_util::Stream<Item = Result<Bytes, actix_web::error::PayloadError>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
