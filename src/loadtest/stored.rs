//! `loadtest --stored N`: what a stored kill costs in memory. The simulator publishes N kills
//! (over 1 000 systems, as fast as the service takes them); the service's resident memory is
//! read before and once it holds them all, from `/proc/<pid>/status`, next to the average size
//! of a kill's JSON. Then it reads them back over REST ([`super::reads`]): compact storage must
//! not make reads slow. Last, the service is killed and started again on its data directory:
//! how long until it holds every kill again, and what they cost it then.

use std::time::{Duration, Instant};

use actix_web::rt::time::sleep;
use anyhow::bail;

use super::client::client;
use super::service::OneService;

const SYSTEMS: u64 = 1_000;
const FIRST_SYSTEM: u64 = 30_000_001;

/// What stored kills cost the service.
#[derive(Debug)]
pub struct StoredReport {
    pub kills: usize,
    pub rss_before_kb: u64,
    pub rss_after_kb: u64,
    pub json_bytes: f64,
    pub reads: Vec<super::reads::ReadRate>,
    /// From the restart to every kill held again.
    pub boot: Duration,
    pub rss_restarted_kb: u64,
    pub reads_restarted: Vec<super::reads::ReadRate>,
}

impl StoredReport {
    /// Resident memory per stored kill, in bytes, for `rss_kb` with every kill held.
    fn per_kill(&self, rss_kb: u64) -> f64 {
        rss_kb.saturating_sub(self.rss_before_kb) as f64 * 1024.0 / self.kills.max(1) as f64
    }
}

impl std::fmt::Display for StoredReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let per = self.per_kill(self.rss_after_kb);
        writeln!(f, "kills stored: {}", self.kills)?;
        writeln!(
            f,
            "service RSS: {} KB before, {} KB after: {:.2} KB per stored kill",
            self.rss_before_kb,
            self.rss_after_kb,
            per / 1024.0
        )?;
        write!(
            f,
            "a kill's JSON: {:.2} KB on average ({:.2}x of it in memory)",
            self.json_bytes / 1024.0,
            per / self.json_bytes.max(1.0)
        )?;
        for read in &self.reads {
            write!(f, "\n{read}")?;
        }
        write!(
            f,
            "\nrestarted (killed, started again): every kill held after {:.2} s; RSS {} KB: {:.2} KB per stored kill",
            self.boot.as_secs_f64(),
            self.rss_restarted_kb,
            self.per_kill(self.rss_restarted_kb) / 1024.0
        )?;
        for read in &self.reads_restarted {
            write!(f, "\n{read}")?;
        }
        Ok(())
    }
}

/// Publishes `kills` kills and measures the service `one`, then restarts it and measures again.
pub async fn measure(one: &mut OneService, kills: usize) -> anyhow::Result<StoredReport> {
    let (port, pid) = (one.port, one.pid());
    let http = client();
    sleep(Duration::from_secs(2)).await;
    let rss_before_kb = super::idle::rss_kb(pid)?;
    let mut ids = Vec::with_capacity(kills);
    for n in 0..kills {
        let system = FIRST_SYSTEM + n as u64 % SYSTEMS;
        ids.push(
            one.sim
                .publish_with(|k| k.set_system(system))
                .kill
                .killmail_id,
        );
        if n % 500 == 499 {
            // Let the feed keep up, so the simulator's own memory stays out of the way.
            sleep(Duration::from_millis(5)).await;
        }
    }
    wait_held(&http, port, kills).await?;
    sleep(Duration::from_secs(2)).await;
    let rss_after_kb = super::idle::rss_kb(pid)?;
    let url = format!("http://127.0.0.1:{port}/api/v1/kills/cached/{FIRST_SYSTEM}");
    let mut answer = http
        .get(&url)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
    let body = answer.body().limit(64 << 20).await?;
    let listed: serde_json::Value = serde_json::from_slice(&body)?;
    let sizes: Vec<usize> = listed["data"]["kills"]
        .as_array()
        .map(|k| k.iter().map(|v| v.to_string().len()).collect())
        .unwrap_or_default();
    let json_bytes = sizes.iter().sum::<usize>() as f64 / sizes.len().max(1) as f64;
    let reads = read_back(&ids, port, pid, "").await?;
    let restarted = Instant::now();
    one.restart().await?;
    wait_held(&http, port, kills).await?;
    let boot = restarted.elapsed();
    sleep(Duration::from_secs(2)).await;
    let rss_restarted_kb = super::idle::rss_kb(one.pid())?;
    let reads_restarted = read_back(&ids, port, one.pid(), ", restarted").await?;
    Ok(StoredReport {
        kills,
        rss_before_kb,
        rss_after_kb,
        json_bytes,
        reads,
        boot,
        rss_restarted_kb,
        reads_restarted,
    })
}

/// REST reads over the stored kills `ids`: one killmail by id, then a system's kills; `after`
/// ends each route's label.
async fn read_back(
    ids: &[u64],
    port: u16,
    pid: u32,
    after: &str,
) -> anyhow::Result<Vec<super::reads::ReadRate>> {
    let label = |route: &str| format!("{route}{after}");
    // Spread the reads over the store: a stride prime to the counts visits every kill and system.
    let by_id = super::reads::measure(label("GET /api/v1/killmail/{id}"), port, pid, |n| {
        format!("/api/v1/killmail/{}", ids[(n * 7_919) as usize % ids.len()])
    })
    .await?;
    let systems = (ids.len() as u64).min(SYSTEMS);
    let by_system = super::reads::measure(
        label("GET /api/v1/kills/cached/{system_id}"),
        port,
        pid,
        |n| {
            format!(
                "/api/v1/kills/cached/{}",
                FIRST_SYSTEM + n * 7_919 % systems
            )
        },
    )
    .await?;
    Ok(vec![by_id, by_system])
}

/// Waits until the service on `port` holds `kills` kills (its `store_kills` metric).
async fn wait_held(http: &awc::Client, port: u16, kills: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let url = format!("http://127.0.0.1:{port}/metrics");
        let text = match http.get(&url).send().await {
            Ok(mut answer) => match answer.body().await {
                Ok(body) => String::from_utf8_lossy(&body).into_owned(),
                Err(_) => String::new(),
            },
            Err(_) => String::new(),
        };
        let held = text
            .lines()
            .find_map(|l| l.strip_prefix("wanderer_kills_store_kills "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        if held as usize >= kills {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(300) {
            bail!("the service held {held} of {kills} kills after 5 minutes");
        }
        sleep(Duration::from_millis(100)).await;
    }
}
