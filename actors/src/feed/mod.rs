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
mod watermark;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::config::{FeedSettings, FeedSource, UpstreamSettings};
use crate::enricher::{Accepted, Enricher, Ingest, Origin};
use crate::model::{FeedKill, KillTime, R2z2Entry};
use crate::monitor::{FeedOutcome, Monitor};
use crate::stats::Stats;
use crate::store::journal::Journal;
use crate::upstream::http::FetchError;
use crate::upstream::r2z2::R2z2Client;
use crate::upstream::redisq::RedisqClient;
use backoff::Backoff;
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

fn gauge(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

async fn follow_r2z2(
    client: R2z2Client,
    settings: FeedSettings,
    resume: Option<u64>,
    mark: Rc<RefCell<Watermark>>,
    sink: Sink,
) {
    let stats = Arc::clone(&sink.stats);
    let mut backoff = Backoff::new(R2Z2_BACKOFF);
    // After the saved cursor; with none, the configured start, else the object after the
    // published head (the head itself was published before we started).
    let mut cursor = match resume.or(settings.r2z2_start_sequence) {
        Some(start) => {
            // Resuming: the head is only a figure here, read once so it is not 0 until the
            // feed next catches up.
            if let Ok(head) = client.head().await {
                stats.feed_head.set(gauge(head));
            }
            start
        }
        None => loop {
            match client.head().await {
                Ok(head) => {
                    sink.reached();
                    stats.feed_head.set(gauge(head));
                    break head + 1;
                }
                Err(e) => {
                    log::warn!("r2z2 head unavailable error={e}");
                    sink.failed(&e);
                    actix::clock::sleep(backoff.next()).await;
                }
            }
        },
    };
    log::info!(
        "r2z2 following from sequence={cursor} resumed={}",
        resume.is_some()
    );
    mark.borrow_mut().moved_to(cursor);
    let mut stuck_since: Option<Instant> = None;
    let mut garbled = 0;
    let mut head_read = Instant::now();
    let head_refresh = Duration::from_millis(settings.r2z2_head_refresh_ms);
    loop {
        stats.feed_cursor.set(gauge(cursor));
        if head_read.elapsed() >= head_refresh {
            head_read = Instant::now();
            if let Ok(head) = client.head().await {
                stats.feed_head.set(stats.feed_head.get().max(gauge(head)));
            }
        }
        match client.object(cursor).await {
            Ok(object) => {
                sink.reached();
                backoff.reset();
                stuck_since = None;
                garbled = 0;
                stats.feed_objects.incr();
                // An object at the cursor means the head is at least there.
                stats
                    .feed_head
                    .set(stats.feed_head.get().max(gauge(cursor)));
                if let Some(uploaded) = object.uploaded_at {
                    stats
                        .feed_lag_seconds
                        .set(KillTime::now().unix() - gauge(uploaded));
                }
                match object.classify() {
                    R2z2Entry::Placeholder => stats.feed_placeholders.incr(),
                    R2z2Entry::Kill(kill) => {
                        if let Some(accepted) = sink.submit(*kill).await {
                            let sequence = cursor;
                            mark.borrow_mut().handed(sequence);
                            let mark = Rc::clone(&mark);
                            actix::spawn(async move {
                                let _ = accepted.outcome.await;
                                mark.borrow_mut().settled(sequence);
                            });
                        }
                    }
                }
                cursor += 1;
                mark.borrow_mut().moved_to(cursor);
                actix::clock::sleep(Duration::from_millis(settings.r2z2_object_pause_ms)).await;
            }
            Err(FetchError::NotYet) => {
                sink.reached();
                backoff.reset();
                let since = *stuck_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= Duration::from_millis(settings.r2z2_stuck_skip_ms) {
                    if let Ok(head) = client.head().await {
                        stats.feed_head.set(gauge(head));
                        if head > cursor {
                            log::warn!("r2z2 sequence skipped sequence={cursor} head={head}");
                            stats.feed_skipped_sequences.incr();
                            cursor += 1;
                            mark.borrow_mut().moved_to(cursor);
                            stuck_since = None;
                            continue;
                        }
                    }
                    stuck_since = Some(Instant::now());
                }
                actix::clock::sleep(Duration::from_millis(settings.r2z2_not_found_wait_ms)).await;
            }
            Err(FetchError::Malformed(why)) => {
                stats.feed_malformed.incr();
                garbled += 1;
                if garbled >= MALFORMED_TRIES {
                    log::warn!("r2z2 object unreadable, skipped sequence={cursor} error={why}");
                    stats.feed_skipped_sequences.incr();
                    cursor += 1;
                    mark.borrow_mut().moved_to(cursor);
                    garbled = 0;
                } else {
                    log::debug!("r2z2 object unreadable sequence={cursor} error={why}");
                    actix::clock::sleep(MALFORMED_PAUSE).await;
                }
            }
            Err(e) => sink.fail_and_wait("r2z2", &e, &mut backoff).await,
        }
    }
}

async fn follow_redisq(client: RedisqClient, sink: Sink) {
    let stats = Arc::clone(&sink.stats);
    let mut backoff = Backoff::new(REDISQ_BACKOFF);
    loop {
        match client.listen().await {
            Ok(Some(kill)) => {
                sink.reached();
                backoff.reset();
                stats.feed_objects.incr();
                let _ = sink.submit(kill).await;
            }
            Ok(None) => {
                sink.reached();
                backoff.reset();
            }
            Err(FetchError::Malformed(why)) => {
                // The endpoint answered; its answer is unusable. Skip it and ask for the next.
                stats.feed_malformed.incr();
                log::warn!("redisq answer unreadable, skipped error={why}");
                actix::clock::sleep(MALFORMED_PAUSE).await;
            }
            Err(e) => sink.fail_and_wait("redisq", &e, &mut backoff).await,
        }
    }
}
