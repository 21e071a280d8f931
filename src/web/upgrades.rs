//! Requests that ask to switch protocols (`Upgrade: websocket`): the HTTP layer hands each such
//! request to this service together with its connection, instead of running it itself.
//!
//! The request still goes through the whole application (routes, middleware, limits, the JSON
//! error envelope): this service asks the application, writes its answer, and then either gives
//! the connection to the WebSocket session the answer carries ([`Handover`]) or closes it. The
//! HTTP layer's per-connection buffers and the request's state are let go at that point, so a
//! WebSocket connection does not keep them for its whole life.

use std::future::poll_fn;
use std::pin::pin;
use std::rc::Rc;

use actix_codec::Framed;
use actix_http::body::{BodySize, MessageBody};
use actix_http::h1::{Codec, Message};
use actix_http::{ConnectionType, Request, Response};
use actix_service::Service;
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::rt::net::TcpStream;
use actix_web::web::Bytes;
use futures_util::SinkExt;

use super::socket::upgraded::Handover;

/// A connection whose request asked for an upgrade.
pub type Upgraded = Framed<TcpStream, Codec>;

/// Answers `request` with the application's response on `framed`. A 101 that carries a
/// [`Handover`] turns the connection into that WebSocket session; any other answer is written
/// whole and the connection is closed.
pub async fn answer<S, B>(
    app: Rc<S>,
    request: Request,
    mut framed: Upgraded,
) -> Result<(), actix_web::Error>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
{
    let mut response: Response<_> = match app.call(request).await {
        Ok(response) => Response::from(response).map_into_boxed_body(),
        Err(e) => Response::from(e.error_response()).map_into_boxed_body(),
    };
    let handover = response.extensions_mut().remove::<Handover>();
    let (mut head, body) = response.into_parts();
    if let Some(handover) = handover.filter(|_| head.status() == StatusCode::SWITCHING_PROTOCOLS) {
        framed.send(Message::Item((head, BodySize::None))).await?;
        let parts = framed.into_parts();
        // What the client sent right behind its handshake; the 8 KB buffers themselves go.
        let already_read = Bytes::copy_from_slice(&parts.read_buf);
        // The session runs as a task of its own, so this request's state (the HTTP layer's
        // connection, the application's future, the middleware's) is freed now, not kept for
        // the socket's whole life: about 8 KB per connection.
        actix_web::rt::spawn(handover.serve(parts.io, already_read));
        return Ok(());
    }
    head.head_mut().set_connection_type(ConnectionType::Close);
    let size = body.size();
    framed.send(Message::Item((head, size))).await?;
    let mut body = pin!(body);
    while let Some(chunk) = poll_fn(|cx| body.as_mut().poll_next(cx)).await {
        let chunk: Bytes = chunk.map_err(|e| std::io::Error::other(e.to_string()))?;
        framed.send(Message::Chunk(Some(chunk))).await?;
    }
    framed.send(Message::Chunk(None)).await?;
    Ok(())
}
