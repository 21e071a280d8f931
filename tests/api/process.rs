//! The real binary as an operator runs it: signals, bad configuration, the container health
//! check, and the simulator command.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const BINARY: &str = env!("CARGO_BIN_EXE_wanderer-kills");

/// A child process whose log lines arrive on a channel.
pub struct Running {
    pub child: Child,
    lines: mpsc::Receiver<String>,
}

impl Running {
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let data = std::env::temp_dir().join(format!("wk-process-{}", std::process::id()));
        Self::start_in(args, env, &data)
    }

    /// Like [`Running::start`], with `data` as the data directory.
    pub fn start_in(args: &[&str], env: &[(&str, &str)], data: &std::path::Path) -> Self {
        let mut child = Command::new(BINARY)
            .args(args)
            .env_clear()
            .env("APP_ENVIRONMENT", "test")
            .env("LOG_LEVEL", "info")
            .env("DATA_DIR", data)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("binary starts");
        let (tx, lines) = mpsc::channel();
        for stream in [
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child.stdout.take().map(|s| Box::new(s) as _),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        Self { child, lines }
    }

    /// Waits for a log line containing `needle` and returns it.
    pub fn line_with(&self, needle: &str) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(15)) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(e) => panic!("no log line with {needle:?}: {e}"),
            }
        }
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("waitable") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "process did not exit within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The port of a running `simulate` command, from its start-up log line.
pub fn sim_port(sim: &Running) -> u16 {
    sim.line_with("R2Z2_BASE_URL=")
        .split("R2Z2_BASE_URL=http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .expect("port in the log line")
}

/// The port from a log line such as `listening address=127.0.0.1:43211 feed=off`.
pub fn port_in(line: &str) -> u16 {
    let after = line.split("address=").nth(1).expect("address= in the line");
    let address = after.split_whitespace().next().expect("an address");
    address
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port")
}

pub fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").expect("writes");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("reads");
    answer
}

#[test]
fn the_service_drains_and_exits_cleanly_on_sigterm_and_sigint() {
    for signal in ["TERM", "INT"] {
        let mut service = Running::start(&[], &[("KILL_FEED", "off")]);
        let port = port_in(&service.line_with("listening address="));
        assert!(http_get(port, "/ping").ends_with("pong"));

        service.signal(signal);

        let status = service.wait(Duration::from_secs(10));
        assert!(status.success(), "SIG{signal}: {status}");
        service.line_with("engine stopped; store flushed");
        service.line_with("stopped");
    }
}

#[test]
fn an_invalid_variable_stops_startup_with_a_message_naming_it() {
    let mut service = Running::start(&[], &[("PORT", "forty")]);

    let status = service.wait(Duration::from_secs(10));
    let message = service.line_with("PORT");

    assert!(!status.success());
    assert!(message.contains("forty"), "{message}");
}

#[test]
fn the_healthcheck_command_passes_against_a_healthy_service_and_fails_without_one() {
    let service = Running::start(&[], &[("KILL_FEED", "off")]);
    let port = port_in(&service.line_with("listening address=")).to_string();

    let healthy = Command::new(BINARY)
        .args(["healthcheck", "--port", &port])
        .status()
        .expect("runs");
    drop(service);
    let gone = Command::new(BINARY)
        .args(["healthcheck", "--port", &port])
        .stderr(Stdio::null())
        .status()
        .expect("runs");

    assert!(healthy.success());
    assert!(!gone.success());
}

#[test]
fn the_simulate_command_serves_r2z2_and_publishes_at_its_rate() {
    let sim = Running::start(
        &["simulate", "--port", "0", "--rate-ms", "100", "--seed", "7"],
        &[],
    );
    let port = sim_port(&sim);

    sim.line_with("published killmail_id=");
    sim.line_with("published killmail_id=");
    let answer = http_get(port, "/ephemeral/96000000.json");

    assert!(
        answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"),
        "{answer}"
    );
    assert!(answer.contains("\"killmail_id\":131000000"), "{answer}");
}

