//! Cross-cutting HTTP behaviour: every response carries an `x-request-id`.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpMessage;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served, available to handlers for log lines.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// Echoes a caller's `x-request-id` when it is a sane token (so ids follow a request through a
/// proxy), otherwise mints one; either way it is set on the response, errors included.
pub async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_token(v))
        .map_or_else(random_id, str::to_owned);
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut res = next.call(req).await?;
    // `id` is a token of visible ASCII (checked or generated), which is always a valid header value.
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(res)
}

fn is_token(v: &str) -> bool {
    (1..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// 22 URL-safe characters carrying 128 random bits (the shape of the service's public ids).
pub fn random_id() -> String {
    actors::model::ids::random_token()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_are_22_url_safe_characters_and_differ() {
        let (a, b) = (random_id(), random_id());
        assert_eq!(a.len(), 22);
        assert!(is_token(&a));
        assert!(!a.contains(['+', '/', '=']));
        assert_ne!(a, b);
    }

    #[test]
    fn only_sane_caller_ids_are_echoed() {
        assert!(is_token("abc-123_x.y:z"));
        for bad in ["", "has space", "semi;colon", &"x".repeat(129), "ünicode"] {
            assert!(!is_token(bad), "{bad:?}");
        }
    }
}
