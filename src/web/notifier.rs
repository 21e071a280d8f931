//! The routes the notifier bot calls (SPEC §4.3, CONSUMERS.md §4.3): answered from memory, never
//! wrapped in `{"data": ...}`, and never a 404 or 5xx for a valid request.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use actors::model::{now_iso, CharacterId, KillTime, SystemId};
use serde_json::Value;

use super::errors::ApiError;
use super::kills::{
    positive, RawJson, DEFAULT_LIMIT, DEFAULT_SINCE_HOURS, MAX_LIMIT, MAX_SINCE_HOURS,
    MAX_SYSTEMS_PER_REQUEST,
};
use super::AppState;

/// `hours` and a per-list limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    hours: u64,
    limit: usize,
}

impl Span {
    fn since(self) -> KillTime {
        KillTime::now().minus_secs(i64::try_from(self.hours * 3600).unwrap_or(i64::MAX))
    }

    /// From `hours` and `limit` (or `limit_per_system`) values, each optional.
    fn read(hours: Option<u64>, limit: Option<u64>) -> Result<Self, ApiError> {
        let hours = hours.unwrap_or(DEFAULT_SINCE_HOURS);
        let limit = limit.unwrap_or(DEFAULT_LIMIT as u64);
        if !(1..=MAX_SINCE_HOURS).contains(&hours) {
            return Err(invalid(format!(
                "hours must be an integer between 1 and {MAX_SINCE_HOURS}"
            )));
        }
        if !(1..=MAX_LIMIT as u64).contains(&limit) {
            return Err(invalid(format!(
                "limit must be an integer between 1 and {MAX_LIMIT}"
            )));
        }
        Ok(Self {
            hours,
            limit: limit as usize,
        })
    }

    fn from_query(req: &HttpRequest) -> Result<Self, ApiError> {
        let query = web::Query::<HashMap<String, String>>::from_query(req.query_string())
            .map_err(|_| invalid("unreadable query string".into()))?
            .into_inner();
        let number = |key: &str| -> Result<Option<u64>, ApiError> {
            query
                .get(key)
                .map(|t| {
                    positive(t).ok_or_else(|| invalid(format!("{key} must be a positive integer")))
                })
                .transpose()
        };
        Self::read(number("hours")?, number("limit")?)
    }
}

fn invalid(message: String) -> ApiError {
    ApiError::coded(StatusCode::BAD_REQUEST, "INVALID_PARAMETERS", message)
}

/// `POST /api/v1/systems/bulk/killmails` `{"system_ids", "hours", "limit_per_system"}` →
/// `{"systems": {"<id>": [...]}, "timestamp"}`, every requested system present.
pub async fn bulk(
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let list = body
        .get("system_ids")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("system_ids must be an array of positive integers".into()))?;
    let mut systems: Vec<SystemId> = list
        .iter()
        .map(|v| v.as_u64().and_then(SystemId::new))
        .collect::<Option<_>>()
        .ok_or_else(|| invalid("system_ids must be an array of positive integers".into()))?;
    systems.sort_unstable();
    systems.dedup();
    if systems.len() > MAX_SYSTEMS_PER_REQUEST {
        return Err(invalid(format!(
            "Too many system_ids (max {MAX_SYSTEMS_PER_REQUEST})"
        )));
    }
    let number = |key: &str| -> Result<Option<u64>, ApiError> {
        match body.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| invalid(format!("{key} must be a positive integer"))),
        }
    };
    let span = Span::read(number("hours")?, number("limit_per_system")?)?;

    let mut out = RawJson::with_capacity(4096);
    out.raw("{\"systems\":{");
    for (i, system) in systems.iter().enumerate() {
        let kills = state
            .engine
            .store
            .system_kills(*system, span.since(), span.limit)
            .await?;
        if i > 0 {
            out.raw(",");
        }
        out.raw(&format!("\"{system}\":"));
        out.kills(&kills);
    }
    out.raw("}");
    out.timestamp_and_close(&now_iso());
    Ok(out.into_response())
}

/// `GET /api/v1/systems/{id}/killmails?hours=24&limit=50` → `{"kills": [...]}`.
pub async fn system(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let system = positive(&id)
        .and_then(SystemId::new)
        .ok_or_else(|| invalid("invalid system id".into()))?;
    let span = Span::from_query(&req)?;
    let kills = state
        .engine
        .store
        .system_kills(system, span.since(), span.limit)
        .await?;
    Ok(kills_only(&kills))
}

/// `GET /api/v1/characters/{id}/killmails?hours=24&limit=50` → `{"kills": [...]}`, kills where
/// the character is the victim or an attacker.
pub async fn character(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let character = positive(&id)
        .and_then(CharacterId::new)
        .ok_or_else(|| invalid("invalid character id".into()))?;
    let span = Span::from_query(&req)?;
    let kills = state
        .engine
        .store
        .character_kills(character, span.since(), span.limit)
        .await?;
    Ok(kills_only(&kills))
}

fn kills_only(kills: &[std::sync::Arc<actors::store::StoredKill>]) -> HttpResponse {
    let mut out = RawJson::with_capacity(256);
    out.raw("{\"kills\":");
    out.kills(kills);
    out.raw("}");
    out.into_response()
}
