//! Durability (SPEC §6) with the real binary: `kill -9` while kills flow, kills published while
//! it is down, and a restart on the same data directory. The simulator runs as its own process
//! (`wanderer-kills simulate`) so it keeps publishing while the service is down.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::process::{http_get, port_in, sim_port, Running, BINARY};

const FIRST_SEQUENCE: u64 = 96_000_000;

pub fn json_body(answer: &str) -> Value {
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {answer}"))
}

pub fn http_post(port: u16, path: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write!(
        stream,
        "POST {path} HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("writes");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("reads");
    answer
}

/// Reads an SSE stream on a thread, collecting `data:` lines of the named `event` (or the
/// unnamed ones when `event` is empty) as JSON.
pub fn collect_events(port: u16, path: &str, event: &'static str) -> Arc<Mutex<Vec<Value>>> {
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connects");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").expect("writes");
    let out = Arc::clone(&seen);
    std::thread::spawn(move || {
        let mut current = String::new();
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if let Some(name) = line.strip_prefix("event: ") {
                current = name.to_owned();
            } else if let Some(data) = line.strip_prefix("data: ") {
                if current == event {
                    if let Ok(value) = serde_json::from_str(data) {
                        out.lock().unwrap().push(value);
                    }
                }
            } else if line.is_empty() {
                current.clear();
            }
        }
    });
    seen
}

pub fn ids(values: &[Value]) -> Vec<u64> {
    values
        .iter()
        .filter_map(|v| v["killmail_id"].as_u64())
        .collect()
}

pub fn wait_until(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every stored kill of the service, from the enhanced stream's history batches.
fn stored(port: u16) -> Vec<Value> {
    let batches = collect_events(
        port,
        "/api/v1/kills/stream/enhanced?preload_days=7",
        "batch",
    );
    let transition = collect_events(
        port,
        "/api/v1/kills/stream/enhanced?preload_days=7",
        "transition",
    );
    wait_until(Duration::from_secs(10), "the history", || {
        !transition.lock().unwrap().is_empty()
    });
    std::thread::sleep(Duration::from_millis(200));
    let batches = batches.lock().unwrap().clone();
    batches
        .iter()
        .flat_map(|b| b["kills"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// Killmail ids the simulator has published on R2Z2, up to its head.
pub fn published(sim_port: u16) -> Vec<u64> {
    let head = json_body(&http_get(sim_port, "/ephemeral/sequence.json"))["sequence"]
        .as_u64()
        .expect("a head");
    (FIRST_SEQUENCE..=head)
        .filter_map(|seq| {
            json_body(&http_get(sim_port, &format!("/ephemeral/{seq}.json")))["killmail_id"]
                .as_u64()
        })
        .collect()
}

fn service(sim_port: u16, data: &std::path::Path) -> (Running, u16) {
    let base = format!("http://127.0.0.1:{sim_port}");
    let env = [
        ("KILL_FEED", "r2z2".to_owned()),
        ("R2Z2_BASE_URL", format!("{base}/ephemeral")),
        ("R2Z2_START_SEQUENCE", FIRST_SEQUENCE.to_string()),
        ("ZKB_BASE_URL", format!("{base}/api")),
        ("ESI_BASE_URL", base.clone()),
        ("REDISQ_BASE_URL", format!("{base}/listen.php")),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let running = Running::start_in(&[], &env, data);
    let port = port_in(&running.line_with("listening address="));
    (running, port)
}

#[test]
fn a_crash_loses_nothing_acknowledged_and_the_restart_catches_up_without_repeats() {
    // Arrange: the simulator publishing a kill every 150 ms, the service following it
    let sim = Running::start(&["simulate", "--port", "0", "--rate-ms", "150"], &[]);
    let sim_port = sim_port(&sim);
    let data = tempfile::tempdir().expect("a data dir");
    let (first, port) = service(sim_port, data.path());
    let created = http_post(
        port,
        "/api/v1/subscriptions",
        r#"{"subscriber_id":"bot","callback_url":"http://127.0.0.1:9/hook","system_ids":[30000142]}"#,
    );
    assert!(
        created.starts_with("HTTP/1.0 201") || created.starts_with("HTTP/1.1 201"),
        "{created}"
    );
    let delivered_before = collect_events(port, "/api/v1/kills/stream", "");
    wait_until(Duration::from_secs(20), "kills delivered", || {
        delivered_before.lock().unwrap().len() >= 6
    });

    // Act: kill -9, kills keep coming while it is down, then a restart on the same data
    first.signal("KILL");
    let acknowledged = ids(&delivered_before.lock().unwrap());
    drop(first);
    std::thread::sleep(Duration::from_secs(2));
    let (second, port) = service(sim_port, data.path());
    let resumed = second.line_with("r2z2 following from");
    assert!(resumed.contains("resumed=true"), "{resumed}");
    let from: u64 = resumed
        .split("sequence=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .expect("a sequence");
    assert!(
        from > FIRST_SEQUENCE + 5,
        "resumed from the saved cursor, not the start: {resumed}"
    );
    let delivered_after = collect_events(port, "/api/v1/kills/stream", "");
    let published_by_now = published(sim_port);

    // Assert: everything acknowledged before the crash and published while down is stored, once
    let mut kills = Vec::new();
    wait_until(Duration::from_secs(20), "the restart to catch up", || {
        kills = stored(port);
        let held: HashSet<u64> = ids(&kills).into_iter().collect();
        published_by_now.iter().all(|id| held.contains(id))
    });
    let held = ids(&kills);
    let unique: HashSet<u64> = held.iter().copied().collect();
    assert_eq!(unique.len(), held.len(), "a kill stored twice");
    for id in &acknowledged {
        assert!(
            unique.contains(id),
            "kill {id} delivered before the crash was lost"
        );
    }
    let again: Vec<u64> = ids(&delivered_after.lock().unwrap())
        .into_iter()
        .filter(|id| acknowledged.contains(id))
        .collect();
    assert!(
        again.is_empty(),
        "delivered again after the restart: {again:?}"
    );
    let listed = json_body(&http_get(port, "/api/v1/subscriptions"));
    let webhooks = crate::helpers::listed_of_type(&listed, "webhook");
    assert_eq!(webhooks.len(), 1, "{listed}");
    assert_eq!(webhooks[0]["subscriber_id"], "bot");
    assert_eq!(webhooks[0]["system_ids"], serde_json::json!([30000142]));
}

#[test]
fn a_damaged_store_stops_startup_with_a_clear_message() {
    let data = tempfile::tempdir().expect("a data dir");
    std::fs::write(
        data.path().join("wanderer-kills.db"),
        b"this is not a database, it is a shopping list".repeat(200),
    )
    .expect("written");

    let output = std::process::Command::new(BINARY)
        .env_clear()
        .env("APP_ENVIRONMENT", "test")
        .env("KILL_FEED", "off")
        .env("DATA_DIR", data.path())
        .output()
        .expect("runs");

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is damaged or unreadable"), "{stderr}");
    assert!(stderr.contains("wanderer-kills.db"), "{stderr}");
}
