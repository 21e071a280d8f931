//! Protection (issue 7): the API token on subscription changes, the per-address rate limit,
//! and the rule about private webhook targets.

use actix_web::http::{Method, StatusCode};
use serde_json::json;
use wanderer_kills::simulator::SimConfig;

use crate::helpers::{spawn_app_with, Reply, TestApp};

/// A webhook on loopback (the test environment allows private targets); no kill is published
/// in these tests, so nothing is ever delivered to it.
const BODY: &str =
    r#"{"subscriber_id":"bot","callback_url":"http://127.0.0.1:9/hook","system_ids":[30000142]}"#;

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    auth: Option<&str>,
    body: Option<&str>,
) -> Reply {
    let mut headers = vec![("content-type", "application/json")];
    if let Some(auth) = auth {
        headers.push(("authorization", auth));
    }
    app.request(method, path, &headers, body.map(str::as_bytes))
        .await
}

#[actix_web::test]
async fn with_an_api_token_changing_or_listing_subscriptions_needs_it() {
    let app = spawn_app_with(SimConfig::default(), |s| {
        s.server.api_token = "t0ken".into()
    })
    .await;

    for auth in [None, Some("Bearer wrong"), Some("t0ken")] {
        let reply = send(
            &app,
            Method::POST,
            "/api/v1/subscriptions",
            auth,
            Some(BODY),
        )
        .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
        assert_eq!(reply.json()["error"]["message"], "Unauthorized");
    }
    let reply = send(
        &app,
        Method::DELETE,
        "/api/v1/subscriptions/bot",
        None,
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);

    let ok = send(
        &app,
        Method::POST,
        "/api/v1/subscriptions",
        Some("Bearer t0ken"),
        Some(BODY),
    )
    .await;
    assert_eq!(ok.status, StatusCode::CREATED);
    // The listing shows callback URLs, which may carry secrets: it needs the token too.
    for auth in [None, Some("Bearer wrong")] {
        let listed = send(&app, Method::GET, "/api/v1/subscriptions", auth, None).await;
        assert_eq!(listed.status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert!(!listed.text().contains("127.0.0.1:9/hook"));
    }
    let listed = send(
        &app,
        Method::GET,
        "/api/v1/subscriptions",
        Some("Bearer t0ken"),
        None,
    )
    .await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(
        listed.json()["data"]["subscriptions"][0]["callback_url"],
        "http://127.0.0.1:9/hook"
    );
    // Figures without targets stay open.
    assert_eq!(
        app.get("/api/v1/subscriptions/stats").await.status,
        StatusCode::OK
    );
    let gone = send(
        &app,
        Method::DELETE,
        "/api/v1/subscriptions/bot",
        Some("Bearer t0ken"),
        None,
    )
    .await;
    assert_eq!(gone.status, StatusCode::OK);
}

#[actix_web::test]
async fn the_rest_api_is_rate_limited_per_address_with_retry_after() {
    let app = spawn_app_with(SimConfig::default(), |s| s.server.rate_limit_per_minute = 5).await;

    for _ in 0..5 {
        assert_eq!(
            app.get("/api/v1/kills/count/30000142").await.status,
            StatusCode::OK
        );
    }
    let limited = app.get("/api/v1/kills/count/30000142").await;

    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = limited
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=12).contains(&wait), "{wait}");
    let body = limited.json();
    assert_eq!(body["code"], "RATE_LIMITED");
    assert_eq!(body["error"], "Too many requests");
    assert!(limited.header("x-request-id").is_some());
    // Health checks and the service's own pages are not limited.
    assert_eq!(app.get("/api/health").await.status, StatusCode::OK);
    assert_eq!(app.get("/ping").await.status, StatusCode::OK);
    // Other spellings of the same route are the same route, and are limited as it is.
    for path in [
        "//api/v1/kills/count/30000142",
        "/%61pi/v1/kills/count/30000142",
        "/api//v1/kills/count/30000142/",
        "/api/v1/kills/%63ount/30000142",
    ] {
        let reply = app.get(path).await;
        assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS, "{path}");
    }
}

#[actix_web::test]
async fn webhooks_to_private_addresses_are_refused_unless_allowed() {
    let app = spawn_app_with(SimConfig::default(), |s| {
        s.engine.webhooks.allow_private_targets = false;
    })
    .await;

    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://10.0.0.5/hook",
    ] {
        let body =
            json!({"subscriber_id": "bot", "callback_url": url, "system_ids": [1]}).to_string();
        let reply = send(
            &app,
            Method::POST,
            "/api/v1/subscriptions",
            None,
            Some(&body),
        )
        .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{url}");
        let message = "callback_url must not point to a loopback or private address";
        assert_eq!(
            reply.json(),
            json!({"error": {"message": message, "details": message}})
        );
    }
}

#[actix_web::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_rate_limit_and_nobody_else_can_pick_one(
) {
    // Arrange: two requests a minute per client; this machine is the trusted proxy
    let app = spawn_app_with(SimConfig::default(), |s| {
        s.server.rate_limit_per_minute = 2;
        s.server.trusted_proxies = "127.0.0.1, ::1".into();
    })
    .await;
    let from = |client: &'static str| [("x-forwarded-for", client)];
    let path = "/api/v1/kills/cached/30000142";

    // Act: one client uses up its budget through the proxy
    for _ in 0..2 {
        let ok = app
            .request(Method::GET, path, &from("203.0.113.1"), None)
            .await;
        assert_eq!(ok.status, 200);
    }
    let refused = app
        .request(Method::GET, path, &from("203.0.113.1"), None)
        .await;
    let other = app
        .request(Method::GET, path, &from("203.0.113.2"), None)
        .await;
    // A client that claims an address left of the proxy's entry is still counted as itself.
    let claimed = app
        .request(Method::GET, path, &from("203.0.113.2, 203.0.113.1"), None)
        .await;

    // Assert
    assert_eq!(refused.status, 429);
    assert_eq!(other.status, 200, "another client behind the same proxy");
    assert_eq!(claimed.status, 429, "the rightmost entry is the client");
}

#[actix_web::test]
async fn without_trusted_proxies_a_forwarded_header_changes_nothing() {
    let app = spawn_app_with(SimConfig::default(), |s| s.server.rate_limit_per_minute = 2).await;
    let path = "/api/v1/kills/cached/30000142";
    for n in 0..2 {
        let client = format!("203.0.113.{n}");
        let headers = [("x-forwarded-for", client.as_str())];
        assert_eq!(
            app.request(Method::GET, path, &headers, None).await.status,
            200
        );
    }

    let spoofed = [("x-forwarded-for", "198.51.100.9")];
    let refused = app.request(Method::GET, path, &spoofed, None).await;

    assert_eq!(refused.status, 429, "every request came from the same peer");
}
