//! The dashboard in a real browser (headless Chromium driven by playwright-core): it lists the
//! stored kills at once, grows when a kill is published, draws the last hour, links each kill to
//! zKillboard, and says when the feed is down.
//!
//! `make test` installs Chromium (`make browser-deps`) and playwright-core (`make js-deps`).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use wanderer_kills::simulator::{Faults, SimConfig};

use crate::helpers::{spawn_app_with, TestApp};

const JS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/js");
const CHROMIUM: &str = "/usr/bin/chromium";

/// One headless browser on the dashboard.
struct Browser {
    _child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Browser {
    async fn open(app: &TestApp) -> Self {
        assert!(
            Path::new(CHROMIUM).exists()
                && Path::new(JS_DIR)
                    .join("node_modules/playwright-core")
                    .is_dir(),
            "Chromium or playwright-core missing: run `make browser-deps js-deps`"
        );
        let mut child = Command::new("node")
            .current_dir(JS_DIR)
            .arg("dashboard_check.cjs")
            .arg(&app.address)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs");
        let stdin = child.stdin.take().expect("stdin");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut browser = Self {
            _child: child,
            stdin,
            lines,
        };
        let loaded = browser.next().await;
        assert_eq!(loaded["type"], "loaded", "{loaded}");
        browser
    }

    async fn next(&mut self) -> Value {
        let line = actix_web::rt::time::timeout(Duration::from_secs(30), self.lines.next_line())
            .await
            .expect("the browser answered within 30 s")
            .expect("stdout readable")
            .expect("the browser is still running");
        serde_json::from_str(&line).expect("a JSON line")
    }

    async fn ask(&mut self, command: Value) -> Value {
        let line = format!("{command}\n");
        self.stdin.write_all(line.as_bytes()).await.expect("sent");
        let answer = self.next().await;
        assert!(answer.get("timeout").is_none(), "{answer}");
        assert_eq!(answer["errors"], json!([]), "no script errors on the page");
        answer
    }
}

fn ids(answer: &Value) -> Vec<u64> {
    answer["ids"]
        .as_array()
        .expect("ids")
        .iter()
        .filter_map(Value::as_u64)
        .collect()
}

#[actix_web::test]
async fn the_dashboard_lists_stored_kills_at_once_and_grows_with_live_ones() {
    let app = spawn_app_with(SimConfig::default(), |_| {}).await;
    app.wait_following().await;
    let stored = app.publish_in(30000142, 3);
    app.wait_stored(30000142, 3, Duration::from_secs(10)).await;

    let mut browser = Browser::open(&app).await;
    let first = browser
        .ask(json!({"wait_kills": 3, "timeout_ms": 3000}))
        .await;
    let mut shown = ids(&first);
    shown.sort_unstable();
    assert_eq!(shown, stored, "the stored kills, within 3 s of load");
    assert_eq!(first["rate"], "3 in the last hour");
    for link in first["links"].as_array().expect("links") {
        assert!(link
            .as_str()
            .is_some_and(|l| l.starts_with("https://zkillboard.com/kill/")));
    }
    for text in first["texts"].as_array().expect("texts") {
        let text = text.as_str().expect("text");
        assert!(text.contains("Jita (The Forge, highsec)"), "{text}");
        assert!(!text.contains(" 1 attackers"), "{text}");
    }

    let live = app.publish_in(30002187, 1)[0];
    let grown = browser
        .ask(json!({"wait_kills": 4, "timeout_ms": 10000}))
        .await;
    assert_eq!(ids(&grown)[0], live, "the new kill on top");
    assert_eq!(grown["rate"], "4 in the last hour");
}

#[actix_web::test]
async fn the_dashboard_says_when_the_feed_is_down_and_why() {
    let app = spawn_app_with(SimConfig::default(), |_| {}).await;
    app.sim.set_faults(Faults {
        r2z2_unavailable_rate: 1.0,
        ..Faults::default()
    });

    let mut browser = Browser::open(&app).await;
    let down = browser.ask(json!({"wait_feed_error": 20000})).await;

    let notice = down["feed"].as_str().expect("the notice");
    assert!(
        notice.starts_with("Kill feed") && notice.contains("503"),
        "{notice}"
    );
    assert_eq!(down["badge"], "feed down");
}
