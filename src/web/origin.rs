//! The public origin (`ORIGIN_HOST`) and what follows from it: the URL the WebSocket discovery
//! advertises, which browser origins may open a WebSocket, and CORS for the REST routes.
//!
//! `ORIGIN_HOST` takes a URL (`https://kills.example.org`, as deployments of the original set
//! it) or a bare host (`kills.example.org:8443`). When it is set, a browser whose `Origin` is
//! another site cannot open a WebSocket (403) and gets no CORS grant; clients that send no
//! `Origin` (bots, servers) are not browsers and are not restricted. When it is unset, any
//! origin is allowed.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse};

use super::errors::ApiError;
use super::AppState;

/// Methods and headers a browser may use across origins.
const CORS_METHODS: &str = "GET, HEAD, POST, DELETE, OPTIONS";
const CORS_HEADERS: &str = "authorization, content-type, x-request-id, last-event-id";

/// The configured public origin.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PublicOrigin {
    /// `https` or `http` when the setting was a URL.
    pub scheme: Option<String>,
    /// Host, with its port when one was given; empty = not configured.
    pub host: String,
}

impl PublicOrigin {
    /// Reads `ORIGIN_HOST`: a URL (its scheme and authority; a path is ignored) or a host.
    pub fn parse(setting: &str) -> Self {
        let setting = setting.trim().trim_end_matches('/');
        let (scheme, rest) = match setting.split_once("://") {
            Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
            None => (None, setting),
        };
        let host = rest
            .split('/')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        Self { scheme, host }
    }

    pub fn is_set(&self) -> bool {
        !self.host.is_empty()
    }

    /// Whether a browser at `origin` (an `Origin` header) belongs to this service.
    pub fn admits(&self, origin: &str) -> bool {
        if !self.is_set() {
            return true;
        }
        let other = Self::parse(origin);
        other.host == self.host
            && self
                .scheme
                .as_ref()
                .is_none_or(|scheme| other.scheme.as_ref() == Some(scheme))
    }

    /// The WebSocket URL to advertise; `request_host` and `secure` describe the request when no
    /// origin is configured (or it named no scheme).
    pub fn websocket_url(&self, request_host: &str, secure: bool) -> String {
        let host = if self.is_set() {
            &self.host
        } else {
            request_host
        };
        let secure = match self.scheme.as_deref() {
            Some(scheme) => scheme == "https" || scheme == "wss",
            None => secure,
        };
        let scheme = if secure { "wss" } else { "ws" };
        format!("{scheme}://{host}/socket")
    }
}

/// Refuses a WebSocket upgrade from a browser of another site (403 before the upgrade).
pub fn check_upgrade(req: &HttpRequest, origin: &PublicOrigin) -> Result<(), ApiError> {
    match req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    {
        Some(from) if !origin.admits(from) => {
            log::info!("websocket upgrade refused, foreign origin origin={from}");
            Err(ApiError::Plain(StatusCode::FORBIDDEN))
        }
        _ => Ok(()),
    }
}

/// CORS: answers a preflight (`OPTIONS` with `Access-Control-Request-Method`) at once, and
/// grants an admitted origin on every other answer.
pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let from = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let origin = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.origin.clone())
        .unwrap_or_default();
    let granted =
        from.filter(|f| origin.admits(f))
            .map(|f| if origin.is_set() { f } else { "*".to_owned() });
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let mut res = HttpResponse::NoContent();
        if let Some(granted) = &granted {
            res.insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, granted.as_str()))
                .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, CORS_METHODS))
                .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, CORS_HEADERS))
                .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
                .insert_header((header::VARY, "Origin"));
        }
        return Ok(req.into_response(res.finish()));
    }
    let mut res = next.call(req).await?.map_into_boxed_body();
    if let Some(granted) = granted.and_then(|g| HeaderValue::from_str(&g).ok()) {
        let headers = res.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, granted);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("x-request-id, retry-after"),
        );
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_or_a_host_both_name_the_origin() {
        let url = PublicOrigin::parse("https://Kills.Example.org/");
        assert_eq!(url.scheme.as_deref(), Some("https"));
        assert_eq!(url.host, "kills.example.org");
        assert_eq!(
            url.websocket_url("ignored:4004", false),
            "wss://kills.example.org/socket"
        );
        let host = PublicOrigin::parse("kills.example.org:8443");
        assert_eq!(host.scheme, None);
        assert_eq!(
            host.websocket_url("ignored", true),
            "wss://kills.example.org:8443/socket"
        );
        assert_eq!(
            PublicOrigin::parse("").websocket_url("127.0.0.1:4004", false),
            "ws://127.0.0.1:4004/socket"
        );
    }

    #[test]
    fn only_the_configured_site_is_admitted_and_anyone_when_none_is() {
        let origin = PublicOrigin::parse("https://kills.example.org");
        assert!(origin.admits("https://kills.example.org"));
        assert!(!origin.admits("http://kills.example.org"), "another scheme");
        assert!(!origin.admits("https://evil.example"));
        assert!(!origin.admits("https://kills.example.org.evil.example"));
        assert!(PublicOrigin::default().admits("https://anyone.example"));
    }
}
