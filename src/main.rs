//! The `wanderer-kills` binary: `serve` (the default), `simulate`, and `healthcheck`.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use wanderer_kills::app::{install_crypto_provider, shutdown_signal};
use wanderer_kills::loadtest::{self, Workload};
use wanderer_kills::logging::LogFormat;
use wanderer_kills::simulator::{SimConfig, Simulator};
use wanderer_kills::{Application, Settings};

#[derive(Parser)]
#[command(version, about = "Real-time EVE Online killmail service")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (the default). Configuration: config/*.toml and environment variables.
    Serve,
    /// Serve simulated zKillboard (R2Z2, RedisQ, API) and ESI on loopback, for demos and tests.
    Simulate {
        #[arg(long, default_value_t = 4010)]
        port: u16,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Publish a new kill every this many milliseconds (0 = never).
        #[arg(long, default_value_t = 2000)]
        rate_ms: u64,
        #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
        host: IpAddr,
        /// RedisQ packages embed the ESI killmail.
        #[arg(long)]
        redisq_embed: bool,
    },
    /// Measure kill → client latency: the simulator, this service as a child process and N
    /// Phoenix WebSocket clients, all on this machine.
    Loadtest {
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        #[arg(long, default_value_t = 50)]
        kills: usize,
        /// Milliseconds between two published kills.
        #[arg(long, default_value_t = 200)]
        interval_ms: u64,
        /// Systems the kills are spread over.
        #[arg(long, default_value_t = 10)]
        systems: usize,
        /// Systems each client follows (default: all, so every client gets every kill).
        #[arg(long)]
        systems_per_client: Option<usize>,
        /// Clients connecting at once while the crowd is built.
        #[arg(long, default_value_t = 200)]
        connect_concurrency: usize,
        /// Run the service as a cluster on this NATS server (e.g. nats://127.0.0.1:4222).
        #[arg(long)]
        nats: Option<String>,
        /// Instances of the cluster.
        #[arg(long, default_value_t = 2)]
        instances: usize,
        /// Cluster runs: kill the leader halfway (clients on the followers only).
        #[arg(long)]
        failover: bool,
        /// Instead: join this many idle clients and measure the service's memory per
        /// connection and its CPU while they idle.
        #[arg(long)]
        idle: Option<usize>,
        /// Then run the same workload against a minimal forwarder, and print both and the
        /// ratio: how close the service is to what this machine can do.
        #[arg(long)]
        baseline: bool,
        /// Like --baseline, but the forwarder takes its kills as the service does, long-polling
        /// the simulator's RedisQ, and commits each to SQLite before forwarding it.
        #[arg(long)]
        baseline_feed: bool,
        /// Instead: store this many kills and measure the service's memory per stored kill.
        #[arg(long)]
        stored: Option<usize>,
        /// The service binary to measure (default: this one), to compare builds with one load
        /// tool. It runs in this directory, so run the tool from that build's checkout.
        #[arg(long)]
        service: Option<PathBuf>,
    },
    /// The load test's minimal forwarder (see `loadtest --baseline`).
    #[command(hide = true)]
    BaselineServer {
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Follow this RedisQ (`.../listen.php`) instead of a control connection.
        #[arg(long, requires = "database")]
        redisq: Option<String>,
        /// The SQLite file kills from `--redisq` are committed to.
        #[arg(long)]
        database: Option<PathBuf>,
    },
    /// Exit 0 when the local service's /health answers 200 (for container HEALTHCHECKs).
    Healthcheck {
        /// Defaults to the configured port (PORT, config files).
        #[arg(long)]
        port: Option<u16>,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command.unwrap_or(Command::Serve) {
        Command::Serve => serve(),
        Command::Simulate {
            port,
            seed,
            rate_ms,
            host,
            redisq_embed,
        } => {
            init_logging("info", LogFormat::Text);
            let config = SimConfig {
                host,
                port,
                seed,
                rate_ms: (rate_ms > 0).then_some(rate_ms),
                redisq_embeds_killmail: redisq_embed,
                ..SimConfig::default()
            };
            actix_web::rt::System::new().block_on(async move {
                let sim = Simulator::start(config).context("cannot start the simulator")?;
                log::info!(
                    "simulator listening; point the service at it with R2Z2_BASE_URL={} REDISQ_BASE_URL={} ZKB_BASE_URL={} ESI_BASE_URL={}",
                    sim.r2z2_base_url(),
                    sim.redisq_url(),
                    sim.zkb_base_url(),
                    sim.esi_base_url()
                );
                shutdown_signal().await;
                sim.stop().await;
                Ok(())
            })
        }
        Command::Loadtest {
            clients,
            kills,
            interval_ms,
            systems,
            systems_per_client,
            connect_concurrency,
            nats,
            instances,
            failover,
            idle,
            baseline,
            baseline_feed,
            stored,
            service,
        } => {
            init_logging("warn", LogFormat::Text);
            let service = match service {
                Some(path) => path,
                None => std::env::current_exe().context("cannot find this binary")?,
            };
            if let Some(stored) = stored {
                let run = loadtest::run_stored(stored.max(1), service);
                let report = actix_web::rt::System::new().block_on(run)?;
                println!("{report}");
                return Ok(());
            }
            if let Some(idle) = idle {
                let run = loadtest::run_idle(idle, connect_concurrency, service);
                let report = actix_web::rt::System::new().block_on(run)?;
                println!("{report}");
                return Ok(());
            }
            let workload = Workload {
                clients,
                kills: kills.max(1),
                interval: Duration::from_millis(interval_ms),
                systems: systems.max(1),
                systems_per_client: systems_per_client
                    .unwrap_or(systems)
                    .clamp(1, systems.max(1)),
                connect_concurrency: connect_concurrency.max(1),
                cluster: nats.map(|nats_url| loadtest::ClusterRun {
                    nats_url,
                    instances: instances.max(1),
                    failover,
                }),
            };
            let system = actix_web::rt::System::new();
            let report = system.block_on(loadtest::run(workload.clone(), service.clone()))?;
            println!("{report}");
            if baseline || baseline_feed {
                // The forwarder is this binary's, even when another build is measured.
                let this_binary = std::env::current_exe().context("cannot find this binary")?;
                let run = loadtest::run_baseline(workload, this_binary, baseline_feed);
                let base = system.block_on(run)?;
                let how = if baseline_feed {
                    "minimal forwarder following the same RedisQ, committing each kill"
                } else {
                    "minimal forwarder"
                };
                println!("\n--- baseline ({how}, same clients and kills) ---\n{base}");
                println!("\n{}", loadtest::Ratio(&report, &base));
            }
            Ok(())
        }
        Command::BaselineServer {
            port,
            redisq,
            database,
        } => {
            let feed =
                redisq
                    .zip(database)
                    .map(|(redisq_url, database)| loadtest::baseline_feed::Feed {
                        redisq_url,
                        database,
                    });
            actix_web::rt::System::new().block_on(loadtest::baseline::serve(port, feed))?;
            Ok(())
        }
        Command::Healthcheck { port } => {
            let port = match port {
                Some(port) => port,
                None => Settings::load()?.server.port,
            };
            healthcheck(port)
        }
    }
}

fn serve() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    init_logging(settings.log_filter(), settings.log.format);
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings).await?;
        app.run_until(shutdown_signal()).await?;
        Ok(())
    })
}

fn init_logging(filter: &str, format: LogFormat) {
    wanderer_kills::logging::init(filter, format);
    install_crypto_provider();
}

fn healthcheck(port: u16) -> anyhow::Result<()> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).context("service not reachable")?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    // Liveness, not readiness: an upstream outage must not get a healthy container restarted.
    stream.write_all(b"GET /health/live HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    match &head[9..12] {
        b"200" => Ok(()),
        code => anyhow::bail!("/health/live answered {}", String::from_utf8_lossy(code)),
    }
}
