//! `wanderer-kills loadtest`: kill → client latency with many Phoenix WebSocket clients.
//!
//! One command runs the whole workload on this machine: the upstream simulator in this process,
//! the service as a child process fed by the simulator's RedisQ long-poll (so a kill is handed
//! over the moment it is published), and N V2 Phoenix clients that join `killmails:lobby`.
//! Latency is measured per delivered frame, from the simulator publishing the kill to the client
//! having read its `killmail_update` frame, all on this process's clock. Client-side work is
//! kept minimal (the kill id is read from the frame without parsing the JSON), but it shares the
//! machine with the service, so the figures are an upper bound for the service alone.
//!
//! With `--nats`, the service runs as a cluster of instances on that NATS server (its own
//! cluster name, deleted afterwards): clients spread over the instances and the report gives the
//! latency on each, leader and followers. With `--failover` as well, clients join the followers
//! only and the leader is killed (SIGKILL) halfway: the report adds the time from the kill to the
//! first delivery of a kill published after it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use actix_web::rt::time::sleep;
use anyhow::{bail, Context};

use crate::simulator::{SimConfig, SimHandle, Simulator};

pub mod baseline;
pub mod baseline_feed;
mod client;
mod cluster;
pub mod idle;
pub mod reads;
mod report;
mod service;
pub mod stored;
mod target;

use client::{client, client_task};
pub use report::{Percentiles, Ratio, Report};
use service::{free_port, spawn_service, wait_ready, OneService, ServiceProcess};
use target::Target;

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
    /// Run the service as a cluster on NATS.
    pub cluster: Option<ClusterRun>,
}

/// A cluster to run the service as.
#[derive(Clone, Debug)]
pub struct ClusterRun {
    pub nats_url: String,
    pub instances: usize,
    /// Kill the leader halfway through the measured kills.
    pub failover: bool,
}

const WARM_UP_KILLS: usize = 3;
const FIRST_SYSTEM: u64 = 30_000_001;

/// Receipts: (killmail id, when the frame was read, the instance the client is on).
type Receipts = Rc<RefCell<Vec<(u64, Instant, usize)>>>;

/// A simulator on a free port, its RedisQ answers holding the killmail or not.
fn simulator(embeds: bool) -> anyhow::Result<SimHandle> {
    Simulator::start(SimConfig {
        redisq_embeds_killmail: embeds,
        ..SimConfig::default()
    })
    .context("cannot start the simulator")
}

/// `loadtest --idle N`: starts the service and measures what `clients` idle clients cost it.
pub async fn run_idle(
    clients: usize,
    concurrency: usize,
    service: PathBuf,
) -> anyhow::Result<idle::IdleReport> {
    let one = OneService::start(service, simulator(false)?, clients).await?;
    let result = idle::measure(clients, concurrency, one.port, one.pid()).await;
    one.stop().await;
    result
}

/// `loadtest --stored N`: starts the service and measures what `kills` stored kills cost it,
/// then what they cost once it is restarted.
pub async fn run_stored(kills: usize, service: PathBuf) -> anyhow::Result<stored::StoredReport> {
    let mut one = OneService::start(service, simulator(true)?, 1).await?;
    let result = stored::measure(&mut one, kills).await;
    one.stop().await;
    result
}

