//! The runnable clients in `examples/`, each run against the real app and the simulator: a kill
//! published while the client listens must come out of it.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

use crate::helpers::{spawn_app, TestApp};
use crate::webhooks::subscribe;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const JITA: u64 = 30000142;

/// An example running, its stdout line by line.
struct Example {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Example {
    fn run(program: &str, args: &[&str]) -> Self {
        let mut child = Command::new(program)
            .current_dir(ROOT)
            .args(args)
            .env("NODE_PATH", format!("{ROOT}/tests/js/node_modules"))
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{program} runs: {e}"));
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Self { child, lines }
    }

    /// The next line containing `needle`, within 20 s.
    async fn line_with(&mut self, needle: &str) -> String {
        let wait = actix_web::rt::time::timeout(Duration::from_secs(20), async {
            while let Some(line) = self.lines.next_line().await.expect("readable") {
                if line.contains(needle) {
                    return line;
                }
            }
            panic!("the example ended before printing {needle:?}");
        });
        wait.await
            .unwrap_or_else(|_| panic!("no line with {needle:?} within 20 s"))
    }

    async fn exits_cleanly(mut self) {
        let status = actix_web::rt::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("the example exits after its kills")
            .expect("waitable");
        assert!(status.success(), "{status}");
    }
}

fn python() -> String {
    let venv = format!("{ROOT}/.venv-tests/bin/python");
    assert!(
        Path::new(&venv).exists(),
        "the test venv is missing: run `make py-deps`"
    );
    venv
}

/// Starts `example`, waits for `ready`, publishes a Jita kill and expects the example to print it.
async fn prints_a_published_kill(app: &TestApp, mut example: Example, ready: &str) {
    example.line_with(ready).await;
    let id = app.publish_in(JITA, 1)[0];
    let line = example.line_with(&format!("kill {id}")).await;
    assert!(line.contains("Jita"), "{line}");
    example.exits_cleanly().await;
}

#[actix_web::test]
async fn the_javascript_clients_over_websocket_and_longpoll_print_live_kills() {
    let app = spawn_app().await;
    app.wait_following().await;
    let socket = format!("ws://127.0.0.1:{}/socket", app.port);
    for script in ["examples/js/websocket.cjs", "examples/js/longpoll.cjs"] {
        let example = Example::run("node", &[script, &socket, "30000142", "1"]);
        prints_a_published_kill(&app, example, "joined 30000142").await;
    }
}

#[actix_web::test]
async fn the_python_websocket_and_sse_clients_print_live_kills() {
    let app = spawn_app().await;
    app.wait_following().await;
    let python = python();
    let ws = format!("ws://127.0.0.1:{}", app.port);
    let example = Example::run(
        &python,
        &["examples/python/websocket_client.py", &ws, "30000142", "1"],
    );
    prints_a_published_kill(&app, example, "joined 30000142").await;

    let mut sse = Example::run(
        &python,
        &[
            "examples/python/sse_client.py",
            &app.address,
            "system:30000142",
            "1",
        ],
    );
    sse.line_with("connected").await;
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    let id = app.publish_in(JITA, 1)[0];
    let line = sse.line_with(&format!("kill {id}")).await;
    assert!(line.contains("(highsec) matched example"), "{line}");
    sse.exits_cleanly().await;
}

#[actix_web::test]
async fn the_rust_phoenix_client_prints_live_kills() {
    let app = spawn_app().await;
    app.wait_following().await;
    // Built by `cargo test` next to the test binaries.
    let tests = std::env::current_exe().expect("this test binary");
    let example = tests
        .parent()
        .and_then(Path::parent)
        .expect("the target profile directory")
        .join("examples/phoenix_client");
    assert!(
        example.exists(),
        "{} is built by cargo test",
        example.display()
    );
    let ws = format!("ws://127.0.0.1:{}", app.port);
    let example = Example::run(example.to_str().expect("a path"), &[&ws, "30000142", "1"]);
    prints_a_published_kill(&app, example, "joined [30000142]").await;
}

#[actix_web::test]
async fn the_webhook_receiver_trusts_signed_bodies_only() {
    let app = spawn_app().await;
    app.wait_following().await;
    let mut receiver = Example::run(
        "python3",
        &["examples/python/webhook_receiver.py", "0", "s3cret"],
    );
    let listening = receiver.line_with("listening on").await;
    let port = listening.rsplit(' ').next().expect("a port");
    let url = format!("http://127.0.0.1:{port}/hook");
    subscribe(
        &app,
        json!({"subscriber_id": "example", "callback_url": url, "system_ids": [JITA], "secret": "s3cret"}),
    )
    .await;

    let id = app.publish_in(JITA, 1)[0];
    receiver.line_with(&format!("verified kill {id}")).await;

    let forged = crate::helpers::client()
        .post(&url)
        .insert_header(("x-wanderer-signature", "sha256=00"))
        .send_body(r#"{"kills": [{"killmail_id": 1}]}"#)
        .await
        .expect("answered");
    assert_eq!(forged.status(), 401);
    receiver.line_with("refused: bad signature").await;
}

#[actix_web::test]
async fn every_curl_command_of_the_curl_page_runs() {
    let app = spawn_app().await;
    app.wait_following().await;
    app.publish_in(JITA, 2);
    app.wait_stored(JITA, 2, Duration::from_secs(10)).await;
    let page = std::fs::read_to_string(format!("{ROOT}/examples/curl.md")).expect("the curl page");
    let blocks: Vec<&str> = page
        .split("```sh\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .collect();
    assert!(blocks.len() >= 5);
    let script = format!("set -e\nBASE={}\n{}", app.address, blocks[1..].join("\n"));
    let output = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .output()
        .await
        .expect("sh runs");
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}\n{out}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(out.contains(r#""status":"ok""#), "the health answers");
    assert!(out.contains("Subscription created successfully"));
    assert!(out.contains("Successfully unsubscribed"));
    assert!(out.contains(r#"{"sequence":"#), "the R2Z2 relay");
    assert!(out.contains("wanderer_kills_build_info"), "the metrics");
}
