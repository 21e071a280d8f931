//! Phoenix's LongPoll transport (`GET`/`POST /socket/longpoll`), for clients without WebSocket
//! (phoenix.js falls back to it, e.g. on Node 20). A first `GET` opens a session and answers
//! `{"status": 410, "token"}`; each `GET ?token=` is held until messages are there (`200` with
//! `messages`) or the window passes (`204`); a `POST ?token=` carries newline-delimited messages
//! (`application/x-ndjson`) and answers `{"status": 200}`. A session nobody polls for the
//! timeout ends; an unknown or ended session answers `410`, and the client joins again. Every
//! answer is HTTP 200 with the status in the body, as phoenix.js reads it.

mod bridge;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use awc::ws::Message;
use serde_json::{json, Value};

use super::metered::Drain;
use super::protocol::Vsn;
use super::session;
use crate::web::AppState;
use bridge::Bridge;

/// Every open LongPoll session by its token.
pub struct LongPolls {
    sessions: Mutex<HashMap<String, Arc<Bridge>>>,
    /// How long a poll is held when there is nothing to send.
    window: Duration,
    /// A session nobody polls for this long ends.
    timeout: Duration,
}

impl LongPolls {
    pub fn new(window: Duration, timeout: Duration) -> Self {
        Self {
            sessions: Mutex::default(),
            window,
            timeout,
        }
    }

    fn sessions(&self) -> MutexGuard<'_, HashMap<String, Arc<Bridge>>> {
        // A map of handles: a panic elsewhere cannot leave it half-changed.
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn get(&self, token: &str) -> Option<Arc<Bridge>> {
        self.sessions().get(token).cloned()
    }

    /// Ends the sessions nobody polled within the timeout, and forgets the ended ones.
    pub fn sweep(&self) {
        let timeout = self.timeout;
        self.sessions().retain(|_, bridge| {
            let keep = !bridge.is_closed() && bridge.idle() < timeout;
            if !keep {
                bridge.end();
            }
            keep
        });
    }

    /// Open sessions.
    pub fn open(&self) -> usize {
        self.sessions().len()
    }
}

/// An answer as phoenix.js reads it: HTTP 200, the status in the body.
fn answer(body: Value) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(crate::web::JSON_CONTENT_TYPE)
        .insert_header(("cache-control", "no-store"))
        .body(body.to_string())
}

fn gone() -> HttpResponse {
    answer(json!({"status": 410}))
}

fn token(req: &HttpRequest) -> (HashMap<String, String>, Option<String>) {
    let params = web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    let token = params.get("token").filter(|t| !t.is_empty()).cloned();
    (params, token)
}

/// Opens a session: the same checks and caps as a WebSocket upgrade.
fn open(req: &HttpRequest, params: &HashMap<String, String>, state: &AppState) -> HttpResponse {
    let Some(vsn) = Vsn::negotiate(params.get("vsn").map(String::as_str)) else {
        return answer(json!({"status": 403}));
    };
    if super::super::origin::check_upgrade(req, &state.origin).is_err() {
        return answer(json!({"status": 403}));
    }
    let ip = state.proxies.client(req);
    let Some(slot) = state.socket_slots.acquire(ip) else {
        log::warn!("longpoll session refused, limit reached ip={ip}");
        return HttpResponse::build(StatusCode::SERVICE_UNAVAILABLE)
            .content_type(crate::web::JSON_CONTENT_TYPE)
            .body(json!({"status": 500, "error": "connection limit reached"}).to_string());
    };
    let drain = Drain::default();
    let session = super::start_session(
        state,
        vsn,
        session::client_name(params),
        slot,
        drain.clone(),
    );
    let bridge = Bridge::start(session, drain, state.max_frame_bytes);
    let token = actors::model::ids::random_token();
    state.longpoll.sessions().insert(token.clone(), bridge);
    answer(json!({"status": 410, "token": token}))
}

/// `GET /socket/longpoll`: opens a session (no token), or waits for its messages.
pub async fn poll(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    state.longpoll.sweep();
    let (params, token) = token(&req);
    let Some(token) = token else {
        return open(&req, &params, &state);
    };
    let Some(bridge) = state.longpoll.get(&token) else {
        return gone();
    };
    bridge.touch();
    // A poll is the client's sign of life, as a frame is on a WebSocket.
    bridge.send(Message::Ping(Bytes::new())).await;
    let taken = bridge.take(state.longpoll.window).await;
    bridge.touch();
    match taken {
        None => {
            state.longpoll.sessions().remove(&token);
            gone()
        }
        Some(messages) if messages.is_empty() => answer(json!({"status": 204, "token": token})),
        Some(messages) => answer(json!({"status": 200, "token": token, "messages": messages})),
    }
}

/// `POST /socket/longpoll?token=`: newline-delimited messages for the session.
pub async fn post(req: HttpRequest, body: Bytes, state: web::Data<AppState>) -> HttpResponse {
    let (_, token) = token(&req);
    let Some(bridge) = token.and_then(|t| state.longpoll.get(&t)) else {
        return gone();
    };
    bridge.touch();
    let text = String::from_utf8_lossy(&body);
    for line in text.split('\n').map(str::trim).filter(|l| !l.is_empty()) {
        if !bridge.send(Message::Text(line.to_owned().into())).await {
            return gone();
        }
    }
    answer(json!({"status": 200}))
}
