//! The subscriptions routes (SPEC §4.2): webhook subscriptions created and deleted through the
//! API, and a listing of every live subscriber the registry holds — WebSocket channels and SSE
//! streams appear while connected and vanish on disconnect.

use std::collections::BTreeSet;

use actix_web::http::{StatusCode, Uri};
use actix_web::{web, HttpRequest, HttpResponse};
use actors::model::WebhookSubscription;
use actors::model::{now_iso, CharacterId, Filter, SystemId};
use actors::registry::{GetStats, ListSubscriptions};
use actors::webhooks::{AddWebhook, RemoveSubscriber};
use serde_json::{json, Value};

use super::errors::ApiError;
use super::limits::{authorize, is_private_target};
use super::middleware::random_id;
use super::{json, AppState};

const MAX_SYSTEMS: usize = 100;
const MAX_CHARACTERS: usize = 1000;

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
                "callback_url": s.callback_url,
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
    let request = WebhookRequest::parse(&body).map_err(ApiError::Subscription)?;
    if !state.allow_private_webhooks && is_private_target(&request.callback_url) {
        return Err(ApiError::Subscription(
            "callback_url must not point to a loopback or private address".into(),
        ));
    }
    let subscription = WebhookSubscription {
        id: random_id(),
        subscriber_id: request.subscriber_id,
        callback_url: request.callback_url,
        secret: request.secret,
        filter: request.filter,
        created_at: now_iso(),
    };
    let id = subscription.id.clone();
    log::info!(
        "webhook subscription created id={id} subscriber={} url={}",
        subscription.subscriber_id,
        subscription.callback_url
    );
    state.engine.webhooks.send(AddWebhook(subscription)).await?;
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
    let s = state.engine.registry.send(GetStats).await?;
    let total = s.websocket_subscribers + s.sse_subscribers + s.webhook_subscribers;
    let delivery = &state.engine.stats;
    Ok(json(
        StatusCode::OK,
        &json!({"data": {
            "total_subscriptions": total,
            "websocket_subscriptions": s.websocket_subscribers,
            "webhook_subscriptions": s.webhook_subscribers,
            "sse_subscriptions": s.sse_subscribers,
            "total_systems": s.systems,
            "total_characters": s.characters,
            "memory_usage": s.index_bytes,
            "webhook_deliveries": {
                "delivered": delivery.webhook_delivered,
                "kills_delivered": delivery.webhook_kills_delivered,
                "retries": delivery.webhook_retries,
                "failed": delivery.webhook_failed,
                "dropped": delivery.webhook_dropped,
                "queued": delivery.webhook_queued,
            },
        }}),
    ))
}

/// A validated webhook subscription request.
#[derive(Debug)]
struct WebhookRequest {
    subscriber_id: String,
    callback_url: String,
    secret: Option<String>,
    filter: Filter,
}

impl WebhookRequest {
    /// Validates in SPEC §4.2's order; the first failure is the message.
    fn parse(body: &Value) -> Result<Self, String> {
        let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::trim);
        let subscriber_id = text("subscriber_id")
            .filter(|s| !s.is_empty())
            .ok_or("subscriber_id is required")?;
        let callback_url = match body.get("callback_url") {
            None | Some(Value::Null) => return Err("callback_url is required".into()),
            Some(Value::String(s)) if s.trim().is_empty() => {
                return Err("callback_url is required".into())
            }
            Some(url) => url
                .as_str()
                .map(str::trim)
                .filter(|u| is_http_url(u))
                .ok_or("callback_url must be a valid HTTP/HTTPS URL")?,
        };
        let systems: BTreeSet<SystemId> = ids(body.get("system_ids"))
            .ok_or("system_ids must be an array of positive integers")?;
        let characters: BTreeSet<CharacterId> = ids(body.get("character_ids"))
            .ok_or("character_ids must be an array of positive integers")?;
        if systems.is_empty() && characters.is_empty() {
            return Err("At least one system_id or character_id is required".into());
        }
        if systems.len() > MAX_SYSTEMS {
            return Err(format!(
                "Maximum {MAX_SYSTEMS} system_ids allowed per subscription"
            ));
        }
        if characters.len() > MAX_CHARACTERS {
            return Err(format!(
                "Maximum {MAX_CHARACTERS} character_ids allowed per subscription"
            ));
        }
        let secret = match body.get("secret") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(_) => return Err("secret must be a non-empty string".into()),
        };
        Ok(Self {
            subscriber_id: subscriber_id.to_owned(),
            callback_url: callback_url.to_owned(),
            secret,
            filter: Filter {
                systems,
                characters,
                ..Filter::default()
            },
        })
    }
}

