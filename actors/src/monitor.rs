//! The monitor actor: owns the service's health picture — uptime, which feed runs, and the feed's
//! circuit breaker — and answers `/health` through [`GetHealth`].
//!
//! Components report outcomes to it ([`FeedOutcome`]); it never calls anything itself.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use actix::prelude::*;
use serde::Serialize;

use crate::config::FeedSource;
use crate::stats::Stats;

/// Consecutive feed failures that open the circuit (the service then reports unhealthy).
pub const MAX_CONSECUTIVE_ERRORS: u32 = 5;

/// Ask for the current health report.
#[derive(Message)]
#[rtype(result = "HealthReport")]
pub struct GetHealth;

/// The result of one feed call: a success closes the circuit step by step, failures open it.
#[derive(Message, Clone, Debug, PartialEq, Eq)]
#[rtype(result = "()")]
pub enum FeedOutcome {
    Success,
    /// The call failed; the error, for `/health` and the dashboard.
    Failure(String),
    /// The call timed out; also counted by the upstream connection monitor.
    Timeout,
}

/// State of the feed's circuit breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    Closed,
    Open,
    /// Recovering: one success after the circuit opened; one more closes it, a failure reopens it.
    HalfOpen,
}

/// Counts consecutive failures of the feed and derives the circuit state from them.
#[derive(Clone, Debug)]
pub struct CircuitBreaker {
    state: CircuitState,
    consecutive_errors: u32,
    max_consecutive_errors: u32,
    /// Unix seconds of the last state change, for operators reading `/health`.
    last_transition: Option<u64>,
}

impl CircuitBreaker {
    pub fn new(max_consecutive_errors: u32) -> Self {
        Self {
            state: CircuitState::Closed,
            consecutive_errors: 0,
            max_consecutive_errors,
            last_transition: None,
        }
    }

    pub fn state(&self) -> CircuitState {
        self.state
    }

    pub fn record(&mut self, success: bool) {
        let next = if success {
            self.consecutive_errors = 0;
            match self.state {
                CircuitState::Open => CircuitState::HalfOpen,
                CircuitState::HalfOpen | CircuitState::Closed => CircuitState::Closed,
            }
        } else {
            self.consecutive_errors = self.consecutive_errors.saturating_add(1);
            match self.state {
                CircuitState::HalfOpen => CircuitState::Open,
                _ if self.consecutive_errors >= self.max_consecutive_errors => CircuitState::Open,
                state => state,
            }
        };
        if next != self.state {
            self.state = next;
            self.last_transition = Some(unix_now());
        }
    }
}

/// The `circuit_breaker` block of `/health`.
#[derive(Clone, Debug, Serialize)]
pub struct CircuitReport {
    pub circuit_state: CircuitState,
    pub consecutive_errors: u32,
    pub max_consecutive_errors: u32,
    pub last_transition_unix: Option<u64>,
}

/// The `connection_monitor` block of `/health`: is upstream answering at all?
#[derive(Clone, Debug, Default, Serialize)]
pub struct ConnectionReport {
    pub consecutive_timeouts: u32,
    pub total_timeouts: u64,
    pub last_success_unix: Option<u64>,
}

/// One component's line in `details`.
#[derive(Clone, Debug, Serialize)]
pub struct ComponentHealth {
    pub status: &'static str,
    pub message: String,
}

/// Overall status, worst component wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Degraded,
    Error,
}

/// What `/health` reports (the web layer adds the timestamp).
#[derive(Clone, Debug, Serialize)]
pub struct HealthReport {
    pub healthy: bool,
    pub status: Status,
    pub details: BTreeMap<&'static str, ComponentHealth>,
    pub uptime_seconds: u64,
    pub circuit_breaker: CircuitReport,
    pub connection_monitor: ConnectionReport,
}

/// Timeouts in a row after which upstream counts as unreachable.
const MAX_CONSECUTIVE_TIMEOUTS: u32 = 3;

pub struct Monitor {
    started: Instant,
    feed_source: FeedSource,
    stats: Arc<Stats>,
    breaker: CircuitBreaker,
    connection: ConnectionReport,
    /// The feed's last error while it keeps failing; cleared by a success.
    last_error: Option<String>,
}

