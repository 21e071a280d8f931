//! `GET /api/v1/kills?filter=...&since_hours=24&limit=50`: the stored kills any of the `filter=`
//! rules matches (URL form, one rule per parameter; none = every kill), newest first, each with
//! the names of the rules it matched. Reads the store only, never an upstream.

use std::cmp::Reverse;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use actors::model::{now_iso, Filter};
use serde_json::json;

use super::errors::ApiError;
use super::filter_query::QueryPairs;
use super::kills::{RawJson, Window};
use super::AppState;

fn invalid(code: &'static str, message: String) -> ApiError {
    ApiError::coded(StatusCode::BAD_REQUEST, code, message)
}

pub async fn search(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = req.query_string();
    let pairs = QueryPairs::parse(query).map_err(|e| invalid("INVALID_PARAMETERS", e))?;
    let rules = pairs
        .rules(&state.engine.filter_limits)
        .map_err(|e| invalid("INVALID_FILTER", e))?;
    let window = Window::from_query(query, "since_hours").map_err(|bad| {
        let message = match bad {
            "limit" => "limit must be an integer from 1 to 1000".to_owned(),
            key => format!("{key} must be a positive integer (hours, at most a year)"),
        };
        invalid("INVALID_PARAMETERS", message)
    })?;
    let filter = if rules.is_empty() {
        Filter::everything()
    } else {
        Filter::of_rules(rules)
    };
    let mut kills = state
        .engine
        .store
        .replay(filter.clone(), 0, window.since(), usize::MAX)
        .await
        .map_err(|_| ApiError::unavailable())?;
    kills.sort_unstable_by_key(|k| Reverse((k.facts.kill_time, k.facts.killmail_id)));
    kills.truncate(window.limit);

    let ts = now_iso();
    let mut out = RawJson::with_capacity(128);
    out.raw("{\"data\":{\"kills\":");
    out.kills_matched(&kills, &filter);
    out.raw(",\"filters\":");
    out.raw(&json!(filter.rules).to_string());
    out.timestamp_and_close(&ts);
    out.timestamp_and_close(&ts);
    Ok(out.into_response())
}
