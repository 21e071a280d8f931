//! A connection's outgoing frames, in the order they are to be written, until its writer takes
//! them. The session writes its replies and history here; its worker's hub writes live kills here
//! directly, as frames encoded once for every session that shares them (a clone of a shared
//! buffer, not a copy). One queue for both keeps the order: a reply, a history push and a live
//! kill leave in the order they were written.
//!
//! Everything here runs on the connection's worker thread. The writer (`upgraded`, or the
//! LongPoll bridge) runs the session and takes the queued frames with [`Runner::next_batch`].

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use actix_codec::Encoder;
use actix_web::web::{Bytes, BytesMut};
use awc::ws::{Codec, Message};
use bytestring::ByteString;
use futures_util::task::{waker, ArcWake, AtomicWaker};
use futures_util::Stream;

use super::metered::Drain;

/// The session's own stream: polling it runs the session (it writes nothing there itself).
pub type SessionStream = Pin<Box<dyn Stream<Item = Result<Bytes, actix_web::Error>>>>;

/// The frames waiting for one connection's writer.
#[derive(Default)]
pub struct Outlet {
    frames: RefCell<VecDeque<Bytes>>,
    writer: RefCell<Option<Waker>>,
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

    /// Queues an encoded frame (see [`encode`]).
    pub fn push(&self, frame: Bytes) {
        self.drain.wrote(frame.len());
        self.frames.borrow_mut().push_back(frame);
        if let Some(writer) = self.writer.borrow_mut().take() {
            writer.wake();
        }
    }

    /// Queues a text frame.
    pub fn text(&self, text: impl Into<ByteString>) {
        self.push(encode(Message::Text(text.into())));
    }

    /// Queues any other frame (pong, close).
    pub fn message(&self, message: Message) {
        self.push(encode(message));
    }

    /// Moves every queued frame into `batch`; answers whether there was any.
    fn take(&self, batch: &mut Vec<Bytes>) -> bool {
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
