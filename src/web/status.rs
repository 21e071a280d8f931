//! `GET /status`: what the service is doing, with real figures (SPEC §4.2).
//!
//! Every engine figure comes from one [`actors::snapshot::Snapshot`] (as `/metrics`, the
//! subscription stats and the status report do); the connection counts and the API request rate
//! are the HTTP layer's own.

use actix_web::{http::StatusCode, web, HttpResponse};

use actors::model::now_iso;
use serde_json::json;

use super::errors::ApiError;
use super::{json, AppState};

pub async fn status(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let engine = &state.engine;
    let snap = engine.snapshot().await?;
    let connections = state.socket_slots.open();
    let (feed, kills, esi, routing) = (&snap.feed, &snap.kills, &snap.esi, &snap.routing);
    let (uptime_seconds, cache_hit_rate) = (snap.uptime_seconds, esi.cache_hit_rate);
    let memory_mb = snap.memory_mb;
    let webhooks = &snap.webhooks;
    let body = json!({
        "metrics": {
            "system": {
                "uptime_seconds": uptime_seconds,
                "memory_usage_mb": memory_mb,
                "version": env!("CARGO_PKG_VERSION"),
            },
            "processing": {
                "feed_source": feed.source,
                "feed_objects": feed.objects,
                "feed_cursor": feed.cursor,
                "feed_head": feed.head,
                "feed_errors": feed.errors,
                "skipped_sequences": feed.skipped_sequences,
                "kills_received": kills.received,
                "kills_stored": kills.stored,
                "kills_updated": kills.updated,
                "duplicates": kills.duplicate,
                "too_old": kills.too_old,
                "enriched_after_deadline": kills.enriched_late,
                "retry_queue": kills.retry_queue,
                "retry_dropped": kills.retry_dropped,
                "mean_pipeline_ms": kills.mean_pipeline_ms,
                "lag_seconds": feed.lag_seconds,
                "backfills": kills.backfills,
                "backfill_errors": kills.backfill_errors,
            },
            "storage": {
                "killmails_stored": snap.store.held,
                "expired": snap.store.expired,
                "write_errors": snap.store.write_errors,
                "unavailable": snap.store.unavailable,
                "waiting_for_disk": snap.store.waiting_for_disk,
            },
            "esi": {
                "requests": esi.requests,
                "errors": esi.errors,
                "cache_hits": esi.cache_hits,
                "cache_misses": esi.cache_misses,
                "cache_hit_rate": cache_hit_rate,
            },
            "api": {
                "requests_total": state.api_requests.total(),
                "requests_per_minute": state.api_requests.per_minute(),
            },
            "websocket": {
                "active_connections": connections,
                "active_subscriptions": routing.websocket_subscribers,
                "subscribed_systems": routing.systems,
                "subscribed_characters": routing.characters,
                "kills_pushed": routing.pushed,
                "pushes_dropped_full": routing.dropped_full,
            },
            "sse": {
                "active_connections": state.sse.connections(),
                "active_subscriptions": routing.sse_subscribers,
            },
            "webhooks": {
                "subscriptions": routing.webhook_subscribers,
                "delivered": webhooks.delivered,
                "kills_delivered": webhooks.kills_delivered,
                "retries": webhooks.retries,
                "failed": webhooks.failed,
                "dropped": webhooks.dropped,
                "queued": webhooks.queued,
            },
            "parser_stats": {
                "parsed": kills.received,
                "invalid": kills.invalid,
                "malformed_bodies": feed.malformed,
                "placeholders": feed.placeholders,
            },
        },
        "summary": {
            "killmails_stored": snap.store.held,
            "active_subscriptions": snap.subscribers(),
            "websocket_connections": connections,
            "api_requests_per_minute": state.api_requests.per_minute(),
            "sse_connections": state.sse.connections(),
            "cache_hit_rate": cache_hit_rate,
            "memory_usage_mb": memory_mb,
            "uptime_hours": uptime_seconds as f64 / 3600.0,
            "processing_lag_seconds": feed.lag_seconds,
        },
        "timestamp": now_iso(),
    });
    Ok(json(StatusCode::OK, &body))
}
