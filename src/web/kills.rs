//! The kills routes (SPEC §4.2): a system's kills (with a one-time backfill from zKillboard), many
//! systems at once, the stored kills only, one killmail, and a system's count.
//!
//! Success bodies are `{"data": <payload>, "timestamp"}`; errors use the coded envelope. Kills are
//! written out from the JSON the store serialized once, never re-serialized here. An upstream that
//! fails or is slow never turns into a 5xx: after the backfill deadline the answer comes from the
//! store with `"cached": true` (the notifier would retry a 5xx up to 12 times).

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use actors::backfill::BackfillError;
use actors::model::{json_array_len, write_json_array, write_json_array_with, Filter, StoredKill};
use actors::model::{now_iso, KillTime, KillmailId, SystemId};
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};

use super::errors::ApiError;
use super::{AppState, JSON_CONTENT_TYPE};

/// Defaults and bounds of `since_hours` and `limit`.
const DEFAULT_SINCE_HOURS: u64 = 24;
const MAX_SINCE_HOURS: u64 = 24 * 365;
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 1000;
/// Systems one `POST /api/v1/kills/systems` may ask for.
pub const MAX_SYSTEMS_PER_REQUEST: usize = 100;
/// Systems backfilled at the same time for one request.
const BACKFILL_CONCURRENCY: usize = 8;

/// What a kills query asks for, validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub since_hours: u64,
    pub limit: usize,
}

impl Default for Window {
    fn default() -> Self {
        Self {
            since_hours: DEFAULT_SINCE_HOURS,
            limit: DEFAULT_LIMIT,
        }
    }
}

/// Which part of a window was out of range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadWindow {
    Hours,
    Limit,
}

impl Window {
    /// Hours back (1..=a year) and a limit (1..=1000), each defaulted when absent.
    pub fn new(hours: Option<u64>, limit: Option<u64>) -> Result<Self, BadWindow> {
        let since_hours = hours.unwrap_or(DEFAULT_SINCE_HOURS);
        if !(1..=MAX_SINCE_HOURS).contains(&since_hours) {
            return Err(BadWindow::Hours);
        }
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(l) => usize::try_from(l)
                .ok()
                .filter(|l| (1..=MAX_LIMIT).contains(l))
                .ok_or(BadWindow::Limit)?,
        };
        Ok(Self { since_hours, limit })
    }

    /// Reads `<hours_key>` and `limit` from a query string; `Err` names the bad parameter.
    pub(super) fn from_query(query: &str, hours_key: &'static str) -> Result<Self, &'static str> {
        let pairs = web::Query::<HashMap<String, String>>::from_query(query)
            .map_err(|_| "query")?
            .into_inner();
        let number = |key: &'static str| {
            pairs
                .get(key)
                .map(|text| positive(text).ok_or(key))
                .transpose()
        };
        Self::new(number(hours_key)?, number("limit")?).map_err(|bad| match bad {
            BadWindow::Hours => hours_key,
            BadWindow::Limit => "limit",
        })
    }

    pub(super) fn since(&self) -> KillTime {
        let seconds = i64::try_from(self.since_hours * 3600).unwrap_or(i64::MAX);
        KillTime::now().minus_secs(seconds)
    }

    fn past(&self) -> Duration {
        Duration::from_secs(self.since_hours * 3600)
    }
}

/// The integer rule of paths and queries: optional `+`, digits, leading zeros, positive.
pub(super) fn positive(text: &str) -> Option<u64> {
    actors::model::ids::parse_positive(text)
        .ok()
        .map(|n| n.get())
}

fn invalid_system_id() -> ApiError {
    ApiError::coded(
        StatusCode::BAD_REQUEST,
        "INVALID_SYSTEM_ID",
        "Invalid system ID format",
    )
}

