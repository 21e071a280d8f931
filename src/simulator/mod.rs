//! The upstream simulator: zKillboard (R2Z2, RedisQ, API) and ESI on loopback, serving the routes
//! of SPEC §1 the way the real hosts do, for tests, demos and load tests.
//!
//! Run it with `wanderer-kills simulate --port N [--seed S] [--rate-ms M]`, or in-process with
//! [`Simulator::start`], whose [`SimHandle`] publishes kills on demand, injects faults and reads
//! per-route request counts.

mod esi_budget;
mod routes;
pub mod world;

use esi_budget::EsiErrorWindow;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::dev::ServerHandle;
use serde_json::Value;
use tokio::sync::Notify;

pub use world::{SimKill, World};

/// First R2Z2 sequence number the simulator publishes.
pub const FIRST_SEQUENCE: u64 = 96_000_000;

/// Route labels for [`SimHandle::requests`]: the method and route pattern, without `/latest`.
pub mod route {
    pub const R2Z2_SEQUENCE: &str = "GET /ephemeral/sequence.json";
    pub const R2Z2_OBJECT: &str = "GET /ephemeral/{seq}.json";
    pub const REDISQ_LISTEN: &str = "GET /listen.php";
    pub const ZKB_SYSTEM: &str = "GET /api/systemID/{id}/pastSeconds/{seconds}";
    pub const ZKB_KILL: &str = "GET /api/killID/{id}";
    pub const ESI_KILLMAIL: &str = "GET /killmails/{id}/{hash}";
    pub const ESI_NAMES: &str = "POST /universe/names";
    pub const ESI_CHARACTER: &str = "GET /characters/{id}";
    pub const ESI_CORPORATION: &str = "GET /corporations/{id}";
    pub const ESI_ALLIANCE: &str = "GET /alliances/{id}";
    pub const ESI_TYPE: &str = "GET /universe/types/{id}";
    pub const ESI_SYSTEM: &str = "GET /universe/systems/{id}";
}

/// How to start a simulator.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub host: IpAddr,
    /// 0 picks a free port.
    pub port: u16,
    pub seed: u64,
    /// Publish a new kill this often; `None` publishes only on demand.
    pub rate_ms: Option<u64>,
    /// RedisQ packages carry the ESI killmail (`killmail`), as some RedisQ endpoints still do.
    pub redisq_embeds_killmail: bool,
    /// `listen.php` answers with a redirect to the real endpoint, which clients must follow.
    pub redisq_redirects: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            seed: 1,
            rate_ms: None,
            redisq_embeds_killmail: false,
            redisq_redirects: false,
        }
    }
}

/// Faults to inject. Rates are probabilities in `0.0..=1.0`, drawn from the seed's generator.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Share of ESI requests answered with a 5xx.
    pub esi_error_rate: f64,
    /// Delay added to every ESI answer.
    pub esi_latency_ms: u64,
    /// Share of R2Z2 requests answered `503 Service Unavailable`.
    pub r2z2_unavailable_rate: f64,
    /// Share of R2Z2 object requests answered `200` with a body that is not the object.
    pub r2z2_garbage_rate: f64,
    /// Share of R2Z2 requests answered `429 Too Many Requests` with `Retry-After: 1`.
    pub r2z2_rate_limit_rate: f64,
    /// Share of zKillboard API requests answered with a 5xx.
    pub zkb_error_rate: f64,
}

/// A kill the simulator has made public.
#[derive(Clone, Debug)]
pub struct Published {
    pub kill: SimKill,
    /// Its R2Z2 sequence, when it went out on the feed (history-only kills have none).
    pub sequence: Option<u64>,
    pub published_at: i64,
}

/// What an R2Z2 sequence number holds.
#[derive(Clone, Debug)]
enum R2Object {
    Kill(usize),
    /// Null `killmail_id`/`hash`/`esi`, as zKillboard publishes now and then.
    Placeholder,
    /// A re-publication of an older sequence with a new zkb block.
    Update {
        kill: usize,
        of_sequence: u64,
        zkb: Value,
    },
}

