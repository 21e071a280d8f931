//! The subscriptions routes (SPEC §4.2). Listing: every live subscriber the registry holds —
//! WebSocket channels appear while connected and vanish on disconnect.

use actix_web::{http::StatusCode, web, HttpResponse};
use actors::registry::ListSubscriptions;
use serde_json::json;

use super::errors::ApiError;
use super::{json, AppState};

/// `GET /api/v1/subscriptions`
pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let subscriptions = state.engine.registry.send(ListSubscriptions).await?;
    let listed: Vec<_> = subscriptions
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "subscriber_id": s.subscriber_id,
                "type": s.channel,
                "system_ids": s.system_ids,
                "character_ids": s.character_ids,
                "callback_url": null,
                "created_at": s.created_at,
                "updated_at": s.updated_at,
            })
        })
        .collect();
    let count = listed.len();
    Ok(json(
        StatusCode::OK,
        &json!({"data": {"subscriptions": listed, "count": count}}),
    ))
}