/// `GET /api/v1/kills/system/{system_id}?since_hours=24&limit=50`
pub async fn system_kills(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let system = SystemId::from_str(&path).map_err(|_| invalid_system_id())?;
    let window =
        Window::from_query(req.query_string(), "since_hours").map_err(|_| invalid_system_id())?;
    let engine = &state.engine;
    let fetched = engine.backfill.system(system, window.past()).await;
    let kills = engine
        .store
        .system_kills(system, window.since(), window.limit)
        .await
        .map_err(|_| ApiError::unavailable())?;
    Ok(kills_response(&kills, !fetched))
}

/// `GET /api/v1/kills/cached/{system_id}`: what the store holds, no upstream call.
pub async fn cached_kills(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let system = SystemId::from_str(&path).map_err(|_| invalid_system_id())?;
    let store = &state.engine.store;
    let kills = store
        .system_kills(system, store.retention_start(), usize::MAX)
        .await
        .map_err(|_| ApiError::unavailable())?;
    Ok(kills_response(&kills, true))
}

/// `GET /api/v1/kills/count/{system_id}`: kills stored within the retention window.
pub async fn count(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let system = SystemId::from_str(&path).map_err(|_| invalid_system_id())?;
    let count = state
        .engine
        .store
        .count(system)
        .await
        .map_err(|_| ApiError::unavailable())?;
    let now = now_iso();
    let body = json!({
        "data": {"system_id": system, "count": count, "timestamp": now},
        "timestamp": now,
    });
    Ok(super::json(StatusCode::OK, &body))
}

/// `GET /api/v1/killmail/{killmail_id}`: from the store, else zKillboard + ESI within the
/// backfill deadline.
pub async fn killmail(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = KillmailId::from_str(&path).map_err(|_| {
        ApiError::coded(
            StatusCode::BAD_REQUEST,
            "INVALID_KILLMAIL_ID",
            "Invalid killmail ID format",
        )
    })?;
    let engine = &state.engine;
    let stored = engine
        .store
        .get(id)
        .await
        .map_err(|_| ApiError::unavailable())?;
    let found = match stored {
        Some(kill) => Ok(Some(kill)),
        None => match engine.backfill.killmail(id).await {
            // The store failing is the service's fault, not the kill's absence.
            Err(BackfillError::Store(why)) => {
                log::error!("killmail lookup failed, the store did not answer error={why}");
                return Err(ApiError::unavailable());
            }
            found => found.map_err(|e| e.to_string()),
        },
    };
    match found {
        Ok(Some(kill)) => {
            let mut body = RawJson::with_capacity(kill.json_len() + 96);
            body.raw("{\"data\":");
            body.kill(&kill);
            body.timestamp_and_close(&now_iso());
            Ok(body.into_response())
        }
        // An upstream failure is reported as "not found" with the reason in `details`: the
        // notifier falls back gracefully on 404 but retries a 5xx many times.
        Ok(None) | Err(_) => {
            let details = found.err().map(|reason| json!({ "upstream": reason }));
            Err(ApiError::Coded {
                status: StatusCode::NOT_FOUND,
                code: "NOT_FOUND",
                message: "Killmail not found".into(),
                details,
            })
        }
    }
}

/// `POST /api/v1/kills/systems` with `{"system_ids": [..], "since_hours": 24, "limit": 50}`.
pub async fn systems_kills(
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let (systems, window) = read_systems_body(&body)?;
    let engine = &state.engine;
    stream::iter(systems.iter().copied())
        .map(|system| engine.backfill.system(system, window.past()))
        .buffer_unordered(BACKFILL_CONCURRENCY)
        .for_each(|_| async {})
        .await;

    let ts = now_iso();
    let mut out = RawJson::with_capacity(4096);
    out.raw("{\"data\":{\"systems_kills\":{");
    for (i, system) in systems.iter().enumerate() {
        let kills = engine
            .store
            .system_kills(*system, window.since(), window.limit)
            .await
            .map_err(|_| ApiError::unavailable())?;
        if i > 0 {
            out.raw(",");
        }
        out.raw(&format!("\"{system}\":"));
        out.kills(&kills);
    }
    out.raw("}");
    out.timestamp_and_close(&ts);
    out.timestamp_and_close(&ts);
    Ok(out.into_response())
}