struct State {
    world: World,
    next_index: u64,
    kills: Vec<Published>,
    by_id: HashMap<u64, usize>,
    objects: BTreeMap<u64, R2Object>,
    next_sequence: u64,
    /// How far `sequence.json` trails the newest sequence (R2Z2's file lags by up to ~50).
    head_lag: u64,
    /// Per RedisQ queue: the position in `kills` of the next kill to hand out.
    queues: HashMap<String, usize>,
    faults: Faults,
    fault_rng: world::Rng,
    esi_errors: EsiErrorWindow,
    requests: HashMap<String, u64>,
    paths: HashMap<String, u64>,
    /// The headers of the latest request per route label, for asserting what clients send.
    last_headers: HashMap<String, Vec<(String, String)>>,
}

#[derive(Clone)]
struct Shared {
    state: Arc<Mutex<State>>,
    config: Arc<SimConfig>,
    /// Wakes RedisQ long-polls when a kill goes out on the feed.
    published: Arc<Notify>,
}

impl Shared {
    /// Records the next kill of the story after `edit`; on the feed too when `on_feed`.
    fn record(&self, edit: impl FnOnce(&mut SimKill), on_feed: bool) -> Published {
        let mut s = self.lock();
        let now = unix_now();
        let mut kill = s.world.kill(s.next_index, now);
        s.next_index += 1;
        edit(&mut kill);
        let position = s.kills.len();
        let sequence = on_feed.then(|| s.push_object(R2Object::Kill(position)));
        let published = Published {
            kill,
            sequence,
            published_at: now,
        };
        s.by_id.insert(published.kill.killmail_id, position);
        s.kills.push(published.clone());
        drop(s);
        if on_feed {
            self.published.notify_waiters();
        }
        published
    }

    /// See [`SimHandle::put_on_feed`].
    fn put_on_feed(&self, killmail_id: u64) -> Option<u64> {
        let mut s = self.lock();
        let position = *s.by_id.get(&killmail_id)?;
        let sequence = s.push_object(R2Object::Kill(position));
        s.kills[position].sequence = Some(sequence);
        drop(s);
        self.published.notify_waiters();
        Some(sequence)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-written in a way that
        // matters to a simulator; keep serving.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Starts simulators.
pub struct Simulator;

impl Simulator {
    /// Binds and starts serving on the current actix system.
    pub fn start(config: SimConfig) -> std::io::Result<SimHandle> {
        let listener = TcpListener::bind(SocketAddr::new(config.host, config.port))?;
        let address = listener.local_addr()?;
        let shared = Shared {
            state: Arc::new(Mutex::new(State {
                world: World::new(config.seed),
                next_index: 0,
                kills: Vec::new(),
                by_id: HashMap::new(),
                objects: BTreeMap::new(),
                next_sequence: FIRST_SEQUENCE,
                head_lag: 0,
                queues: HashMap::new(),
                faults: Faults::default(),
                fault_rng: world::Rng::new(config.seed, 0xFA_17),
                esi_errors: EsiErrorWindow::new(),
                requests: HashMap::new(),
                paths: HashMap::new(),
                last_headers: HashMap::new(),
            })),
            config: Arc::new(config.clone()),
            published: Arc::new(Notify::new()),
        };
        let server = routes::server(shared.clone(), listener)?;
        let handle = SimHandle {
            shared,
            address,
            server: server.handle(),
        };
        actix_web::rt::spawn(server);
        if let Some(rate) = config.rate_ms.filter(|&ms| ms > 0) {
            let publisher = handle.clone();
            actix_web::rt::spawn(async move {
                let mut tick = actix_web::rt::time::interval(Duration::from_millis(rate));
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let p = publisher.publish();
                    log::info!(
                        "published killmail_id={} system_id={} sequence={}",
                        p.kill.killmail_id,
                        p.kill.system_id(),
                        p.sequence.unwrap_or_default()
                    );
                }
            });
        }
        Ok(handle)
    }
}

/// Controls a running simulator. Cheap to clone.
#[derive(Clone)]
pub struct SimHandle {
    shared: Shared,
    address: SocketAddr,
    server: ServerHandle,
}

impl SimHandle {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// What to set as `R2Z2_BASE_URL`.
    pub fn r2z2_base_url(&self) -> String {
        format!("{}/ephemeral", self.base_url())
    }

    /// What to set as `REDISQ_BASE_URL`.
    pub fn redisq_url(&self) -> String {
        format!("{}/listen.php", self.base_url())
    }

    /// What to set as `ZKB_BASE_URL`.
    pub fn zkb_base_url(&self) -> String {
        format!("{}/api", self.base_url())
    }

