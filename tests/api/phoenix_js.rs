//! The official `phoenix` npm client against the real app, over WebSocket (the `ws` package) and
//! over LongPoll (no WebSocket, as on Node 20): join with preload, live kills, subscribe and
//! unsubscribe pushes, an error reply, leave.
//!
//! `make test` installs the client from `tests/js/package-lock.json` (`make js-deps`).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::helpers::{spawn_app_with, wait_for, TestApp};
use wanderer_kills::simulator::SimConfig;

const JS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/js");

/// One `node tests/js/phoenix_client.cjs` process: commands in on stdin, events out on stdout.
struct PhoenixJs {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl PhoenixJs {
    fn start(app: &TestApp, join: Value, transport: &str) -> Self {
        assert!(
            Path::new(JS_DIR).join("node_modules/phoenix").is_dir(),
            "the phoenix npm client is not installed: run `make js-deps` (npm ci in tests/js)"
        );
        let mut child = Command::new("node")
            .current_dir(JS_DIR)
            .arg("phoenix_client.cjs")
            .arg(format!("ws://127.0.0.1:{}/socket", app.port))
            .arg(join.to_string())
            .arg(transport)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node is installed (Node 18 or later)");
        let stdin = child.stdin.take().expect("piped stdin");
        let lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        Self {
            child,
            stdin,
            lines,
        }
    }

    async fn command(&mut self, command: Value) {
        let line = format!("{command}\n");
        self.stdin.write_all(line.as_bytes()).await.expect("sent");
    }

    /// The next line the client printed, panicking after 10 s.
    async fn next(&mut self) -> Value {
        let line = actix_web::rt::time::timeout(Duration::from_secs(10), self.lines.next_line())
            .await
            .expect("the client printed within 10 s")
            .expect("stdout readable")
            .expect("the client is still running");
        serde_json::from_str(&line).expect("a JSON line")
    }

    /// Lines until one of `kind` (and `event`, for events), returning it.
    async fn until(&mut self, kind: &str, event: Option<&str>) -> Value {
        loop {
            let line = self.next().await;
            assert_ne!(line["type"], "socket_error", "{line}");
            if line["type"] == kind && event.is_none_or(|e| line["event"] == e) {
                return line;
            }
        }
    }
}

#[actix_web::test]
async fn the_official_phoenix_client_joins_preloads_receives_and_changes_its_subscriptions() {
    conversation("ws").await;
}

#[actix_web::test]
async fn the_official_phoenix_client_without_websocket_falls_back_to_longpoll_and_works_the_same() {
    conversation("longpoll").await;
}

async fn conversation(transport: &str) {
    // Arrange: one stored kill in Jita before the client joins. LongPoll sessions nobody polls
    // end after 1.5 s here.
    let app = spawn_app_with(SimConfig::default(), |s| {
        s.websocket.longpoll_window_ms = 500;
        s.websocket.longpoll_timeout_ms = 1_500;
    })
    .await;
    app.wait_following().await;
    let stored = app.sim.publish_with(|k| k.set_system(30000142));
    app.wait_stored(30000142, 1, Duration::from_secs(5)).await;

    // Act: join with preload
    let mut js = PhoenixJs::start(
        &app,
        json!({"systems": [30000142], "preload": {"enabled": true, "limit_per_system": 5}}),
        transport,
    );
    let used = js.until("transport", None).await;
    assert_eq!(used["longpoll"], transport == "longpoll");

    // Assert: the join reply, the preloaded kill, then preload_complete
    let joined = js.until("joined", None).await;
    assert_eq!(joined["response"]["subscribed_systems"], json!([30000142]));
    let preload = js.until("event", Some("killmail_update")).await;
    assert_eq!(preload["payload"]["preload"], true);
    assert_eq!(
        preload["payload"]["killmails"][0]["killmail_id"],
        stored.kill.killmail_id
    );
    let done = js.until("event", Some("preload_complete")).await;
    assert_eq!(done["payload"]["total_kills"], 1);

    // A live kill reaches the channel's handler, then its absolute count.
    let live = app.sim.publish_with(|k| k.set_system(30000142));
    let update = js.until("event", Some("killmail_update")).await;
    assert_eq!(update["payload"]["preload"], false);
    assert_eq!(
        update["payload"]["killmails"][0]["killmail_id"],
        live.kill.killmail_id
    );
    let count = js.until("event", Some("kill_count_update")).await;
    assert_eq!(count["payload"]["count"], 2);

    // subscribe_systems through channel.push, then a kill in the new system.
    js.command(json!({"push": "subscribe_systems", "payload": {"systems": [30002187]}}))
        .await;
    let reply = js.until("reply", Some("subscribe_systems")).await;
    assert_eq!(reply["status"], "ok");
    assert_eq!(
        reply["response"]["subscribed_systems"],
        json!([30000142, 30002187])
    );
    let amarr = app.sim.publish_with(|k| k.set_system(30002187));
    let update = js.until("event", Some("killmail_update")).await;
    assert_eq!(update["payload"]["system_id"], 30002187);
    assert_eq!(
        update["payload"]["killmails"][0]["killmail_id"],
        amarr.kill.killmail_id
    );

    // unsubscribe_systems: a later Amarr kill does not arrive, a Jita kill does.
    js.command(json!({"push": "unsubscribe_systems", "payload": {"systems": [30002187]}}))
        .await;
    let reply = js.until("reply", Some("unsubscribe_systems")).await;
    assert_eq!(reply["response"]["subscribed_systems"], json!([30000142]));
    app.sim.publish_with(|k| k.set_system(30002187));
    app.wait_stored(30002187, 2, Duration::from_secs(5)).await;
    let jita = app.sim.publish_with(|k| k.set_system(30000142));
    let update = js.until("event", Some("killmail_update")).await;
    assert_eq!(update["payload"]["system_id"], 30000142);
    assert_eq!(
        update["payload"]["killmails"][0]["killmail_id"],
        jita.kill.killmail_id
    );

    // An invalid push gets the error reply through the client's receive("error").
    js.command(json!({"push": "subscribe_systems", "payload": {"systems": "nope"}}))
        .await;
    let reply = js.until("reply", Some("subscribe_systems")).await;
    assert_eq!(reply["status"], "error");

    // Leave: the client sees its leave acknowledged and the subscription is gone.
    js.command(json!({"leave": true})).await;
    js.until("left", None).await;
    let status = js.child.wait().await.expect("the client exits");
    assert!(status.success());
    // phoenix.js disconnects before its leave goes out over LongPoll; the session then ends
    // when nobody polls it, and leaves the registry. Over WebSocket the leave itself does it.
    wait_for(Duration::from_secs(5), "the subscription to go", || async {
        let listed = app.get("/api/v1/subscriptions").await.json();
        (listed["data"]["subscriptions"] == json!([])).then_some(())
    })
    .await;
}
