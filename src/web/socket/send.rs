//! Writing encoded frames to a connection's socket: several in one system call, and only what
//! the socket takes now. Both the connection's writer ([`super::upgraded`]) and a push straight
//! to the socket ([`super::outlet`]) send this way.

use std::io::{self, IoSlice};

use tokio::io::Interest;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;

/// The most frames one system call hands to the socket.
pub const FRAMES_PER_SEND: usize = 32;

/// Sends what the socket takes now of the first [`FRAMES_PER_SEND`] of `frames`, and answers
/// the bytes sent. `sendmsg` rather than `writev`: a socket's own call skips the file layer,
/// which cost a kill's delivery about a tenth of its kernel time. When the socket is full the
/// answer is `WouldBlock`, and the socket's readiness is cleared, so `writable()` waits for room.
/// (A client that has gone gives `EPIPE`: Rust programs ignore `SIGPIPE`.)
pub fn send<'a>(
    socket: &OwnedWriteHalf,
    frames: impl IntoIterator<Item = &'a [u8]>,
) -> io::Result<usize> {
    // The slices live only for the call, so a connection waiting to write does not keep them.
    let mut slices = [IoSlice::new(&[]); FRAMES_PER_SEND];
    let mut count = 0;
    for (slice, frame) in slices.iter_mut().zip(frames) {
        *slice = IoSlice::new(frame);
        count += 1;
    }
    let stream: &TcpStream = socket.as_ref();
    stream.try_io(Interest::WRITABLE, || {
        socket2::SockRef::from(stream).send_vectored(&slices[..count])
    })
}
