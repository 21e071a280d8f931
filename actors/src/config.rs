//! Settings the engine reads: upstream endpoints, feed behaviour, caches, storage, enrichment.
//!
//! Loaded and layered by the service (`config/*.toml`, then environment variables); the engine only
//! consumes them. Durations are milliseconds unless a field name says otherwise.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Everything the engine needs to start.
#[derive(Clone, Debug, Deserialize)]
pub struct EngineSettings {
    pub upstream: UpstreamSettings,
    pub feed: FeedSettings,
    pub esi: EsiSettings,
    pub zkb: ZkbSettings,
    pub cache: CacheSettings,
    pub storage: StorageSettings,
    pub enrich: EnrichSettings,
    pub monitor: MonitorSettings,
    pub webhooks: WebhookSettings,
    /// Rules per subscription and values per rule, on every channel.
    pub filters: crate::model::FilterLimits,
    /// The RedisQ relay's queues.
    pub relay: crate::relay::RelaySettings,
    /// Cluster mode on NATS JetStream; off unless `nats_url` is set.
    #[serde(default)]
    pub cluster: ClusterSettings,
}

/// Cluster mode (`[cluster]`, `NATS_URL` and friends): several instances share one kill log.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSettings {
    /// `nats://host:4222` (or `tls://`); several separated by commas. Empty = single node.
    pub nats_url: String,
    /// Names the cluster's stream and buckets, so clusters can share one NATS server.
    pub name: String,
    /// Kills are published on `<subject_prefix>.<system_id>`.
    pub subject_prefix: String,
    /// How long the feed's lease lives without renewal: a dead leader is replaced after it.
    pub lease_ms: u64,
    pub user: String,
    pub password: String,
    pub token: String,
    /// A PEM file of the CA that signed the NATS server's certificate; implies TLS.
    pub ca_file: String,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        Self {
            nats_url: String::new(),
            name: "wanderer-kills".into(),
            subject_prefix: "killmails".into(),
            lease_ms: 5000,
            user: String::new(),
            password: String::new(),
            token: String::new(),
            ca_file: String::new(),
        }
    }
}

impl ClusterSettings {
    pub fn enabled(&self) -> bool {
        !self.nats_url.trim().is_empty()
    }
}

/// How every upstream HTTP call identifies itself and how long it may take.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSettings {
    /// Sent on every upstream call; zKillboard and CCP ask for contact details in it.
    pub user_agent: String,
    pub connect_timeout_ms: u64,
    pub request_timeout_ms: u64,
}

/// Which kill feed to follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedSource {
    R2z2,
    Redisq,
    /// No feed: the service serves what it has stored and what REST backfill fetches.
    Off,
}

impl FeedSource {
    pub const NAMES: &'static str = "r2z2, redisq, off";

    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "r2z2" => Some(Self::R2z2),
            "redisq" => Some(Self::Redisq),
            "off" | "none" | "disabled" => Some(Self::Off),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::R2z2 => "r2z2",
            Self::Redisq => "redisq",
            Self::Off => "off",
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedSettings {
    pub source: FeedSource,
    /// R2Z2 base, ending before `sequence.json`.
    pub r2z2_base_url: String,
    /// Where to start with no saved cursor; `None` starts at the published head.
    #[serde(default)]
    pub r2z2_start_sequence: Option<u64>,
    /// Wait before asking again for a sequence that is not published yet (404).
    pub r2z2_not_found_wait_ms: u64,
    /// Pause between two objects, which keeps us far below zKillboard's request limit.
    pub r2z2_object_pause_ms: u64,
    /// A sequence still missing after this long, while the head is past it, is skipped and counted.
    pub r2z2_stuck_skip_ms: u64,
    /// How often the published head (`sequence.json`) is read again while following, so the
    /// head and the lag behind it stay current.
    pub r2z2_head_refresh_ms: u64,
    /// The full `listen.php` URL of a RedisQ-compatible endpoint.
    pub redisq_url: String,
    /// Stable queue id so a restart resumes the server-side queue; empty = derived and saved once.
    #[serde(default)]
    pub redisq_queue_id: String,
    /// Seconds RedisQ may hold a poll open (1..=10).
    pub redisq_ttw: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EsiSettings {
    /// May end in `/latest`, as existing deployments set it.
    pub base_url: String,
    /// Sent as `X-Compatibility-Date`, pinning ESI's behaviour.
    pub compatibility_date: String,
    pub max_retries: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZkbSettings {
    pub base_url: String,
    /// Minimum spacing between two zKillboard API calls.
    pub min_interval_ms: u64,
    /// A REST backfill answers from the store after this long, whatever upstream does.
    pub backfill_deadline_ms: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSettings {
    /// Killmails fetched on demand (not from the feed) are kept this long (`CACHE_KILLMAIL_TTL`).
    pub killmail_ttl_s: u64,
    /// A system backfilled from zKillboard is not backfilled again for this long (`CACHE_SYSTEM_TTL`).
    pub system_ttl_s: u64,
    /// Character names and other ESI lookups are kept this long (`CACHE_ESI_TTL`).
    pub esi_ttl_s: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    pub data_dir: PathBuf,
    /// Kills older than this are neither stored nor delivered.
    pub retention_hours: u64,
    /// Newest kills kept per system in memory.
    pub max_kills_per_system: usize,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Whether a callback URL may name loopback or private addresses (refused at creation).
    pub allow_private_targets: bool,
    /// One delivery attempt may take this long (connect, send, answer).
    pub timeout_ms: u64,
    /// Attempts per delivery before it is counted as failed.
    pub max_attempts: u32,
    /// The first retry waits about this long; each later one twice as long (with jitter).
    pub retry_base_ms: u64,
    /// No retry waits longer than this, whatever `Retry-After` says.
    pub retry_max_ms: u64,
    /// Kills waiting per endpoint; more are dropped and counted.
    pub max_queued: usize,
    /// Kills of one system sent in one POST when they queued up behind a slow delivery.
    pub max_batch: usize,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrichSettings {
    /// After this long a kill is delivered with the names known so far.
    pub deadline_ms: u64,
    /// Kills enriched at the same time.
    pub concurrency: usize,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorSettings {
    /// Period of the status report in the log.
    pub status_report_interval_ms: u64,
}

impl StorageSettings {
    pub fn retention(&self) -> Duration {
        Duration::from_secs(self.retention_hours.saturating_mul(3600))
    }
}

impl MonitorSettings {
    pub fn status_report_interval(&self) -> Duration {
        Duration::from_millis(self.status_report_interval_ms)
    }
}
