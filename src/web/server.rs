//! The HTTP server: the application on every worker, over HTTP/1, with requests that switch
//! protocols answered by [`upgrades`](super::upgrades) so a WebSocket connection leaves the HTTP
//! layer once its handshake is written.
//!
//! This is what actix-web's `HttpServer` assembles (the same timeouts and defaults), plus the
//! upgrade service it does not let one set.

use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::time::Duration;

use actix_http::{HttpService, KeepAlive, Request};
use actix_service::ServiceFactoryExt as _;
use actix_service::{fn_factory, fn_service, map_config, IntoServiceFactory, ServiceFactory};
use actix_web::body::MessageBody;
use actix_web::dev::{AppConfig, Extensions, Server, ServiceRequest, ServiceResponse};
use actix_web::rt::net::TcpStream;
use actix_web::App;

use super::upgrades::{self, Upgraded};

/// How the server runs its workers and connections.
#[derive(Clone, Copy, Debug)]
pub struct ServerOptions {
    pub workers: usize,
    pub shutdown_timeout_s: u64,
    /// `TCP_USER_TIMEOUT` on every connection (0 = the kernel's default).
    pub tcp_user_timeout_s: u64,
}

/// How long a client has to send a request's head.
const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a closing connection waits for the client to go.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Serves `make_app` on `listener` with `options`. Must be called inside an actix system.
pub fn serve<F, T, B>(
    listener: TcpListener,
    options: ServerOptions,
    make_app: F,
) -> std::io::Result<Server>
where
    F: Fn() -> App<T> + Send + Clone + 'static,
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: MessageBody + 'static,
{
    let addr = listener.local_addr()?;
    let builder = Server::build();
    let shutdown = builder.graceful_shutdown_signal();
    let timeout = options.tcp_user_timeout_s;
    let server = builder
        .workers(options.workers)
        .shutdown_timeout(options.shutdown_timeout_s)
        .disable_signals()
        .listen("wanderer-kills-http", listener, move || {
            let make_app = make_app.clone();
            let shutdown = shutdown.clone();
            let app = make_app()
                .into_factory()
                .map_err(|e: actix_web::Error| e.error_response());
            HttpService::build()
                .keep_alive(KeepAlive::default())
                .client_request_timeout(REQUEST_HEAD_TIMEOUT)
                .client_disconnect_timeout(DISCONNECT_TIMEOUT)
                // A client that closes its side ends its response at once: an SSE stream's slot
                // and registration are freed when the client leaves, not at the next write.
                .h1_allow_half_closed(false)
                .local_addr(addr)
                .graceful_shutdown_signal(move || {
                    let shutdown = shutdown.clone();
                    async move { shutdown.notified().await }
                })
                .on_connect_ext(move |io: &TcpStream, _: &mut Extensions| {
                    tune(io, timeout);
                })
                .upgrade(fn_factory(move || {
                    let app = map_config(make_app().into_factory(), move |()| config(addr));
                    async move {
                        let app = Rc::new(app.new_service(()).await?);
                        Ok::<_, ()>(fn_service(move |(request, framed): (Request, Upgraded)| {
                            upgrades::answer(Rc::clone(&app), request, framed)
                        }))
                    }
                }))
                .finish(map_config(app, move |()| config(addr)))
                .tcp()
        })?
        .run();
    Ok(server)
}

/// What the application knows of the server it runs in.
fn config(addr: SocketAddr) -> AppConfig {
    // The constructor actix-web's own server uses is crate-private; this is its public twin.
    AppConfig::__priv_test_new(false, addr.to_string(), addr)
}

/// Sets up an accepted connection.
///
/// `TCP_NODELAY`: every write is a whole answer or whole frames, so the kernel must send it at
/// once. With Nagle's algorithm on, a small frame written while a large one is still
/// unacknowledged waited for the client's delayed acknowledgement: up to 40 ms on Linux.
///
/// `TCP_USER_TIMEOUT`: when the peer stops acknowledging what was sent (a WebSocket or SSE
/// client that stopped reading), the kernel drops the connection after `seconds`, which ends
/// its session. actix-http has no write timeout.
fn tune(stream: &TcpStream, seconds: u64) {
    if let Err(e) = stream.set_nodelay(true) {
        log::debug!("TCP_NODELAY not set error={e}");
    }
    if seconds > 0 {
        let socket = socket2::SockRef::from(stream);
        if let Err(e) = socket.set_tcp_user_timeout(Some(Duration::from_secs(seconds))) {
            log::debug!("TCP_USER_TIMEOUT not set error={e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn an_accepted_connection_sends_each_write_at_once_and_has_a_stall_limit() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        let addr = listener.local_addr().expect("an address");
        let _client = std::net::TcpStream::connect(addr).expect("connects");
        let (accepted, _) = listener.accept().expect("accepts");
        accepted.set_nonblocking(true).expect("non-blocking");
        let accepted = TcpStream::from_std(accepted).expect("a tokio stream");

        tune(&accepted, 30);

        assert!(accepted.nodelay().expect("readable"), "Nagle is off");
        let limit = socket2::SockRef::from(&accepted)
            .tcp_user_timeout()
            .expect("readable");
        assert_eq!(limit, Some(Duration::from_secs(30)));
    }
}
