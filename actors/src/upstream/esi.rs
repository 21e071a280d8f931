//! ESI, CCP's API: killmails by id + hash, and the names, tickers, ship types and systems that
//! complete them (SPEC §1.2).
//!
//! The client keeps ESI's limits itself. It reads `X-ESI-Error-Limit-Remain`/`-Reset` on every
//! answer and stops calling *before* the budget is spent; a `420` or `429` pauses every call
//! until the announced time. While paused, calls fail at once with [`FetchError::RateLimited`]
//! instead of sleeping, so the owner decides what waits. The `X-Ratelimit-*` token buckets are
//! read too: with the last token spent, calls pause for as long as one token takes to return.
//! Server errors and timeouts are retried a bounded number of times with jittered exponential
//! backoff.

use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::http::{Answer, FetchError, Http};
use crate::config::{EsiSettings, UpstreamSettings};
use crate::model::{lenient, AllianceId, CorporationId, EsiKillmail, GroupId, KillmailId};
use crate::stats::Stats;

/// Stop calling when this many errors are left in ESI's window.
pub const ERROR_BUDGET_RESERVE: u32 = 10;
/// `/universe/names/` takes at most this many ids per call.
pub const NAMES_PER_CALL: usize = 1000;
/// First retry delay; doubled per attempt, with ±50 % jitter.
const RETRY_BASE: Duration = Duration::from_millis(200);
/// First retry delay after a connection failed to open (refused, reset): ESI is there, its
/// listen queue was full for a moment, and asking again at once usually works.
const RECONNECT_BASE: Duration = Duration::from_millis(20);
/// Connections to ESI open at once, at most; they are kept alive and reused.
pub const POOL: usize = 16;
/// Pause after a 420/429 that did not say for how long.
const DEFAULT_PAUSE: Duration = Duration::from_secs(30);

/// A name ESI resolved, with its category (`character`, `corporation`, `inventory_type`...).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Name {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub category: String,
}

/// What `/universe/names/` gave for a set of ids.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Names {
    pub resolved: Vec<Name>,
    /// Ids ESI does not know (found by splitting the batch that failed).
    pub unknown: Vec<u64>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Character {
    pub name: String,
    #[serde(default, deserialize_with = "lenient::id_opt")]
    pub corporation_id: Option<CorporationId>,
    #[serde(default, deserialize_with = "lenient::id_opt")]
    pub alliance_id: Option<AllianceId>,
}