#[test]
fn the_loadtest_command_runs_the_service_and_reports_every_frame_delivered() {
    let output = std::process::Command::new(BINARY)
        .args([
            "loadtest",
            "--clients",
            "20",
            "--kills",
            "3",
            "--interval-ms",
            "50",
        ])
        .args(["--systems", "4", "--systems-per-client", "2", "--baseline"])
        .output()
        .expect("the loadtest runs");
    let report = String::from_utf8_lossy(&output.stdout);

    assert!(output.status.success(), "{report}");
    // 3 kills in systems 0, 1, 2; each system is followed by 10 of the 20 clients, against the
    // service and then against the baseline forwarder.
    let (service, baseline) = report
        .split_once("--- baseline")
        .unwrap_or_else(|| panic!("no baseline part: {report}"));
    for part in [service, baseline] {
        assert!(part.contains("clients joined: 20 of 20"), "{report}");
        assert!(part.contains("frames delivered: 30 of 30"), "{report}");
        assert!(
            part.contains("kill → client, every frame: p50 "),
            "{report}"
        );
        assert!(part.contains("µs per delivered frame"), "{report}");
    }
    assert!(
        baseline.contains("service / baseline, every frame: p50 "),
        "{report}"
    );
}

#[test]
fn the_loadtest_forwarder_can_take_its_kills_from_the_feed_and_forwards_every_one() {
    let output = std::process::Command::new(BINARY)
        .args(["loadtest", "--clients", "5", "--kills", "3"])
        .args(["--interval-ms", "50", "--systems", "1", "--baseline-feed"])
        .output()
        .expect("the loadtest runs");
    let report = String::from_utf8_lossy(&output.stdout);

    assert!(output.status.success(), "{report}");
    let (_, baseline) = report
        .split_once("--- baseline (minimal forwarder following the same RedisQ")
        .unwrap_or_else(|| panic!("no baseline part following the feed: {report}"));
    // Every kill went from the simulator's RedisQ through the forwarder's commit to all 5.
    assert!(baseline.contains("frames delivered: 15 of 15"), "{report}");
}

#[test]
fn the_status_report_appears_in_the_log_at_its_interval() {
    let service = Running::start(
        &[],
        &[("KILL_FEED", "off"), ("STATUS_REPORT_INTERVAL_MS", "300")],
    );

    let line = service.line_with("status every_s=");

    assert!(line.contains("kills_received=0"), "{line}");
    assert!(line.contains("cache_hit_rate="), "{line}");
}

#[test]
fn with_log_format_json_every_log_line_is_one_json_object_with_its_fields() {
    let service = Running::start(&[], &[("KILL_FEED", "off"), ("LOG_FORMAT", "json")]);

    let listening = service.line_with("listening");
    let line: serde_json::Value =
        serde_json::from_str(&listening).unwrap_or_else(|e| panic!("{e}: {listening}"));

    assert_eq!(line["level"], "info");
    assert!(line["target"].is_string() && line["time"].is_string());
    assert!(
        line["message"]
            .as_str()
            .is_some_and(|m| !m.contains("address=")),
        "{line}"
    );
    let address = line["fields"]["address"]
        .as_str()
        .expect("an address field");
    assert!(address.contains(':'), "{address}");
}

#[test]
fn offline_the_log_says_how_to_run_without_the_feed() {
    let service = Running::start(&[], &[("R2Z2_BASE_URL", "http://127.0.0.1:9/ephemeral")]);

    let hint = service.line_with("the kill feed cannot be reached");

    assert!(
        hint.contains("KILL_FEED=off") && hint.contains("make demo"),
        "{hint}"
    );
}

#[test]
fn the_loadtest_command_measures_memory_per_stored_kill_before_and_after_a_restart() {
    let output = std::process::Command::new(BINARY)
        .args(["loadtest", "--stored", "200"])
        .output()
        .expect("the loadtest runs");
    let report = String::from_utf8_lossy(&output.stdout);

    assert!(output.status.success(), "{report}");
    assert!(report.contains("kills stored: 200"), "{report}");
    assert!(report.contains("KB per stored kill"), "{report}");
    assert!(report.contains("a kill's JSON: "), "{report}");
    for route in [
        "GET /api/v1/killmail/{id}: ",
        "GET /api/v1/kills/cached/{system_id}: ",
        "GET /api/v1/killmail/{id}, restarted: ",
        "GET /api/v1/kills/cached/{system_id}, restarted: ",
    ] {
        let line = report.lines().find(|l| l.starts_with(route));
        let line = line.unwrap_or_else(|| panic!("no {route} line in {report}"));
        assert!(line.contains(" 0 failed"), "{line}");
        assert!(!line.contains(": 0 requests/s"), "{line}");
    }
    let restarted = report.lines().find(|l| l.starts_with("restarted "));
    let restarted = restarted.unwrap_or_else(|| panic!("no restart line in {report}"));
    assert!(
        restarted.contains("every kill held after") && restarted.contains("KB per stored kill"),
        "{restarted}"
    );
}
