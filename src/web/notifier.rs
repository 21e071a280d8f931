//! The routes the notifier bot calls (SPEC §4.3, CONSUMERS.md §4.3): answered from memory, never
//! wrapped in `{"data": ...}`, and never a 404 or 5xx for a valid request.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use actors::model::{now_iso, CharacterId, SystemId};
use serde_json::Value;

use super::errors::ApiError;
use super::kills::{positive, window_in_body, RawJson, Window, MAX_SYSTEMS_PER_REQUEST};
use super::AppState;

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
    let window = window_in_body(&body, "hours", "limit_per_system").map_err(invalid)?;

    let mut out = RawJson::with_capacity(4096);
    out.raw("{\"systems\":{");
    for (i, system) in systems.iter().enumerate() {
        let kills = state
            .engine
            .store
            .system_kills(*system, window.since(), window.limit)
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
    let window = window_of(&req)?;
    let store = &state.engine.store;
    let kills = store
        .system_kills(system, window.since(), window.limit)
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
    let window = window_of(&req)?;
    let store = &state.engine.store;
    let kills = store
        .character_kills(character, window.since(), window.limit)
        .await?;
    Ok(kills_only(&kills))
}

/// `hours` and `limit` of the query.
fn window_of(req: &HttpRequest) -> Result<Window, ApiError> {
    Window::from_query(req.query_string(), "hours")
        .map_err(|name| invalid(format!("{name} must be a positive integer in range")))
}

fn kills_only(kills: &[std::sync::Arc<actors::model::StoredKill>]) -> HttpResponse {
    let mut out = RawJson::with_capacity(256);
    out.raw("{\"kills\":");
    out.kills(kills);
    out.raw("}");
    out.into_response()
}
