//! A connection's outgoing frames, in the order they are to be written, until its writer takes
//! them. The session writes its replies and history here; its worker's hub writes live kills here
//! directly, as frames encoded once for every session that shares them (a clone of a shared
//! buffer, not a copy). One queue for both keeps the order: a reply, a history push and a live
//! kill leave in the order they were written.
//!
//! Everything here runs on the connection's worker thread. The writer (`upgraded`, or the
//! LongPoll bridge) runs the session and takes the queued frames with [`Runner::next_batch`].
//!
//! A WebSocket's outlet also holds its socket ([`Outlet::attach`]). Frames pushed while nothing
//! waits and the writer has nothing in hand go straight to the socket, from the caller's own
//! stack: a live kill costs no wake-up and no poll of the connection's task. Only what the socket
//! does not take at once waits here for the writer, in order.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use actix_codec::Encoder;
use actix_web::web::{Bytes, BytesMut};
use awc::ws::{Codec, Message};
use bytestring::ByteString;
use futures_util::task::{waker, ArcWake, AtomicWaker};
use futures_util::Stream;
use tokio::net::tcp::OwnedWriteHalf;

use super::metered::Drain;
use super::send::send;

/// The session's own stream: polling it runs the session (it writes nothing there itself).
pub type SessionStream = Pin<Box<dyn Stream<Item = Result<Bytes, actix_web::Error>>>>;

/// The frames waiting for one connection's writer.
#[derive(Default)]
pub struct Outlet {
    frames: RefCell<VecDeque<Bytes>>,
    /// Set while the writer waits for frames with none in hand (so none is on its way to the
    /// socket): taken to wake it.
    writer: RefCell<Option<Waker>>,
    /// The connection's socket, while its writer runs.
    socket: RefCell<Option<Rc<OwnedWriteHalf>>>,
    drain: Drain,
}

impl Outlet {
    pub fn new(drain: Drain) -> Self {
        Self {
            drain,
            ..Self::default()
        }
    }

    pub fn drain(&self) -> &Drain {
        &self.drain
    }

    /// Bytes written and not yet taken by the writer.
    pub fn queued(&self) -> u64 {
        self.drain.queued()
    }

    /// Lets pushes write to `socket` when nothing waits for the writer.
    pub fn attach(&self, socket: Rc<OwnedWriteHalf>) {
        *self.socket.borrow_mut() = Some(socket);
    }

    /// Nothing more goes to the socket but through the writer (which is ending).
    pub fn detach(&self) {
        self.socket.borrow_mut().take();
    }

    /// Queues an encoded frame (see [`encode`]).
    pub fn push(&self, frame: Bytes) {
        self.push_all(&[&frame]);
    }

    /// Queues a text frame.
    pub fn text(&self, text: impl Into<ByteString>) {
        self.push(encode(Message::Text(text.into())));
    }

    /// Queues any other frame (pong, close).
    pub fn message(&self, message: Message) {
        self.push(encode(message));
    }

    /// Sends encoded frames, in order: straight to the socket when nothing waits before them and
    /// the writer has nothing in hand; what the socket does not take waits for the writer.
    pub fn push_all(&self, frames: &[&Bytes]) {
        let mut written = self.write_now(frames);
        let mut queue = self.frames.borrow_mut();
        let before = queue.len();
        for frame in frames {
            if written >= frame.len() {
                written -= frame.len();
                continue;
            }
            let rest = frame.slice(written..);
            written = 0;
            self.drain.wrote(rest.len());
            queue.push_back(rest);
        }
        if queue.len() > before {
            if let Some(writer) = self.writer.borrow_mut().take() {
                writer.wake();
            }
        }
    }

    /// Sends what the socket takes of `frames` now, when that keeps the order: nothing queued,
    /// and the writer waiting with nothing in hand. Answers the bytes sent.
    fn write_now(&self, frames: &[&Bytes]) -> usize {
        let socket = self.socket.borrow();
        let Some(socket) = socket.as_ref() else {
            return 0;
        };
        if self.writer.borrow().is_none() || !self.frames.borrow().is_empty() {
            return 0;
        }
        // Would block, or failed: the writer tries again, and meets the error itself.
        send(socket, frames.iter().map(|f| &f[..])).unwrap_or(0)
    }

    /// Moves every queued frame into `batch`; answers whether there was any. The writer has
    /// them in hand now: pushes queue behind them until it asks again.
    fn take(&self, batch: &mut Vec<Bytes>) -> bool {
        self.writer.borrow_mut().take();
        let mut frames = self.frames.borrow_mut();
        let bytes: usize = frames.iter().map(Bytes::len).sum();
        self.drain.took(bytes);
        batch.extend(frames.drain(..));
        bytes > 0
    }

