//! The notifier's alias routes (SPEC §4.3, CONSUMERS.md §4.3): exact shapes, from memory.

use std::time::Duration;

use actix_web::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

async fn post(app: &TestApp, path: &str, body: &str) -> crate::helpers::Reply {
    app.request(
        Method::POST,
        path,
        &[
            ("content-type", "application/json"),
            ("accept", "application/json"),
            ("user-agent", "WandererNotifier/1.0"),
        ],
        Some(body.as_bytes()),
    )
    .await
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

#[actix_web::test]
async fn the_bulk_route_answers_every_requested_system_unwrapped() {
    // Arrange: a pilot's kill in Jita; nothing in the wormhole
    let app = spawn_app().await;
    app.wait_following().await;
    let jita = app.sim.publish_with(|k| {
        k.set_system(30000142);
        k.set_victim_character(2119000001);
    });
    app.wait_stored(30000142, 1, Duration::from_secs(5)).await;

    // Act: what the notifier sends
    let reply = post(
        &app,
        "/api/v1/systems/bulk/killmails",
        r#"{"system_ids":[30000142,31000005],"hours":1,"limit_per_system":20}"#,
    )
    .await;

    // Assert
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let body = reply.json();
    assert_eq!(keys(&body), vec!["systems", "timestamp"]);
    assert_eq!(keys(&body["systems"]), vec!["30000142", "31000005"]);
    assert_eq!(body["systems"]["31000005"], json!([]));
    let kill = &body["systems"]["30000142"][0];
    assert_eq!(kill["killmail_id"], jita.kill.killmail_id);
    assert_eq!(kill["system_id"], 30000142);
    assert!(kill["zkb"].is_object());
    assert!(kill["attacker_count"].is_u64());

    // Character and system aliases: {"kills": [...]}, never wrapped
    for path in [
        "/api/v1/systems/30000142/killmails?hours=24&limit=50".to_owned(),
        "/api/v1/characters/2119000001/killmails?hours=24&limit=50".to_owned(),
    ] {
        let body = app.get(&path).await.json();
        assert_eq!(keys(&body), vec!["kills"], "{path}");
        assert_eq!(
            body["kills"][0]["killmail_id"], jita.kill.killmail_id,
            "{path}"
        );
    }
    let empty = app.get("/api/v1/systems/31000005/killmails").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(empty.json(), json!({"kills": []}));
}

#[actix_web::test]
async fn bad_bodies_get_400_with_json_never_404_or_5xx() {
    let app = spawn_app().await;
    for body in [
        r#"{"hours":1}"#,
        r#"{"system_ids":"30000142"}"#,
        r#"{"system_ids":[30000142],"hours":"x"}"#,
        r#"{"system_ids":[30000142],"limit_per_system":0}"#,
        "not json",
    ] {
        let reply = post(&app, "/api/v1/systems/bulk/killmails", body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(reply.json().is_object(), "{body}");
    }
    let reply = app.get("/api/v1/characters/abc/killmails").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

#[actix_web::test]
async fn api_health_answers_like_health() {
    let app = spawn_app().await;

    let health = app.get("/health").await;
    let alias = app.get("/api/health").await;

    assert_eq!(alias.status, health.status);
    assert_eq!(keys(&alias.json()), keys(&health.json()));
    assert_eq!(alias.json()["status"], health.json()["status"]);
    assert_eq!(health.json()["details"]["store"]["status"], "ok");
}
