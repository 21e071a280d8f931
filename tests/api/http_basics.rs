//! What every client sees before any kill data: ping, health, envelopes, HEAD, trailing slashes,
//! request ids, shutdown.

use actix_web::http::{Method, StatusCode};
use serde_json::json;
use wanderer_kills::simulator::SimConfig;

use crate::helpers::{spawn_app, spawn_app_with};

#[actix_web::test]
async fn ping_answers_pong_as_plain_text() {
    let app = spawn_app().await;

    let reply = app.get("/ping").await;

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text(), "pong");
    assert!(reply
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/plain")));
}

#[actix_web::test]
async fn health_reports_ok_with_the_documented_blocks() {
    let app = spawn_app().await;

    let reply = app.health().await;

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let body = reply.json();
    assert_eq!(body["healthy"], true);
    assert_eq!(body["status"], "ok");
    assert!(body["details"].is_object());
    assert_eq!(body["circuit_breaker"]["circuit_state"], "closed");
    assert_eq!(body["circuit_breaker"]["consecutive_errors"], 0);
    assert!(body["circuit_breaker"]["max_consecutive_errors"]
        .as_u64()
        .is_some_and(|m| m > 0));
    assert!(body["connection_monitor"].is_object());
    let timestamp = body["timestamp"].as_str().expect("timestamp");
    assert!(
        timestamp.ends_with('Z') && timestamp.contains('.'),
        "{timestamp}"
    );
}

#[actix_web::test]
async fn with_the_feed_off_the_service_runs_and_says_so() {
    let app = spawn_app_with(SimConfig::default(), |s| {
        s.engine.feed.source = actors::config::FeedSource::Off
    })
    .await;

    let body = app.health().await.json();

    assert_eq!(body["healthy"], true);
    assert_eq!(body["details"]["feed"]["status"], "disabled");
    assert_eq!(
        app.sim.total_requests(),
        0,
        "no upstream call with the feed off"
    );
}

#[actix_web::test]
async fn an_unknown_path_gets_the_plain_404_envelope() {
    let app = spawn_app().await;

    let reply = app.get("/no/such/thing").await;

    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.json(), json!({"error": "Not Found", "status": "404"}));
    assert_eq!(
        reply.header("content-type"),
        Some("application/json; charset=utf-8")
    );
}

#[actix_web::test]
async fn an_unknown_api_path_gets_the_coded_404_envelope_for_any_method() {
    let app = spawn_app().await;

    for method in [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
    ] {
        let reply = app
            .request(method.clone(), "/api/v1/no/such/route", &[], None)
            .await;

        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method}");
        let body = reply.json();
        assert_eq!(body["error"], "Not Found", "{method}");
        assert_eq!(body["code"], "NOT_FOUND", "{method}");
        assert_eq!(body["details"], serde_json::Value::Null, "{method}");
        assert!(
            body["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{method}"
        );
    }
}

#[actix_web::test]
async fn a_wrong_method_on_a_known_path_is_405_in_the_plain_envelope() {
    let app = spawn_app().await;

    let reply = app.request(Method::DELETE, "/health", &[], None).await;

    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        reply.json(),
        json!({"error": "Method Not Allowed", "status": "405"})
    );
    assert_eq!(reply.header("allow"), Some("GET, HEAD"));
    // Every 405 names what the path does serve (RFC 9110 §15.5.6).
    let reply = app
        .request(Method::GET, "/api/v1/kills/systems", &[], None)
        .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.header("allow"), Some("POST"));
    let reply = app
        .request(Method::PUT, "/api/v1/subscriptions", &[], None)
        .await;
    assert_eq!(reply.header("allow"), Some("GET, HEAD, POST"));
}

#[actix_web::test]
async fn a_trailing_slash_is_ignored() {
    let app = spawn_app().await;

    assert_eq!(app.get("/ping/").await.text(), "pong");
    assert_eq!(app.get("/health/").await.status, StatusCode::OK);
}

