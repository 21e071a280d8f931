//! The feed consumer: follows R2Z2 (or a RedisQ endpoint) and hands every kill to the enricher
//! (SPEC §1.1).
//!
//! One request in flight at a time. R2Z2: the cursor moves on only after an object was handed
//! over; a 404 means "not yet" and is asked again after `R2Z2_NOT_FOUND_WAIT_MS`; a sequence
//! missing for longer than `r2z2_stuck_skip_ms` while `sequence.json` is past it is skipped and
//! counted; a garbled body is asked again a few times, then skipped. RedisQ: poll again at once
//! after an answer. Errors back off exponentially (capped) and are reported to the monitor, whose
//! circuit breaker the health route shows; a kill that fails later in the pipeline never slows
//! the feed.

mod backoff;
pub mod queue_id;
mod r2z2;
mod redisq;
mod watermark;

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::config::{FeedSettings, FeedSource, UpstreamSettings};
use crate::enricher::{Accepted, Enricher, Ingest, Origin};
use crate::model::FeedKill;
use crate::monitor::{FeedOutcome, Monitor};
use crate::stats::Stats;
use crate::store::journal::Journal;
use crate::upstream::http::FetchError;
use crate::upstream::r2z2::R2z2Client;
use crate::upstream::redisq::RedisqClient;
use backoff::Backoff;
use r2z2::follow_r2z2;
use redisq::follow_redisq;
use watermark::Watermark;

/// A garbled R2Z2 body is asked for again this many times before the sequence is skipped.
const MALFORMED_TRIES: u32 = 8;
/// Pause before asking again for a garbled body.
const MALFORMED_PAUSE: Duration = Duration::from_millis(250);
/// R2Z2 error backoff: first delay and cap.
const R2Z2_BACKOFF: (Duration, Duration) = (Duration::from_millis(250), Duration::from_secs(30));
/// RedisQ error backoff, as SPEC §1.1 gives it.
const REDISQ_BACKOFF: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(30));

pub struct Feed {
    settings: FeedSettings,
    upstream: UpstreamSettings,
    place: Place,
    sink: Sink,
    /// The loop following the feed, while this instance follows it.
    following: Option<SpawnHandle>,
    /// Cluster mode: wait for [`Lead`] before following (one instance follows at a time).
    waits_to_lead: bool,
}

/// Where the feed picks up, and where it keeps its place.
pub struct Place {
    /// The RedisQ queue id, stable across restarts.
    pub queue_id: String,
    /// The last R2Z2 sequence whose kills were all stored before the previous stop.
    pub r2z2_after: Option<u64>,
    pub journal: Journal,
    /// Cluster mode: also saves the R2Z2 cursor where the next leader reads it.
    pub also_save: Option<SaveCursor>,
}

/// Saves the R2Z2 cursor somewhere besides the journal.
pub type SaveCursor = Arc<dyn Fn(u64) + Send + Sync>;

/// Where the feed's results go: kills to the enricher, health to the monitor, counts to stats.
#[derive(Clone)]
struct Sink {
    enricher: Addr<Enricher>,
    monitor: Addr<Monitor>,
    stats: Arc<Stats>,
    /// Whether the feed has answered once, or the hint for an unreachable feed was given.
    settled_once: Arc<std::sync::atomic::AtomicBool>,
}

impl Feed {
    pub fn new(
        settings: FeedSettings,
        upstream: UpstreamSettings,
        place: Place,
        enricher: Addr<Enricher>,
        monitor: Addr<Monitor>,
        stats: Arc<Stats>,
    ) -> Self {
        Self {
            settings,
            upstream,
            place,
            sink: Sink {
                enricher,
                monitor,
                stats,
                settled_once: Arc::default(),
            },
            following: None,
            waits_to_lead: false,
        }
    }

    /// Cluster mode: the feed is followed only after [`Lead`].
    pub fn waiting_to_lead(mut self) -> Self {
        self.waits_to_lead = true;
        self
    }
}

/// This instance now follows the feed (cluster mode), from after `r2z2_after` when known.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Lead {
    pub r2z2_after: Option<u64>,
}

