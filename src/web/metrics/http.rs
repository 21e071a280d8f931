//! Per-route HTTP figures: requests by route template, method and status, and their latency by
//! route and method. Recorded by a middleware around every request; the route is the template
//! the request matched (`/api/v1/kills/system/{system_id}`), never the raw path, so the label
//! set stays as small as the route table.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use actors::stats::Histogram;

use super::format::{Family, Kind, Samples};
use crate::web::AppState;

type Labels = Vec<(&'static str, String)>;

#[derive(Default)]
pub struct HttpMetrics {
    requests: Mutex<HashMap<(String, &'static str, u16), u64>>,
    latency: Mutex<HashMap<(String, &'static str), Arc<Histogram>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Counters only: a panic elsewhere cannot leave them half-written.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The methods the service answers; anything else is counted as `other`.
fn method(name: &str) -> &'static str {
    const KNOWN: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"];
    KNOWN.into_iter().find(|m| *m == name).unwrap_or("other")
}

impl HttpMetrics {
    pub fn record(&self, route: &str, method_name: &str, status: u16, started: Instant) {
        let m = method(method_name);
        *lock(&self.requests)
            .entry((route.to_owned(), m, status))
            .or_default() += 1;
        let histogram = Arc::clone(
            lock(&self.latency)
                .entry((route.to_owned(), m))
                .or_default(),
        );
        histogram.observe(started.elapsed());
    }

    /// `http_requests_total` and `http_request_duration_seconds`.
    pub fn families(&self) -> Vec<Family> {
        let mut requests: Vec<(Labels, f64)> = lock(&self.requests)
            .iter()
            .map(|((route, method, status), n)| {
                let labels = vec![
                    ("route", route.clone()),
                    ("method", (*method).to_owned()),
                    ("status", status.to_string()),
                ];
                (labels, *n as f64)
            })
            .collect();
        requests.sort_by(|a, b| a.0.cmp(&b.0));
        let mut latency: Vec<_> = lock(&self.latency)
            .iter()
            .map(|((route, method), h)| {
                let labels = vec![("route", route.clone()), ("method", (*method).to_owned())];
                (labels, h.snapshot())
            })
            .collect();
        latency.sort_by(|a, b| a.0.cmp(&b.0));
        vec![
            Family {
                name: "http_requests_total",
                help: "HTTP requests by route template, method and status.",
                kind: Kind::Counter,
                samples: Samples::Values(requests),
            },
            Family {
                name: "http_request_duration_seconds",
                help: "Time to answer an HTTP request (to the response head for streams), by route template and method.",
                kind: Kind::Histogram,
                samples: Samples::Histograms(latency),
            },
        ]
    }
}

/// The middleware: records every request once its response is ready.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let method = req.method().as_str().to_owned();
    let res = next.call(req).await?;
    if let Some(state) = state {
        let route = res
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        state
            .http_metrics
            .record(&route, &method, res.status().as_u16(), started);
    }
    Ok(res)
}