#[actix_web::test]
async fn head_works_wherever_get_does_and_sends_no_body() {
    let app = spawn_app().await;

    let get = app.get("/health").await;
    let head = app.head("/health").await;

    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-type"), get.header("content-type"));
    assert_eq!(app.head("/ping").await.status, StatusCode::OK);
}

#[actix_web::test]
async fn every_response_carries_a_request_id_errors_included() {
    let app = spawn_app().await;

    let ids: Vec<String> = [
        app.get("/ping").await,
        app.get("/nope").await,
        app.get("/api/v1/nope").await,
    ]
    .iter()
    .map(|r| r.header("x-request-id").expect("x-request-id").to_owned())
    .collect();

    assert!(ids.iter().all(|id| id.len() == 22), "{ids:?}");
    assert!(ids[0] != ids[1] && ids[1] != ids[2]);
}

#[actix_web::test]
async fn a_callers_request_id_is_echoed() {
    let app = spawn_app().await;

    let reply = app
        .request(Method::GET, "/ping", &[("x-request-id", "trace-42")], None)
        .await;

    assert_eq!(reply.header("x-request-id"), Some("trace-42"));
}

#[actix_web::test]
async fn after_shutdown_the_port_no_longer_answers() {
    let mut app = spawn_app().await;
    assert_eq!(app.get("/ping").await.status, StatusCode::OK);

    app.shutdown();

    let address = format!("127.0.0.1:{}", app.port);
    let mut refused = false;
    for _ in 0..50 {
        if std::net::TcpStream::connect(&address).is_err() {
            refused = true;
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(refused, "the listener closed after shutdown");
}

#[actix_web::test]
async fn a_body_that_trickles_in_gets_408_and_its_connection_is_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(SimConfig::default(), |s| s.server.body_timeout_ms = 500).await;
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connects");

    // Headers announce 64 bytes; one byte arrives, then a byte every 200 ms.
    tcp.write_all(
        b"POST /api/v1/kills/systems HTTP/1.1\r\nHost: t\r\ncontent-type: application/json\r\ncontent-length: 64\r\n\r\n{",
    )
    .await
    .expect("sent");
    let mut answer = Vec::new();
    let read = async {
        let mut buf = [0u8; 1024];
        loop {
            tokio::select! {
                n = tcp.read(&mut buf) => match n {
                    Ok(0) | Err(_) => break,
                    Ok(n) => answer.extend_from_slice(&buf[..n]),
                },
                () = actix_web::rt::time::sleep(std::time::Duration::from_millis(200)) => {
                    if tcp.write_all(b" ").await.is_err() {
                        break;
                    }
                }
            }
        }
    };
    let ended = actix_web::rt::time::timeout(std::time::Duration::from_secs(5), read).await;

    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(ended.is_ok(), "the connection is closed after the 408");
}

#[actix_web::test]
async fn browsers_of_the_configured_site_get_cors_preflights_and_grants() {
    let app = spawn_app_with(SimConfig::default(), |s| {
        s.server.origin_host = "https://kills.example.org".into();
    })
    .await;
    let preflight = |origin: &'static str| {
        let app = &app;
        async move {
            app.request(
                Method::OPTIONS,
                "/api/v1/kills/systems",
                &[
                    ("origin", origin),
                    ("access-control-request-method", "POST"),
                    ("access-control-request-headers", "content-type"),
                ],
                None,
            )
            .await
        }
    };

    let own = preflight("https://kills.example.org").await;
    assert_eq!(own.status, StatusCode::NO_CONTENT);
    assert_eq!(
        own.header("access-control-allow-origin"),
        Some("https://kills.example.org")
    );
    assert!(own
        .header("access-control-allow-methods")
        .is_some_and(|m| m.contains("POST")));
    assert!(own
        .header("access-control-allow-headers")
        .is_some_and(|h| h.contains("content-type")));
    let foreign = preflight("https://elsewhere.example").await;
    assert_eq!(foreign.header("access-control-allow-origin"), None);

    let read = app
        .request(
            Method::GET,
            "/api/v1/kills/count/30000142",
            &[("origin", "https://kills.example.org")],
            None,
        )
        .await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(
        read.header("access-control-allow-origin"),
        Some("https://kills.example.org")
    );
}
