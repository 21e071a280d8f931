//! Phoenix channels over WebSocket, frame by frame, replaying what the two real apps send
//! (CONSUMERS.md §4.1, §4.2) against the real app and the simulator.

use std::time::Duration;

use actix_web::web::Bytes;
use awc::ws::{Codec, Frame, Message};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use wanderer_kills::simulator::{SimConfig, SimKill};

use crate::helpers::wait_for;
use crate::helpers::{client, spawn_app, spawn_app_with, TestApp};

type Framed = actix_codec::Framed<awc::BoxedSocket, Codec>;

/// A raw WebSocket client: text frames in and out, control frames visible.
pub(crate) struct Socket {
    framed: Framed,
}

impl Socket {
    pub(crate) async fn connect(app: &TestApp, query: &str) -> Self {
        Self::connect_to(app.port, query).await
    }

    /// Connects to the service on `port` (a binary started by the test).
    pub(crate) async fn connect_to(port: u16, query: &str) -> Self {
        let url = format!("ws://127.0.0.1:{port}/socket/websocket?{query}");
        let (_, framed) = client()
            .ws(url)
            .max_frame_size(4 * 1024 * 1024)
            .connect()
            .await
            .expect("the upgrade succeeds");
        Self { framed }
    }

    pub(crate) async fn send(&mut self, frame: Value) {
        self.send_text(frame.to_string()).await;
    }

    pub(crate) async fn send_text(&mut self, text: String) {
        self.framed
            .send(Message::Text(text.into()))
            .await
            .expect("sent");
    }

    pub(crate) async fn ping(&mut self) {
        self.framed
            .send(Message::Ping(Bytes::from_static(b"keepalive")))
            .await
            .expect("sent");
    }

    /// The next frame of any kind, or `None` when nothing came within `wait`.
    pub(crate) async fn frame(&mut self, wait: Duration) -> Option<Frame> {
        match actix_web::rt::time::timeout(wait, self.framed.next()).await {
            Ok(Some(Ok(frame))) => Some(frame),
            Ok(Some(Err(e))) => panic!("socket error: {e}"),
            Ok(None) | Err(_) => None,
        }
    }