impl Monitor {
    pub fn new(feed_source: FeedSource, stats: Arc<Stats>) -> Self {
        Self {
            started: Instant::now(),
            feed_source,
            stats,
            breaker: CircuitBreaker::new(MAX_CONSECUTIVE_ERRORS),
            last_error: None,
            connection: ConnectionReport::default(),
        }
    }

    fn feed_health(&self) -> ComponentHealth {
        let source = self.feed_source.as_str();
        match (
            self.feed_source,
            self.breaker.state(),
            self.connection.last_success_unix,
        ) {
            (FeedSource::Off, _, _) => ComponentHealth {
                status: "disabled",
                message: "KILL_FEED=off".into(),
            },
            (_, CircuitState::Open, _) => ComponentHealth {
                status: "error",
                message: format!(
                    "{source}: {} consecutive failures, last: {}",
                    self.breaker.consecutive_errors,
                    self.last_error.as_deref().unwrap_or("unknown")
                ),
            },
            (_, CircuitState::Closed, _) if self.breaker.consecutive_errors > 0 => {
                ComponentHealth {
                    status: "degraded",
                    message: format!(
                        "{source}: {} failed calls in a row, last: {}",
                        self.breaker.consecutive_errors,
                        self.last_error.as_deref().unwrap_or("unknown")
                    ),
                }
            }
            (_, CircuitState::HalfOpen, _) => ComponentHealth {
                status: "degraded",
                message: format!("{source}: recovering"),
            },
            (_, CircuitState::Closed, None) => ComponentHealth {
                status: "ok",
                message: format!("{source}: waiting for the first answer"),
            },
            (_, CircuitState::Closed, Some(_)) => ComponentHealth {
                status: "ok",
                message: format!("{source}: following"),
            },
        }
    }

    /// Degraded while kills wait for the disk (they hold the feed), or once the store did not
    /// answer for one.
    fn store_health(&self) -> ComponentHealth {
        let waiting = self.stats.store_unsaved.get();
        let unanswered = self.stats.kills_store_failed.get();
        let mut problems = Vec::new();
        if waiting > 0 {
            problems.push(format!(
                "{waiting} kills wait to be written to disk ({}); the feed holds until they are",
                self.stats
                    .disk_error()
                    .unwrap_or_else(|| "the disk refused them".to_owned())
            ));
        }
        if unanswered > 0 {
            problems.push(format!(
                "{unanswered} kills were not stored: the store did not answer"
            ));
        }
        if problems.is_empty() {
            ComponentHealth {
                status: "ok",
                message: "every stored kill is on disk".into(),
            }
        } else {
            ComponentHealth {
                status: "degraded",
                message: problems.join("; "),
            }
        }
    }

    fn report(&self) -> HealthReport {
        let feed = self.feed_health();
        let unreachable = self.connection.consecutive_timeouts >= MAX_CONSECUTIVE_TIMEOUTS;
        let store = self.store_health();
        let status = match (feed.status, unreachable, store.status) {
            ("error", _, _) | (_, true, _) => Status::Error,
            ("degraded", _, _) | (_, _, "degraded") => Status::Degraded,
            _ => Status::Ok,
        };
        let mut details = BTreeMap::new();
        details.insert("feed", feed);
        details.insert("store", store);
        details.insert(
            "engine",
            ComponentHealth {
                status: "ok",
                message: "actors running".into(),
            },
        );
        HealthReport {
            healthy: status != Status::Error,
            status,
            details,
            uptime_seconds: self.started.elapsed().as_secs(),
            circuit_breaker: CircuitReport {
                circuit_state: self.breaker.state(),
                consecutive_errors: self.breaker.consecutive_errors,
                max_consecutive_errors: self.breaker.max_consecutive_errors,
                last_transition_unix: self.breaker.last_transition,
            },
            connection_monitor: self.connection.clone(),
        }
    }
}

impl Actor for Monitor {
    type Context = Context<Self>;
}

/// Restarted by its supervisor if it ever stops; health history restarts from "closed".
impl actix::Supervised for Monitor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        log::warn!("monitor restarting");
    }
}

impl Handler<GetHealth> for Monitor {
    type Result = MessageResult<GetHealth>;

