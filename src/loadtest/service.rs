//! The service under test, as child processes of the load test.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use actix_web::rt::time::{sleep, timeout};
use anyhow::{bail, Context};

use crate::simulator::SimHandle;

pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub fn spawn_service(
    service: &PathBuf,
    sim: &SimHandle,
    port: u16,
    data_dir: &Path,
    clients: usize,
    extra: &[(String, String)],
) -> anyhow::Result<Child> {
    Command::new(service)
        .arg("serve")
        .env("APP_ENVIRONMENT", "production")
        .env("RUST_LOG", "warn")
        .env("PORT", port.to_string())
        .env("BIND_IP", "127.0.0.1")
        // The load tests measure the service, not its per-address limit (all clients share one).
        .env("RATE_LIMIT_PER_MINUTE", "0")
        // Every client connects from this machine's one address.
        .env("WS_MAX_CONNECTIONS", (clients + 100).to_string())
        .env("WS_MAX_CONNECTIONS_PER_IP", (clients + 100).to_string())
        .env("DATA_DIR", data_dir)
        .env("KILL_FEED", "redisq")
        .env("REDISQ_BASE_URL", sim.redisq_url())
        .env("R2Z2_BASE_URL", sim.r2z2_base_url())
        .env("ZKB_BASE_URL", sim.zkb_base_url())
        .env("ESI_BASE_URL", sim.esi_base_url())
        .envs(extra.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start the service {}", service.display()))
}

/// The service child, stopped on drop too (an early error must not leave it running).
pub struct ServiceProcess(pub Child);

impl ServiceProcess {
    pub fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One service following its own simulator, in a data directory of its own: what `--idle` and
/// `--stored` measure. [`OneService::stop`] removes the directory.
pub struct OneService {
    pub sim: SimHandle,
    pub port: u16,
    binary: PathBuf,
    data_dir: PathBuf,
    clients: usize,
    child: ServiceProcess,
}

impl OneService {
    /// Starts `binary` following `sim`, ready for `clients` clients; answers once it answers.
    pub async fn start(binary: PathBuf, sim: SimHandle, clients: usize) -> anyhow::Result<Self> {
        let port = free_port()?;
        let data_dir = std::env::temp_dir().join(format!("wanderer-kills-loadtest-{port}"));
        let child = ServiceProcess(spawn_service(&binary, &sim, port, &data_dir, clients, &[])?);
        let service = Self {
            sim,
            port,
            binary,
            data_dir,
            clients,
            child,
        };
        match wait_ready(&super::client::client(), port, "/ping").await {
            Ok(()) => Ok(service),
            Err(e) => {
                service.stop().await;
                Err(e)
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// Kills the service (SIGKILL, as a crash or the out-of-memory killer would) and starts it
    /// again on the same data directory and port; answers once it answers.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.child.stop();
        self.child.0 = spawn_service(
            &self.binary,
            &self.sim,
            self.port,
            &self.data_dir,
            self.clients,
            &[],
        )?;
        wait_ready(&super::client::client(), self.port, "/ping").await
    }

    /// Stops the service and the simulator, and removes the data directory.
    pub async fn stop(mut self) {
        self.child.stop();
        let _ = std::fs::remove_dir_all(&self.data_dir);
        self.sim.stop().await;
    }
}

/// Waits until `path` answers 200 (`/ping`; `/health/ready` for a cluster member).
pub async fn wait_ready(http: &awc::Client, port: u16, path: &str) -> anyhow::Result<()> {
    let url = format!("http://127.0.0.1:{port}{path}");
    for _ in 0..400 {
        if let Ok(Ok(response)) = timeout(Duration::from_secs(1), http.get(&url).send()).await {
            if response.status().is_success() {
                return Ok(());
            }
        }
        sleep(Duration::from_millis(50)).await;
    }
    bail!("the service did not answer {url} within 20 s")
}