    /// [`Outlet::take`], or pending (and the writer woken on the next push) when there is none.
    fn poll_take(&self, cx: &mut Context<'_>, batch: &mut Vec<Bytes>) -> Poll<()> {
        if self.take(batch) {
            return Poll::Ready(());
        }
        *self.writer.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// A frame as it goes on the wire from the server (unmasked).
pub fn encode(message: Message) -> Bytes {
    let mut buf = BytesMut::new();
    // The server codec encodes every message it is given; its only error is for a continuation
    // without a start, which is never written here.
    let _ = Codec::new().encode(message, &mut buf);
    buf.freeze()
}

/// Runs a session for its connection's writer: the session is polled only when something of its
/// own woke it (a client frame, a timer, a message), not each time a live kill lands in the
/// outlet.
pub struct Runner {
    session: SessionStream,
    wake: Arc<SessionWake>,
    waker: Waker,
}

/// Notes that the session was woken, and wakes the writer's task.
#[derive(Default)]
struct SessionWake {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl ArcWake for SessionWake {
    fn wake_by_ref(wake: &Arc<Self>) {
        wake.woken.store(true, Ordering::Release);
        wake.task.wake();
    }
}

impl Runner {
    pub fn new(session: SessionStream) -> Self {
        let wake = Arc::new(SessionWake::default());
        wake.woken.store(true, Ordering::Relaxed);
        Self {
            session,
            waker: waker(Arc::clone(&wake)),
            wake,
        }
    }

    /// Runs the session until frames wait to be written (moved into `batch`, answers `true`) or
    /// the session ended (what it left is in `batch`, answers `false`).
    pub async fn next_batch(&mut self, outlet: &Outlet, batch: &mut Vec<Bytes>) -> bool {
        poll_fn(|cx| {
            self.wake.task.register(cx.waker());
            // The session first: what it does with the client's frames lands in the outlet.
            if self.wake.woken.swap(false, Ordering::Acquire) {
                let mut session_cx = Context::from_waker(&self.waker);
                loop {
                    match self.session.as_mut().poll_next(&mut session_cx) {
                        // Nothing is written through the session's own context; kept in order if
                        // it is.
                        Poll::Ready(Some(Ok(bytes))) => outlet.push(bytes),
                        Poll::Ready(Some(Err(_)) | None) => {
                            outlet.take(batch);
                            return Poll::Ready(false);
                        }
                        Poll::Pending => break,
                    }
                }
            }
            outlet.poll_take(cx, batch).map(|()| true)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::sync::atomic::AtomicUsize;

    use actix_codec::Decoder;
    use awc::ws::Frame;
    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    /// Counts the wake-ups of the writer's task.
    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl ArcWake for Wakes {
        fn wake_by_ref(wakes: &Arc<Self>) {
            wakes.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A connected pair on loopback: the server's write half, and the client.
    async fn connection() -> (Rc<OwnedWriteHalf>, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let client = TcpStream::connect(address).await.expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        let (_, writer) = server.into_split();
        (Rc::new(writer), client)
    }

    /// The text of the next frame the client reads.
    async fn read_text(client: &mut TcpStream, codec: &mut Codec, read: &mut BytesMut) -> String {
        loop {
            if let Ok(Some(Frame::Text(text))) = codec.decode(read) {
                return String::from_utf8_lossy(&text).into_owned();
            }
            let got =
                tokio::time::timeout(std::time::Duration::from_secs(5), client.read_buf(read))
                    .await;
            assert!(
                matches!(got, Ok(Ok(n)) if n > 0),
                "the client gets its frames"
            );
        }
    }

    #[actix_web::test]
    async fn a_frame_pushed_while_the_writer_waits_goes_to_the_socket_without_waking_it() {
        let (socket, mut client) = connection().await;
        let outlet = Outlet::new(Drain::default());
        outlet.attach(socket);
        let mut runner = Runner::new(Box::pin(futures_util::stream::pending()));
        let mut batch = Vec::new();
        let wakes = Arc::new(Wakes::default());
        let task = waker(Arc::clone(&wakes));
        {
            let mut next = std::pin::pin!(runner.next_batch(&outlet, &mut batch));
            let parked = next.as_mut().poll(&mut Context::from_waker(&task));
            assert!(parked.is_pending(), "nothing to write yet");
        }

        outlet.push_all(&[
            &encode(Message::Text("first".into())),
            &encode(Message::Text("second".into())),
        ]);

        let (mut codec, mut read) = (Codec::new().client_mode(), BytesMut::new());
        assert_eq!(read_text(&mut client, &mut codec, &mut read).await, "first");
        assert_eq!(
            read_text(&mut client, &mut codec, &mut read).await,
            "second"
        );
        assert_eq!(
            wakes.0.load(Ordering::Relaxed),
            0,
            "the writer slept through"
        );
        assert_eq!(outlet.queued(), 0, "nothing waits in memory");
    }
}
