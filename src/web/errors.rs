//! The one error registry of the HTTP API: every error reaches clients in the envelope SPEC §4.1
//! documents for its route family. Handlers return `Result<_, ApiError>` and use `?`.

use actix_web::error::{JsonPayloadError, PayloadError};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use actors::model::now_iso;
use serde_json::{json, Value};

/// Prefix of the versioned API, whose unknown paths get the kills-route envelope.
pub const API_PREFIX: &str = "/api/v1/";

/// An error as the client sees it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Kills routes: `{"error", "code", "details", "timestamp"}`.
    #[error("{message}")]
    Coded {
        status: StatusCode,
        code: &'static str,
        message: String,
        details: Option<Value>,
    },
    /// Subscriptions routes: `{"error": {"message", "details"}}`.
    #[error("{0}")]
    Subscription(String),
    /// Everything else: `{"error": "<reason phrase>", "status": "<code>"}` (status is a string).
    #[error("{0}")]
    Plain(StatusCode),
    /// A subscriptions change without the configured API token: 401 in the subscriptions envelope.
    #[error("unauthorized")]
    Unauthorized,
    /// A stream's query that does not check: 400 `{"error": {"domain": "validation", "type":
    /// "invalid_format", "message", "details": null, "retryable": false}}`.
    #[error("{0}")]
    StreamInvalid(String),
    /// Every connection slot of a kind (of this address, or in all) is taken: 503
    /// `{"error": {"type": "connection_limit_reached", "message"}}`.
    #[error("too many {0} connections")]
    ConnectionLimit(&'static str),
}

