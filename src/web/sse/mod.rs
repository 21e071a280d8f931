//! Server-Sent Events (SPEC §5): `/api/v1/kills/stream` and `/api/v1/kills/stream/enhanced`.
//!
//! A stream registers with the subscription registry like any subscriber, through a small
//! forwarding actor whose queue is a bounded channel the response body reads. History (stored
//! kills within `preload_days`, or after the `Last-Event-ID` offset on the enhanced stream) comes
//! from the engine's `follow`, which registers before it reads, so a kill stored in between is
//! neither lost nor sent twice. The body ends when the client goes away (which frees its
//! connection slot and its registration at once), when it falls `max_queued_kills` behind, or
//! when the service stops.

mod body;
mod events;
mod forwarder;
mod query;

use std::sync::Arc;
use std::time::Duration;

use ::actors::model::KillTime;
use ::actors::registry::{follow, CatchUp, Channel, Resume, Subscribe};
use actix::Actor;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use tokio::sync::mpsc;

use super::errors::ApiError;
use super::middleware::random_id;
use super::slots::Slots;
use super::AppState;
use body::{Body, Mode};
use forwarder::{Forwarder, Registration};
use query::StreamQuery;

/// At most this many stored kills replayed into one stream (history or resume).
const MAX_REPLAY: usize = 10_000;

/// The SSE settings and the connection slots every stream takes one of.
pub struct SseState {
    pub keepalive: Duration,
    pub heartbeat: Duration,
    pub max_queued_kills: usize,
    slots: Slots,
}

impl SseState {
    pub fn new(
        keepalive: Duration,
        heartbeat: Duration,
        max_queued_kills: usize,
        max_connections: usize,
        max_per_ip: usize,
    ) -> Self {
        Self {
            keepalive,
            heartbeat,
            max_queued_kills,
            slots: Slots::new(max_connections, max_per_ip),
        }
    }

    /// Open streams.
    pub fn connections(&self) -> usize {
        self.slots.open()
    }
}

/// `GET /api/v1/kills/stream`
pub async fn stream(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    open(req, state, Mode::Plain).await
}

/// `GET /api/v1/kills/stream/enhanced`
pub async fn enhanced(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    open(req, state, Mode::Enhanced).await
}

async fn open(
    req: HttpRequest,
    state: web::Data<AppState>,
    mode: Mode,
) -> Result<HttpResponse, ApiError> {
    let query = StreamQuery::read(req.query_string(), &state.engine.filter_limits)
        .map_err(ApiError::StreamInvalid)?;
    let ip = state.proxies.client(&req);
    let Some(slot) = state.sse.slots.acquire(ip) else {
        log::warn!("sse connection refused, limit reached ip={ip}");
        return Err(ApiError::ConnectionLimit("SSE"));
    };
    let resume_after = (mode == Mode::Enhanced)
        .then(|| req.headers().get("last-event-id"))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let filter = query.filter();
    let matching = Arc::new(filter.clone());
    let ask = CatchUp {
        filter: filter.clone(),
        resume: match resume_after {
            Some(after) => Some(Resume {
                after,
                since: None,
                limit: MAX_REPLAY,
            }),
            None if query.preload_days > 0 => Some(Resume {
                after: 0,
                since: Some(KillTime::now().minus_secs(query.preload_days as i64 * 86_400)),
                limit: MAX_REPLAY,
            }),
            None => None,
        },
        preload: None,
    };

    let (tx, rx) = mpsc::channel(state.sse.max_queued_kills.max(1));
    let forwarder = Forwarder { tx }.start();
    let subscribe = Subscribe {
        key: None,
        recipient: forwarder.recipient(),
        group: None,
        filter,
        channel: Channel::Sse,
        subscription_id: random_id(),
        subscriber: format!("sse:{ip}"),
        callback_url: None,
        format: None,
        created_at: None,
    };
    let registry = &state.engine.registry;
    let (key, caught) = follow(registry, &state.engine.store, subscribe, ask).await?;
    let registration = Registration {
        registry: registry.clone(),
        key,
    };
    if let Some(failed) = caught.errors.into_iter().next() {
        return Err(failed.error.into());
    }
    let history = caught.missed;
    log::info!(
        "sse stream opened ip={ip} enhanced={} history={} resume_after={resume_after:?}",
        mode == Mode::Enhanced,
        history.len()
    );

    let mut body = Body::new(mode, &state, rx, matching, (slot, registration));
    body.opening(&query, &history, resume_after.is_some());
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(body.into_stream()))
}