/// An absolute `http`/`https` URL with a host.
fn is_http_url(text: &str) -> bool {
    text.parse::<Uri>().is_ok_and(|uri| {
        matches!(uri.scheme_str(), Some("http" | "https"))
            && uri.host().is_some_and(|h| !h.is_empty())
    })
}

/// An absent or null list is empty; otherwise every element must be a positive integer id.
/// De-duplicated and sorted by the set.
fn ids<T>(value: Option<&Value>) -> Option<BTreeSet<T>>
where
    T: Ord + TryFrom<u64>,
{
    match value {
        None | Some(Value::Null) => Some(BTreeSet::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_u64().and_then(|n| T::try_from(n).ok()))
            .collect(),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(body: Value) -> String {
        WebhookRequest::parse(&body).expect_err("refused")
    }

    #[test]
    fn validation_follows_the_documented_order() {
        let url = "https://example.com/hook";
        assert_eq!(error(json!({})), "subscriber_id is required");
        assert_eq!(
            error(json!({"subscriber_id": "", "callback_url": url})),
            "subscriber_id is required"
        );
        assert_eq!(
            error(json!({"subscriber_id": "a", "callback_url": null})),
            "callback_url is required"
        );
        for bad in [
            json!("ftp://x/y"),
            json!("not a url"),
            json!("http://"),
            json!(5),
        ] {
            assert_eq!(
                error(json!({"subscriber_id": "a", "callback_url": bad})),
                "callback_url must be a valid HTTP/HTTPS URL"
            );
        }
        assert_eq!(
            error(json!({"subscriber_id": "a", "callback_url": url, "system_ids": [1, 0]})),
            "system_ids must be an array of positive integers"
        );
        assert_eq!(
            error(json!({"subscriber_id": "a", "callback_url": url, "system_ids": "1"})),
            "system_ids must be an array of positive integers"
        );
        assert_eq!(
            error(
                json!({"subscriber_id": "a", "callback_url": url, "system_ids": "x", "character_ids": "y"})
            ),
            "system_ids must be an array of positive integers",
            "the first failure wins"
        );
        assert_eq!(
            error(json!({"subscriber_id": "a", "callback_url": url, "character_ids": [-3]})),
            "character_ids must be an array of positive integers"
        );
        assert_eq!(
            error(json!({"subscriber_id": "a", "callback_url": url, "system_ids": []})),
            "At least one system_id or character_id is required"
        );
        let many: Vec<u64> = (1..=101).collect();
        assert_eq!(
            error(json!({"subscriber_id": "a", "callback_url": url, "system_ids": many})),
            "Maximum 100 system_ids allowed per subscription"
        );
        let many: Vec<u64> = (1..=1001).collect();
        assert_eq!(
            error(json!({"subscriber_id": "a", "callback_url": url, "character_ids": many})),
            "Maximum 1000 character_ids allowed per subscription"
        );
    }

    #[test]
    fn id_lists_are_deduplicated_and_sorted() {
        let request = WebhookRequest::parse(&json!({
            "subscriber_id": "bot", "callback_url": "http://127.0.0.1:9/hook",
            "system_ids": [30002187, 30000142, 30002187], "secret": "s3cret"
        }))
        .expect("valid");

        let systems: Vec<u64> = request.filter.systems.iter().map(|s| s.get()).collect();
        assert_eq!(systems, vec![30000142, 30002187]);
        assert_eq!(request.secret.as_deref(), Some("s3cret"));
    }
}