/// A corporation or an alliance: what a killmail shows of either.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Organisation {
    pub name: String,
    pub ticker: String,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct InventoryType {
    pub name: String,
    #[serde(default, deserialize_with = "lenient::id_opt")]
    pub group_id: Option<GroupId>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct SolarSystem {
    pub name: String,
    #[serde(default, deserialize_with = "lenient::f64_opt")]
    pub security_status: Option<f64>,
}

pub struct EsiClient {
    http: Http,
    /// Base URL without trailing slash; may end in `/latest`.
    base: String,
    compatibility_date: String,
    max_retries: u32,
    /// No call before this instant (error budget spent, 420 or 429).
    paused_until: Cell<Option<Instant>>,
    /// Where the limit state is reported (`/metrics`).
    stats: Arc<Stats>,
}

impl EsiClient {
    pub fn new(esi: &EsiSettings, upstream: &UpstreamSettings) -> Self {
        Self {
            http: Http::pooled(upstream, POOL),
            base: esi.base_url.trim_end_matches('/').to_owned(),
            compatibility_date: esi.compatibility_date.clone(),
            max_retries: esi.max_retries,
            paused_until: Cell::new(None),
            stats: Arc::default(),
        }
    }

    /// Reports the rate-limit state into `stats`.
    pub fn with_stats(mut self, stats: Arc<Stats>) -> Self {
        self.stats = stats;
        self
    }

    /// When calls resume, if they are paused now.
    pub fn paused_until(&self) -> Option<Instant> {
        self.paused_until.get().filter(|&t| t > Instant::now())
    }

    pub async fn killmail(&self, id: KillmailId, hash: &str) -> Result<EsiKillmail, FetchError> {
        self.get(&format!("/killmails/{id}/{hash}/")).await
    }

    pub async fn character(&self, id: u64) -> Result<Character, FetchError> {
        self.get(&format!("/characters/{id}/")).await
    }

    pub async fn corporation(&self, id: u64) -> Result<Organisation, FetchError> {
        self.get(&format!("/corporations/{id}/")).await
    }

    pub async fn alliance(&self, id: u64) -> Result<Organisation, FetchError> {
        self.get(&format!("/alliances/{id}/")).await
    }

    pub async fn inventory_type(&self, id: u64) -> Result<InventoryType, FetchError> {
        self.get(&format!("/universe/types/{id}/")).await
    }

    pub async fn solar_system(&self, id: u64) -> Result<SolarSystem, FetchError> {
        self.get(&format!("/universe/systems/{id}/")).await
    }

    /// Resolves `ids` in calls of at most 1000. One unknown id fails a whole batch at ESI, so a
    /// failed batch is split in halves until the unknown ids are isolated.
    pub async fn names(&self, ids: &[u64]) -> Result<Names, FetchError> {
        let mut unique = ids.to_vec();
        unique.sort_unstable();
        unique.dedup();
        let mut out = Names::default();
        let mut pending: Vec<Vec<u64>> =
            unique.chunks(NAMES_PER_CALL).map(<[u64]>::to_vec).collect();
        while let Some(batch) = pending.pop() {
            match self.post::<Vec<Name>>("/universe/names/", &batch).await {
                Ok(names) => out.resolved.extend(names),
                Err(FetchError::NotFound) if batch.len() == 1 => out.unknown.extend(batch),
                Err(FetchError::NotFound) => {
                    let (left, right) = batch.split_at(batch.len() / 2);
                    pending.push(left.to_vec());
                    pending.push(right.to_vec());
                }
                Err(other) => return Err(other),
            }
        }
        Ok(out)
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, FetchError> {
        let url = format!("{}{path}", self.base);
        let headers = [("x-compatibility-date", self.compatibility_date.as_str())];
        self.call(|| self.http.get(&url, None, &headers)).await
    }

    async fn post<T: DeserializeOwned>(&self, path: &str, ids: &[u64]) -> Result<T, FetchError> {
        let url = format!("{}{path}", self.base);
        let headers = [("x-compatibility-date", self.compatibility_date.as_str())];
        self.call(|| self.http.post_json(&url, &ids, &headers))
            .await
    }

    /// One logical call: respects the pause, retries transient failures, reads the limits.
    async fn call<T, F, Fut>(&self, send: F) -> Result<T, FetchError>
    where
        T: DeserializeOwned,
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Answer, FetchError>>,
    {
        let mut attempt = 0;
        loop {
            if let Some(until) = self.paused_until() {
                return Err(FetchError::RateLimited {
                    status: 420,
                    retry_after: Some(until - Instant::now()),
                });
            }
            let error = match send().await {
                Ok(answer) => {
                    self.read_limits(&answer);
                    if answer.status.is_success() {
                        return answer.json();
                    }
                    answer.error_or_missing(FetchError::NotFound)
                }
                Err(e) => e,
            };
            // A rate limit is not retried here: the pause it set makes the owner decide.
            let retryable =
                error.is_transient() && !matches!(error, FetchError::RateLimited { .. });
            if !retryable || attempt >= self.max_retries {
                return Err(error);
            }
            attempt += 1;
            let base = match error {
                FetchError::Transport(_) => RECONNECT_BASE,
                _ => RETRY_BASE,
            };
            actix::clock::sleep(backoff(base, attempt)).await;
        }
    }

    /// Applies ESI's limit headers and statuses to the pause.
    fn read_limits(&self, answer: &Answer) {
        let header = |name: &str| {
            answer
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let reset = header("x-esi-error-limit-reset").map(Duration::from_secs);
        if let Some(remain) = header("x-esi-error-limit-remain") {
            self.stats.esi_error_budget.set(remain as i64);
        }
        if let Some(remaining) = header("x-ratelimit-remaining") {
            self.stats.esi_tokens_remaining.set(remaining as i64);
        }
        let pause = match answer.status.as_u16() {
            420 => Some(reset.unwrap_or(DEFAULT_PAUSE)),
            429 => Some(answer.retry_after().unwrap_or(DEFAULT_PAUSE)),
            _ => match header("x-esi-error-limit-remain") {
                Some(remain) if remain <= u64::from(ERROR_BUDGET_RESERVE) => {
                    Some(reset.unwrap_or(DEFAULT_PAUSE))
                }
                _ => {
                    let limit = answer
                        .headers
                        .get("x-ratelimit-limit")
                        .and_then(|v| v.to_str().ok());
                    bucket_pause(limit, header("x-ratelimit-remaining"))
                }
            },
        };
        if let Some(pause) = pause {
            log::warn!(
                "esi paused seconds={} status={}",
                pause.as_secs(),
                answer.status.as_u16()
            );
            self.paused_until.set(Some(Instant::now() + pause));
            self.stats.esi_pauses.incr();
        }
    }
}

/// ESI's token buckets (`X-Ratelimit-Limit: 150/15m`, `X-Ratelimit-Remaining`): with the last
/// token spent, wait as long as one token takes to come back (window / limit).
fn bucket_pause(limit: Option<&str>, remaining: Option<u64>) -> Option<Duration> {
    if remaining? > 0 {
        return None;
    }
    let (tokens, window) = limit?.trim().split_once('/')?;
    let tokens: u32 = tokens.trim().parse().ok().filter(|t| *t > 0)?;
    let window = window.trim();
    let (count, unit) = window.split_at(window.find(|c: char| !c.is_ascii_digit())?);
    let count: u64 = if count.is_empty() {
        1
    } else {
        count.parse().ok()?
    };
    let seconds = match unit {
        "s" => count,
        "m" => count * 60,
        "h" => count * 3600,
        _ => return None,
    };
    Some(Duration::from_secs(seconds) / tokens)
}

/// `base · 2^(attempt-1)`, ±50 %.
fn backoff(base: Duration, attempt: u32) -> Duration {
    let base = base.saturating_mul(1 << attempt.saturating_sub(1).min(6));
    base.mul_f64(rand::rng().random_range(0.5..1.5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spent_token_bucket_pauses_for_one_token_and_a_live_one_not_at_all() {
        assert_eq!(
            bucket_pause(Some("150/15m"), Some(0)),
            Some(Duration::from_secs(6))
        );
        assert_eq!(
            bucket_pause(Some("20/1s"), Some(0)),
            Some(Duration::from_millis(50))
        );
        assert_eq!(bucket_pause(Some("150/15m"), Some(3)), None);
        assert_eq!(bucket_pause(None, Some(0)), None);
        assert_eq!(bucket_pause(Some("garbage"), Some(0)), None);
        assert_eq!(bucket_pause(Some("0/15m"), Some(0)), None);
    }

    #[test]
    fn backoff_grows_and_stays_jittered_within_half() {
        for attempt in 1..=4 {
            let nominal = RETRY_BASE * (1 << (attempt - 1));
            for _ in 0..20 {
                let d = backoff(RETRY_BASE, attempt);
                assert!(
                    d >= nominal / 2 && d <= nominal * 3 / 2,
                    "attempt {attempt}: {d:?}"
                );
            }
        }
    }
}
