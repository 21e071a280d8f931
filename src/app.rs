//! `Application::build`: binds the listener, reads back the real port, starts the engine and the
//! HTTP server. `main` does nothing else; tests build the same application on port 0.

use std::future::Future;
use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::{from_fn, Logger, NormalizePath};
use actix_web::{web, App};
use actors::Engine;
use anyhow::Context as _;
use tokio::sync::watch;

use crate::config::Settings;
use crate::web::limits::{RateLimiter, RequestRate};
use crate::web::origin::{self, PublicOrigin};
use crate::web::server::{self, ServerOptions};
use crate::web::slots::Slots;
use crate::web::socket::longpoll::LongPolls;
use crate::web::socket::session::SessionSettings;
use crate::web::sse::SseState;
use crate::web::{self as routes, body_deadline, errors, middleware, AppState};

/// A built, not yet running, service.
pub struct Application {
    port: u16,
    server: Server,
    shutdown: watch::Sender<bool>,
    engine: actors::Engine,
}

impl Application {
    /// Binds `server.host:server.port` (0 = any free port), starts the engine's actors and
    /// prepares the HTTP server. Must be called inside an actix system.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        install_crypto_provider();
        let address = (settings.server.host, settings.server.port);
        let listener = TcpListener::bind(address)
            .with_context(|| format!("cannot listen on {}:{}", address.0, address.1))?;
        let port = listener.local_addr()?.port();

        let engine = Engine::start(settings.engine.clone()).await?;
        let engine_handle = engine.clone();
        let ws = &settings.websocket;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let state = web::Data::new(AppState {
            engine,
            socket: SessionSettings {
                idle_timeout: Duration::from_millis(ws.idle_timeout_ms),
                quiet_keepalive: Duration::from_millis(ws.quiet_keepalive_ms),
                max_channels: ws.max_channels,
                max_queued_kills: ws.max_queued_kills,
                max_queued_bytes: ws.max_queued_bytes,
                stall_timeout: Duration::from_millis(ws.stall_timeout_ms),
            },
            socket_slots: Slots::new(ws.max_connections, ws.max_connections_per_ip),
            max_frame_bytes: ws.max_frame_bytes,
            origin: PublicOrigin::parse(&settings.server.origin_host),
            api_requests: RequestRate::default(),
            rate_limit: RateLimiter::new(settings.server.rate_limit_per_minute),
            api_token: settings.server.api_token.clone(),
            proxies: crate::web::proxies::TrustedProxies::parse(&settings.server.trusted_proxies)
                .map_err(|reason| {
                anyhow::anyhow!("invalid TRUSTED_PROXIES (server.trusted_proxies): {reason}")
            })?,
            sse: SseState::new(
                Duration::from_millis(settings.sse.keepalive_ms),
                Duration::from_millis(settings.sse.heartbeat_ms),
                settings.sse.max_queued_kills,
                settings.sse.max_connections,
                settings.sse.max_connections_per_ip,
            ),
            http_metrics: Default::default(),
            longpoll: LongPolls::new(
                Duration::from_millis(ws.longpoll_window_ms),
                Duration::from_millis(ws.longpoll_timeout_ms),
            ),
            shutdown: shutdown_rx,
        });
        let sweeping = state.clone();
        actix_web::rt::spawn(async move {
            let mut every = actix_web::rt::time::interval(Duration::from_secs(1));
            loop {
                every.tick().await;
                sweeping.longpoll.sweep();
            }
        });
        let json_config = errors::json_config(settings.server.max_body_bytes);
        let body_timeout = Duration::from_millis(settings.server.body_timeout_ms);

        let options = ServerOptions {
            workers: settings.server.workers,
            shutdown_timeout_s: settings.server.shutdown_timeout_s,
            tcp_user_timeout_s: settings.server.tcp_user_timeout_s,
        };
        let server = server::serve(listener, options, move || {
            App::new()
                .app_data(state.clone())
                .app_data(json_config.clone())
                .configure(routes::routes)
                .default_service(web::to(routes::not_found))
                .wrap(NormalizePath::trim())
                .wrap(from_fn(move |req, next| {
                    body_deadline::body_deadline(body_timeout, req, next)
                }))
                .wrap(from_fn(origin::cors))
                .wrap(from_fn(middleware::request_id))
                .wrap(from_fn(crate::web::metrics::http::record))
                .wrap(
                    Logger::new("%a \"%r\" %s %b %Dms")
                        .exclude("/health")
                        .exclude("/ping"),
                )
        })?;

        log::info!(
            "listening address={}:{port} feed={}",
            address.0,
            settings.engine.feed.source.as_str()
        );
        Ok(Self {
            port,
            server,
            shutdown,
            engine: engine_handle,
        })
    }

    /// The port actually bound (useful when the settings asked for 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` completes, then stops gracefully: no new connections, in-flight
    /// requests finish within the shutdown timeout.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + 'static,
    ) -> std::io::Result<()> {
        let handle = self.server.handle();
        let closing = self.shutdown;
        let engine = self.engine.clone();
        actix_web::rt::spawn(async move {
            shutdown.await;
            log::info!(
                "shutdown requested; stopping the feed, closing streams, draining connections"
            );
            engine.stop().await;
            closing.send_replace(true);
            handle.stop(true).await;
        });
        self.server.await?;
        self.engine.stop().await;
        log::info!("stopped");
        Ok(())
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C): what `main` passes to [`Application::run_until`].
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => log::info!("SIGTERM received"),
                _ = int.recv() => log::info!("SIGINT received"),
            }
        }
        (Err(e), _) | (_, Err(e)) => {
            log::error!("cannot listen for signals error={e}; stop with SIGKILL");
            std::future::pending::<()>().await;
        }
    }
}

/// awc panics at client creation without a process-wide rustls provider; install it once.
pub fn install_crypto_provider() {
    // An error only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
