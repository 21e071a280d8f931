//! Configuration: `config/default.toml`, then `config/<APP_ENVIRONMENT>.toml`, then environment
//! variables (SPEC §9). An invalid value stops startup with a message that names the file key or
//! the environment variable it came from.
//!
//! The loader takes the environment as a lookup function, so tests layer settings without
//! touching the process environment.

mod env;
pub use env::names as variable_names;
mod files;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use actors::config::EngineSettings;
use serde::Deserialize;

/// The environment used when `APP_ENVIRONMENT` is unset: `default.toml` alone, the
/// production-like defaults (private webhook targets refused, `info` logs, data in `./data`).
/// Local development asks for `development` (as `make demo` does).
pub const DEFAULT_ENVIRONMENT: &str = "default";

/// Every setting of the service.
#[derive(Clone, Debug, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub websocket: WebSocketSettings,
    pub sse: SseSettings,
    pub log: LogSettings,
    #[serde(flatten)]
    pub engine: EngineSettings,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: IpAddr,
    /// 0 picks a free port (tests); the bound port is read back by `Application::build`.
    pub port: u16,
    /// Public host (and port) for URLs the service advertises; empty = the request's `Host`.
    pub origin_host: String,
    pub workers: usize,
    pub shutdown_timeout_s: u64,
    pub max_body_bytes: usize,
    /// A request body must arrive in full within this long after the headers (else 408).
    pub body_timeout_ms: u64,
    /// When set, creating and deleting subscriptions needs `Authorization: Bearer <token>`.
    #[serde(default)]
    pub api_token: String,
    /// Reverse proxies (addresses, CIDR ranges; comma-separated) whose `X-Forwarded-For` names
    /// the client. Empty: the TCP peer is the client.
    #[serde(default)]
    pub trusted_proxies: String,
    /// REST requests per minute and client address (0 = no limit); bursts up to the same number.
    pub rate_limit_per_minute: u32,
    /// A connection whose peer has not acknowledged sent data for this long is dropped by the
    /// kernel (`TCP_USER_TIMEOUT`): a client that stopped reading frees its socket. 0 = off.
    pub tcp_user_timeout_s: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSocketSettings {
    pub idle_timeout_ms: u64,
    pub quiet_keepalive_ms: u64,
    pub max_frame_bytes: usize,
    pub max_channels: usize,
    /// Live kills that may wait behind a connection's history (preload, resume) before it is
    /// cut as too slow.
    pub max_queued_kills: usize,
    /// Open WebSocket connections in all, and from one client address; past either the upgrade
    /// is refused with 503, so sockets and file descriptors stay bounded.
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    /// Bytes of kill frames one connection may hold unread: history waits behind this, and a
    /// connection that piles up more live kills is cut.
    pub max_queued_bytes: u64,
    /// A connection with history waiting that reads nothing for this long is cut.
    pub stall_timeout_ms: u64,
    /// LongPoll: how long a poll is held when there is nothing to send, and how long a
    /// session nobody polls lives.
    pub longpoll_window_ms: u64,
    pub longpoll_timeout_ms: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SseSettings {
    /// `: ping` after this long without an event (`/kills/stream`).
    pub keepalive_ms: u64,
    /// Period of the `heartbeat` event (`/kills/stream/enhanced`).
    pub heartbeat_ms: u64,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    /// Kills queued for one stream before it is closed as too slow.
    pub max_queued_kills: usize,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// error | warn | info | debug | trace | off
    pub level: String,
    /// An env_logger filter (`RUST_LOG`); when set it wins over `level`.
    #[serde(default)]
    pub filter: Option<String>,
    /// `text` (default) or `json`: one JSON object per line.
    pub format: crate::logging::LogFormat,
}

/// Why the configuration could not be loaded. Each message names where the bad value came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin}: {message}")]
    Syntax { origin: String, message: String },
    #[error("APP_ENVIRONMENT={0}: no config/{0}.toml exists")]
    UnknownEnvironment(String),
    #[error("invalid environment variable {var}={value:?}: expected {expected}")]
    Env {
        var: &'static str,
        value: String,
        expected: String,
    },
    #[error("invalid setting {key}: {reason}")]
    Invalid { key: &'static str, reason: String },
}

impl Settings {
    /// Loads settings for this process: `CONFIG_DIR` (default `config`), `APP_ENVIRONMENT`
    /// (default: `default.toml` alone) and the process environment.
    pub fn load() -> Result<Self, ConfigError> {
        let env: HashMap<String, String> = std::env::vars().collect();
        Self::load_from(|name| env.get(name).cloned())
    }

    /// Loads settings with `env` standing in for the process environment.
    pub fn load_from(env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let dir = env("CONFIG_DIR").map_or_else(|| PathBuf::from("config"), PathBuf::from);
        let environment = env("APP_ENVIRONMENT").unwrap_or_else(|| DEFAULT_ENVIRONMENT.to_owned());
        let mut table = files::read_layer(&dir, "default")?
            .ok_or_else(|| ConfigError::UnknownEnvironment("default".to_owned()))?;
        if environment != DEFAULT_ENVIRONMENT {
            let overlay = files::read_layer(&dir, &environment)?
                .ok_or_else(|| ConfigError::UnknownEnvironment(environment.clone()))?;
            files::merge(&mut table, overlay);
        }
        env::apply(&mut table, &env)?;
        let origin = format!("config/{{default,{environment}}}.toml");
        let settings: Settings =
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Syntax {
                    origin,
                    message: e.to_string(),
                })?;
        settings.validate()?;
        Ok(settings)
    }

    /// The settings of the `test` environment with no environment variables applied.
    pub fn for_tests() -> Result<Self, ConfigError> {
        Self::load_from(|name| (name == "APP_ENVIRONMENT").then(|| "test".to_owned()))
    }

    /// Checks what types alone cannot: URL schemes, ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let e = &self.engine;
        for (key, url) in [
            ("feed.r2z2_base_url", &e.feed.r2z2_base_url),
            ("feed.redisq_url", &e.feed.redisq_url),
            ("esi.base_url", &e.esi.base_url),
            ("zkb.base_url", &e.zkb.base_url),
        ] {
            http_url(url).map_err(|reason| ConfigError::Invalid { key, reason })?;
        }
        let checks: [(&'static str, bool, &str); 7] = [
            (
                "feed.redisq_ttw",
                (1..=10).contains(&e.feed.redisq_ttw),
                "must be 1..=10 seconds",
            ),
            (
                "storage.retention_hours",
                e.storage.retention_hours > 0,
                "must be positive",
            ),
            (
                "storage.max_kills_per_system",
                e.storage.max_kills_per_system > 0,
                "must be positive",
            ),
            (
                "enrich.concurrency",
                e.enrich.concurrency > 0,
                "must be positive",
            ),
            (
                "server.workers",
                self.server.workers > 0,
                "must be positive",
            ),
            (
                "websocket.max_frame_bytes",
                self.websocket.max_frame_bytes >= 1024,
                "must be at least 1024",
            ),
            (
                "websocket.max_queued_kills",
                self.websocket.max_queued_kills > 0,
                "must be positive",
            ),
        ];
        for (key, ok, reason) in checks {
            if !ok {
                return Err(ConfigError::Invalid {
                    key,
                    reason: reason.to_owned(),
                });
            }
        }
        log_level(&self.log.level).map_err(|reason| ConfigError::Invalid {
            key: "log.level",
            reason,
        })?;
        Ok(())
    }

    /// The env_logger filter to install: `RUST_LOG` if given, else `log.level`.
    pub fn log_filter(&self) -> &str {
        self.log.filter.as_deref().unwrap_or(&self.log.level)
    }

    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.server.shutdown_timeout_s)
    }
}