/// Runs the workload against the baseline forwarder (`this_binary baseline-server`: the load
/// tool's own, whatever build it measured): kills handed to it directly, or, with `feed`,
/// through the simulator's RedisQ as the service gets them, each committed before it is
/// forwarded.
pub async fn run_baseline(
    workload: Workload,
    this_binary: PathBuf,
    feed: bool,
) -> anyhow::Result<Report> {
    let port = free_port()?;
    let mut command = std::process::Command::new(&this_binary);
    command.args(["baseline-server", "--port", &port.to_string()]);
    let sim = if feed {
        let sim = simulator(true)?;
        let data_dir = std::env::temp_dir().join(format!("wanderer-kills-baseline-{port}"));
        std::fs::create_dir_all(&data_dir)?;
        command
            .args(["--redisq", &sim.redisq_url(), "--database"])
            .arg(data_dir.join("kills.db"));
        Some((sim, data_dir))
    } else {
        None
    };
    let child = command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("cannot start the baseline server")?;
    let mut children = [ServiceProcess(child)];
    let workload = Workload {
        cluster: None,
        ..workload
    };
    // Run to the end, so the simulator and the database go on an error too.
    let result = async {
        wait_ready(&client(), port, "/ping").await?;
        match &sim {
            Some((sim, _)) => {
                drive(&workload, &mut Target::Service(sim), &[port], &mut children).await
            }
            None => {
                let mut control = std::net::TcpStream::connect(("127.0.0.1", port))?;
                control.set_nodelay(true)?;
                std::io::Write::write_all(&mut control, b"CONTROL\n")?;
                let mut target = Target::Baseline {
                    control,
                    next_id: 0,
                };
                drive(&workload, &mut target, &[port], &mut children).await
            }
        }
    }
    .await;
    children[0].stop();
    if let Some((sim, data_dir)) = sim {
        sim.stop().await;
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    result
}

/// Runs the workload against `service` (this binary) and reports.
pub async fn run(workload: Workload, service: PathBuf) -> anyhow::Result<Report> {
    let sim = simulator(true)?;
    let instances = workload.cluster.as_ref().map_or(1, |c| c.instances.max(1));
    let ports = (0..instances)
        .map(|_| free_port())
        .collect::<anyhow::Result<Vec<u16>>>()?;
    let name = format!("loadtest{}", ports[0]);
    let mut children = Vec::with_capacity(instances);
    let mut dirs = Vec::with_capacity(instances);
    for port in &ports {
        let data_dir = std::env::temp_dir().join(format!("wanderer-kills-loadtest-{port}"));
        let extra = match &workload.cluster {
            Some(run) => cluster::member_env(&run.nats_url, &name),
            None => Vec::new(),
        };
        let child = spawn_service(&service, &sim, *port, &data_dir, workload.clients, &extra)?;
        children.push(ServiceProcess(child));
        dirs.push(data_dir);
    }
    let result = drive(&workload, &mut Target::Service(&sim), &ports, &mut children).await;
    for child in &mut children {
        child.stop();
    }
    for dir in dirs {
        let _ = std::fs::remove_dir_all(&dir);
    }
    if let Some(run) = &workload.cluster {
        cluster::forget(&run.nats_url, &name).await;
    }
    sim.stop().await;
    result
}

async fn drive(
    workload: &Workload,
    target: &mut Target<'_>,
    ports: &[u16],
    children: &mut [ServiceProcess],
) -> anyhow::Result<Report> {
    let http = client();
    let ready_path = match workload.cluster {
        Some(_) => "/health/ready",
        None => "/ping",
    };
    for port in ports {
        wait_ready(&http, *port, ready_path).await?;
    }
    let roles = match workload.cluster {
        Some(_) => cluster::roles_once_led(&http, ports).await?,
        None => vec!["single".to_owned()],
    };
    let failover = workload.cluster.as_ref().is_some_and(|c| c.failover);
    let leader = roles.iter().position(|r| r == "leader");
    // Clients go round the instances; in a failover run, round the followers only.
    let serving: Vec<usize> = (0..ports.len())
        .filter(|i| !(failover && Some(*i) == leader))
        .collect();
    let systems: Vec<u64> = (0..workload.systems as u64)
        .map(|n| FIRST_SYSTEM + n)
        .collect();

    // Warm-up: the first kills fill the service's static caches (types, systems).
    for n in 0..WARM_UP_KILLS {
        target.publish(systems[n % systems.len()])?;
    }
    sleep(Duration::from_millis(500)).await;

    // The crowd.
    let receipts: Receipts = Rc::default();
    let ready = Rc::new(RefCell::new(0usize));
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
            let instance = serving[i % serving.len()];
            let url = format!(
                "ws://127.0.0.1:{}/socket/websocket?vsn=2.0.0",
                ports[instance]
            );
            handles.push(actix_web::rt::spawn(client_task(
                http.clone(),
                url,
                join.to_string(),
                instance,
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
    let mut killed_at = None;
    let pids: Vec<u32> = children.iter().map(|c| c.0.id()).collect();
    let cpu_before: u64 = pids.iter().map(|p| idle::cpu_ticks(*p).unwrap_or(0)).sum();
    for n in 0..workload.kills {
        if let (true, Some(leader), true) = (failover, leader, n == workload.kills / 2) {
            children[leader].stop();
            killed_at = Some(Instant::now());
        }
        let system = n % systems.len();
        let id = target.publish(systems[system])?;
        published.insert(id, Instant::now());
        expected += followers[system];
        sleep(workload.interval).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while measured(&receipts, &published) < expected && Instant::now() < deadline {
        sleep(Duration::from_millis(20)).await;
    }
    let cpu_after: u64 = pids.iter().map(|p| idle::cpu_ticks(*p).unwrap_or(0)).sum();
    for handle in handles {
        handle.abort();
    }

    let receipts = receipts.borrow();
    let mut latencies = Vec::with_capacity(expected);
    let mut by_instance: Vec<Vec<Duration>> = vec![Vec::new(); ports.len()];
    let mut first: HashMap<u64, Duration> = HashMap::new();
    let mut after_kill: Option<Duration> = None;
    for (id, at, instance) in receipts.iter() {
        let Some(sent) = published.get(id) else {
            continue;
        };
        let latency = at.saturating_duration_since(*sent);
        latencies.push(latency);
        by_instance[*instance].push(latency);
        first
            .entry(*id)
            .and_modify(|d| *d = (*d).min(latency))
            .or_insert(latency);
        if let Some(killed) = killed_at.filter(|k| sent > k) {
            let taken = at.saturating_duration_since(killed);
            after_kill = Some(after_kill.map_or(taken, |t| t.min(taken)));
        }
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
        per_instance: match workload.cluster {
            Some(_) => roles
                .into_iter()
                .zip(by_instance)
                .map(|(role, samples)| (role, samples.len(), Percentiles::of(samples)))
                .collect(),
            None => Vec::new(),
        },
        failover: after_kill,
        // Clock ticks are 1/100 s on Linux.
        cpu_ms: cpu_after.saturating_sub(cpu_before) as f64 * 10.0,
    })
}

fn measured(receipts: &Receipts, published: &HashMap<u64, Instant>) -> usize {
    receipts
        .borrow()
        .iter()
        .filter(|(id, _, _)| published.contains_key(id))
        .count()
}

/// A lower bound on the clients that got every kill meant for them: receipts carry no client,
/// but each client receives a kill at most once, so a shortfall touches at most that many.
fn complete_clients(delivered: usize, expected: usize, clients: usize) -> usize {
    clients.saturating_sub(expected.saturating_sub(delivered))
}

#[cfg(test)]
mod tests {
    use super::client::kill_id;
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