    fn handle(&mut self, _: GetHealth, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.report())
    }
}

impl Handler<FeedOutcome> for Monitor {
    type Result = ();

    fn handle(&mut self, outcome: FeedOutcome, _: &mut Context<Self>) {
        self.breaker.record(outcome == FeedOutcome::Success);
        match outcome {
            FeedOutcome::Success => {
                self.connection.consecutive_timeouts = 0;
                self.connection.last_success_unix = Some(unix_now());
                self.last_error = None;
            }
            FeedOutcome::Timeout => {
                self.connection.consecutive_timeouts =
                    self.connection.consecutive_timeouts.saturating_add(1);
                self.connection.total_timeouts = self.connection.total_timeouts.saturating_add(1);
                self.last_error = Some("timed out".to_owned());
            }
            FeedOutcome::Failure(error) => self.last_error = Some(error),
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_circuit_opens_after_the_maximum_of_consecutive_errors() {
        let mut b = CircuitBreaker::new(3);
        b.record(false);
        b.record(false);
        assert_eq!(b.state(), CircuitState::Closed);
        b.record(false);
        assert_eq!(b.state(), CircuitState::Open);
    }

    #[test]
    fn a_success_resets_the_count_before_the_circuit_opens() {
        let mut b = CircuitBreaker::new(3);
        b.record(false);
        b.record(false);
        b.record(true);
        b.record(false);
        b.record(false);
        assert_eq!(b.state(), CircuitState::Closed);
    }

    #[test]
    fn an_open_circuit_recovers_through_half_open() {
        let mut b = CircuitBreaker::new(1);
        b.record(false);
        b.record(true);
        assert_eq!(b.state(), CircuitState::HalfOpen);
        b.record(false);
        assert_eq!(
            b.state(),
            CircuitState::Open,
            "a failure while half open reopens"
        );
        b.record(true);
        b.record(true);
        assert_eq!(b.state(), CircuitState::Closed);
    }

    #[actix::test]
    async fn the_service_is_unhealthy_while_the_feed_circuit_is_open() {
        let monitor = Monitor::new(FeedSource::R2z2, Arc::default()).start();
        assert!(monitor.send(GetHealth).await.expect("alive").healthy);

        for _ in 0..MAX_CONSECUTIVE_ERRORS {
            monitor.do_send(FeedOutcome::Failure("answered 503".into()));
        }
        let report = monitor.send(GetHealth).await.expect("alive");

        assert!(!report.healthy);
        assert_eq!(report.status, Status::Error);
        assert_eq!(report.circuit_breaker.circuit_state, CircuitState::Open);
    }

    #[actix::test]
    async fn repeated_upstream_timeouts_make_the_service_unhealthy() {
        let monitor = Monitor::new(FeedSource::Redisq, Arc::default()).start();
        monitor.do_send(FeedOutcome::Success);
        for _ in 0..MAX_CONSECUTIVE_TIMEOUTS {
            monitor.do_send(FeedOutcome::Timeout);
        }
        let report = monitor.send(GetHealth).await.expect("alive");

        assert!(!report.healthy);
        assert_eq!(
            report.connection_monitor.total_timeouts,
            u64::from(MAX_CONSECUTIVE_TIMEOUTS)
        );
    }

    #[actix::test]
    async fn a_disabled_feed_is_reported_as_such_and_stays_healthy() {
        let monitor = Monitor::new(FeedSource::Off, Arc::default()).start();
        let report = monitor.send(GetHealth).await.expect("alive");
        assert!(report.healthy);
        assert_eq!(report.details["feed"].status, "disabled");
    }

    #[actix::test]
    async fn a_store_that_did_not_answer_degrades_health_and_says_so() {
        let stats: Arc<Stats> = Arc::default();
        let monitor = Monitor::new(FeedSource::Off, Arc::clone(&stats)).start();
        assert_eq!(
            monitor.send(GetHealth).await.expect("alive").status,
            Status::Ok
        );

        stats.kills_store_failed.incr();
        let report = monitor.send(GetHealth).await.expect("alive");

        assert_eq!(report.status, Status::Degraded);
        assert_eq!(report.details["store"].status, "degraded");
        assert!(report.details["store"].message.contains("did not answer"));
    }
}
