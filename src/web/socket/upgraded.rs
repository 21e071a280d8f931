//! A WebSocket connection after its handshake, served on its own socket rather than through
//! the HTTP layer's connection dispatcher.
//!
//! The upgrade route answers 101 and leaves a [`Handover`] in the response; the server's upgrade
//! service (`web/server.rs`) writes the answer and gives the socket here. From then on this
//! file reads the client's bytes into the session and writes the frames queued in the
//! connection's outlet straight to the socket, as many as wait in one write: no HTTP read and
//! write buffers kept for the connection's life (an idle connection holds only what its session
//! holds), and a live kill's frame, encoded once per worker, is not copied again on its way out.

use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::pin::Pin;

use actix_web::rt::net::TcpStream;
use actix_web::web::{Buf, Bytes, BytesMut};
use actix_web_actors::ws;
use futures_util::{stream, Stream, StreamExt};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::metered::Drain;
use super::outlet::{Outlet, Runner};
use super::session::Session;

/// The most one read takes from the socket; it is allocated only once the socket is readable.
const READ_CHUNK: usize = 4096;
/// The most frames one write hands to the socket.
const FRAMES_PER_WRITE: usize = 32;

/// What the upgrade route hands to the server along with its 101 answer: the session to run on
/// the connection, and how to frame it.
pub struct Handover {
    pub session: Session,
    pub drain: Drain,
    pub max_frame_bytes: usize,
}

impl Handover {
    /// Runs the session on `io` until either side ends it. `already_read` is what the HTTP layer
    /// had read past the handshake (a client may send its first frame right behind it).
    pub async fn serve(self, io: TcpStream, already_read: Bytes) {
        let (reader, mut writer) = io.into_split();
        let first = (!already_read.is_empty()).then_some(Ok(already_read));
        let input = stream::iter(first).chain(incoming(reader));
        let codec = awc::ws::Codec::new().max_size(self.max_frame_bytes);
        let live = self.session.live();
        let session = ws::WebsocketContext::with_codec(self.session, input, codec);
        let mut session = Runner::new(Box::pin(session));
        let drain = self.drain;
        tokio::select! {
            written = write_all(&mut session, &live.outlet, &mut writer) => {
                if let Err(e) = written {
                    log::debug!("ws connection ended error={e}");
                }
                let _ = writer.shutdown().await;
            }
            // A client that does not read: the socket is dropped with what it had queued, and
            // the session stops with it.
            () = drain.cut_requested() => {}
        }
    }
}

/// Runs the session and writes what it queues, as it comes. The next batch is taken only once
/// the socket took the last one, so a client that does not read holds the session still (and
/// its watchdog sees it).
async fn write_all(
    session: &mut Runner,
    outlet: &Outlet,
    writer: &mut OwnedWriteHalf,
) -> io::Result<()> {
    let mut batch = Vec::new();
    loop {
        let more = session.next_batch(outlet, &mut batch).await;
        write_frames(writer, &mut batch).await?;
        if !more {
            return Ok(());
        }
    }
}

/// Writes `frames` whole, several to a system call; leaves `frames` empty.
async fn write_frames(writer: &mut OwnedWriteHalf, frames: &mut Vec<Bytes>) -> io::Result<()> {
    let mut first = 0;
    while first < frames.len() {
        // The slices are made at each try, so a connection waiting to write does not keep them.
        let mut written = poll_fn(|cx| {
            let mut slices = [IoSlice::new(&[]); FRAMES_PER_WRITE];
            let mut count = 0;
            for (slice, frame) in slices.iter_mut().zip(&frames[first..]) {
                *slice = IoSlice::new(frame);
                count += 1;
            }
            Pin::new(&mut *writer).poll_write_vectored(cx, &slices[..count])
        })
        .await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        while written > 0 {
            let frame = &mut frames[first];
            if written >= frame.len() {
                written -= frame.len();
                first += 1;
            } else {
                frame.advance(written);
                written = 0;
            }
        }
    }
    frames.clear();
    Ok(())
}

/// The client's bytes, as they arrive; ends when the client closes its side or the read fails.
fn incoming(
    reader: OwnedReadHalf,
) -> impl Stream<Item = Result<Bytes, actix_web::error::PayloadError>> {
    stream::unfold(Some(reader), |reader| async move {
        let reader = reader?;
        loop {
            if let Err(e) = reader.readable().await {
                return Some((Err(e.into()), None));
            }
            let mut chunk = BytesMut::with_capacity(READ_CHUNK);
            match reader.try_read_buf(&mut chunk) {
                Ok(0) => return None,
                Ok(_) => return Some((Ok(chunk.freeze()), Some(reader))),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Some((Err(e.into()), None)),
            }
        }
    })
}