impl ApiError {
    pub fn coded(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self::Coded {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    /// The engine did not answer (an actor stopped or its mailbox is gone).
    pub fn unavailable() -> Self {
        Self::coded(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "Service temporarily unavailable",
        )
    }

    /// A route that does not exist, in the envelope its path calls for.
    pub fn not_found_for(path: &str) -> Self {
        if path.starts_with(API_PREFIX) || path == API_PREFIX.trim_end_matches('/') {
            Self::coded(StatusCode::NOT_FOUND, "NOT_FOUND", "Not Found")
        } else {
            Self::Plain(StatusCode::NOT_FOUND)
        }
    }

    /// A path that exists, asked with a method it does not serve.
    pub fn method_not_allowed_for(path: &str) -> Self {
        if path.starts_with(API_PREFIX) {
            Self::coded(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                "Method Not Allowed",
            )
        } else {
            Self::Plain(StatusCode::METHOD_NOT_ALLOWED)
        }
    }
}

impl From<actix::MailboxError> for ApiError {
    fn from(e: actix::MailboxError) -> Self {
        log::error!("engine did not answer error={e}");
        Self::unavailable()
    }
}

impl From<actors::store::StoreError> for ApiError {
    fn from(e: actors::store::StoreError) -> Self {
        log::error!("store did not answer error={e}");
        Self::unavailable()
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Coded { status, .. } => *status,
            Self::Subscription(_) => StatusCode::BAD_REQUEST,
            Self::Plain(status) => *status,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::StreamInvalid(_) => StatusCode::BAD_REQUEST,
            Self::ConnectionLimit(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let body = match self {
            Self::Coded {
                code,
                message,
                details,
                ..
            } => {
                json!({"error": message, "code": code, "details": details, "timestamp": now_iso()})
            }
            Self::Subscription(message) => {
                json!({"error": {"message": message, "details": message}})
            }
            Self::Plain(status) => json!({
                "error": status.canonical_reason().unwrap_or("Error"),
                "status": status.as_str(),
            }),
            Self::Unauthorized => {
                let details = "Authorization: Bearer <API_TOKEN> is required";
                json!({"error": {"message": "Unauthorized", "details": details}})
            }
            Self::StreamInvalid(message) => json!({"error": {
                "domain": "validation", "type": "invalid_format", "message": message,
                "details": null, "retryable": false}}),
            Self::ConnectionLimit(kind) => json!({"error": {"type": "connection_limit_reached",
                "message": format!("Too many active {kind} connections")}}),
        };
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header((header::CONTENT_TYPE, super::JSON_CONTENT_TYPE));
        if matches!(self, Self::Unauthorized) {
            res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        res.body(body.to_string())
    }
}

/// The JSON body extractor's settings: a size cap and [`json_error`] for unreadable bodies.
pub fn json_config(max_body_bytes: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(max_body_bytes)
        .error_handler(json_error)
}

/// Maps a JSON body that cannot be read to its envelope: malformed → 400, too large → 413,
/// not JSON at all → 415. Handlers take loosely typed JSON and validate it themselves, so a body
/// that parses but has the wrong shape gets the route's own, specific error instead.
pub fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let status = match &err {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            StatusCode::PAYLOAD_TOO_LARGE
        }
        JsonPayloadError::ContentType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        JsonPayloadError::Payload(PayloadError::Io(e))
            if e.kind() == std::io::ErrorKind::TimedOut =>
        {
            StatusCode::REQUEST_TIMEOUT
        }
        _ => StatusCode::BAD_REQUEST,
    };
    log::debug!("unreadable JSON body error={err}");
    // SPEC: every unreadable body answers in the generic envelope, whatever the route.
    ApiError::Plain(status).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;

    async fn body_of(e: ApiError) -> (u16, Value) {
        let res = e.error_response();
        let status = res.status().as_u16();
        let bytes = to_bytes(res.into_body()).await.expect("body");
        (status, serde_json::from_slice(&bytes).expect("json"))
    }

    #[actix_web::test]
    async fn unknown_api_paths_get_the_coded_envelope() {
        let (status, body) = body_of(ApiError::not_found_for("/api/v1/nope")).await;
        assert_eq!(status, 404);
        assert_eq!(
            (&body["error"], &body["code"], &body["details"]),
            (&json!("Not Found"), &json!("NOT_FOUND"), &Value::Null)
        );
        assert!(body["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    }

    #[actix_web::test]
    async fn other_unknown_paths_get_the_plain_envelope_with_a_string_status() {
        let (status, body) = body_of(ApiError::not_found_for("/nope")).await;
        assert_eq!(status, 404);
        assert_eq!(body, json!({"error": "Not Found", "status": "404"}));
    }

    /// A JSON route as the application mounts them: the app's JSON config, a loosely typed body.
    async fn json_route_answer(content_type: &str, body: &str) -> (u16, Value) {
        use actix_web::{test as actix_test, App};
        async fn echo(body: web::Json<Value>) -> HttpResponse {
            HttpResponse::Ok().json(body.into_inner())
        }
        let app = actix_test::init_service(
            App::new()
                .app_data(json_config(64))
                .route("/", web::post().to(echo)),
        )
        .await;
        let req = actix_test::TestRequest::post()
            .uri("/")
            .insert_header(("content-type", content_type))
            .set_payload(body.to_owned())
            .to_request();
        let res = actix_test::call_service(&app, req).await;
        let status = res.status().as_u16();
        let bytes = to_bytes(res.into_body()).await.expect("body");
        (status, serde_json::from_slice(&bytes).expect("json"))
    }

    #[actix_web::test]
    async fn a_malformed_json_body_is_a_plain_400() {
        let (status, body) = json_route_answer("application/json", "{\"system_ids\": [1,").await;
        assert_eq!(
            (status, body),
            (400, json!({"error": "Bad Request", "status": "400"}))
        );
    }

    #[actix_web::test]
    async fn an_oversized_body_is_413_and_a_non_json_body_is_415() {
        let (status, body) =
            json_route_answer("application/json", &format!("[{}]", "1,".repeat(40) + "1")).await;
        assert_eq!(
            (status, body),
            (413, json!({"error": "Payload Too Large", "status": "413"}))
        );
        let (status, _) = json_route_answer("text/plain", "[]").await;
        assert_eq!(status, 415);
    }

    #[actix_web::test]
    async fn well_formed_json_of_any_shape_reaches_the_handler_for_its_own_validation() {
        let (status, body) = json_route_answer("application/json", r#"{"system_ids": "x"}"#).await;
        assert_eq!((status, body), (200, json!({"system_ids": "x"})));
    }

    #[actix_web::test]
    async fn subscription_errors_repeat_the_message_as_details() {
        let (status, body) =
            body_of(ApiError::Subscription("subscriber_id is required".into())).await;
        assert_eq!(status, 400);
        assert_eq!(
            body,
            json!({"error": {"message": "subscriber_id is required", "details": "subscriber_id is required"}})
        );
    }
}
