//! `GET /status`: what the service is doing, with real figures (SPEC §4.2).
//!
//! The ingest, storage and cache figures come from the engine's shared counters, the WebSocket
//! figures from the registry and the connection counters; the API request rate comes with the
//! metrics route.

use actix_web::{http::StatusCode, web, HttpResponse};
use std::sync::atomic::Ordering;

use actors::model::now_iso;
use actors::registry::GetStats;
use serde_json::json;

use super::errors::ApiError;
use super::{json, AppState};

pub async fn status(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let engine = &state.engine;
    let routing = engine.registry.send(GetStats).await?;
    let connections = state.connections.load(Ordering::Relaxed);
    let s = &*engine.stats;
    let (uptime_seconds, cache_hit_rate) = (s.uptime_seconds(), s.cache_hit_rate());
    let memory_mb = resident_memory_mb();
    let body = json!({
        "metrics": {
            "system": {
                "uptime_seconds": uptime_seconds,
                "memory_usage_mb": memory_mb,
                "version": env!("CARGO_PKG_VERSION"),
            },
            "processing": {
                "feed_source": engine.feed_source.as_str(),
                "feed_objects": s.feed_objects,
                "feed_cursor": s.feed_cursor,
                "feed_head": s.feed_head,
                "feed_errors": s.feed_errors,
                "skipped_sequences": s.feed_skipped_sequences,
                "kills_received": s.kills_received,
                "kills_stored": s.kills_stored,
                "kills_updated": s.kills_updated,
                "duplicates": s.kills_duplicate,
                "too_old": s.kills_too_old,
                "enriched_after_deadline": s.kills_enriched_late,
                "retry_queue": s.retry_queue,
                "retry_dropped": s.retry_dropped,
                "mean_pipeline_ms": s.pipeline_ms_mean(),
                "lag_seconds": s.feed_lag_seconds,
                "backfills": s.backfills,
                "backfill_errors": s.backfill_errors,
            },
            "storage": {
                "killmails_stored": s.kills_held,
                "expired": s.kills_expired,
            },
            "esi": {
                "requests": s.esi_requests,
                "errors": s.esi_errors,
                "cache_hits": s.cache_hits,
                "cache_misses": s.cache_misses,
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
                "delivered": s.webhook_delivered,
                "kills_delivered": s.webhook_kills_delivered,
                "retries": s.webhook_retries,
                "failed": s.webhook_failed,
                "dropped": s.webhook_dropped,
                "queued": s.webhook_queued,
            },
            "parser_stats": {
                "parsed": s.kills_received,
                "invalid": s.kills_invalid,
                "malformed_bodies": s.feed_malformed,
                "placeholders": s.feed_placeholders,
            },
        },
        "summary": {
            "killmails_stored": s.kills_held,
            "active_subscriptions": routing.websocket_subscribers
                + routing.sse_subscribers
                + routing.webhook_subscribers,
            "websocket_connections": connections,
            "api_requests_per_minute": state.api_requests.per_minute(),
            "sse_connections": state.sse.connections(),
            "cache_hit_rate": cache_hit_rate,
            "memory_usage_mb": memory_mb,
            "uptime_hours": uptime_seconds as f64 / 3600.0,
            "processing_lag_seconds": s.feed_lag_seconds,
        },
        "timestamp": now_iso(),
    });
    Ok(json(StatusCode::OK, &body))
}

/// Resident memory of this process in MiB, from `/proc/self/statm` (0 where there is none).
fn resident_memory_mb() -> f64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0);
    // Linux pages are 4 KiB on the platforms the image targets.
    (pages * 4096) as f64 / (1024.0 * 1024.0)
}
