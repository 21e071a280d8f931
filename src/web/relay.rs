//! The relays' routes: RedisQ (`GET /listen.php`, `GET /redisq`) and R2Z2
//! (`GET /ephemeral/sequence.json`, `GET /ephemeral/{seq}.json`), in zKillboard's shapes, so a
//! bot written for either works by changing its base URL. The engine's relay does the work.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use actors::model::Filter;
use actors::relay::shapes::{r2z2_object, r2z2_placeholder, redisq_package, REDISQ_EMPTY};
use actors::relay::{Poll, PollError};
use serde_json::json;

use super::errors::ApiError;
use super::filter_query::QueryPairs;
use super::{AppState, JSON_CONTENT_TYPE};

/// `ttw` bounds (seconds), as RedisQ has them.
const TTW: std::ops::RangeInclusive<u64> = 1..=10;
/// `ttl` bounds (seconds): a minute to a week.
const TTL: std::ops::RangeInclusive<u64> = 60..=604_800;
const MAX_QUEUE_ID: usize = 100;

fn body(status: StatusCode, bytes: Vec<u8>) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(JSON_CONTENT_TYPE)
        .insert_header(("cache-control", "no-store"))
        .body(bytes)
}

fn refused(status: StatusCode, message: &str) -> HttpResponse {
    body(status, json!({"error": message}).to_string().into_bytes())
}

/// The filter of a relay request: its `filter=` rules, or every kill.
fn filter(pairs: &QueryPairs, state: &AppState) -> Result<Filter, String> {
    let rules = pairs.rules(&state.engine.filter_limits)?;
    Ok(if rules.is_empty() {
        Filter::everything()
    } else {
        Filter::of_rules(rules)
    })
}

/// Reads a whole number of seconds; `None` when absent.
fn seconds(value: Option<&String>, key: &str) -> Result<Option<u64>, String> {
    value
        .map(|v| {
            v.parse::<u64>()
                .map_err(|_| format!("{key} must be a whole number of seconds"))
        })
        .transpose()
}

/// `GET /listen.php?queueID=...&ttw=10&ttl=10800&filter=...`: the next kill of the queue, or
/// `{"package": null}` when none came within `ttw` seconds.
pub async fn listen(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let parsed = QueryPairs::parse(req.query_string()).and_then(|pairs| {
        let singles = pairs.singles();
        let queue = singles
            .get("queueID")
            .cloned()
            .filter(|q| !q.is_empty())
            .ok_or("queueID is required: name your queue, e.g. ?queueID=my-bot")?;
        if queue.chars().count() > MAX_QUEUE_ID || queue.chars().any(char::is_control) {
            return Err(format!(
                "queueID must be 1 to {MAX_QUEUE_ID} printable characters"
            ));
        }
        let wait = seconds(singles.get("ttw"), "ttw")?.unwrap_or(10);
        if !TTW.contains(&wait) {
            return Err("ttw must be 1 to 10 seconds".to_owned());
        }
        Ok(Poll {
            queue,
            filter: Arc::new(filter(&pairs, &state)?),
            wait: Duration::from_secs(wait),
            ttl_secs: seconds(singles.get("ttl"), "ttl")?
                .map(|t| t.clamp(*TTL.start(), *TTL.end())),
        })
    });
    let poll = match parsed {
        Ok(poll) => poll,
        Err(message) => return refused(StatusCode::BAD_REQUEST, &message),
    };
    match state.engine.relay.poll(poll).await {
        Ok(Some(kill)) => body(StatusCode::OK, redisq_package(&kill)),
        Ok(None) => body(StatusCode::OK, REDISQ_EMPTY.to_vec()),
        Err(e @ PollError::Busy) => {
            let mut answer = refused(StatusCode::TOO_MANY_REQUESTS, &e.to_string());
            answer.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from_static("1"),
            );
            answer
        }
        Err(e @ PollError::TooManyQueues(_)) => {
            refused(StatusCode::SERVICE_UNAVAILABLE, &e.to_string())
        }
        Err(e @ PollError::Shared(_)) => {
            log::warn!("relay poll failed error={e}");
            refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "the relay queues cannot be reached; poll again",
            )
        }
        Err(PollError::Store(e)) => {
            log::error!("relay poll failed error={e}");
            refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "the store did not answer; poll again",
            )
        }
    }
}

/// `GET /ephemeral/sequence.json`: `{"sequence": <settled head>}`.
pub async fn sequence(state: web::Data<AppState>) -> HttpResponse {
    let head = state.engine.store.settled();
    body(
        StatusCode::OK,
        json!({"sequence": head}).to_string().into_bytes(),
    )
}

/// `GET /ephemeral/{seq}.json?filter=...`: the kill at that offset; R2Z2's placeholder when it is
/// gone or does not match the filter; `404` past the head (not there yet: ask again).
pub async fn object(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let Some(sequence) = super::kills::positive(&path) else {
        return Ok(refused(StatusCode::NOT_FOUND, "no such sequence"));
    };
    let filter = QueryPairs::parse(req.query_string()).and_then(|pairs| filter(&pairs, &state));
    let filter = match filter {
        Ok(filter) => filter,
        Err(message) => return Ok(refused(StatusCode::BAD_REQUEST, &message)),
    };
    let store = &state.engine.store;
    if sequence > store.settled() {
        return Ok(refused(
            StatusCode::NOT_FOUND,
            "not published yet; ask again shortly",
        ));
    }
    let kill = store
        .at_offset(sequence)
        .await
        .map_err(|_| ApiError::unavailable())?;
    Ok(match kill {
        Some(kill) if filter.admits(&kill.facts) => body(StatusCode::OK, r2z2_object(&kill)),
        _ => body(StatusCode::OK, r2z2_placeholder(sequence)),
    })
}