    /// The next text frame as JSON (skipping pongs), panicking after 5 s.
    pub(crate) async fn next(&mut self) -> Value {
        loop {
            match self.frame(Duration::from_secs(5)).await {
                Some(Frame::Text(bytes)) => {
                    return serde_json::from_slice(&bytes).expect("a JSON frame")
                }
                Some(Frame::Pong(_)) => continue,
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// Text frames until one has `event`, returning it and the ones skipped.
    pub(crate) async fn until_event(&mut self, event: &str, v2: bool) -> (Value, Vec<Value>) {
        let mut skipped = Vec::new();
        loop {
            let frame = self.next().await;
            let name = if v2 { &frame[3] } else { &frame["event"] };
            if name == event {
                return (frame, skipped);
            }
            skipped.push(frame);
        }
    }

    /// Skips text and pong frames until a close frame; returns its reason text.
    pub(crate) async fn closed(&mut self) -> Option<String> {
        loop {
            match self.frame(Duration::from_secs(5)).await {
                Some(Frame::Close(reason)) => return reason.and_then(|r| r.description),
                Some(Frame::Text(_) | Frame::Pong(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    }

    /// Asserts no text frame arrives within `wait`.
    pub(crate) async fn silent(&mut self, wait: Duration) {
        loop {
            match self.frame(wait).await {
                None => return,
                Some(Frame::Pong(_)) => continue,
                Some(other) => panic!("expected silence, got {other:?}"),
            }
        }
    }
}

async fn subscriptions(app: &TestApp) -> Vec<Value> {
    app.get("/api/v1/subscriptions").await.json()["data"]["subscriptions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[actix_web::test]
async fn the_map_conversation_works_with_v2_frames_integer_refs_and_pings_only() {
    // Arrange
    let app = spawn_app().await;
    app.wait_following().await;
    let mut ws = Socket::connect(&app, "vsn=2.0.0&heartbeat=30000").await;

    // Act: the map's join
    ws.send(json!([1, 1, "killmails:lobby", "phx_join",
                   {"client_identifier": "wanderer_app", "systems": [30000142, 31000005]}]))
        .await;

    // Assert: the reply echoes the integer refs
    let reply = ws.next().await;
    assert_eq!(reply[0], 1);
    assert_eq!(reply[1], 1);
    assert_eq!(reply[2], "killmails:lobby");
    assert_eq!(reply[3], "phx_reply");
    assert_eq!(reply[4]["status"], "ok");
    assert_eq!(
        reply[4]["response"]["subscribed_systems"],
        json!([30000142, 31000005])
    );
    assert_eq!(reply[4]["response"]["status"], "connected");
    // No preload was asked for on an empty store: preload_complete says so.
    let (done, _) = ws.until_event("preload_complete", true).await;
    assert_eq!(done[4]["total_kills"], 0);

    // Pings are answered with pongs.
    ws.ping().await;
    assert!(matches!(
        ws.frame(Duration::from_secs(2)).await,
        Some(Frame::Pong(_))
    ));

    // A live kill in a subscribed system, then its absolute count.
    let published = app.sim.publish_with(|k| k.set_system(30000142));
    let (update, _) = ws.until_event("killmail_update", true).await;
    assert_eq!(update[0], 1);
    assert_eq!(update[1], Value::Null);
    assert_eq!(update[4]["system_id"], 30000142);
    assert_eq!(update[4]["preload"], false);
    let kill = &update[4]["killmails"][0];
    assert_eq!(kill["killmail_id"], published.kill.killmail_id);
    assert!(kill["kill_time"].is_string());
    assert!(kill["victim"]["character_name"].is_string());
    let (count, _) = ws.until_event("kill_count_update", true).await;
    assert_eq!(count[4]["system_id"], 30000142);
    assert_eq!(count[4]["count"], 1);

    // subscribe_systems answers with the push's own join_ref and ref.
    ws.send(json!([1, 2, "killmails:lobby", "subscribe_systems", {"systems": [31000007]}]))
        .await;
    let (reply, _) = ws.until_event("phx_reply", true).await;
    assert_eq!((reply[0].clone(), reply[1].clone()), (json!(1), json!(2)));
    assert_eq!(
        reply[4]["response"]["subscribed_systems"],
        json!([30000142, 31000005, 31000007])
    );

    // The live subscription is listed, and vanishes on disconnect.
    let listed = subscriptions(&app).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["type"], "websocket");
    assert_eq!(listed[0]["subscriber_id"], "wanderer_app");
    let status = app.get("/websocket/status").await.json();
    assert_eq!(status["active_connections"], 1);
    assert_eq!(status["active_subscriptions"], 1);
    let figures = app.status().await;
    assert_eq!(figures["metrics"]["websocket"]["active_connections"], 1);
    assert_eq!(figures["metrics"]["websocket"]["subscribed_systems"], 3);
    assert_eq!(figures["metrics"]["websocket"]["kills_pushed"], 1);
    assert_eq!(figures["summary"]["active_subscriptions"], 1);
    drop(ws);
    wait_for(
        Duration::from_secs(5),
        "the subscription to vanish",
        || async { subscriptions(&app).await.is_empty().then_some(()) },
    )
    .await;
}

#[actix_web::test]
async fn the_notifier_conversation_works_with_v1_frames_heartbeats_and_a_duplicate_join() {
    // Arrange: one stored kill in each of two systems, one with a tracked pilot elsewhere.
    let app = spawn_app().await;
    app.wait_following().await;
    let jita = app.sim.publish_with(|k| k.set_system(30000142));
    let amarr = app.sim.publish_with(|k| k.set_system(30002187));
    app.wait_stored(30000142, 1, Duration::from_secs(5)).await;
    app.wait_stored(30002187, 1, Duration::from_secs(5)).await;
    let mut ws = Socket::connect(&app, "vsn=1.0.0").await;

    // Act: the notifier's join, with preload options
    ws.send(
        json!({"event": "phx_join", "topic": "killmails:lobby", "ref": "join_1760000000000_4821",
        "payload": {"character_ids": [2119000001u64], "systems": [30000142],
                    "preload": {"enabled": true, "limit_per_system": 20, "since_hours": 12}}}),
    )
    .await;

    // Assert: V1 reply with the string ref, then the preload and preload_complete
    let reply = ws.next().await;
    assert_eq!(reply["event"], "phx_reply");
    assert_eq!(reply["ref"], "join_1760000000000_4821");
    assert_eq!(reply["payload"]["status"], "ok");
    assert!(reply.get("join_ref").is_none());
    let (done, preloaded) = ws.until_event("preload_complete", false).await;
    assert_eq!(preloaded.len(), 1, "{preloaded:?}");
    assert_eq!(preloaded[0]["payload"]["preload"], true);
    assert_eq!(
        preloaded[0]["payload"]["killmails"][0]["killmail_id"],
        jita.kill.killmail_id
    );
    assert_eq!(done["payload"]["total_kills"], 1);
    assert_eq!(done["payload"]["errors"], json!([]));

    // Heartbeat
    ws.send(json!({"event": "heartbeat", "payload": {}, "ref": "heartbeat_1760000030000", "topic": "phoenix"}))
        .await;
    let beat = ws.next().await;
    assert_eq!(
        beat,
        json!({"topic": "phoenix", "event": "phx_reply", "ref": "heartbeat_1760000030000",
               "payload": {"status": "ok", "response": {}}})
    );

    // Duplicate join with one more system: only the new system is preloaded.
    ws.send(
        json!({"event": "phx_join", "topic": "killmails:lobby", "ref": "join_1760000300000_7",
        "payload": {"character_ids": [2119000001u64], "systems": [30000142, 30002187],
                    "preload": {"enabled": true, "limit_per_system": 20, "since_hours": 12}}}),
    )
    .await;
    let (reply, before) = ws.until_event("phx_reply", false).await;
    assert!(
        before.iter().all(|f| f["event"] == "phx_close"),
        "{before:?}"
    );
    assert_eq!(reply["ref"], "join_1760000300000_7");
    assert_eq!(reply["payload"]["status"], "ok");
    let (done, preloaded) = ws.until_event("preload_complete", false).await;
    let ids: Vec<&Value> = preloaded
        .iter()
        .flat_map(|f| f["payload"]["killmails"].as_array().into_iter().flatten())
        .map(|k| &k["killmail_id"])
        .collect();
    assert_eq!(ids, vec![&json!(amarr.kill.killmail_id)]);
    assert_eq!(done["payload"]["total_kills"], 1);

    // A tracked pilot dying in an untracked system is delivered (OR semantics).
    let elsewhere = app.sim.publish_with(|k| {
        k.set_system(31000005);
        k.set_victim_character(2119000001);
    });
    let (update, _) = ws.until_event("killmail_update", false).await;
    assert_eq!(
        update["payload"]["killmails"][0]["killmail_id"],
        elsewhere.kill.killmail_id
    );
    assert_eq!(update["payload"]["killmails"][0]["system_id"], 31000005);
    assert_eq!(update["ref"], Value::Null);
}

#[actix_web::test]
async fn a_kill_matching_a_system_and_a_character_of_one_client_arrives_once() {
    // Arrange
    let app = spawn_app().await;
    app.wait_following().await;
    let mut ws = Socket::connect(&app, "vsn=2.0.0").await;
    ws.send(json!([1, 1, "killmails:lobby", "phx_join",
        {"systems": [30000142], "character_ids": [2119000001u64], "preload": {"enabled": false}}]))
        .await;
    ws.until_event("phx_reply", true).await;

    // Act
    let kill = app.sim.publish_with(|k| {
        k.set_system(30000142);
        k.set_victim_character(2119000001);
    });

    // Assert
    let (update, _) = ws.until_event("killmail_update", true).await;
    assert_eq!(
        update[4]["killmails"][0]["killmail_id"],
        kill.kill.killmail_id
    );
    let (count, _) = ws.until_event("kill_count_update", true).await;
    assert_eq!(count[4]["count"], 1);
    ws.silent(Duration::from_millis(500)).await;
}

#[actix_web::test]
async fn bad_frames_and_bad_events_get_errors_and_the_channel_keeps_its_subscriptions() {
    // Arrange
    let app = spawn_app().await;
    app.wait_following().await;
    let mut ws = Socket::connect(&app, "vsn=2.0.0").await;

    // Act + Assert: unknown topic, then an invalid join
    ws.send(json!([1, 1, "rooms:lobby", "phx_join", {}])).await;
    assert_eq!(ws.next().await[4]["response"]["reason"], "unmatched topic");
    ws.send(json!([2, 2, "killmails:lobby", "phx_join", {"systems": ["x"]}]))
        .await;
    assert_eq!(
        ws.next().await[4]["response"]["reason"],
        "[validation:non_integer_system_ids] System IDs must be integers"
    );
    // A valid join, then garbage, an unknown event and a bad payload
    ws.send(json!([3, 3, "killmails:lobby", "phx_join", {"systems": [30000142], "preload": {"enabled": false}}]))
        .await;
    assert_eq!(ws.next().await[4]["status"], "ok");
    ws.send_text("this is not json".into()).await;
    ws.send_text(r#"{"topic": "killmails:lobby"}"#.into()).await;
    ws.send(json!([3, 4, "killmails:lobby", "explode", {}]))
        .await;
    let reply = ws.next().await;
    assert_eq!(
        (reply[1].clone(), reply[4]["status"].clone()),
        (json!(4), json!("error"))
    );
    ws.send(json!([3, 5, "killmails:lobby", "subscribe_systems", {"systems": [-1]}]))
        .await;
    assert_eq!(
        ws.next().await[4]["response"]["reason"],
        "[validation:invalid_system_ids] Invalid system IDs"
    );
    // A stale join_ref is ignored
    ws.send(json!([1, 6, "killmails:lobby", "get_status", {}]))
        .await;
    ws.send(json!([3, 7, "killmails:lobby", "get_status", {}]))
        .await;
    let status = ws.next().await;
    assert_eq!(status[1], 7, "the stale frame got no reply");
    assert_eq!(
        status[4]["response"]["subscribed_systems"],
        json!([30000142])
    );

    // The subscription still delivers.
    let kill = app.sim.publish_with(|k| k.set_system(30000142));
    let (update, _) = ws.until_event("killmail_update", true).await;
    assert_eq!(
        update[4]["killmails"][0]["killmail_id"],
        kill.kill.killmail_id
    );
}

#[actix_web::test]
async fn an_unknown_vsn_is_refused_with_403() {
    let app = spawn_app().await;
    let url = format!("ws://127.0.0.1:{}/socket/websocket?vsn=3.0.0", app.port);
    let Err(err) = client().ws(url).connect().await else {
        panic!("the upgrade must be refused");
    };
    assert!(
        matches!(err, awc::error::WsClientError::InvalidResponseStatus(s) if s == 403),
        "{err}"
    );
}

#[actix_web::test]
async fn a_silent_socket_is_closed_and_pings_keep_one_open() {
    // Arrange
    let app = spawn_app_with(SimConfig::default(), |s| {
        s.websocket.idle_timeout_ms = 600;
    })
    .await;
    let mut quiet = Socket::connect(&app, "vsn=2.0.0").await;
    let mut pinging = Socket::connect(&app, "vsn=2.0.0").await;

    // Act
    for _ in 0..6 {
        pinging.ping().await;
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }

    // Assert
    let closed = loop {
        match quiet.frame(Duration::from_secs(3)).await {
            Some(Frame::Close(reason)) => break reason,
            Some(Frame::Pong(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(
        closed.and_then(|r| r.description).as_deref(),
        Some("idle timeout")
    );
    pinging
        .send(json!([null, 1, "phoenix", "heartbeat", {}]))
        .await;
    let (beat, _) = pinging.until_event("phx_reply", true).await;
    assert_eq!(beat[4]["status"], "ok");
}

#[actix_web::test]
async fn the_discovery_document_names_the_socket_and_its_real_limits() {
    let app = spawn_app().await;
    let reply = app
        .request(
            actix_web::http::Method::GET,
            "/websocket",
            &[
                ("x-forwarded-proto", "https"),
                ("host", "kills.example.org"),
            ],
            None,
        )
        .await;
    let body = reply.json();
    assert_eq!(body["websocket_url"], "wss://kills.example.org/socket");
    assert_eq!(body["protocol"], "Phoenix Channels");
    assert_eq!(body["channels"]["killmails"], "killmails:lobby");
    assert_eq!(body["limits"]["max_frame_bytes"], 131072);
}

#[actix_web::test]
async fn a_quiet_lobby_gets_an_empty_killmail_update_and_an_active_one_does_not() {
    // Arrange
    let app = spawn_app_with(SimConfig::default(), |s| {
        s.websocket.quiet_keepalive_ms = 700;
    })
    .await;
    let mut ws = Socket::connect(&app, "vsn=2.0.0").await;
    ws.send(json!([1, 1, "killmails:lobby", "phx_join", {"systems": [31000005]}]))
        .await;
    ws.until_event("preload_complete", true).await;

    // Act: stay quiet past the keepalive
    let (keepalive, skipped) = ws.until_event("killmail_update", true).await;

    // Assert
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_eq!(keepalive[4]["killmails"], json!([]));
    assert_eq!(keepalive[4]["system_id"], 31000005);
    assert_eq!(keepalive[4]["preload"], false);
    // The keepalive counts from the last push: nothing more for most of a period.
    ws.silent(Duration::from_millis(500)).await;
}

#[actix_web::test]
async fn a_client_that_stops_reading_is_dropped_from_routing_and_the_others_get_every_kill() {
    // Arrange: a reading client and one that never reads, both on Jita, a short queue.
    let app = spawn_app_with(SimConfig::default(), |s| {
        s.websocket.max_queued_kills = 8;
        s.server.tcp_user_timeout_s = 2;
    })
    .await;
    app.wait_following().await;
    let mut reader = Socket::connect(&app, "vsn=2.0.0").await;
    reader
        .send(json!([1, 1, "killmails:lobby", "phx_join", {"systems": [30000142]}]))
        .await;
    reader.until_event("preload_complete", true).await;
    let join = r#"[1,1,"killmails:lobby","phx_join",{"systems":[30000142]}]"#;
    let stalled = stalled_client(&app, join).await;
    let subscribed = |n: u64| {
        let app = &app;
        move || async move {
            let status = app.get("/websocket/status").await.json();
            (status["active_subscriptions"] == n).then_some(())
        }
    };
    wait_for(Duration::from_secs(5), "both clients joined", subscribed(2)).await;

    // Act: big kills (1 500 items, about 120 KB) until the kernel's buffers are full, the
    // stalled client's queue is full, and the registry gives up on it
    let big = |k: &mut SimKill| {
        k.set_system(30000142);
        let items: Vec<Value> = (0..1500)
            .map(|i| json!({"item_type_id": 2048 + i, "flag": 5, "singleton": 0, "quantity_destroyed": 1}))
            .collect();
        k.esi["victim"]["items"] = json!(items);
    };
    let mut published = Vec::new();
    for _ in 0..200 {
        published.push(app.sim.publish_with(big).kill.killmail_id);
        let (update, _) = reader.until_event("killmail_update", true).await;
        assert_eq!(
            update[4]["killmails"][0]["killmail_id"],
            *published.last().unwrap()
        );
        if subscribed(1)().await.is_some() {
            break;
        }
    }

    // Assert: the stalled one is out of routing, the reader got every kill and still gets them
    let status = app.get("/websocket/status").await.json();
    assert_eq!(
        status["active_subscriptions"], 1,
        "the stalled client was never dropped"
    );
    let next = app.sim.publish_with(big);
    let (update, _) = reader.until_event("killmail_update", true).await;
    assert_eq!(
        update[4]["killmails"][0]["killmail_id"],
        next.kill.killmail_id
    );
    // Its connection ends when the client goes away.
    drop(stalled);
    wait_for(
        Duration::from_secs(5),
        "the stalled connection to end",
        || async {
            let status = app.get("/websocket/status").await.json();
            (status["active_connections"] == 1).then_some(())
        },
    )
    .await;
}

/// A WebSocket client on a socket with a tiny receive buffer that sends `join` and then never
/// reads, as a stalled mobile client would.
async fn stalled_client(app: &TestApp, join: &str) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("small buffer");
    let mut stream = socket
        .connect(([127, 0, 0, 1], app.port).into())
        .await
        .expect("connects");
    stream.write_all(HANDSHAKE.as_bytes()).await.expect("sent");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(stream.read_u8().await.expect("the handshake answer"));
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    stream.write_all(&masked_text(join)).await.expect("sent");
    stream
}

/// A raw client's WebSocket handshake on `vsn=2.0.0`.
const HANDSHAKE: &str = "GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\nHost: 127.0.0.1\r\n\
    Upgrade: websocket\r\nConnection: Upgrade\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// A masked text frame of fewer than 126 bytes (mask key 0 leaves the payload as is).
fn masked_text(text: &str) -> Vec<u8> {
    let mut frame = vec![0x81, 0x80 | text.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(text.as_bytes());
    frame
}

#[actix_web::test]
async fn shutdown_closes_every_socket_with_a_reason() {
    // Arrange
    let mut app = spawn_app().await;
    let mut joined = Socket::connect(&app, "vsn=2.0.0").await;
    joined
        .send(json!([1, 1, "killmails:lobby", "phx_join", {"systems": [30000142]}]))
        .await;
    joined.until_event("preload_complete", true).await;
    let mut bare = Socket::connect(&app, "vsn=1.0.0").await;

    // Act
    app.shutdown();

    // Assert
    assert_eq!(
        joined.closed().await.as_deref(),
        Some("server shutting down")
    );
    assert_eq!(bare.closed().await.as_deref(), Some("server shutting down"));
}

#[actix_web::test]
async fn a_client_resumes_with_since_offset_and_gets_what_it_missed_once() {
    // Arrange: a client sees one live kill and notes its offset, then goes away
    let app = spawn_app().await;
    app.wait_following().await;
    let mut ws = Socket::connect(&app, "vsn=2.0.0").await;
    ws.send(json!([1, 1, "killmails:lobby", "phx_join",
                   {"systems": [30000142], "preload": {"enabled": false}}]))
        .await;
    ws.until_event("phx_reply", true).await;
    app.sim.publish_with(|k| k.set_system(30000142));
    let (seen, _) = ws.until_event("killmail_update", true).await;
    let offset = seen[4]["offset"].as_u64().expect("pushes carry the offset");
    drop(ws);
    let missed = app.publish_in(30000142, 2);
    app.sim.publish_with(|k| k.set_system(30002187));
    app.wait_stored(30000142, 3, Duration::from_secs(5)).await;

    // Act: rejoin from the noted offset
    let mut ws = Socket::connect(&app, "vsn=2.0.0").await;
    ws.send(json!([1, 1, "killmails:lobby", "phx_join",
                   {"systems": [30000142], "since_offset": offset, "preload": {"enabled": false}}]))
        .await;

    // Assert: the two missed Jita kills, in order, as non-preload pushes; nothing else
    ws.until_event("phx_reply", true).await;
    let (update, _) = ws.until_event("killmail_update", true).await;
    assert_eq!(update[4]["preload"], false);
    let ids: Vec<u64> = update[4]["killmails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["killmail_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, missed);
    assert!(update[4]["offset"].as_u64().unwrap() > offset);
    ws.silent(Duration::from_millis(500)).await;

    // A bad since_offset is an error reply.
    ws.send(json!([2, 2, "killmails:lobby", "phx_join", {"systems": [1], "since_offset": "x"}]))
        .await;
    let (reply, _) = ws.until_event("phx_reply", true).await;
    assert_eq!(
        reply[4]["response"]["reason"],
        "[validation:invalid_since_offset] since_offset must be a non-negative integer"
    );
}

#[actix_web::test]
async fn websocket_connections_are_capped_per_address_and_a_closed_one_frees_its_slot() {
    let app = spawn_app_with(SimConfig::default(), |s| {
        s.websocket.max_connections_per_ip = 2;
    })
    .await;
    let url = format!("ws://127.0.0.1:{}/socket/websocket?vsn=2.0.0", app.port);

    let first = Socket::connect(&app, "vsn=2.0.0").await;
    let _second = Socket::connect(&app, "vsn=2.0.0").await;
    let Err(refused) = client().ws(url.clone()).connect().await else {
        panic!("a third connection from one address must be refused");
    };

    assert!(
        matches!(refused, awc::error::WsClientError::InvalidResponseStatus(s) if s == 503),
        "{refused}"
    );
    drop(first);
    wait_for(Duration::from_secs(5), "the freed slot", || async {
        client().ws(url.clone()).connect().await.ok().map(|_| ())
    })
    .await;
}

#[actix_web::test]
async fn subscriptions_per_connection_are_capped_across_frames() {
    let app = spawn_app().await;
    let mut ws = Socket::connect(&app, "vsn=2.0.0").await;
    let batch = |from: u64| (from..from + 6_000).collect::<Vec<u64>>();
    ws.send(json!([1, 1, "killmails:lobby", "phx_join", {"systems": batch(30_000_000), "preload": {"enabled": false}}]))
        .await;
    assert_eq!(ws.next().await[4]["status"], "ok");

    // 6 000 more in one frame is under the per-frame cap but over the connection's
    ws.send(json!([1, 2, "killmails:lobby", "subscribe_systems", {"systems": batch(31_000_000)}]))
        .await;
    let reply = ws.next().await;

    assert_eq!(reply[4]["status"], "error");
    let reason = reply[4]["response"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("[validation:too_many_systems]"),
        "{reason}"
    );
    ws.send(json!([1, 3, "killmails:lobby", "get_status", {}]))
        .await;
    let status = ws.next().await;
    let subscribed = status[4]["response"]["subscribed_systems"]
        .as_array()
        .map(Vec::len);
    assert_eq!(subscribed, Some(6_000));
}

#[actix_web::test]
async fn a_socket_outlives_the_request_body_deadline() {
    let app = spawn_app_with(SimConfig::default(), |s| s.server.body_timeout_ms = 200).await;
    let mut ws = Socket::connect(&app, "vsn=2.0.0").await;

    actix_web::rt::time::sleep(Duration::from_millis(800)).await;
    ws.send(json!([null, 1, "phoenix", "heartbeat", {}])).await;

    assert_eq!(ws.next().await[4]["status"], "ok");
}

#[actix_web::test]
async fn origin_host_as_a_url_is_advertised_right_and_restricts_browser_origins() {
    let app = spawn_app_with(SimConfig::default(), |s| {
        s.server.origin_host = "https://kills.example.org".into();
    })
    .await;

    let discovery = app.get("/websocket").await.json();
    assert_eq!(discovery["websocket_url"], "wss://kills.example.org/socket");

    let url = format!("ws://127.0.0.1:{}/socket/websocket?vsn=2.0.0", app.port);
    let Err(refused) = client()
        .ws(url.clone())
        .origin("https://elsewhere.example")
        .connect()
        .await
    else {
        panic!("a browser of another site must be refused");
    };
    assert!(
        matches!(refused, awc::error::WsClientError::InvalidResponseStatus(s) if s == 403),
        "{refused}"
    );
    let own = client()
        .ws(url.clone())
        .origin("https://kills.example.org")
        .connect()
        .await;
    assert!(own.is_ok(), "the service's own site connects");
    let bot = client().ws(url).connect().await;
    assert!(
        bot.is_ok(),
        "a client that sends no Origin is not a browser"
    );
}

#[actix_web::test]
async fn kills_a_backfill_stored_first_still_reach_live_subscribers_once_when_the_feed_brings_them()
{
    // Arrange: a live subscriber, and five kills zKillboard's API knows before its feed does
    let app = spawn_app().await;
    app.wait_following().await;
    let system = 30000142;
    let mut ws = Socket::connect(&app, "vsn=2.0.0").await;
    ws.send(json!([1, 1, "killmails:lobby", "phx_join", {"systems": [system], "preload": {"enabled": false}}]))
        .await;
    assert_eq!(ws.next().await[4]["status"], "ok");
    let now = wanderer_kills::simulator::unix_now();
    let ids: Vec<u64> = (0..5)
        .map(|_| {
            app.sim
                .add_history(|k| {
                    k.set_system(system);
                    k.set_age(now, 600);
                })
                .kill
                .killmail_id
        })
        .collect();
    // A REST read backfills them: stored as history, not pushed
    let read = app.get(&format!("/api/v1/kills/system/{system}")).await;
    assert_eq!(
        read.json()["data"]["kills"].as_array().map(Vec::len),
        Some(5)
    );

    // Act: now the feed brings the same kills
    for id in &ids {
        app.sim.put_on_feed(*id).expect("a known kill");
    }

    // Assert: each reaches the live subscriber, once
    let mut pushed = Vec::new();
    while pushed.len() < ids.len() {
        let (update, _) = ws.until_event("killmail_update", true).await;
        for kill in update[4]["killmails"].as_array().into_iter().flatten() {
            pushed.push(kill["killmail_id"].as_u64().expect("an id"));
        }
    }
    pushed.sort_unstable();
    let mut expected = ids.clone();
    expected.sort_unstable();
    assert_eq!(pushed, expected);
    // Nothing is pushed twice: only count updates may still come.
    while let Some(Frame::Text(bytes)) = ws.frame(Duration::from_millis(500)).await {
        let frame: Value = serde_json::from_slice(&bytes).expect("a JSON frame");
        assert_ne!(frame[3], "killmail_update", "a kill pushed twice: {frame}");
    }
}

#[actix_web::test]
async fn a_preload_into_a_client_that_never_reads_stops_and_the_connection_is_cut() {
    // Arrange: about 7 MB of stored kills in four systems, and a small per-connection budget
    let app = spawn_app_with(SimConfig::default(), |s| {
        s.websocket.max_queued_bytes = 64 * 1024;
        s.websocket.stall_timeout_ms = 500;
    })
    .await;
    app.wait_following().await;
    let systems = [30000142u64, 30002187, 30002659, 30045349];
    for (i, system) in systems.iter().cycle().take(60).enumerate() {
        app.sim.publish_with(|k| {
            k.set_system(*system);
            let items: Vec<Value> = (0..1500)
                .map(|n| json!({"item_type_id": 2048 + n + i, "flag": 5, "singleton": 0, "quantity_destroyed": 1}))
                .collect();
            k.esi["victim"]["items"] = json!(items);
        });
    }
    for system in systems {
        app.wait_stored(system, 15, Duration::from_secs(30)).await;
    }

    // Act: a 120-byte join asks for all of it, and the client never reads
    let join = r#"[1,1,"killmails:lobby","phx_join",{"systems":[30000142,30002187,30002659,30045349],"preload":{"limit_per_system":50}}]"#;
    let _stalled = stalled_client(&app, join).await;

    // Assert: the preload stops and the connection is cut, long before TCP_USER_TIMEOUT
    wait_for(
        Duration::from_secs(10),
        "the stalled connection cut",
        || async {
            let status = app.get("/websocket/status").await.json();
            (status["active_connections"] == 0).then_some(())
        },
    )
    .await;
}

/// Ten kills of `system` only zKillboard's API knows (a REST read backfills them), a live
/// subscriber, then 20 kills with never-seen pilots published at once while that REST read runs.
/// Answers the published ids and the first push of each of them.
async fn burst_during_backfill(app: &TestApp, system: u64) -> (Vec<u64>, Vec<Value>) {
    let now = wanderer_kills::simulator::unix_now();
    for _ in 0..10 {
        app.sim.add_history(|k| {
            k.set_system(system);
            k.set_age(now, 900);
        });
    }
    let mut ws = Socket::connect(app, "vsn=2.0.0").await;
    ws.send(json!([1, 1, "killmails:lobby", "phx_join", {"systems": [system], "preload": {"enabled": false}}]))
        .await;
    assert_eq!(ws.next().await[4]["status"], "ok");
    let published = app.publish_in(system, 20);
    let path = format!("/api/v1/kills/system/{system}");
    let (_, mut pushes) = tokio::join!(app.get(&path), async {
        let mut pushes: Vec<Value> = Vec::new();
        while pushes.len() < published.len() {
            let (update, _) = ws.until_event("killmail_update", true).await;
            pushes.extend(
                update[4]["killmails"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            );
        }
        pushes
    });
    pushes.retain(|k| published.contains(&k["killmail_id"].as_u64().unwrap_or_default()));
    (published, pushes)
}

/// Whether a pushed killmail names everyone and everything it has an id for (tickers may follow).
fn complete(kill: &Value) -> bool {
    let parties =
        std::iter::once(&kill["victim"]).chain(kill["attackers"].as_array().into_iter().flatten());
    let named =
        |party: &Value, id: &str, name: &str| party.get(id).is_none() || party[name].is_string();
    kill["solar_system_name"].is_string()
        && parties.into_iter().all(|p| {
            named(p, "character_id", "character_name")
                && named(p, "corporation_id", "corporation_name")
                && named(p, "alliance_id", "alliance_name")
                && named(p, "ship_type_id", "ship_name")
        })
}

#[actix_web::test]
async fn a_burst_of_kills_with_never_seen_pilots_is_complete_at_its_first_push() {
    // Arrange: a cold service, a live subscriber, ESI answering in 50 ms, and history for the
    // same system that a REST read will backfill at the same moment
    let app = spawn_app().await;
    app.wait_following().await;
    app.sim.set_faults(wanderer_kills::simulator::Faults {
        esi_latency_ms: 50,
        ..wanderer_kills::simulator::Faults::default()
    });
    let system = 30002187;

    // Act: 20 kills at once while a REST read backfills the same system
    let (published, pushes) = burst_during_backfill(&app, system).await;

    // Assert: every first push names everyone
    let incomplete: Vec<&Value> = pushes.iter().filter(|k| !complete(k)).collect();
    assert_eq!(pushes.len(), 20);
    assert!(
        incomplete.is_empty(),
        "{} of 20 incomplete: {:?}",
        incomplete.len(),
        incomplete.first()
    );
    // Characters, corporations and alliances of a kill are named in one call, not one per id
    // (30 kills: 20 live, 10 backfilled).
    let names = app
        .sim
        .requests(wanderer_kills::simulator::route::ESI_NAMES);
    let corporations = app
        .sim
        .requests(wanderer_kills::simulator::route::ESI_CORPORATION);
    assert!(names <= 30, "{names} name calls for 30 kills");
    // Tickers follow into the stored copies.
    wait_for(Duration::from_secs(10), "the tickers", || async {
        let kills = app.cached(system).await;
        let with_tickers = kills
            .iter()
            .filter(|k| published.contains(&k["killmail_id"].as_u64().unwrap_or_default()))
            .all(|k| {
                k["victim"].get("corporation_id").is_none()
                    || k["victim"]["corporation_ticker"].is_string()
            });
        with_tickers.then_some(())
    })
    .await;
    assert!(corporations > 0, "tickers come from the corporation route");
}

/// A modest ESI in front of the simulator's: a listen backlog of 5 and an accept loop that takes
/// `accept_ms` per connection, as a small threaded HTTP server does. Connection attempts beyond
/// what it can take are refused or dropped by the kernel.
fn modest_esi(upstream: &str, accept_ms: u64) -> String {
    let upstream: std::net::SocketAddr = upstream
        .trim_start_matches("http://")
        .parse()
        .expect("the simulator's address");
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("a socket");
    socket
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("binds");
    socket.listen(5).expect("listens with a backlog of 5");
    socket.set_nonblocking(true).expect("non-blocking");
    let listener: std::net::TcpListener = socket.into();
    let address = listener.local_addr().expect("an address");
    let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
    actix_web::rt::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                continue;
            };
            actix_web::rt::spawn(async move {
                if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
            actix_web::rt::time::sleep(Duration::from_millis(accept_ms)).await;
        }
    });
    format!("http://{address}")
}

#[actix_web::test]
async fn kills_are_complete_at_their_first_push_against_a_modest_esi_after_a_cold_start() {
    // Arrange: a cold service whose ESI is a small server with a backlog of 5, history that a
    // REST read backfills at the same moment, and a live subscriber
    let app = spawn_app_with(SimConfig::default(), |s| {
        s.engine.esi.base_url = modest_esi(&s.engine.esi.base_url, 5);
    })
    .await;
    app.wait_following().await;

    // Act
    let (_, pushes) = burst_during_backfill(&app, 30002659).await;

    // Assert: every kill named in full at its first push
    let incomplete = pushes.iter().filter(|k| !complete(k)).count();
    assert_eq!(
        incomplete,
        0,
        "{incomplete} of {} pushed incomplete",
        pushes.len()
    );
}

#[actix_web::test]
async fn a_joined_client_with_nothing_to_read_is_not_taken_for_a_stalled_one() {
    // Arrange: a short stall timeout, and a client that joined and has nothing to read
    let app = spawn_app_with(SimConfig::default(), |s| {
        s.websocket.stall_timeout_ms = 300;
    })
    .await;
    app.wait_following().await;
    let mut ws = Socket::connect(&app, "vsn=2.0.0").await;
    ws.send(json!([1, 1, "killmails:lobby", "phx_join",
                   {"systems": [30000142], "preload": {"enabled": false}}]))
        .await;
    ws.until_event("phx_reply", true).await;

    // Act: it stays quiet for several stall periods, sending only its heartbeat
    for n in 0..4 {
        actix_web::rt::time::sleep(Duration::from_millis(400)).await;
        ws.send(json!([null, format!("hb{n}"), "phoenix", "heartbeat", {}]))
            .await;
        let (reply, _) = ws.until_event("phx_reply", true).await;
        assert_eq!(reply[4]["status"], "ok");
    }
    app.sim.publish_with(|k| k.set_system(30000142));

    // Assert: still connected, and the next kill arrives
    let (update, _) = ws.until_event("killmail_update", true).await;
    assert_eq!(update[4]["system_id"], 30000142);
}

/// The bytes a client reads until the server closes the connection or `wait` passes.
async fn read_until_closed(stream: &mut tokio::net::TcpStream, wait: Duration) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let _ = actix_web::rt::time::timeout(wait, stream.read_to_end(&mut got)).await;
    got
}

#[actix_web::test]
async fn a_join_sent_in_the_same_write_as_the_handshake_is_answered() {
    use tokio::io::AsyncWriteExt;
    // Arrange: the handshake and a masked join frame, back to back in one write
    let app = spawn_app().await;
    let join = r#"[1,1,"killmails:lobby","phx_join",{"systems":[30000142]}]"#;
    let mut bytes = HANDSHAKE.as_bytes().to_vec();
    bytes.extend_from_slice(&masked_text(join));
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connects");

    // Act
    stream.write_all(&bytes).await.expect("sent");

    // Assert: the switch, then the join's reply
    let got = read_until_closed(&mut stream, Duration::from_secs(2)).await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 101"), "{text}");
    assert!(
        text.contains(r#"[1,1,"killmails:lobby","phx_reply",{"response":{"#),
        "{text}"
    );
}

#[actix_web::test]
async fn a_rest_request_that_asks_for_an_upgrade_gets_its_normal_answer() {
    use tokio::io::AsyncWriteExt;
    // Arrange
    let app = spawn_app().await;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connects");

    // Act: an HTTP/2 cleartext upgrade offer on a REST route
    stream
        .write_all(
            b"GET /api/v1/subscriptions HTTP/1.1\r\nHost: 127.0.0.1\r\n\
              Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n",
        )
        .await
        .expect("sent");

    // Assert: the route's answer over HTTP/1.1, whole, then the connection closes
    let got = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    let body = if text
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        // One chunk: its size line, the data, then the last chunk.
        body.split("\r\n").nth(1).unwrap_or_default()
    } else {
        body
    };
    let parsed: Value = serde_json::from_str(body).expect("the JSON answer");
    assert!(parsed.is_object() || parsed.is_array(), "{parsed}");
}

/// Descriptors this process holds on sockets whose local port is `port` (the server's side of
/// its connections, and its listener): a duplicated descriptor counts twice.
fn server_descriptors(port: u16) -> usize {
    let mut inodes = std::collections::HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = fields
                .get(1)
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            if local_port == Some(port) {
                if let Some(inode) = fields.get(9) {
                    inodes.insert(format!("socket:[{inode}]"));
                }
            }
        }
    }
    std::fs::read_dir("/proc/self/fd")
        .expect("descriptors")
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| inodes.contains(&*target.to_string_lossy()))
        .count()
}

#[actix_web::test]
async fn a_websocket_connection_holds_one_descriptor_in_the_service() {
    // Arrange
    let app = spawn_app().await;
    let before = server_descriptors(app.port);

    // Act: ten clients join
    let mut sockets = Vec::new();
    for _ in 0..10 {
        let mut ws = Socket::connect(&app, "vsn=2.0.0").await;
        ws.send(json!([1, 1, "killmails:lobby", "phx_join",
                       {"systems": [30000142], "preload": {"enabled": false}}]))
            .await;
        ws.until_event("phx_reply", true).await;
        sockets.push(ws);
    }

    // Assert: one descriptor each (a limit of 20 000 descriptors serves 20 000 clients, not half)
    assert_eq!(server_descriptors(app.port) - before, 10);
}
