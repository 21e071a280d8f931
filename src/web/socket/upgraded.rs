//! A WebSocket connection after its handshake, served on its own socket rather than through
//! the HTTP layer's connection dispatcher.
//!
//! The upgrade route answers 101 and leaves a [`Handover`] in the response; the server's upgrade
//! service (`web/server.rs`) writes the answer and gives the socket here. From then on this
//! file reads the client's bytes into the session and writes the session's frames straight to
//! the socket: no HTTP read and write buffers kept for the connection's life (an idle
//! connection holds only what its session holds), and a frame is copied once, by the
//! WebSocket encoder, on its way out.

use std::io;

use actix_web::rt::net::TcpStream;
use actix_web::web::{Bytes, BytesMut};
use actix_web_actors::ws;
use futures_util::{stream, Stream, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::metered::{Drain, Metered};
use super::session::Session;

/// The most one read takes from the socket; it is allocated only once the socket is readable.
const READ_CHUNK: usize = 4096;

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
        let frames = ws::WebsocketContext::with_codec(self.session, input, codec);
        let drain = self.drain.clone();
        let mut frames = Metered::new(Box::pin(frames), self.drain);
        tokio::select! {
            written = write_all(&mut frames, &mut writer) => {
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

/// Writes each batch of frames the session encodes, as it comes. The next batch is asked for only
/// once the socket took the last one, so a client that does not read holds the session still
/// (and its watchdog sees it).
async fn write_all<S, E>(frames: &mut S, writer: &mut OwnedWriteHalf) -> io::Result<()>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    while let Some(batch) = frames.next().await {
        let batch = batch.map_err(|e| io::Error::other(e.to_string()))?;
        writer.write_all(&batch).await?;
    }
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
