//! `GET /metrics`: the Prometheus text exposition (version 0.0.4), or the same figures as JSON
//! when the client sends `Accept: application/json`.

mod cluster;
mod format;
pub mod http;
mod process;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::errors::ApiError;
use super::AppState;

use format::{as_json, exposition, labelled, one, Family, Kind, Samples};

/// Every family, read now.
async fn families(state: &AppState) -> Result<Vec<Family>, ApiError> {
    use Kind::{Counter, Gauge};
    let engine = &state.engine;
    let snap = engine.snapshot().await?;
    let (feed, kills, esi, store, webhooks) = (
        &snap.feed,
        &snap.kills,
        &snap.esi,
        &snap.store,
        &snap.webhooks,
    );
    let routing = &snap.routing;
    let n = |v: u64| v as f64;
    let source = feed.source;
    let mut families = vec![
        labelled(
            "build_info",
            "The running build: always 1, its version in the label.",
            Gauge,
            "version",
            &[(env!("CARGO_PKG_VERSION"), 1.0)],
        ),
        one(
            "uptime_seconds",
            "Seconds since the service started.",
            Gauge,
            n(snap.uptime_seconds),
        ),
        Family {
            name: "feed_objects_total",
            help: "Objects or packages received from the kill feed.",
            kind: Counter,
            samples: Samples::Values(vec![(vec![("source", source.to_owned())], n(feed.objects))]),
        },
        one(
            "feed_errors_total",
            "Failed calls to the kill feed.",
            Counter,
            n(feed.errors),
        ),
        one(
            "feed_malformed_total",
            "Feed bodies that could not be read.",
            Counter,
            n(feed.malformed),
        ),
        one(
            "feed_skipped_sequences_total",
            "R2Z2 sequences skipped.",
            Counter,
            n(feed.skipped_sequences),
        ),
        one(
            "feed_cursor",
            "The R2Z2 sequence being asked for.",
            Gauge,
            feed.cursor as f64,
        ),
        one(
            "feed_head",
            "The newest R2Z2 sequence published upstream.",
            Gauge,
            feed.head as f64,
        ),
        one(
            "feed_lag_seconds",
            "How far the feed trails upstream publication.",
            Gauge,
            feed.lag_seconds as f64,
        ),
        labelled(
            "killmails_total",
            "Kills by what became of them.",
            Counter,
            "outcome",
            &[
                ("received", n(kills.received)),
                ("stored", n(kills.stored)),
                ("updated", n(kills.updated)),
                ("duplicate", n(kills.duplicate)),
                ("too_old", n(kills.too_old)),
                ("invalid", n(kills.invalid)),
                ("enriched_late", n(kills.enriched_late)),
                ("dropped", n(kills.retry_dropped)),
                ("store_failed", n(store.unavailable)),
            ],
        ),
        one(
            "retry_queue",
            "Kills waiting for ESI to answer again.",
            Gauge,
            kills.retry_queue as f64,
        ),
        labelled(
            "esi_requests_total",
            "ESI calls by outcome.",
            Counter,
            "outcome",
            &[
                ("ok", n(esi.requests.saturating_sub(esi.errors))),
                ("error", n(esi.errors)),
            ],
        ),
        one(
            "esi_error_budget",
            "ESI's error budget left in its window (0 until ESI first answers).",
            Gauge,
            esi.error_budget as f64,
        ),
        one(
            "esi_tokens_remaining",
            "Tokens left in ESI's rate-limit bucket (0 until ESI first answers).",
            Gauge,
            esi.tokens_remaining as f64,
        ),
        one(
            "esi_pauses_total",
            "Times ESI asked the service to pause.",
            Counter,
            n(esi.pauses),
        ),
        labelled(
            "cache_lookups_total",
            "Name cache lookups by result.",
            Counter,
            "result",
            &[("hit", n(esi.cache_hits)), ("miss", n(esi.cache_misses))],
        ),
        one(
            "cache_hit_ratio",
            "Name cache hits over lookups.",
            Gauge,
            esi.cache_hit_rate,
        ),
        one(
            "store_kills",
            "Kills held in memory.",
            Gauge,
            store.held as f64,
        ),
        one(
            "store_expired_total",
            "Kills dropped by retention or the per-system bound.",
            Counter,
            n(store.expired),
        ),
        one(
            "store_waiting_for_disk",
            "Kills the disk refused that wait to be written again (the feed holds meanwhile).",
            Gauge,
            store.waiting_for_disk as f64,
        ),
        one(
            "store_write_errors_total",
            "Kills the disk refused.",
            Counter,
            n(store.write_errors),
        ),
        one(
            "websocket_connections",
            "Open WebSocket connections.",
            Gauge,
            state.socket_slots.open() as f64,
        ),
        one(
            "sse_connections",
            "Open SSE streams.",
            Gauge,
            state.sse.connections() as f64,
        ),
        labelled(
            "subscriptions",
            "Live subscriptions by channel.",
            Gauge,
            "channel",
            &[
                ("websocket", routing.websocket_subscribers as f64),
                ("sse", routing.sse_subscribers as f64),
                ("webhook", routing.webhook_subscribers as f64),
            ],
        ),
        one(
            "routing_pushes_total",
            "Kills handed to subscribers.",
            Counter,
            n(routing.pushed),
        ),
        one(
            "routing_full_total",
            "Kills not handed over because a subscriber's queue was full.",
            Counter,
            n(routing.dropped_full),
        ),
        labelled(
            "webhook_deliveries_total",
            "Webhook deliveries by outcome.",
            Counter,
            "outcome",
            &[
                ("delivered", n(webhooks.delivered)),
                ("retried", n(webhooks.retries)),
                ("failed", n(webhooks.failed)),
                ("dropped", n(webhooks.dropped)),
            ],
        ),
        one(
            "webhook_queued",
            "Kills waiting for their webhook endpoint.",
            Gauge,
            webhooks.queued as f64,
        ),
        one(
            "api_requests_total",
            "Requests to the REST API.",
            Counter,
            n(state.api_requests.total()),
        ),
        Family {
            name: "pipeline_seconds",
            help: "From a kill entering the pipeline to being stored and routed.",
            kind: Kind::Histogram,
            samples: Samples::Histograms(vec![(Vec::new(), snap.pipeline_seconds.clone())]),
        },
        Family {
            name: "delivery_seconds",
            help: "From a kill being stored to it leaving for a client, by channel.",
            kind: Kind::Histogram,
            samples: Samples::Histograms(vec![
                (
                    vec![("channel", "websocket".into())],
                    snap.delivery_seconds.websocket.clone(),
                ),
                (
                    vec![("channel", "sse".into())],
                    snap.delivery_seconds.sse.clone(),
                ),
                (
                    vec![("channel", "webhook".into())],
                    snap.delivery_seconds.webhook.clone(),
                ),
            ]),
        },
    ];
    families.extend(state.http_metrics.families());
    families.extend(process::families());
    let status = engine.cluster.as_ref().map(|c| &*c.status);
    families.extend(cluster::families(status));
    Ok(families)
}

/// `GET /metrics`
pub async fn metrics(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let families = families(&state).await?;
    let wants_json = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if wants_json {
        return Ok(super::json(
            actix_web::http::StatusCode::OK,
            &as_json(&families),
        ));
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(exposition(&families)))
}