pub(crate) fn http_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("{url:?} is not an http:// or https:// URL"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(format!("{url:?} has no valid host"));
    }
    Ok(())
}

pub(crate) fn log_level(level: &str) -> Result<(), String> {
    const LEVELS: [&str; 6] = ["error", "warn", "info", "debug", "trace", "off"];
    if LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
        Ok(())
    } else {
        Err(format!("{level:?} is not one of {}", LEVELS.join(", ")))
    }
}

pub(crate) fn iso_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actors::config::FeedSource;

    fn load(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::load_from(|name| map.get(name).cloned())
    }

    fn env_error(vars: &[(&str, &str)]) -> String {
        load(vars).expect_err("must be refused").to_string()
    }

    #[test]
    fn the_defaults_listen_on_4004_and_follow_r2z2() {
        let s = load(&[]).expect("defaults load");
        assert_eq!(s.server.port, 4004);
        assert_eq!(s.server.host.to_string(), "0.0.0.0");
        assert_eq!(s.engine.feed.source, FeedSource::R2z2);
        assert_eq!(
            s.engine.feed.r2z2_base_url,
            "https://r2z2.zkillboard.com/ephemeral"
        );
        assert_eq!(s.engine.storage.retention_hours, 48);
        // Production-like unless an environment says otherwise (`cargo run --release`).
        assert!(!s.engine.webhooks.allow_private_targets);
        assert_eq!(s.log.level, "info");
        let development = load(&[("APP_ENVIRONMENT", "development")]).expect("loads");
        assert!(development.engine.webhooks.allow_private_targets);
    }

    #[test]
    fn the_environment_file_overrides_the_defaults_key_by_key() {
        let s = load(&[("APP_ENVIRONMENT", "test")]).expect("test env loads");
        assert_eq!(s.server.port, 0, "from test.toml");
        assert_eq!(s.engine.feed.r2z2_not_found_wait_ms, 200, "from test.toml");
        assert_eq!(s.engine.feed.r2z2_stuck_skip_ms, 2000, "from test.toml");
        assert_eq!(
            s.engine.esi.max_retries, 3,
            "untouched keys of the same section keep their default"
        );
    }

    #[test]
    fn environment_variables_override_the_files() {
        let s = load(&[
            ("APP_ENVIRONMENT", "test"),
            ("PORT", "8080"),
            ("KILL_FEED", "redisq"),
            ("ESI_BASE_URL", "http://127.0.0.1:9/latest/"),
            ("KILLMAIL_RETENTION_DAYS", "3"),
            ("R2Z2_START_SEQUENCE", "96000000"),
            ("WS_IDLE_TIMEOUT_MS", "1500"),
            ("CACHE_ESI_TTL", "60"),
            ("LOG_LEVEL", "DEBUG"),
        ])
        .expect("loads");
        assert_eq!(s.server.port, 8080);
        assert_eq!(s.engine.feed.source, FeedSource::Redisq);
        assert_eq!(
            s.engine.esi.base_url, "http://127.0.0.1:9/latest",
            "trailing slash trimmed"
        );
        assert_eq!(s.engine.storage.retention_hours, 72);
        assert_eq!(s.engine.feed.r2z2_start_sequence, Some(96000000));
        assert_eq!(s.websocket.idle_timeout_ms, 1500);
        assert_eq!(s.engine.cache.esi_ttl_s, 60);
        assert_eq!(s.log_filter(), "debug");
    }

    #[test]
    fn rust_log_wins_over_log_level() {
        let s = load(&[("LOG_LEVEL", "warn"), ("RUST_LOG", "actors=trace")]).expect("loads");
        assert_eq!(s.log_filter(), "actors=trace");
    }

    #[test]
    fn every_spec_variable_is_read() {
        let vars = [
            ("PORT", "1"),
            ("ORIGIN_HOST", "kills.example.org"),
            ("ESI_BASE_URL", "http://esi.test"),
            ("CACHE_KILLMAIL_TTL", "1"),
            ("CACHE_SYSTEM_TTL", "2"),
            ("CACHE_ESI_TTL", "3"),
            ("KILLMAIL_RETENTION_DAYS", "1"),
            ("LOG_LEVEL", "error"),
            ("KILL_FEED", "off"),
            ("R2Z2_BASE_URL", "http://r2z2.test/ephemeral"),
            ("REDISQ_BASE_URL", "http://redisq.test/listen.php"),
            ("REDISQ_QUEUE_ID", "my-queue"),
            ("ZKB_BASE_URL", "http://zkb.test/api"),
            ("DATA_DIR", "/tmp/wk"),
            ("USER_AGENT", "ua-test"),
            ("R2Z2_START_SEQUENCE", "5"),
            ("R2Z2_NOT_FOUND_WAIT_MS", "6"),
            ("REDISQ_TTW", "7"),
            ("WS_IDLE_TIMEOUT_MS", "8"),
            ("WS_QUIET_KEEPALIVE_MS", "9"),
            ("STATUS_REPORT_INTERVAL_MS", "10"),
            ("ENRICH_DEADLINE_MS", "11"),
            ("SSE_KEEPALIVE_MS", "12"),
        ];
        let s = load(&vars).expect("loads");
        let e = &s.engine;
        let seen = [
            s.server.port.to_string(),
            s.server.origin_host.clone(),
            e.esi.base_url.clone(),
            e.cache.killmail_ttl_s.to_string(),
            e.cache.system_ttl_s.to_string(),
            e.cache.esi_ttl_s.to_string(),
            (e.storage.retention_hours / 24).to_string(),
            s.log.level.clone(),
            e.feed.source.as_str().to_owned(),
            e.feed.r2z2_base_url.clone(),
            e.feed.redisq_url.clone(),
            e.feed.redisq_queue_id.clone(),
            e.zkb.base_url.clone(),
            e.storage.data_dir.display().to_string(),
            e.upstream.user_agent.clone(),
            e.feed
                .r2z2_start_sequence
                .map(|v| v.to_string())
                .unwrap_or_default(),
            e.feed.r2z2_not_found_wait_ms.to_string(),
            e.feed.redisq_ttw.to_string(),
            s.websocket.idle_timeout_ms.to_string(),
            s.websocket.quiet_keepalive_ms.to_string(),
            e.monitor.status_report_interval_ms.to_string(),
            e.enrich.deadline_ms.to_string(),
            s.sse.keepalive_ms.to_string(),
        ];
        for ((var, value), got) in vars.iter().zip(seen) {
            assert_eq!(*value, got, "{var}");
        }
    }

    #[test]
    fn a_bad_value_names_the_variable_and_what_was_expected() {
        let cases = [
            ("PORT", "abc", "PORT=\"abc\""),
            ("PORT", "70000", "port number"),
            ("KILL_FEED", "kafka", "r2z2, redisq, off"),
            ("ESI_BASE_URL", "ftp://x", "ESI_BASE_URL"),
            ("REDISQ_TTW", "11", "REDISQ_TTW"),
            ("WS_IDLE_TIMEOUT_MS", "0", "WS_IDLE_TIMEOUT_MS"),
            ("KILLMAIL_RETENTION_DAYS", "-1", "KILLMAIL_RETENTION_DAYS"),
            ("LOG_LEVEL", "loud", "LOG_LEVEL"),
            ("BIND_IP", "localhost", "BIND_IP"),
            (
                "ESI_COMPATIBILITY_DATE",
                "26/11/2026",
                "ESI_COMPATIBILITY_DATE",
            ),
        ];
        for (var, value, needle) in cases {
            let message = env_error(&[(var, value)]);
            assert!(message.contains(needle), "{var}={value}: {message}");
            assert!(message.contains(var), "{var}={value}: {message}");
        }
    }

    #[test]
    fn an_unknown_environment_is_refused() {
        assert!(env_error(&[("APP_ENVIRONMENT", "staging")]).contains("APP_ENVIRONMENT=staging"));
    }

    #[test]
    fn a_config_dir_on_disk_is_layered_and_its_errors_name_the_file_and_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("default.toml"),
            include_str!("../../config/default.toml"),
        )
        .expect("write");
        std::fs::write(dir.path().join("staging.toml"), "[server]\nport = 5000\n").expect("write");
        let path = dir.path().display().to_string();

        let s = load(&[("CONFIG_DIR", &path), ("APP_ENVIRONMENT", "staging")]).expect("loads");
        assert_eq!(s.server.port, 5000);

        std::fs::write(dir.path().join("staging.toml"), "[server]\nprot = 5000\n").expect("write");
        let message = env_error(&[("CONFIG_DIR", &path), ("APP_ENVIRONMENT", "staging")]);
        assert!(message.contains("prot"), "{message}");

        std::fs::write(dir.path().join("staging.toml"), "[servre]\nport = 5000\n").expect("write");
        let message = env_error(&[("CONFIG_DIR", &path), ("APP_ENVIRONMENT", "staging")]);
        assert!(
            message.contains("staging.toml") && message.contains("servre"),
            "{message}"
        );

        std::fs::write(dir.path().join("staging.toml"), "[feed]\nredisq_ttw = 50\n")
            .expect("write");
        let message = env_error(&[("CONFIG_DIR", &path), ("APP_ENVIRONMENT", "staging")]);
        assert!(message.contains("feed.redisq_ttw"), "{message}");

        std::fs::write(dir.path().join("staging.toml"), "[server\n").expect("write");
        let message = env_error(&[("CONFIG_DIR", &path), ("APP_ENVIRONMENT", "staging")]);
        assert!(message.contains("staging.toml"), "{message}");
    }
}
