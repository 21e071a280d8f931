//! Environment variables (SPEC §9), one row each: the variable, the setting it sets, and what
//! text it takes. Each is checked here, so a bad value names the variable; a good one is written
//! into the merged config table before it is read into [`super::Settings`].

use actors::config::FeedSource;
use toml::Value;

use super::{http_url, iso_date, log_level, ConfigError};

/// What text a variable takes, and how it becomes a setting.
#[derive(Clone, Copy)]
enum Kind {
    Port,
    Ip,
    /// Any text (trimmed, as every value is).
    Text,
    /// Text that must not be empty.
    NonEmpty,
    Bool,
    /// A whole number, 0 allowed.
    Number,
    /// A whole number above 0.
    Positive,
    /// A whole number in `lo..=hi`.
    Range(u64, u64),
    /// An http(s) URL; a trailing `/` is dropped.
    Url,
    /// `YYYY-MM-DD`.
    Date,
    Feed,
    LogLevel,
    LogFormat,
    /// A positive number of days, set as hours.
    DaysAsHours,
}

/// One variable: its name, the dotted key of the setting, what it takes, and the words of the
/// error that names it.
struct Var(&'static str, &'static str, Kind, &'static str);

const MS: &str = "a whole number of milliseconds";
const POSITIVE_MS: &str = "a positive number of milliseconds";
const SECONDS: &str = "a whole number of seconds";
const URL: &str = "an http(s) URL";

/// Applied in this order: a later row for the same key wins (`KILLMAIL_RETENTION_HOURS` over
/// `KILLMAIL_RETENTION_DAYS`).
const VARS: &[Var] = &[
    Var("PORT", "server.port", Kind::Port, "a port number 0-65535"),
    Var(
        "BIND_IP",
        "server.host",
        Kind::Ip,
        "an IP address such as 0.0.0.0 or ::",
    ),
    Var(
        "ORIGIN_HOST",
        "server.origin_host",
        Kind::Text,
        "a host name",
    ),
    Var(
        "WEBHOOKS_ALLOW_PRIVATE",
        "webhooks.allow_private_targets",
        Kind::Bool,
        "true or false",
    ),
    Var("API_TOKEN", "server.api_token", Kind::Text, "a token"),
    Var(
        "TRUSTED_PROXIES",
        "server.trusted_proxies",
        Kind::Text,
        "IP addresses or CIDR ranges, comma-separated",
    ),
    Var(
        "RATE_LIMIT_PER_MINUTE",
        "server.rate_limit_per_minute",
        Kind::Range(0, u32::MAX as u64),
        "a number (0 = no limit)",
    ),
    Var(
        "FILTER_MAX_RULES",
        "filters.max_rules",
        Kind::Range(1, 10_000),
        "a number of rules 1-10000",
    ),
    Var(
        "FILTER_MAX_VALUES",
        "filters.max_values_per_rule",
        Kind::Range(1, 100_000),
        "a number of values 1-100000",
    ),
    Var(
        "HTTP_WORKERS",
        "server.workers",
        Kind::Positive,
        "a positive number",
    ),
    Var(
        "SHUTDOWN_TIMEOUT_S",
        "server.shutdown_timeout_s",
        Kind::Number,
        SECONDS,
    ),
    Var(
        "USER_AGENT",
        "upstream.user_agent",
        Kind::NonEmpty,
        "a non-empty string",
    ),
    Var("KILL_FEED", "feed.source", Kind::Feed, FeedSource::NAMES),
    Var("R2Z2_BASE_URL", "feed.r2z2_base_url", Kind::Url, URL),
    Var(
        "R2Z2_START_SEQUENCE",
        "feed.r2z2_start_sequence",
        Kind::Number,
        "a sequence number",
    ),
    Var(
        "R2Z2_NOT_FOUND_WAIT_MS",
        "feed.r2z2_not_found_wait_ms",
        Kind::Number,
        MS,
    ),
    Var("REDISQ_BASE_URL", "feed.redisq_url", Kind::Url, URL),
    Var(
        "REDISQ_QUEUE_ID",
        "feed.redisq_queue_id",
        Kind::Text,
        "a queue id",
    ),
    Var(
        "REDISQ_TTW",
        "feed.redisq_ttw",
        Kind::Range(1, 10),
        "a number of seconds 1-10",
    ),
    Var("ESI_BASE_URL", "esi.base_url", Kind::Url, URL),
    Var(
        "ESI_COMPATIBILITY_DATE",
        "esi.compatibility_date",
        Kind::Date,
        "a date YYYY-MM-DD",
    ),
    Var("ZKB_BASE_URL", "zkb.base_url", Kind::Url, URL),
    Var(
        "CACHE_KILLMAIL_TTL",
        "cache.killmail_ttl_s",
        Kind::Number,
        SECONDS,
    ),
    Var(
        "CACHE_SYSTEM_TTL",
        "cache.system_ttl_s",
        Kind::Number,
        SECONDS,
    ),
    Var("CACHE_ESI_TTL", "cache.esi_ttl_s", Kind::Number, SECONDS),
    Var(
        "DATA_DIR",
        "storage.data_dir",
        Kind::NonEmpty,
        "a directory path",
    ),
    Var(
        "KILLMAIL_RETENTION_DAYS",
        "storage.retention_hours",
        Kind::DaysAsHours,
        "a positive number of days",
    ),
    Var(
        "KILLMAIL_RETENTION_HOURS",
        "storage.retention_hours",
        Kind::Positive,
        "a positive number of hours",
    ),
    Var("ENRICH_DEADLINE_MS", "enrich.deadline_ms", Kind::Number, MS),
    Var(
        "STATUS_REPORT_INTERVAL_MS",
        "monitor.status_report_interval_ms",
        Kind::Positive,
        POSITIVE_MS,
    ),
    Var(
        "WS_IDLE_TIMEOUT_MS",
        "websocket.idle_timeout_ms",
        Kind::Positive,
        POSITIVE_MS,
    ),
    Var(
        "WS_QUIET_KEEPALIVE_MS",
        "websocket.quiet_keepalive_ms",
        Kind::Positive,
        POSITIVE_MS,
    ),
    Var(
        "SSE_KEEPALIVE_MS",
        "sse.keepalive_ms",
        Kind::Positive,
        POSITIVE_MS,
    ),
    Var(
        "WS_MAX_CONNECTIONS",
        "websocket.max_connections",
        Kind::Positive,
        "a positive number",
    ),
    Var(
        "WS_MAX_CONNECTIONS_PER_IP",
        "websocket.max_connections_per_ip",
        Kind::Positive,
        "a positive number",
    ),
    Var(
        "LOG_LEVEL",
        "log.level",
        Kind::LogLevel,
        "one of error, warn, info, debug, trace, off",
    ),
    Var("NATS_URL", "cluster.nats_url", Kind::Text, "a NATS URL"),
    Var(
        "CLUSTER_NAME",
        "cluster.name",
        Kind::NonEmpty,
        "a name of letters, digits, - and _",
    ),
    Var(
        "NATS_SUBJECT_PREFIX",
        "cluster.subject_prefix",
        Kind::NonEmpty,
        "a NATS subject prefix",
    ),
    Var(
        "CLUSTER_LEASE_MS",
        "cluster.lease_ms",
        Kind::Range(1000, 600_000),
        "a number of milliseconds 1000-600000",
    ),
    Var("NATS_USER", "cluster.user", Kind::Text, "a user name"),
    Var(
        "NATS_PASSWORD",
        "cluster.password",
        Kind::Text,
        "a password",
    ),
    Var("NATS_TOKEN", "cluster.token", Kind::Text, "a token"),
    Var("NATS_CA_FILE", "cluster.ca_file", Kind::Text, "a file path"),
    Var("LOG_FORMAT", "log.format", Kind::LogFormat, "text or json"),
    Var(
        "RUST_LOG",
        "log.filter",
        Kind::NonEmpty,
        "an env_logger filter",
    ),
];

/// Writes every variable that is set into `table`, or names the first bad one.
/// The names of every environment variable the service reads, in table order.
pub fn names() -> impl Iterator<Item = &'static str> {
    VARS.iter().map(|v| v.0)
}

