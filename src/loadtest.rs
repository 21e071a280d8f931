//! `wanderer-kills loadtest`: kill → client latency with many Phoenix WebSocket clients.
//!
//! One command runs the whole workload on this machine: the upstream simulator in this process,
//! the service as a child process fed by the simulator's RedisQ long-poll (so a kill is handed
//! over the moment it is published), and N V2 Phoenix clients that join `killmails:lobby`.
//! Latency is measured per delivered frame, from the simulator publishing the kill to the client
//! having read its `killmail_update` frame, all on this process's clock. Client-side work is
//! kept minimal (the kill id is read from the frame without parsing the JSON), but it shares the
//! machine with the service, so the figures are an upper bound for the service alone.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use actix_web::rt::time::{sleep, timeout};
use anyhow::{bail, Context};
use awc::ws::{Frame, Message};
use futures_util::{SinkExt, StreamExt};

use crate::simulator::{SimConfig, SimHandle, Simulator};

/// The workload.
#[derive(Clone, Debug)]
pub struct Workload {
    pub clients: usize,
    /// Kills measured (after the warm-up kills).
    pub kills: usize,
    /// Time between two published kills.
    pub interval: Duration,
    /// Systems the kills are spread over, in turn.
    pub systems: usize,
    /// Systems each client subscribes to: client `i` follows `systems_per_client` consecutive
    /// systems starting at `i * systems_per_client` (wrapping). Equal to `systems`, every client
    /// receives every kill (the worst case for fan-out); smaller, a kill reaches
    /// `systems_per_client / systems` of the clients.
    pub systems_per_client: usize,
    /// Clients connecting at the same time while the crowd is built.
    pub connect_concurrency: usize,
}

/// What the run measured.
#[derive(Debug)]
pub struct Report {
    pub workload: Workload,
    pub clients_ready: usize,
    pub expected: usize,
    pub delivered: usize,
    /// Clients that received every measured kill.
    pub clients_complete: usize,
    pub connect_time: Duration,
    /// Over every delivered frame.
    pub latency: Percentiles,
    /// Over each kill's first delivery (the pipeline without the fan-out).
    pub first_delivery: Percentiles,
}

#[derive(Debug, Default)]
pub struct Percentiles {
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Percentiles {
    fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        let at = |q: f64| {
            let i = ((samples.len() as f64 * q).ceil() as usize).saturating_sub(1);
            samples.get(i).copied().unwrap_or_default()
        };
        Self {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: samples.last().copied().unwrap_or_default(),
        }
    }
}

impl std::fmt::Display for Percentiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        write!(
            f,
            "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms(self.p50),
            ms(self.p90),
            ms(self.p99),
            ms(self.max)
        )
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let w = &self.workload;
        writeln!(
            f,
            "workload: {} clients following {} of {} systems each, {} kills every {} ms",
            w.clients,
            w.systems_per_client,
            w.systems,
            w.kills,
            w.interval.as_millis(),
        )?;
        writeln!(
            f,
            "clients joined: {} of {} in {:.1} s",
            self.clients_ready,
            w.clients,
            self.connect_time.as_secs_f64()
        )?;
        writeln!(
            f,
            "frames delivered: {} of {} ({} clients got every kill meant for them)",
            self.delivered, self.expected, self.clients_complete
        )?;
        writeln!(f, "kill → client, every frame: {}", self.latency)?;
        write!(f, "kill → first client:       {}", self.first_delivery)
    }
}

const WARM_UP_KILLS: usize = 3;
const CLIENT_HEARTBEAT: Duration = Duration::from_secs(30);
const FIRST_SYSTEM: u64 = 30_000_001;

/// Receipts: (killmail id, when the frame was read).
type Receipts = Rc<RefCell<Vec<(u64, Instant)>>>;

/// Runs the workload against `service` (this binary) and reports.
pub async fn run(workload: Workload, service: PathBuf) -> anyhow::Result<Report> {
    let sim = Simulator::start(SimConfig {
        port: 0,
        redisq_embeds_killmail: true,
        ..SimConfig::default()
    })
    .context("cannot start the simulator")?;
    let port = free_port()?;
    let data_dir = std::env::temp_dir().join(format!("wanderer-kills-loadtest-{}", port));
    let mut child = ServiceProcess(spawn_service(
        &service,
        &sim,
        port,
        &data_dir,
        workload.clients,
    )?);
    let result = drive(&workload, &sim, port).await;
    child.stop();
    let _ = std::fs::remove_dir_all(&data_dir);
    sim.stop().await;
    result
}

