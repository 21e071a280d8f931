//! `loadtest --idle N`: what idle clients cost. N Phoenix clients join (one system each, no
//! kills published) and then only send their heartbeat every 30 s, as the real apps do. The
//! service's resident memory is read before and after they join, and its CPU time over a quiet
//! window, from `/proc/<pid>/`.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use actix_web::rt::time::sleep;
use anyhow::{bail, Context};

use super::client::{client, client_task};
use super::Receipts;

/// How long CPU time is counted while every client is idle.
const QUIET_WINDOW: Duration = Duration::from_secs(10);
/// Time for the connections to settle after the last join, before counting.
const SETTLE: Duration = Duration::from_secs(2);

/// What idle clients cost the service.
#[derive(Debug)]
pub struct IdleReport {
    pub clients: usize,
    pub joined: usize,
    pub rss_before_kb: u64,
    pub rss_after_kb: u64,
    /// CPU milliseconds the service spent per second of the quiet window.
    pub cpu_ms_per_s: f64,
}

impl std::fmt::Display for IdleReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let per = (self.rss_after_kb.saturating_sub(self.rss_before_kb)) as f64
            / self.joined.max(1) as f64;
        writeln!(
            f,
            "idle clients joined: {} of {}",
            self.joined, self.clients
        )?;
        writeln!(
            f,
            "service RSS: {} KB before, {} KB after: {per:.1} KB per idle connection",
            self.rss_before_kb, self.rss_after_kb
        )?;
        write!(
            f,
            "service CPU while idle: {:.2} ms per second ({} s window)",
            self.cpu_ms_per_s,
            QUIET_WINDOW.as_secs()
        )
    }
}

/// Joins `clients` idle clients to the service on `port` (process `pid`) and measures.
pub async fn measure(
    clients: usize,
    concurrency: usize,
    port: u16,
    pid: u32,
) -> anyhow::Result<IdleReport> {
    let http = client();
    sleep(SETTLE).await;
    let rss_before_kb = rss_kb(pid)?;
    let ready = Rc::new(RefCell::new(0usize));
    let receipts: Receipts = Rc::default();
    let url = format!("ws://127.0.0.1:{port}/socket/websocket?vsn=2.0.0");
    let mut handles = Vec::with_capacity(clients);
    for batch in (0..clients).collect::<Vec<_>>().chunks(concurrency.max(1)) {
        let target = *ready.borrow() + batch.len();
        for &i in batch {
            let system = 30_000_001 + (i % 5000) as u64;
            let join = serde_json::json!([1, 1, "killmails:lobby", "phx_join",
                {"client_identifier": "idle", "systems": [system]}]);
            handles.push(actix_web::rt::spawn(client_task(
                http.clone(),
                url.clone(),
                join.to_string(),
                0,
                receipts.clone(),
                ready.clone(),
            )));
        }
        let started = Instant::now();
        while *ready.borrow() < target && started.elapsed() < Duration::from_secs(30) {
            sleep(Duration::from_millis(5)).await;
        }
    }
    let joined = *ready.borrow();
    if joined == 0 {
        bail!("no client could join");
    }
    sleep(SETTLE).await;
    let rss_after_kb = rss_kb(pid)?;
    let cpu_before = cpu_ticks(pid)?;
    let window = Instant::now();
    sleep(QUIET_WINDOW).await;
    let cpu_after = cpu_ticks(pid)?;
    let elapsed = window.elapsed().as_secs_f64();
    for handle in handles {
        handle.abort();
    }
    // Clock ticks are 1/100 s on Linux (`getconf CLK_TCK`).
    let cpu_ms = (cpu_after - cpu_before) as f64 * 10.0;
    Ok(IdleReport {
        clients,
        joined,
        rss_before_kb,
        rss_after_kb,
        cpu_ms_per_s: cpu_ms / elapsed,
    })
}

/// Resident memory of `pid` in KB.
pub(super) fn rss_kb(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS line")
}

/// User and system CPU clock ticks of `pid`.
pub(super) fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
    // The command name may hold spaces: fields count from the closing parenthesis.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).context("odd stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // After the name: state is field 0, utime 11, stime 12.
    Ok(tick(11) + tick(12))
}
