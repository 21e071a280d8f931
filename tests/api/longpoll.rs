//! Phoenix's LongPoll transport, request by request: the token handshake, held polls, batched
//! messages, and the session's end when nobody polls it.

use std::time::{Duration, Instant};

use actix_web::http::Method;
use serde_json::{json, Value};
use wanderer_kills::simulator::SimConfig;

use crate::helpers::{spawn_app_with, TestApp};

async fn app() -> TestApp {
    spawn_app_with(SimConfig::default(), |s| {
        s.websocket.longpoll_window_ms = 300;
        s.websocket.longpoll_timeout_ms = 1_000;
    })
    .await
}

async fn post(app: &TestApp, token: &str, lines: &[Value]) -> Value {
    let body = lines
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    let reply = app
        .request(
            Method::POST,
            &format!("/socket/longpoll?vsn=2.0.0&token={token}"),
            &[("content-type", "application/x-ndjson")],
            Some(body.as_bytes()),
        )
        .await;
    assert_eq!(reply.status, 200);
    reply.json()
}

#[actix_web::test]
async fn the_handshake_holds_polls_batches_messages_and_ends_an_unpolled_session() {
    let app = app().await;

    assert_eq!(
        app.get("/socket/longpoll?vsn=9.0.0").await.json(),
        json!({"status": 403})
    );
    let opened = app.get("/socket/longpoll?vsn=2.0.0").await.json();
    assert_eq!(opened["status"], 410);
    let token = opened["token"].as_str().expect("a token").to_owned();
    assert_eq!(token.len(), 22);

    // Nothing to say: the poll is held for the window, then 204.
    let started = Instant::now();
    let quiet = app
        .get(&format!("/socket/longpoll?vsn=2.0.0&token={token}"))
        .await
        .json();
    assert_eq!(quiet, json!({"status": 204, "token": token}));
    assert!(started.elapsed() >= Duration::from_millis(250));

    // Two messages in one POST; both replies come back (in one poll or the next).
    let sent = post(
        &app,
        &token,
        &[
            json!(["1", "1", "killmails:lobby", "phx_join", {"systems": [30000142], "preload": {"enabled": false}}]),
            json!([null, "2", "phoenix", "heartbeat", {}]),
        ],
    )
    .await;
    assert_eq!(sent, json!({"status": 200}));
    let mut messages: Vec<Value> = Vec::new();
    while messages.len() < 2 {
        let batch = app
            .get(&format!("/socket/longpoll?vsn=2.0.0&token={token}"))
            .await
            .json();
        assert_eq!(batch["status"], 200, "{batch}");
        messages.extend(
            batch["messages"]
                .as_array()
                .expect("messages")
                .iter()
                .map(|m| {
                    serde_json::from_str::<Value>(m.as_str().expect("a frame")).expect("JSON")
                }),
        );
    }
    assert_eq!(messages[0][3], "phx_reply");
    assert_eq!(messages[0][4]["status"], "ok");
    assert_eq!(
        messages[0][4]["response"]["subscribed_systems"],
        json!([30000142])
    );
    assert!(
        messages.iter().any(|m| m[1] == "2" && m[2] == "phoenix"),
        "{messages:?}"
    );

    // A live kill arrives through the next poll.
    app.wait_following().await;
    let id = app.publish_in(30000142, 1)[0];
    let live = loop {
        let got = app
            .get(&format!("/socket/longpoll?vsn=2.0.0&token={token}"))
            .await
            .json();
        if got["status"] == 200 {
            break got;
        }
    };
    let frames: Vec<Value> = live["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| serde_json::from_str(m.as_str().expect("a frame")).expect("JSON"))
        .collect();
    let update = frames
        .iter()
        .find(|f| f[3] == "killmail_update")
        .expect("the kill");
    assert_eq!(update[4]["killmails"][0]["killmail_id"], id);

    // Unknown tokens and sessions nobody polls are gone; their subscription too.
    assert_eq!(
        app.get("/socket/longpoll?vsn=2.0.0&token=nope")
            .await
            .json(),
        json!({"status": 410})
    );
    assert_eq!(
        post(
            &app,
            "nope",
            &[json!([null, "3", "phoenix", "heartbeat", {}])]
        )
        .await,
        json!({"status": 410})
    );
    actix_web::rt::time::sleep(Duration::from_millis(2_500)).await;
    let after = app
        .get(&format!("/socket/longpoll?vsn=2.0.0&token={token}"))
        .await
        .json();
    assert_eq!(after, json!({"status": 410}));
    let listed = app.get("/api/v1/subscriptions").await.json();
    assert_eq!(listed["data"]["subscriptions"], json!([]));
}
