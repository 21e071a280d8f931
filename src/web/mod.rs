//! The HTTP layer: extracts input, asks the engine, shapes the answer. No business rules here.

pub mod body_deadline;
pub mod dashboard;
pub mod errors;
pub mod filter_query;
pub mod health;
pub mod kill_search;
pub mod kills;
pub mod limits;
pub mod metrics;
pub mod middleware;
pub mod notifier;
pub mod openapi;
pub mod origin;
pub mod proxies;
pub mod relay;
pub mod routes;
pub mod server;
pub mod slots;
pub mod socket;
pub mod sse;
pub mod status;
pub mod subscriptions;
pub mod upgrades;

use actix_web::middleware::from_fn;
use actix_web::{guard, http::StatusCode, web, HttpRequest, HttpResponse, ResponseError, Route};
use actors::Engine;
use serde::Serialize;

use errors::ApiError;
use routes::Endpoint;

/// The content type of every JSON response (clients such as Req decode only JSON content types).
pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// Shared by every request handler.
pub struct AppState {
    pub engine: Engine,
    /// Limits and timers of every WebSocket session.
    pub socket: socket::session::SessionSettings,
    /// WebSocket connection slots: a cap in all and per client address.
    pub socket_slots: slots::Slots,
    pub max_frame_bytes: usize,
    /// Public host for discovery URLs; empty = the request's host.
    pub origin: origin::PublicOrigin,
    /// REST API request counts.
    pub api_requests: limits::RequestRate,
    /// The per-address REST rate limit.
    pub rate_limit: limits::RateLimiter,
    /// Empty = no token needed to change subscriptions.
    pub api_token: String,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub proxies: proxies::TrustedProxies,
    /// SSE settings and connection slots.
    pub sse: sse::SseState,
    /// Requests by route, method and status, and their latency.
    pub http_metrics: metrics::http::HttpMetrics,
    /// Open LongPoll sessions (the WebSocket session behind Phoenix's LongPoll transport).
    pub longpoll: socket::longpoll::LongPolls,
    /// Turns `true` when the service begins to stop: long-lived connections close themselves.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

/// Mounts every route of [`routes::endpoints`], one resource per path. Each resource answers an
/// unsupported method with 405 in its envelope.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let mut paths: Vec<&'static str> = Vec::new();
    let endpoints = routes::endpoints();
    for endpoint in &endpoints {
        if !paths.contains(&endpoint.path) {
            paths.push(endpoint.path);
        }
    }
    for path in paths {
        let served: Vec<&Endpoint> = endpoints.iter().filter(|e| e.path == path).collect();
        let allow = allowed(&served);
        let resource = served
            .iter()
            .fold(resource(path, allow), |r, e| r.route((e.route)()));
        match limits::Limit::for_route(path) {
            limits::Limit::Off => cfg.service(resource),
            limit => cfg.service(resource.wrap(from_fn(move |req, next| {
                limits::rate_limit(limit, req, next)
            }))),
        };
    }
}

/// The `Allow` header of a path: its methods, with HEAD wherever GET is served.
fn allowed(served: &[&Endpoint]) -> String {
    let mut methods: Vec<&str> = Vec::new();
    for endpoint in served {
        let method = endpoint.method.as_str();
        if method == "GET" {
            methods.extend(["GET", "HEAD"]);
        } else {
            methods.push(method);
        }
    }
    methods.join(", ")
}

/// A resource whose unsupported methods get a 405 in the envelope of its path, with `Allow`.
fn resource(path: &str, allow: String) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move |req: HttpRequest| {
        let allow = allow.clone();
        async move {
            let mut response = ApiError::method_not_allowed_for(req.path()).error_response();
            if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&allow) {
                response
                    .headers_mut()
                    .insert(actix_web::http::header::ALLOW, value);
            }
            response
        }
    }))
}

/// GET, and HEAD wherever GET works (actix sends the headers of the GET answer without its body).
pub fn get() -> Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

/// The answer for paths no route matches.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    ApiError::not_found_for(req.path()).error_response()
}

/// A JSON response with the service's content type.
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> HttpResponse {
    match serde_json::to_vec(body) {
        Ok(bytes) => HttpResponse::build(status)
            .content_type(JSON_CONTENT_TYPE)
            .body(bytes),
        Err(e) => {
            log::error!("response serialization failed error={e}");
            HttpResponse::InternalServerError().finish()
        }
    }
}
