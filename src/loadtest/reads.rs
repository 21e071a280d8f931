//! REST reads over a full store (`loadtest --stored N`): how many requests a second the service
//! answers, and its CPU per request, for one killmail by id and for a system's stored kills.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;

use super::client::client;
use super::idle::cpu_ticks;

/// Requests in flight at once.
const CONCURRENCY: usize = 16;
/// How long each kind of read runs.
const WINDOW: Duration = Duration::from_secs(5);

/// One kind of read: what it asked and how fast the service answered.
#[derive(Debug)]
pub struct ReadRate {
    pub route: String,
    pub requests: u64,
    pub failed: u64,
    pub per_second: f64,
    /// Service CPU (user + system) per answered request.
    pub cpu_us: f64,
}

impl std::fmt::Display for ReadRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {:.0} requests/s, {:.0} µs service CPU per request ({} requests, {} failed, {} at a time)",
            self.route, self.per_second, self.cpu_us, self.requests, self.failed, CONCURRENCY
        )
    }
}

/// Reads `path(n)` for n = 0, 1, 2... from `CONCURRENCY` loops for `WINDOW`.
pub async fn measure(
    route: String,
    port: u16,
    pid: u32,
    path: impl Fn(u64) -> String,
) -> anyhow::Result<ReadRate> {
    eprintln!("reading {route} for {} s", WINDOW.as_secs());
    let http = client();
    let next = Rc::new(Cell::new(0u64));
    let answered = Rc::new(Cell::new(0u64));
    let failed = Rc::new(Cell::new(0u64));
    let cpu_before = cpu_ticks(pid)?;
    let started = Instant::now();
    let path = &path;
    join_all((0..CONCURRENCY).map(|_| {
        let (http, next, answered, failed) =
            (http.clone(), next.clone(), answered.clone(), failed.clone());
        async move {
            while started.elapsed() < WINDOW {
                let n = next.get();
                next.set(n + 1);
                let url = format!("http://127.0.0.1:{port}{}", path(n));
                let ok = match http.get(&url).send().await {
                    Ok(mut answer) => {
                        answer.status().is_success() && answer.body().limit(64 << 20).await.is_ok()
                    }
                    Err(_) => false,
                };
                let counter = if ok { &answered } else { &failed };
                counter.set(counter.get() + 1);
            }
        }
    }))
    .await;
    let elapsed = started.elapsed().as_secs_f64();
    // Clock ticks are 1/100 s on Linux (`getconf CLK_TCK`).
    let cpu_us = cpu_ticks(pid)?.saturating_sub(cpu_before) as f64 * 10_000.0;
    let requests = answered.get();
    Ok(ReadRate {
        route,
        requests,
        failed: failed.get(),
        per_second: requests as f64 / elapsed,
        cpu_us: cpu_us / requests.max(1) as f64,
    })
}