    /// What to set as `ESI_BASE_URL` (the simulator also answers under `/latest`).
    pub fn esi_base_url(&self) -> String {
        self.base_url()
    }

    pub fn world(&self) -> World {
        self.shared.lock().world.clone()
    }

    /// Publishes the next kill of the seed's story on R2Z2, RedisQ, the zKillboard API and ESI.
    pub fn publish(&self) -> Published {
        self.publish_with(|_| {})
    }

    /// Publishes the next kill after `edit` has changed it (its system, age, pilots...).
    pub fn publish_with(&self, edit: impl FnOnce(&mut SimKill)) -> Published {
        self.record(edit, true)
    }

    /// Makes a kill known to the zKillboard API and ESI only, as an older kill that is no longer
    /// on the feed (what REST backfill finds).
    pub fn add_history(&self, edit: impl FnOnce(&mut SimKill)) -> Published {
        self.record(edit, false)
    }

    /// Puts a kill already known to the zKillboard API (see [`SimHandle::add_history`]) on the
    /// feed as well, as zKillboard does when the API learns a kill before the feed carries it.
    /// Answers its sequence; `None` for an unknown id.
    pub fn put_on_feed(&self, killmail_id: u64) -> Option<u64> {
        self.shared.put_on_feed(killmail_id)
    }

    fn record(&self, edit: impl FnOnce(&mut SimKill), on_feed: bool) -> Published {
        self.shared.record(edit, on_feed)
    }

    /// Publishes an R2Z2 placeholder (null id, hash and killmail); returns its sequence.
    pub fn publish_placeholder(&self) -> u64 {
        self.shared.lock().push_object(R2Object::Placeholder)
    }

    /// Burns a sequence number that will never be published: it answers 404 while later
    /// sequences exist. Returns it.
    pub fn skip_sequence(&self) -> u64 {
        let mut s = self.shared.lock();
        let skipped = s.next_sequence;
        s.next_sequence += 1;
        skipped
    }

    /// Re-publishes a kill already on the feed with a changed zkb block (`sequence_updated`).
    /// Returns the new sequence, or `None` for a kill the feed never carried.
    pub fn republish(&self, killmail_id: u64, edit_zkb: impl FnOnce(&mut Value)) -> Option<u64> {
        let mut s = self.shared.lock();
        let position = *s.by_id.get(&killmail_id)?;
        let of_sequence = s.kills[position].sequence?;
        edit_zkb(&mut s.kills[position].kill.zkb);
        let zkb = s.kills[position].kill.zkb.clone();
        Some(s.push_object(R2Object::Update {
            kill: position,
            of_sequence,
            zkb,
        }))
    }

    pub fn set_faults(&self, faults: Faults) {
        self.shared.lock().faults = faults;
    }

    /// Makes `sequence.json` trail the newest sequence by `lag`.
    pub fn set_head_lag(&self, lag: u64) {
        self.shared.lock().head_lag = lag;
    }

    /// The newest sequence published (or burnt), if any.
    pub fn newest_sequence(&self) -> Option<u64> {
        let s = self.shared.lock();
        (s.next_sequence > FIRST_SEQUENCE).then(|| s.next_sequence - 1)
    }

    pub fn published(&self) -> Vec<Published> {
        self.shared.lock().kills.clone()
    }

    /// Requests served for a route label (see [`route`]), faults included.
    pub fn requests(&self, route: &str) -> u64 {
        self.shared.lock().requests.get(route).copied().unwrap_or(0)
    }

    /// Requests served for one exact path (without `/latest` and trailing slash).
    pub fn requests_to(&self, path: &str) -> u64 {
        self.shared.lock().paths.get(path).copied().unwrap_or(0)
    }

    pub fn total_requests(&self) -> u64 {
        self.shared.lock().requests.values().sum()
    }

    /// A header of the latest request to a route label, e.g. the `user-agent` a client sent.
    pub fn last_header(&self, route: &str, name: &str) -> Option<String> {
        let s = self.shared.lock();
        s.last_headers
            .get(route)?
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }

    pub async fn stop(&self) {
        self.server.stop(true).await;
    }
}

impl State {
    fn push_object(&mut self, object: R2Object) -> u64 {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.objects.insert(sequence, object);
        sequence
    }

    /// Draws one fault decision from the seed's generator.
    fn fault(&mut self, rate: f64) -> bool {
        rate > 0.0 && self.fault_rng.chance(rate)
    }
}

pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