/// This instance no longer follows the feed (cluster mode: another one leads).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Follow;

impl Handler<Lead> for Feed {
    type Result = ();

    fn handle(&mut self, lead: Lead, ctx: &mut Context<Self>) {
        if self.following.is_none() {
            self.place.r2z2_after = lead.r2z2_after;
            self.begin(ctx);
        }
    }
}

impl Handler<Follow> for Feed {
    type Result = ();

    fn handle(&mut self, _: Follow, ctx: &mut Context<Self>) {
        if let Some(following) = self.following.take() {
            ctx.cancel_future(following);
            log::info!("feed left to another instance");
        }
    }
}

/// Stop following the feed (shutdown): the loop is cancelled between two calls.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopFeed;

impl Handler<StopFeed> for Feed {
    type Result = ();

    fn handle(&mut self, _: StopFeed, ctx: &mut Context<Self>) {
        log::info!("feed stopped");
        ctx.stop();
    }
}

impl Actor for Feed {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if self.waits_to_lead {
            log::info!(
                "feed waits to lead source={}",
                self.settings.source.as_str()
            );
        } else {
            self.begin(ctx);
        }
    }
}

impl Feed {
    /// Starts the loop that follows the feed.
    fn begin(&mut self, ctx: &mut Context<Self>) {
        let sink = self.sink.clone();
        self.following = match self.settings.source {
            FeedSource::R2z2 => {
                let client = R2z2Client::new(&self.settings.r2z2_base_url, &self.upstream);
                let start = self.place.r2z2_after.map(|saved| saved + 1);
                let mark = Watermark::new(self.place.journal.clone(), self.place.also_save.clone());
                let follow = follow_r2z2(client, self.settings.clone(), start, mark, sink);
                Some(ctx.spawn(follow.into_actor(self)))
            }
            FeedSource::Redisq => {
                let client = RedisqClient::new(
                    &self.settings.redisq_url,
                    &self.place.queue_id,
                    self.settings.redisq_ttw,
                    &self.upstream,
                );
                Some(ctx.spawn(follow_redisq(client, sink).into_actor(self)))
            }
            FeedSource::Off => None,
        };
        match self.settings.source {
            FeedSource::Redisq => {
                log::info!(
                    "feed started source=redisq queue_id={}",
                    self.place.queue_id
                )
            }
            other => log::info!("feed started source={}", other.as_str()),
        }
    }
}

impl Sink {
    /// Hands a kill to the enricher; the answer says when it is settled (stored or refused).
    async fn submit(&self, kill: FeedKill) -> Option<Accepted> {
        let id = kill.killmail_id;
        let ingest = Ingest {
            kill,
            origin: Origin::Live,
        };
        match self.enricher.send(ingest).await {
            Ok(accepted) => Some(accepted),
            Err(e) => {
                log::error!(
                    "enricher unavailable, kill not handed over killmail_id={id} error={e}"
                );
                None
            }
        }
    }

    fn reached(&self) {
        self.settled_once
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.monitor.do_send(FeedOutcome::Success);
    }

    /// Records a failed call, then waits as upstream asked (`Retry-After`) or backs off.
    async fn fail_and_wait(&self, source: &str, error: &FetchError, backoff: &mut Backoff) {
        self.failed(error);
        let wait = match error {
            FetchError::RateLimited {
                retry_after: Some(wait),
                ..
            } => *wait,
            _ => backoff.next(),
        };
        log::warn!(
            "{source} call failed error={error} wait_ms={}",
            wait.as_millis()
        );
        actix::clock::sleep(wait).await;
    }

    fn failed(&self, error: &FetchError) {
        // The first run of someone without internet: say what to do, once.
        if !self
            .settled_once
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            log::warn!(
                "the kill feed cannot be reached ({error}); without internet, run with KILL_FEED=off to serve what is stored, or `make demo` to run against the project's simulator"
            );
        }
        self.stats.feed_errors.incr();
        let outcome = match error {
            FetchError::Timeout => FeedOutcome::Timeout,
            other => FeedOutcome::Failure(other.to_string()),
        };
        self.monitor.do_send(outcome);
    }
}
