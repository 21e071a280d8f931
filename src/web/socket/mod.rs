//! Phoenix channels over WebSocket (SPEC §8): the upgrade route, plus `protocol` (frames, pure),
//! `lobby` (the `killmails:lobby` topic's rules, pure), `session` (the per-connection actor),
//! `outlet` (a connection's frames in order), `send` (frames to a socket), `live` and `hub` (live
//! kills, one message per worker thread).

pub mod frames;
pub mod hub;
pub mod live;
pub mod lobby;
pub mod lobby_filters;
pub mod longpoll;
pub mod metered;
pub mod outlet;
pub mod protocol;
pub mod send;
pub mod session;
pub mod upgraded;

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws;

use super::errors::ApiError;
use super::AppState;
use metered::Drain;
use protocol::Vsn;
use session::{Link, Session};

/// `GET /socket/websocket`: negotiates the serializer from `vsn` (403 when unknown), names the
/// client from its connect params, and answers 101 with the session to run on the connection,
/// which the server starts once the answer is written ([`upgraded`]).
pub async fn upgrade(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let params = web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    let Some(vsn) = Vsn::negotiate(params.get("vsn").map(String::as_str)) else {
        return Err(ApiError::Plain(StatusCode::FORBIDDEN).into());
    };
    let client = session::client_name(&params);
    super::origin::check_upgrade(&req, &state.origin)?;
    let ip = state.proxies.client(&req);
    let Some(slot) = state.socket_slots.acquire(ip) else {
        log::warn!("websocket connection refused, limit reached ip={ip}");
        return Err(ApiError::ConnectionLimit("WebSocket").into());
    };
    // Not a WebSocket handshake: 400 in the JSON envelope this route documents.
    let mut response = ws::handshake(&req).map_err(|_| ApiError::Plain(StatusCode::BAD_REQUEST))?;
    let drain = Drain::default();
    let session = start_session(&state, vsn, client, slot, drain.clone());
    let mut response = response.finish();
    response.extensions_mut().insert(upgraded::Handover {
        session,
        drain,
        max_frame_bytes: state.max_frame_bytes,
    });
    Ok(response)
}

/// A session for one connection (WebSocket or LongPoll), holding its slot and what it drained.
pub fn start_session(
    state: &AppState,
    vsn: Vsn,
    client: String,
    slot: crate::web::slots::Slot,
    drain: Drain,
) -> Session {
    let link = Link { slot, drain };
    Session::new(
        vsn,
        client,
        link,
        &state.engine,
        state.socket.clone(),
        state.shutdown.clone(),
    )
}

/// `GET /websocket`: how to connect, with the real limits.
pub async fn discovery(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let info = req.connection_info();
    let url = state
        .origin
        .websocket_url(info.host(), info.scheme() == "https");
    let body = serde_json::json!({
        "websocket_url": url,
        "protocol": "Phoenix Channels",
        "version": "2.0.0",
        "channels": {"killmails": lobby::TOPIC},
        "authentication": {"required": false},
        "serializers": {"1.x": "V1 JSON objects", "2.x": "V2 JSON arrays"},
        "limits": {
            "max_systems_per_subscription": lobby::MAX_SYSTEMS,
            "max_characters_per_subscription": lobby::MAX_CHARACTERS,
            "max_frame_bytes": state.max_frame_bytes,
            "max_channels_per_socket": state.socket.max_channels,
            "max_connections_per_ip": state.socket_slots.max_per_ip(),
            "idle_timeout_ms": state.socket.idle_timeout.as_millis(),
            "quiet_keepalive_ms": state.socket.quiet_keepalive.as_millis(),
        },
        "timestamp": actors::model::now_iso(),
    });
    super::json(StatusCode::OK, &body)
}

/// `GET /websocket/status`: live connection and subscription counts.
pub async fn status(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let stats = state
        .engine
        .registry
        .send(actors::registry::GetStats)
        .await?;
    let body = serde_json::json!({
        "status": "ok",
        "active_connections": state.socket_slots.open(),
        "active_subscriptions": stats.websocket_subscribers,
        "uptime_seconds": state.engine.stats.uptime_seconds(),
        "timestamp": actors::model::now_iso(),
    });
    Ok(super::json(StatusCode::OK, &body))
}
