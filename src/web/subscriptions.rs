//! The subscriptions routes (SPEC §4.2): webhook subscriptions created and deleted through the
//! API, and a listing of every live subscriber the registry holds — WebSocket channels and SSE
//! streams appear while connected and vanish on disconnect.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use actors::registry::ListSubscriptions;
use actors::webhooks::request::WebhookRequest;
use actors::webhooks::{CreateWebhook, RemoveSubscriber, WebhookRefused};
use serde_json::{json, Value};

use super::errors::ApiError;
use super::limits::authorize;
use super::{json, AppState};

/// `GET /api/v1/subscriptions`: needs the API token when one is set, since callback URLs may
/// carry secrets.
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state.api_token)?;
    let mut subscriptions = state.engine.registry.send(ListSubscriptions).await?;
    if state.engine.webhook_routes != state.engine.registry {
        subscriptions.extend(state.engine.webhook_routes.send(ListSubscriptions).await?);
    }
    let listed: Vec<_> = subscriptions
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "subscriber_id": s.subscriber_id,
                "type": s.channel,
                "system_ids": s.system_ids,
                "character_ids": s.character_ids,
                "filters": s.filters,
                "callback_url": s.callback_url,
                "format": s.format,
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

/// `POST /api/v1/subscriptions`: a webhook subscription.
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state.api_token)?;
    let request = WebhookRequest::parse(&body, &state.engine.filter_limits)
        .map_err(ApiError::Subscription)?;
    let id = state
        .engine
        .webhooks
        .send(CreateWebhook(request))
        .await?
        .map_err(|refused| match refused {
            WebhookRefused::Request(why) => ApiError::Subscription(why),
            unsaved => {
                log::warn!("webhook subscription not saved error={unsaved}");
                ApiError::unavailable()
            }
        })?;
    Ok(json(
        StatusCode::CREATED,
        &json!({"data": {"subscription_id": id, "message": "Subscription created successfully"}}),
    ))
}

/// `DELETE /api/v1/subscriptions/{subscriber_id}`: every webhook of that subscriber; always 200.
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    subscriber: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state.api_token)?;
    let subscriber = subscriber.into_inner();
    let removed = state
        .engine
        .webhooks
        .send(RemoveSubscriber(subscriber.clone()))
        .await?;
    log::info!("webhook subscriptions deleted subscriber={subscriber} count={removed}");
    Ok(json(
        StatusCode::OK,
        &json!({"data": {"message": "Successfully unsubscribed", "subscriber_id": subscriber}}),
    ))
}

/// `GET /api/v1/subscriptions/stats`
pub async fn stats(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let snap = state.engine.snapshot().await?;
    let (s, delivery) = (&snap.routing, &snap.webhooks);
    let total = snap.subscribers();
    Ok(json(
        StatusCode::OK,
        &json!({"data": {
            "total_subscriptions": total,
            "websocket_subscriptions": s.websocket_subscribers,
            "webhook_subscriptions": s.webhook_subscribers,
            "sse_subscriptions": s.sse_subscribers,
            "total_systems": s.systems,
            "total_characters": s.characters,
            "total_filters": s.rules,
            "unanchored_filters": s.unanchored_rules,
            "memory_usage": s.index_bytes,
            "webhook_deliveries": {
                "delivered": delivery.delivered,
                "kills_delivered": delivery.kills_delivered,
                "retries": delivery.retries,
                "failed": delivery.failed,
                "dropped": delivery.dropped,
                "queued": delivery.queued,
            },
        }}),
    ))
}