/// Validates the body of `POST /api/v1/kills/systems`: ids first, then the window.
fn read_systems_body(body: &Value) -> Result<(Vec<SystemId>, Window), ApiError> {
    let invalid_ids =
        |message: &str| ApiError::coded(StatusCode::BAD_REQUEST, "INVALID_SYSTEM_IDS", message);
    let list = body
        .get("system_ids")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
        .ok_or_else(|| invalid_ids("system_ids must be a non-empty array of positive integers"))?;
    let mut systems: Vec<SystemId> = list
        .iter()
        .map(|v| v.as_u64().and_then(SystemId::new))
        .collect::<Option<_>>()
        .ok_or_else(|| invalid_ids("system_ids must be a non-empty array of positive integers"))?;
    systems.sort_unstable();
    systems.dedup();
    if systems.len() > MAX_SYSTEMS_PER_REQUEST {
        return Err(invalid_ids(&format!(
            "Too many system_ids (max {MAX_SYSTEMS_PER_REQUEST})"
        )));
    }
    let window = window_in_body(body, "since_hours", "limit")
        .map_err(|name| ApiError::coded(StatusCode::BAD_REQUEST, "INVALID_PARAMETERS", name))?;
    Ok((systems, window))
}

/// The window of a JSON body: `<hours_key>` and `<limit_key>`, each a positive integer or
/// absent. `Err` is the message naming the bad one.
pub(super) fn window_in_body(
    body: &Value,
    hours_key: &str,
    limit_key: &str,
) -> Result<Window, String> {
    let message = |name: &str, max: u64| format!("{name} must be an integer between 1 and {max}");
    let hours_message = || message(hours_key, MAX_SINCE_HOURS);
    let limit_message = || message(limit_key, MAX_LIMIT as u64);
    let number = |key: &str, bad: &dyn Fn() -> String| match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(bad),
    };
    let hours = number(hours_key, &hours_message)?;
    let limit = number(limit_key, &limit_message)?;
    Window::new(hours, limit).map_err(|bad| match bad {
        BadWindow::Hours => hours_message(),
        BadWindow::Limit => limit_message(),
    })
}

/// `{"data": {"kills": [...], "timestamp", "cached"}, "timestamp"}`.
fn kills_response(kills: &[Arc<StoredKill>], cached: bool) -> HttpResponse {
    kills_body(kills, cached).into_response()
}

fn kills_body(kills: &[Arc<StoredKill>], cached: bool) -> RawJson {
    let ts = now_iso();
    let mut out = RawJson::with_capacity(128);
    out.raw("{\"data\":{\"kills\":");
    out.kills(kills);
    out.raw(&format!(",\"cached\":{cached}"));
    out.timestamp_and_close(&ts);
    out.timestamp_and_close(&ts);
    out
}

/// Room left after a list for the rest of its envelope (`"cached"`, timestamps, closing braces),
/// so finishing a body does not copy it into a larger buffer: a list of 50 kills is 145 KB.
const ENVELOPE_END: usize = 256;

/// A JSON body assembled from pieces, so stored kills go out as the bytes the store holds.
pub(super) struct RawJson(Vec<u8>);