pub fn apply(
    table: &mut toml::Table,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    for Var(name, key, kind, expected) in VARS {
        let Some(raw) = env(name) else { continue };
        let value = read(*kind, &raw).ok_or_else(|| ConfigError::Env {
            var: name,
            value: raw.clone(),
            expected: (*expected).to_owned(),
        })?;
        set(table, key, value);
    }
    Ok(())
}

/// The setting `text` stands for, or `None` when it is not what `kind` takes.
fn read(kind: Kind, raw: &str) -> Option<Value> {
    let text = raw.trim();
    let number = || text.parse::<u64>().ok();
    let integer = |n: u64| i64::try_from(n).ok().map(Value::Integer);
    match kind {
        Kind::Port => text.parse::<u16>().ok().map(|p| Value::Integer(p.into())),
        Kind::Ip => text
            .parse::<std::net::IpAddr>()
            .ok()
            .map(|ip| Value::String(ip.to_string())),
        Kind::Text => Some(Value::String(text.to_owned())),
        Kind::NonEmpty => (!text.is_empty()).then(|| Value::String(text.to_owned())),
        Kind::Bool => text.parse::<bool>().ok().map(Value::Boolean),
        Kind::Number => number().and_then(integer),
        Kind::Positive => number().filter(|&n| n > 0).and_then(integer),
        Kind::Range(lo, hi) => number().filter(|n| (lo..=hi).contains(n)).and_then(integer),
        Kind::Url => http_url(text)
            .ok()
            .map(|()| Value::String(text.trim_end_matches('/').to_owned())),
        Kind::Date => iso_date(text).then(|| Value::String(text.to_owned())),
        Kind::Feed => FeedSource::parse(text).map(|f| Value::String(f.as_str().to_owned())),
        Kind::LogLevel => log_level(text)
            .ok()
            .map(|()| Value::String(text.to_ascii_lowercase())),
        Kind::LogFormat => crate::logging::LogFormat::parse(text)
            .map(|f| Value::String(format!("{f:?}").to_ascii_lowercase())),
        Kind::DaysAsHours => number()
            .filter(|&n| n > 0)
            .and_then(|days| integer(days.saturating_mul(24))),
    }
}

/// Sets the dotted `key` (`section.name`) in `table`, making the section when it is missing.
fn set(table: &mut toml::Table, key: &str, value: Value) {
    let (section, name) = key.split_once('.').unwrap_or(("", key));
    let entry = table
        .entry(section)
        .or_insert_with(|| Value::Table(toml::Table::new()));
    if let Value::Table(section) = entry {
        section.insert(name.to_owned(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variable_sets_a_key_of_a_known_section() {
        for Var(name, key, ..) in VARS {
            let section = key.split('.').next().unwrap_or_default();
            assert!(
                super::super::files::SECTIONS.contains(&section),
                "{name} sets {key}"
            );
        }
    }

    #[test]
    fn days_become_hours_and_urls_lose_their_trailing_slash() {
        assert_eq!(read(Kind::DaysAsHours, "2"), Some(Value::Integer(48)));
        assert_eq!(read(Kind::DaysAsHours, "0"), None);
        assert_eq!(
            read(Kind::Url, "http://esi.test/latest/"),
            Some(Value::String("http://esi.test/latest".into()))
        );
    }
}
