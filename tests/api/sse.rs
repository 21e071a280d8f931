//! Server-Sent Events (SPEC §5) read as raw bytes and as a browser's `EventSource` would, against
//! the real app and the simulator.

use std::time::Duration;

use actix_web::http::StatusCode;
use futures_util::StreamExt;
use serde_json::{json, Value};
use wanderer_kills::simulator::SimConfig;

use crate::helpers::wait_for;
use crate::helpers::{client, spawn_app_with, TestApp};

type Body = std::pin::Pin<
    Box<dyn futures_util::Stream<Item = Result<actix_web::web::Bytes, awc::error::PayloadError>>>,
>;

/// An open SSE response: raw bytes as they arrive, and events parsed as `EventSource` does.
pub(crate) struct Stream {
    headers: awc::http::header::HeaderMap,
    body: Body,
    raw: Vec<u8>,
    /// Bytes not yet parsed into events.
    unparsed: String,
}

/// One dispatched event: its type (`message` when unnamed), data and last event id.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub(crate) kind: String,
    pub(crate) data: String,
    pub(crate) id: Option<String>,
}

impl Event {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.data).expect("JSON data")
    }
}

impl Stream {
    pub(crate) async fn open(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Self {
        let mut request = client().get(format!("{}{path}", app.address));
        for (name, value) in headers {
            request = request.insert_header((*name, *value));
        }
        let response = request.send().await.expect("answered");
        assert_eq!(response.status(), StatusCode::OK);
        Self {
            headers: response.headers().clone(),
            body: Box::pin(response),
            raw: Vec::new(),
            unparsed: String::new(),
        }
    }

    /// Reads until the raw bytes hold `n` more bytes than `from`, or `wait` passes.
    pub(crate) async fn read_for(&mut self, wait: Duration) -> bool {
        match actix_web::rt::time::timeout(wait, self.body.next()).await {
            Ok(Some(Ok(chunk))) => {
                self.raw.extend_from_slice(&chunk);
                self.unparsed
                    .push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
                true
            }
            Ok(Some(Err(e))) => panic!("stream error: {e}"),
            Ok(None) | Err(_) => false,
        }
    }

    /// The next dispatched event (comments and `retry` lines are consumed, not dispatched).
    pub(crate) async fn event(&mut self) -> Event {
        loop {
            if let Some(event) = self.parse_one() {
                return event;
            }
            assert!(
                self.read_for(Duration::from_secs(5)).await,
                "no event within 5 s; got so far: {:?}",
                String::from_utf8_lossy(&self.raw)
            );
        }
    }

    /// The HTML spec's event stream interpretation, for complete blocks only.
    pub(crate) fn parse_one(&mut self) -> Option<Event> {
        loop {
            let end = self.unparsed.find("\n\n")?;
            let block: String = self.unparsed.drain(..end + 2).collect();
            let (mut kind, mut data, mut id) = (String::new(), Vec::new(), None);
            for line in block.lines() {
                if line.starts_with(':') {
                    continue;
                }
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match field {
                    "event" => kind = value.to_owned(),
                    "data" => data.push(value.to_owned()),
                    "id" => id = Some(value.to_owned()),
                    _ => {}
                }
            }
            if data.is_empty() {
                continue;
            }
            return Some(Event {
                kind: if kind.is_empty() {
                    "message".into()
                } else {
                    kind
                },
                data: data.join("\n"),
                id,
            });
        }
    }
}

async fn app(edit: impl FnOnce(&mut wanderer_kills::Settings)) -> TestApp {
    spawn_app_with(SimConfig::default(), edit).await
}

#[actix_web::test]
async fn the_stream_sends_the_retry_line_unnamed_matching_kills_and_pings_when_quiet() {
    // Arrange
    let app = app(|s| s.sse.keepalive_ms = 400).await;
    app.wait_following().await;
    let mut stream = Stream::open(&app, "/api/v1/kills/stream?system_ids=30000142", &[]).await;
    assert_eq!(
        stream.headers.get("content-type").unwrap(),
        "text/event-stream; charset=utf-8"
    );
    assert_eq!(stream.headers.get("cache-control").unwrap(), "no-cache");

    // Act: one kill elsewhere, one in Jita
    app.sim.publish_with(|k| k.set_system(30002187));
    let jita = app.sim.publish_with(|k| k.set_system(30000142));

    // Assert: the exact bytes, then what EventSource dispatches
    let event = stream.event().await;
    assert!(
        stream.raw.starts_with(b"retry: 2000\n\n"),
        "{:?}",
        String::from_utf8_lossy(&stream.raw)
    );
    assert_eq!(event.kind, "message", "unnamed events reach onmessage");
    assert_eq!(event.json()["killmail_id"], jita.kill.killmail_id);
    let data_line = format!("data: {}\n\n", event.data);
    assert!(String::from_utf8_lossy(&stream.raw).ends_with(&data_line));
    // Silence brings the keep-alive comment.
    let before = stream.raw.len();
    while stream.raw.len() == before {
        assert!(
            stream.read_for(Duration::from_secs(2)).await,
            "no keep-alive"
        );
    }
    assert_eq!(&stream.raw[before..], b": ping\n\n");
}

#[actix_web::test]
async fn filters_combine_systems_or_characters_then_the_value_floor_and_bad_ones_get_400() {
    // Arrange
    let app = app(|_| {}).await;
    app.wait_following().await;
    let mut stream = Stream::open(
        &app,
        "/api/v1/kills/stream?system_ids=30000142&character_ids=2119000001&min_value=1000000",
        &[],
    )
    .await;

    // Act
    let cheap = |k: &mut wanderer_kills::simulator::SimKill| k.zkb["totalValue"] = json!(10.0);
    let rich = |k: &mut wanderer_kills::simulator::SimKill| k.zkb["totalValue"] = json!(5.0e9);
    app.sim.publish_with(|k| {
        k.set_system(30000142);
        cheap(k);
    });
    let by_system = app.sim.publish_with(|k| {
        k.set_system(30000142);
        rich(k);
    });
    app.sim.publish_with(|k| {
        k.set_system(30002187);
        rich(k);
    });
    let by_character = app.sim.publish_with(|k| {
        k.set_system(31000005);
        k.set_victim_character(2119000001);
        rich(k);
    });

    // Assert
    assert_eq!(
        stream.event().await.json()["killmail_id"],
        by_system.kill.killmail_id
    );
    assert_eq!(
        stream.event().await.json()["killmail_id"],
        by_character.kill.killmail_id
    );

    for (query, message) in [
        (
            "system_ids=1,x",
            "Invalid system_ids: 'x' is not a valid integer",
        ),
        (
            "min_value=-100",
            "min_value must be non-negative, got -100.0",
        ),
        (
            "min_value=abc",
            "Invalid min_value: 'abc' is not a valid number",
        ),
    ] {
        let reply = app.get(&format!("/api/v1/kills/stream?{query}")).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(
            reply.json(),
            json!({"error": {"domain": "validation", "type": "invalid_format", "message": message,
                             "details": null, "retryable": false}})
        );
    }
}

#[actix_web::test]
async fn the_enhanced_stream_sends_history_then_live_kills_with_offsets_and_resumes() {
    // Arrange: three stored kills in Jita
    let app = app(|s| s.sse.heartbeat_ms = 500).await;
    app.wait_following().await;
    let stored = app.publish_in(30000142, 3);
    app.wait_stored(30000142, 3, Duration::from_secs(5)).await;

    // Act
    let path = "/api/v1/kills/stream/enhanced?system_ids=30000142&preload_days=1";
    let mut stream = Stream::open(&app, path, &[]).await;

    // Assert: connected, one batch of history, transition, then a live killmail with its offset
    assert_eq!(stream.headers.get("x-accel-buffering").unwrap(), "no");
    let connected = stream.event().await;
    assert_eq!(connected.kind, "connected");
    assert_eq!(connected.json()["status"], "connected");
    assert_eq!(connected.json()["filters"]["system_ids"], json!([30000142]));
    let batch = stream.event().await;
    assert_eq!(batch.kind, "batch");
    let batch = batch.json();
    assert_eq!(
        (
            batch["count"].clone(),
            batch["batch_number"].clone(),
            batch["total_batches"].clone()
        ),
        (json!(3), json!(1), json!(1))
    );
    let mut ids: Vec<u64> = batch["kills"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["killmail_id"].as_u64().unwrap())
        .collect();
    ids.sort_unstable();
    let mut expected = stored.clone();
    expected.sort_unstable();
    assert_eq!(ids, expected);
    let transition = stream.event().await;
    assert_eq!(transition.kind, "transition");
    assert_eq!(transition.json()["status"], "historical_complete");
    assert_eq!(transition.json()["total_historical"], 3);
    let live = app.sim.publish_with(|k| k.set_system(30000142));
    let event = stream.event().await;
    assert_eq!(event.kind, "killmail");
    assert_eq!(event.json()["killmail_id"], live.kill.killmail_id);
    let offset = event.id.clone().expect("an id line");
    let heartbeat = stream.event().await;
    assert_eq!(heartbeat.kind, "heartbeat");
    assert_eq!(heartbeat.json()["mode"], "live");

    // Resume: kills stored while the client was away come first, each once, then live ones.
    drop(stream);
    let missed = app.publish_in(30000142, 2);
    app.wait_stored(30000142, 6, Duration::from_secs(5)).await;
    let mut stream = Stream::open(
        &app,
        "/api/v1/kills/stream/enhanced?system_ids=30000142",
        &[("last-event-id", offset.as_str())],
    )
    .await;
    assert_eq!(stream.event().await.kind, "connected");
    let first = stream.event().await;
    let second = stream.event().await;
    assert_eq!(
        (first.kind.as_str(), second.kind.as_str()),
        ("killmail", "killmail")
    );
    assert_eq!(
        vec![
            first.json()["killmail_id"].as_u64().unwrap(),
            second.json()["killmail_id"].as_u64().unwrap()
        ],
        missed
    );
    assert!(first.id.unwrap().parse::<u64>().unwrap() > offset.parse::<u64>().unwrap());
    assert_eq!(stream.event().await.json()["total_historical"], 2);
}

#[actix_web::test]
async fn connection_caps_answer_503_and_a_closed_client_frees_its_slot_at_once() {
    // Arrange
    let app = app(|s| s.sse.max_connections_per_ip = 1).await;
    let first = Stream::open(&app, "/api/v1/kills/stream", &[]).await;

    // Act
    let refused = app.get("/api/v1/kills/stream").await;

    // Assert
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        refused.json(),
        json!({"error": {"type": "connection_limit_reached",
                         "message": "Too many active SSE connections"}})
    );
    assert_eq!(
        app.status().await["metrics"]["sse"]["active_connections"],
        1
    );
    drop(first);
    wait_for(Duration::from_secs(3), "the slot to be free", || async {
        (app.status().await["metrics"]["sse"]["active_connections"] == 0).then_some(())
    })
    .await;
    let _again = Stream::open(&app, "/api/v1/kills/stream", &[]).await;
}

#[actix_web::test]
async fn shutdown_ends_streams_and_tells_enhanced_clients_why() {
    // Arrange
    let mut app = app(|_| {}).await;
    let mut plain = Stream::open(&app, "/api/v1/kills/stream", &[]).await;
    let mut enhanced = Stream::open(&app, "/api/v1/kills/stream/enhanced", &[]).await;
    assert_eq!(enhanced.event().await.kind, "connected");

    // Act
    app.shutdown();

    // Assert
    let error = enhanced.event().await;
    assert_eq!(error.kind, "error");
    assert_eq!(error.json()["message"], "server shutting down");
    let mut ended = false;
    for _ in 0..20 {
        match actix_web::rt::time::timeout(Duration::from_secs(3), plain.body.next()).await {
            Ok(None) => {
                ended = true;
                break;
            }
            Ok(Some(_)) => continue,
            Err(_) => break,
        }
    }
    assert!(ended, "the plain stream has ended");
}