impl RawJson {
    pub(super) fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }

    pub(super) fn raw(&mut self, text: &str) {
        self.0.extend_from_slice(text.as_bytes());
    }

    fn kill(&mut self, kill: &StoredKill) {
        kill.write_json(&mut self.0);
    }

    pub(super) fn kills(&mut self, kills: &[Arc<StoredKill>]) {
        self.0.reserve(json_array_len(kills) + ENVELOPE_END);
        write_json_array(&mut self.0, kills);
    }

    /// The kills, each with the names of `filter`'s rules it matched.
    pub(super) fn kills_matched(&mut self, kills: &[Arc<StoredKill>], filter: &Filter) {
        self.0.reserve(json_array_len(kills) + ENVELOPE_END);
        write_json_array_with(&mut self.0, kills, |k, out| {
            k.write_json_matched(&filter.matched_names(&k.facts), out)
        });
    }

    /// `,"timestamp":"<ts>"}` — closes the object it ends. `ts` is ISO-8601 (nothing to escape).
    pub(super) fn timestamp_and_close(&mut self, ts: &str) {
        self.raw(",\"timestamp\":\"");
        self.raw(ts);
        self.raw("\"}");
    }

    pub(super) fn into_response(self) -> HttpResponse {
        HttpResponse::Ok()
            .content_type(JSON_CONTENT_TYPE)
            .body(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actors::model::{KillTime, Killmail, KillmailId};

    #[test]
    fn a_list_is_written_into_one_buffer_of_its_size() {
        // Grown to fit after the list was written, a buffer would be copied once more and
        // take twice the list's size.
        let kills: Vec<_> = (1..=50)
            .map(|id| {
                let killmail = Killmail {
                    solar_system_name: Some("Jita".repeat(700)),
                    ..Killmail::bare(
                        KillmailId::new(id).expect("non-zero"),
                        KillTime::now(),
                        SystemId::new(30_000_142).expect("non-zero"),
                    )
                };
                Arc::new(StoredKill::new(id, &killmail))
            })
            .collect();
        let body = kills_body(&kills, true).0;
        assert!(body.len() > 50 * 2800, "{}", body.len());
        assert!(
            body.capacity() <= body.len() + ENVELOPE_END,
            "{} bytes in a buffer of {}",
            body.len(),
            body.capacity()
        );
    }

    #[test]
    fn the_window_defaults_to_24_hours_and_50_kills() {
        assert_eq!(Window::from_query("", "since_hours"), Ok(Window::default()));
        assert_eq!(
            Window::from_query("since_hours=%2B048&limit=003", "since_hours"),
            Ok(Window {
                since_hours: 48,
                limit: 3
            })
        );
    }

    #[test]
    fn each_bad_window_parameter_is_named() {
        for (query, bad) in [
            ("since_hours=0", "since_hours"),
            ("since_hours=-1", "since_hours"),
            ("since_hours=1.5", "since_hours"),
            ("limit=0", "limit"),
            ("limit=1001", "limit"),
            ("limit=ten", "limit"),
        ] {
            assert_eq!(
                Window::from_query(query, "since_hours"),
                Err(bad),
                "{query}"
            );
        }
    }

    #[test]
    fn the_systems_body_is_checked_ids_first_then_window() {
        let code = |body: Value| match read_systems_body(&body) {
            Ok(_) => "OK",
            Err(ApiError::Coded { code, .. }) => code,
            Err(_) => "OTHER",
        };
        assert_eq!(code(json!({})), "INVALID_SYSTEM_IDS");
        assert_eq!(code(json!({"system_ids": []})), "INVALID_SYSTEM_IDS");
        assert_eq!(
            code(json!({"system_ids": ["30000142"]})),
            "INVALID_SYSTEM_IDS"
        );
        assert_eq!(code(json!({"system_ids": [0]})), "INVALID_SYSTEM_IDS");
        assert_eq!(
            code(json!({"system_ids": [1], "limit": 0})),
            "INVALID_PARAMETERS"
        );
        assert_eq!(
            code(json!({"system_ids": [1], "since_hours": "x"})),
            "INVALID_PARAMETERS"
        );
        assert_eq!(
            code(json!({"system_ids": "x", "limit": 0})),
            "INVALID_SYSTEM_IDS"
        );
        let many: Vec<u64> = (1..=101).collect();
        assert_eq!(code(json!({"system_ids": many})), "INVALID_SYSTEM_IDS");
        assert_eq!(
            code(json!({"system_ids": [2, 1, 2], "since_hours": 1})),
            "OK"
        );
    }
}