async fn drive(workload: &Workload, sim: &SimHandle, port: u16) -> anyhow::Result<Report> {
    let http = client();
    wait_ready(&http, port).await?;
    let systems: Vec<u64> = (0..workload.systems as u64)
        .map(|n| FIRST_SYSTEM + n)
        .collect();

    // Warm-up: the first kills fill the service's static caches (types, systems).
    for n in 0..WARM_UP_KILLS {
        sim.publish_with(|k| k.set_system(systems[n % systems.len()]));
    }
    sleep(Duration::from_millis(500)).await;

    // The crowd.
    let receipts: Receipts = Rc::default();
    let ready = Rc::new(RefCell::new(0usize));
    let url = format!("ws://127.0.0.1:{port}/socket/websocket?vsn=2.0.0");
    let started = Instant::now();
    let mut handles = Vec::with_capacity(workload.clients);
    let mut followers = vec![0usize; systems.len()];
    for batch in (0..workload.clients)
        .collect::<Vec<_>>()
        .chunks(workload.connect_concurrency)
    {
        let target = *ready.borrow() + batch.len();
        for &i in batch {
            let followed: Vec<u64> = (0..workload.systems_per_client)
                .map(|j| (i * workload.systems_per_client + j) % systems.len())
                .inspect(|&s| followers[s] += 1)
                .map(|s| systems[s])
                .collect();
            let join = serde_json::json!([1, 1, "killmails:lobby", "phx_join",
                {"client_identifier": "loadtest", "systems": followed}]);
            handles.push(actix_web::rt::spawn(client_task(
                http.clone(),
                url.clone(),
                join.to_string(),
                receipts.clone(),
                ready.clone(),
            )));
        }
        let batch_started = Instant::now();
        while *ready.borrow() < target && batch_started.elapsed() < Duration::from_secs(30) {
            sleep(Duration::from_millis(5)).await;
        }
    }
    let connect_time = started.elapsed();
    let clients_ready = *ready.borrow();
    if clients_ready == 0 {
        bail!("no client could join");
    }

    // The measured kills.
    let mut published = HashMap::with_capacity(workload.kills);
    let mut expected = 0;
    for n in 0..workload.kills {
        let system = n % systems.len();
        let kill = sim.publish_with(|k| k.set_system(systems[system]));
        published.insert(kill.kill.killmail_id, Instant::now());
        expected += followers[system];
        sleep(workload.interval).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while measured(&receipts, &published) < expected && Instant::now() < deadline {
        sleep(Duration::from_millis(20)).await;
    }
    for handle in handles {
        handle.abort();
    }

    let receipts = receipts.borrow();
    let mut latencies = Vec::with_capacity(expected);
    let mut first: HashMap<u64, Duration> = HashMap::new();
    for (id, at) in receipts.iter() {
        let Some(sent) = published.get(id) else {
            continue;
        };
        let latency = at.saturating_duration_since(*sent);
        latencies.push(latency);
        first
            .entry(*id)
            .and_modify(|d| *d = (*d).min(latency))
            .or_insert(latency);
    }
    let delivered = latencies.len();
    Ok(Report {
        workload: workload.clone(),
        clients_ready,
        expected,
        delivered,
        clients_complete: complete_clients(delivered, expected, clients_ready),
        connect_time,
        latency: Percentiles::of(latencies),
        first_delivery: Percentiles::of(first.into_values().collect()),
    })
}

fn measured(receipts: &Receipts, published: &HashMap<u64, Instant>) -> usize {
    receipts
        .borrow()
        .iter()
        .filter(|(id, _)| published.contains_key(id))
        .count()
}

/// A lower bound on the clients that got every kill meant for them: receipts carry no client,
/// but each client receives a kill at most once, so a shortfall touches at most that many.
fn complete_clients(delivered: usize, expected: usize, clients: usize) -> usize {
    clients.saturating_sub(expected.saturating_sub(delivered))
}

/// One Phoenix client: join, count itself ready at `preload_complete`, then record every
/// `killmail_update` it reads, sending a heartbeat every 30 s as the real apps do.
async fn client_task(
    http: awc::Client,
    url: String,
    join: String,
    receipts: Receipts,
    ready: Rc<RefCell<usize>>,
) {
    let Ok((_, mut socket)) = http.ws(url).connect().await else {
        return;
    };
    if socket.send(Message::Text(join.into())).await.is_err() {
        return;
    }
    let mut heartbeat = actix_web::rt::time::interval(CLIENT_HEARTBEAT);
    heartbeat.tick().await;
    let mut beats = 0u64;
    loop {
        tokio::select! {
            frame = socket.next() => match frame {
                Some(Ok(Frame::Text(bytes))) => {
                    if let Some(id) = kill_id(&bytes) {
                        receipts.borrow_mut().push((id, Instant::now()));
                    } else if contains(&bytes, b"\"preload_complete\"") {
                        *ready.borrow_mut() += 1;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return,
            },
            _ = heartbeat.tick() => {
                beats += 1;
                let beat = format!(r#"[null,"hb{beats}","phoenix","heartbeat",{{}}]"#);
                if socket.send(Message::Text(beat.into())).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// The first `killmail_id` of a `killmail_update` frame, read without parsing the JSON.
fn kill_id(frame: &[u8]) -> Option<u64> {
    if !contains(frame, b"\"killmail_update\"") {
        return None;
    }
    let key = b"\"killmail_id\":";
    let at = frame.windows(key.len()).position(|w| w == key)? + key.len();
    let digits: &[u8] = &frame[at..];
    let end = digits
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn client() -> awc::Client {
    awc::Client::builder()
        // WebSocket connections hold their connector slot for life: no pool limit.
        .connector(awc::Connector::new().limit(0))
        .timeout(Duration::from_secs(30))
        .finish()
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn spawn_service(
    service: &PathBuf,
    sim: &SimHandle,
    port: u16,
    data_dir: &std::path::Path,
    clients: usize,
) -> anyhow::Result<Child> {
    Command::new(service)
        .arg("serve")
        .env("APP_ENVIRONMENT", "production")
        .env("RUST_LOG", "warn")
        .env("PORT", port.to_string())
        .env("BIND_IP", "127.0.0.1")
        // Every client connects from this machine's one address.
        .env("WS_MAX_CONNECTIONS", (clients + 100).to_string())
        .env("WS_MAX_CONNECTIONS_PER_IP", (clients + 100).to_string())
        .env("DATA_DIR", data_dir)
        .env("KILL_FEED", "redisq")
        .env("REDISQ_BASE_URL", sim.redisq_url())
        .env("R2Z2_BASE_URL", sim.r2z2_base_url())
        .env("ZKB_BASE_URL", sim.zkb_base_url())
        .env("ESI_BASE_URL", sim.esi_base_url())
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start the service {}", service.display()))
}

/// The service child, stopped on drop too (an early error must not leave it running).
struct ServiceProcess(Child);

impl ServiceProcess {
    fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn wait_ready(http: &awc::Client, port: u16) -> anyhow::Result<()> {
    let url = format!("http://127.0.0.1:{port}/ping");
    for _ in 0..200 {
        if let Ok(Ok(response)) = timeout(Duration::from_secs(1), http.get(&url).send()).await {
            if response.status().is_success() {
                return Ok(());
            }
        }
        sleep(Duration::from_millis(50)).await;
    }
    bail!("the service did not answer {url} within 10 s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kill_id_is_read_from_a_killmail_update_frame_only() {
        let update = br#"[null,null,"killmails:lobby","killmail_update",{"system_id":1,"killmails":[{"killmail_id":131000042,"kill_time":"x"}],"preload":false}]"#;
        let count =
            br#"[null,null,"killmails:lobby","kill_count_update",{"system_id":1,"count":4}]"#;

        assert_eq!(kill_id(update), Some(131000042));
        assert_eq!(kill_id(count), None);
    }

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let samples = (1..=100).map(Duration::from_millis).collect();

        let p = Percentiles::of(samples);

        assert_eq!(p.p50, Duration::from_millis(50));
        assert_eq!(p.p99, Duration::from_millis(99));
        assert_eq!(p.max, Duration::from_millis(100));
    }
}
