//! A WebSocket connection after its handshake, served on its own socket rather than through
//! the HTTP layer's connection dispatcher.
//!
//! The upgrade route answers 101 and leaves a [`Handover`] in the response; the server's upgrade
//! service (`web/server.rs`) writes the answer and gives the socket here. From then on this
//! file reads the client's bytes into the session and writes the frames queued in the
//! connection's outlet straight to the socket, as many as wait in one write: no HTTP read and
//! write buffers kept for the connection's life (an idle connection holds only what its session
//! holds), and a live kill's frame, encoded once per worker, is not copied again on its way out.

use std::io;
use std::rc::Rc;

use actix_web::rt::net::TcpStream;
use actix_web::web::{Buf, Bytes, BytesMut};
use actix_web_actors::ws;
use futures_util::{stream, Stream, StreamExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::metered::Drain;
use super::outlet::{Outlet, Runner};
use super::send::send;
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
        let (reader, writer) = io.into_split();
        let writer = Rc::new(writer);
        let first = (!already_read.is_empty()).then_some(Ok(already_read));
        let input = stream::iter(first).chain(incoming(reader));
        let codec = awc::ws::Codec::new().max_size(self.max_frame_bytes);
        let live = self.session.live();
        live.outlet.attach(Rc::clone(&writer));
        let session = ws::WebsocketContext::with_codec(self.session, input, codec);
        let mut session = Runner::new(Box::pin(session));
        let drain = self.drain;
        tokio::select! {
            written = write_all(&mut session, &live.outlet, &writer) => {
                if let Err(e) = written {
                    log::debug!("ws connection ended error={e}");
                }
            }
            // A client that does not read: the socket is dropped with what it had queued, and
            // the session stops with it.
            () = drain.cut_requested() => {}
        }
        live.outlet.detach();
        // The last handle: dropping it sends the client our end of the stream.
        drop(writer);
    }
}

/// Runs the session and writes what it queues, as it comes. The next batch is taken only once
/// the socket took the last one, so a client that does not read holds the session still (and
/// its watchdog sees it).
async fn write_all(
    session: &mut Runner,
    outlet: &Outlet,
    writer: &OwnedWriteHalf,
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
async fn write_frames(writer: &OwnedWriteHalf, frames: &mut Vec<Bytes>) -> io::Result<()> {
    let mut first = 0;
    while first < frames.len() {
        let mut written = match send(writer, frames[first..].iter().map(|f| &f[..])) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(written) => written,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                writer.writable().await?;
                continue;
            }
            Err(e) => return Err(e),
        };
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

#[cfg(test)]
mod tests {
    use actix_codec::Decoder;
    use awc::ws::{Codec, Frame, Message};
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    use super::*;
    use crate::web::socket::outlet::encode;

    #[actix_web::test]
    async fn frames_pushed_while_others_wait_for_the_writer_go_after_them_whole() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("address"))
            .await
            .expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        socket2::SockRef::from(&server)
            .set_send_buffer_size(16 * 1024)
            .expect("send buffer");
        let (_, writer) = server.into_split();
        let writer = Rc::new(writer);
        let outlet = Rc::new(Outlet::new(Drain::default()));
        outlet.attach(Rc::clone(&writer));
        let writing = actix_web::rt::spawn({
            let outlet = Rc::clone(&outlet);
            async move {
                let mut session = Runner::new(Box::pin(stream::pending()));
                write_all(&mut session, &outlet, &writer).await
            }
        });
        tokio::task::yield_now().await;
        let filler = "x".repeat(1_500);
        let frame = |n: usize| encode(Message::Text(format!("{n:04}{filler}").into()));

        // Straight to the socket until its buffer is full: the rest of the last one waits for
        // the writer, which has not run yet.
        let mut pushed = 0;
        while outlet.queued() == 0 && pushed < 5_000 {
            outlet.push_all(&[&frame(pushed)]);
            pushed += 1;
        }
        assert!(outlet.queued() > 0, "the client's window filled");
        // The client reads what came (a plain read, which does not let the writer run), so the
        // socket has room again; then one more frame.
        let client = client.into_std().expect("std socket");
        let mut early = Vec::new();
        let mut chunk = [0; 64 * 1024];
        while let Ok(n) = std::io::Read::read(&mut &client, &mut chunk) {
            if n == 0 {
                break;
            }
            early.extend_from_slice(&chunk[..n]);
        }
        assert!(!early.is_empty(), "the client read the first frames");
        outlet.push_all(&[&frame(pushed)]);
        pushed += 1;

        let mut client = TcpStream::from_std(client).expect("tokio socket");
        let seen = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            let (mut codec, mut read) = (Codec::new().client_mode(), BytesMut::from(&early[..]));
            let mut seen = Vec::new();
            while seen.len() < pushed {
                match codec.decode(&mut read) {
                    Ok(Some(Frame::Text(text))) if text.len() == 1_504 => {
                        seen.push(String::from_utf8_lossy(&text[..4]).into_owned());
                    }
                    Ok(None) => match client.read_buf(&mut read).await {
                        Ok(n) if n > 0 => {}
                        _ => break,
                    },
                    _ => break,
                }
            }
            seen
        })
        .await;
        let seen = seen.expect("every frame arrives");
        let expected: Vec<String> = (0..pushed).map(|n| format!("{n:04}")).collect();
        assert_eq!(seen, expected, "whole frames, in the order pushed");
        writing.abort();
    }
}
