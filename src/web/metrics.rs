//! `GET /metrics`: the Prometheus text exposition (version 0.0.4), or the same figures as JSON
//! when the client sends `Accept: application/json`.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use actors::registry::GetStats;
use actors::stats::{HistogramSnapshot, Stats};
use serde_json::{json, Map, Value};

use super::errors::ApiError;
use super::AppState;

const PREFIX: &str = "wanderer_kills_";

enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(&self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

enum Samples {
    /// `(labels, value)`.
    Values(Vec<(Vec<(&'static str, String)>, f64)>),
    /// `(labels, histogram)`.
    Histograms(Vec<(Vec<(&'static str, String)>, HistogramSnapshot)>),
}

/// One metric family: name (without the prefix), help, type, samples.
struct Family {
    name: &'static str,
    help: &'static str,
    kind: Kind,
    samples: Samples,
}

fn one(name: &'static str, help: &'static str, kind: Kind, value: f64) -> Family {
    Family {
        name,
        help,
        kind,
        samples: Samples::Values(vec![(Vec::new(), value)]),
    }
}

fn labelled(
    name: &'static str,
    help: &'static str,
    kind: Kind,
    label: &'static str,
    values: &[(&str, f64)],
) -> Family {
    let samples = values
        .iter()
        .map(|(l, v)| (vec![(label, (*l).to_owned())], *v))
        .collect();
    Family {
        name,
        help,
        kind,
        samples: Samples::Values(samples),
    }
}

/// Every family, read now.
async fn families(state: &AppState) -> Result<Vec<Family>, ApiError> {
    use Kind::{Counter, Gauge};
    let engine = &state.engine;
    let s: &Stats = &engine.stats;
    let routing = engine.registry.send(GetStats).await?;
    let n = |v: u64| v as f64;
    let source = engine.feed_source.as_str();
    Ok(vec![
        one(
            "uptime_seconds",
            "Seconds since the service started.",
            Gauge,
            n(s.uptime_seconds()),
        ),
        Family {
            name: "feed_objects_total",
            help: "Objects or packages received from the kill feed.",
            kind: Counter,
            samples: Samples::Values(vec![(
                vec![("source", source.to_owned())],
                n(s.feed_objects.get()),
            )]),
        },
        one(
            "feed_errors_total",
            "Failed calls to the kill feed.",
            Counter,
            n(s.feed_errors.get()),
        ),
        one(
            "feed_malformed_total",
            "Feed bodies that could not be read.",
            Counter,
            n(s.feed_malformed.get()),
        ),
        one(
            "feed_skipped_sequences_total",
            "R2Z2 sequences skipped.",
            Counter,
            n(s.feed_skipped_sequences.get()),
        ),
        one(
            "feed_cursor",
            "The R2Z2 sequence being asked for.",
            Gauge,
            s.feed_cursor.get() as f64,
        ),
        one(
            "feed_head",
            "The newest R2Z2 sequence published upstream.",
            Gauge,
            s.feed_head.get() as f64,
        ),
        one(
            "feed_lag_seconds",
            "How far the feed trails upstream publication.",
            Gauge,
            s.feed_lag_seconds.get() as f64,
        ),
        labelled(
            "kills_total",
            "Kills by what became of them.",
            Counter,
            "outcome",
            &[
                ("received", n(s.kills_received.get())),
                ("stored", n(s.kills_stored.get())),
                ("updated", n(s.kills_updated.get())),
                ("duplicate", n(s.kills_duplicate.get())),
                ("too_old", n(s.kills_too_old.get())),
                ("invalid", n(s.kills_invalid.get())),
                ("enriched_late", n(s.kills_enriched_late.get())),
                ("dropped", n(s.retry_dropped.get())),
            ],
        ),
        one(
            "retry_queue",
            "Kills waiting for ESI to answer again.",
            Gauge,
            s.retry_queue.get() as f64,
        ),
        labelled(
            "esi_requests_total",
            "ESI calls by outcome.",
            Counter,
            "outcome",
            &[
                (
                    "ok",
                    n(s.esi_requests.get().saturating_sub(s.esi_errors.get())),
                ),
                ("error", n(s.esi_errors.get())),
            ],
        ),
        one(
            "esi_error_budget",
            "ESI's error budget left in its window (0 until ESI first answers).",
            Gauge,
            s.esi_error_budget.get() as f64,
        ),
        one(
            "esi_tokens_remaining",
            "Tokens left in ESI's rate-limit bucket (0 until ESI first answers).",
            Gauge,
            s.esi_tokens_remaining.get() as f64,
        ),
        one(
            "esi_pauses_total",
            "Times ESI asked the service to pause.",
            Counter,
            n(s.esi_pauses.get()),
        ),
        labelled(
            "cache_lookups_total",
            "Name cache lookups by result.",
            Counter,
            "result",
            &[
                ("hit", n(s.cache_hits.get())),
                ("miss", n(s.cache_misses.get())),
            ],
        ),
        one(
            "cache_hit_ratio",
            "Name cache hits over lookups.",
            Gauge,
            s.cache_hit_rate(),
        ),
        one(
            "store_kills",
            "Kills held in memory.",
            Gauge,
            s.kills_held.get() as f64,
        ),
        one(
            "store_expired_total",
            "Kills dropped by retention or the per-system bound.",
            Counter,
            n(s.kills_expired.get()),
        ),
        one(
            "store_write_errors_total",
            "Kills the disk refused.",
            Counter,
            n(s.store_write_errors.get()),
        ),
        one(
            "websocket_connections",
            "Open WebSocket connections.",
            Gauge,
            state.connections.load(Ordering::Relaxed) as f64,
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
                ("delivered", n(s.webhook_delivered.get())),
                ("retried", n(s.webhook_retries.get())),
                ("failed", n(s.webhook_failed.get())),
                ("dropped", n(s.webhook_dropped.get())),
            ],
        ),
        one(
            "webhook_queued",
            "Kills waiting for their webhook endpoint.",
            Gauge,
            s.webhook_queued.get() as f64,
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
            samples: Samples::Histograms(vec![(Vec::new(), s.pipeline_seconds.snapshot())]),
        },
        Family {
            name: "delivery_seconds",
            help: "From a kill being stored to it leaving for a client, by channel.",
            kind: Kind::Histogram,
            samples: Samples::Histograms(vec![
                (
                    vec![("channel", "websocket".into())],
                    s.delivery_websocket_seconds.snapshot(),
                ),
                (
                    vec![("channel", "sse".into())],
                    s.delivery_sse_seconds.snapshot(),
                ),
                (
                    vec![("channel", "webhook".into())],
                    s.delivery_webhook_seconds.snapshot(),
                ),
            ]),
        },
    ])
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

fn label_text(labels: &[(&'static str, String)], extra: Option<(&str, String)>) -> String {
    let all: Vec<String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .chain(extra.map(|(k, v)| (k.to_owned(), v)))
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    if all.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", all.join(","))
    }
}

fn number(v: f64) -> String {
    if v.is_infinite() {
        "+Inf".into()
    } else {
        format!("{v}")
    }
}

/// The text format: `# HELP`, `# TYPE`, then the samples of each family.
fn exposition(families: &[Family]) -> String {
    let mut out = String::with_capacity(8 * 1024);
    for f in families {
        let name = format!("{PREFIX}{}", f.name);
        let _ = writeln!(out, "# HELP {name} {}", f.help);
        let _ = writeln!(out, "# TYPE {name} {}", f.kind.as_str());
        match &f.samples {
            Samples::Values(values) => {
                for (labels, value) in values {
                    let _ = writeln!(out, "{name}{} {}", label_text(labels, None), number(*value));
                }
            }
            Samples::Histograms(histograms) => {
                for (labels, h) in histograms {
                    for (bound, count) in &h.buckets {
                        let le = Some(("le", number(*bound)));
                        let _ = writeln!(out, "{name}_bucket{} {count}", label_text(labels, le));
                    }
                    let _ = writeln!(
                        out,
                        "{name}_sum{} {}",
                        label_text(labels, None),
                        h.sum_seconds
                    );
                    let _ = writeln!(out, "{name}_count{} {}", label_text(labels, None), h.count);
                }
            }
        }
    }
    out
}

/// `{"<name>": value}` for unlabelled families, `{"<name>": {"<label value>": value}}` for
/// labelled ones; histograms as `{"count", "sum_seconds", "buckets": {"<le>": count}}`.
fn as_json(families: &[Family]) -> Value {
    let mut out = Map::new();
    for f in families {
        let value = match &f.samples {
            Samples::Values(values) => by_label(values, |v| json!(v)),
            Samples::Histograms(histograms) => by_label(histograms, |h| {
                let buckets: Map<String, Value> = h
                    .buckets
                    .iter()
                    .map(|(bound, count)| (number(*bound), json!(count)))
                    .collect();
                json!({"count": h.count, "sum_seconds": h.sum_seconds, "buckets": buckets})
            }),
        };
        out.insert(f.name.to_owned(), value);
    }
    json!({"metrics": out, "timestamp": actors::model::now_iso()})
}

/// One unlabelled sample as its value; labelled ones as `{"<label values>": value}`.
fn by_label<T>(samples: &[(Vec<(&'static str, String)>, T)], value: impl Fn(&T) -> Value) -> Value {
    match samples {
        [(labels, v)] if labels.is_empty() => value(v),
        many => Value::Object(
            many.iter()
                .map(|(labels, v)| {
                    let key: Vec<&str> = labels.iter().map(|(_, l)| l.as_str()).collect();
                    (key.join(","), value(v))
                })
                .collect(),
        ),
    }
}
