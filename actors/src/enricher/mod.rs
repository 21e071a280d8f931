//! The enricher pool: takes a kill from a feed or a backfill, completes it, stores it, and then
//! hands it to delivery (SPEC §2).
//!
//! Per kill: fetch the ESI killmail when the feed did not embed it → validate → de-duplicate →
//! fill names from the caches, fetching the missing ones (coalesced, see [`Resolver`]) for at most
//! `ENRICH_DEADLINE_MS` → store → deliver. A kill that hits the deadline goes on with the names
//! known so far; its stored copy is completed when the late names arrive. At most
//! `enrich.concurrency` kills are in progress; a sender waits for a free slot, which is the feed's
//! back-pressure. A kill whose killmail must come from ESI while ESI is down waits in a bounded
//! retry queue instead of being lost.

mod after_store;
pub mod names;
pub mod resolver;
mod retry;

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures_util::future::{select, Either, LocalBoxFuture};
use tokio::sync::{oneshot, Semaphore};

use crate::model::bounded_ids::BoundedIds;
use crate::model::{FeedKill, Killmail, KillmailId, StoredKill};
use crate::registry::KillStored;
use resolver::{Resolver, Resolving};
pub use retry::RETRY_CAPACITY;
use retry::{waits_for_esi, RETRY_EVERY};

use crate::stats::Stats;
use crate::store::shared::Entry;
use crate::store::{Insert, Store};

/// The longest a live kill waits for a backfill copy of it in progress to settle.
const SETTLE_WAIT: Duration = Duration::from_secs(30);
/// Where a kill comes from. Only live kills are delivered to subscribers; a backfilled kill is
/// history, served by REST and preload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Live,
    Backfill,
}

/// Process one kill. Answers once a slot is free (back-pressure), with a receiver for the
/// outcome.
#[derive(Message)]
#[rtype(result = "Accepted")]
pub struct Ingest {
    pub kill: FeedKill,
    pub origin: Origin,
}

/// The kill has a slot; `outcome` resolves when it is stored (or refused).
pub struct Accepted {
    pub outcome: oneshot::Receiver<Outcome>,
}

/// What became of a kill.
#[derive(Clone, Debug)]
pub enum Outcome {
    Stored(Arc<StoredKill>),
    /// Already stored; a re-published object refreshed its zkb block.
    Updated(Arc<StoredKill>),
    Duplicate,
    TooOld,
    Invalid(String),
    /// The store did not answer (one of its actors stopped): the kill is not stored. Broken,
    /// not "nothing": counted apart, logged as an error, and `/health` says so.
    StoreFailed(String),
    /// ESI could not give the killmail now; the kill waits in the retry queue.
    Deferred,
    /// The retry queue was full, or ESI kept failing on this kill for too long.
    Dropped,
}

/// The part of the enricher its kill tasks share.
struct Pipeline {
    resolver: Rc<Resolver>,
    store: Store,
    stats: Arc<Stats>,
    deadline: Duration,
    /// Who hears about every stored live kill (the subscription registry).
    delivery: Vec<Recipient<KillStored>>,
    /// Kills waiting for ESI, with the rounds they already waited.
    retry: RefCell<VecDeque<(FeedKill, Origin, u32)>>,
    /// Who waits for the final outcome of a live kill in the retry queue (the feed's cursor).
    waiting: RefCell<HashMap<KillmailId, oneshot::Sender<Outcome>>>,
    /// Kill ids in progress, so two copies offered at once are stored once.
    in_progress: RefCell<HashSet<KillmailId>>,
    /// Kills a backfill stored that the live feed has not brought yet: when it does, they are
    /// delivered live then (once), instead of being dropped as duplicates.
    history_only: RefCell<BoundedIds>,
}

pub struct Enricher {
    pipeline: Rc<Pipeline>,
    permits: Arc<Semaphore>,
    /// Backfilled kills take one of these before a slot: they never hold more than half of
    /// the slots, so a burst of history cannot keep live kills (and their names) waiting.
    backfill_permits: Arc<Semaphore>,
}

impl Enricher {
    pub fn new(
        resolver: Resolver,
        store: Store,
        stats: Arc<Stats>,
        deadline: Duration,
        concurrency: usize,
        delivery: Vec<Recipient<KillStored>>,
    ) -> Self {
        Self {
            pipeline: Rc::new(Pipeline {
                resolver: Rc::new(resolver),
                store,
                stats,
                deadline,
                delivery,
                retry: RefCell::new(VecDeque::new()),
                waiting: RefCell::new(HashMap::new()),
                in_progress: RefCell::new(HashSet::new()),
                history_only: RefCell::new(BoundedIds::default()),
            }),
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            backfill_permits: Arc::new(Semaphore::new((concurrency / 2).max(1))),
        }
    }

    /// Runs one kill as its own task once a slot is free; `started` fires when it has the slot.
    fn run(
        &self,
        kill: FeedKill,
        origin: Origin,
        rounds: u32,
        started: Option<oneshot::Sender<()>>,
        done: Option<oneshot::Sender<Outcome>>,
    ) {
        let pipeline = Rc::clone(&self.pipeline);
        let permits = Arc::clone(&self.permits);
        let backfill_permits =
            (origin == Origin::Backfill).then(|| Arc::clone(&self.backfill_permits));
        actix::spawn(async move {
            // The semaphores are never closed, so acquiring only waits.
            let _history = match backfill_permits {
                Some(permits) => Some(permits.acquire_owned().await),
                None => None,
            };
            let _permit = permits.acquire_owned().await;
            if let Some(started) = started {
                let _ = started.send(());
            }
            let id = kill.killmail_id;
            let outcome = Rc::clone(&pipeline).process(kill, origin, rounds).await;
            match (outcome, done) {
                // A live kill waiting for ESI is not settled yet: the feed's saved cursor must
                // not pass it. Its answer comes when the retry queue is done with it.
                (Outcome::Deferred, Some(done)) if origin == Origin::Live => {
                    pipeline.waiting.borrow_mut().insert(id, done);
                }
                // The asker may have stopped waiting; the kill is handled either way.
                (outcome, Some(done)) => {
                    let _ = done.send(outcome);
                }
                (_, None) => {}
            }
        });
    }
}

impl Pipeline {
    async fn process(self: Rc<Self>, kill: FeedKill, origin: Origin, rounds: u32) -> Outcome {
        let started = Instant::now();
        let id = kill.killmail_id;
        if origin == Origin::Live {
            // A backfill copy in progress would make this live copy a "duplicate" and it would
            // never be pushed: wait for it to settle, then go on as a stored kill's live copy.
            let waited = Instant::now();
            while self.in_progress.borrow().contains(&id) && waited.elapsed() < SETTLE_WAIT {
                actix::clock::sleep(Duration::from_millis(20)).await;
            }
        }
        if !self.in_progress.borrow_mut().insert(id) {
            self.stats.kills_duplicate.incr();
            return Outcome::Duplicate;
        }
        if rounds == 0 {
            self.stats.kills_received.incr();
        }
        let outcome = self.complete_and_store(kill, origin, rounds, started).await;
        self.in_progress.borrow_mut().remove(&id);
        match (&outcome, origin) {
            (Outcome::Stored(_), Origin::Backfill) => self.history_only.borrow_mut().insert(id),
            (Outcome::Duplicate, Origin::Live)
                if self.history_only.borrow_mut().remove(id) || self.store.is_shared() =>
            {
                self.deliver_late(id).await;
            }
            _ => {}
        }
        match &outcome {
            Outcome::Stored(_) => self.stats.kills_stored.incr(),
            Outcome::Updated(_) => self.stats.kills_updated.incr(),
            Outcome::Duplicate => self.stats.kills_duplicate.incr(),
            Outcome::TooOld => self.stats.kills_too_old.incr(),
            Outcome::Invalid(why) => {
                self.stats.kills_invalid.incr();
                log::warn!("kill refused killmail_id={id} reason={why}");
            }
            Outcome::StoreFailed(why) => {
                self.stats.kills_store_failed.incr();
                log::error!(
                    "kill not stored, the store did not answer killmail_id={id} error={why}"
                );
            }
            Outcome::Deferred | Outcome::Dropped => {}
        }
        outcome
    }

    async fn complete_and_store(
        self: &Rc<Self>,
        kill: FeedKill,
        origin: Origin,
        rounds: u32,
        started: Instant,
    ) -> Outcome {
        let id = kill.killmail_id;
        let esi = match kill.esi.clone() {
            Some(esi) => esi,
            None => {
                match self.store.get(id).await {
                    Ok(Some(_)) if kill.updates_sequence.is_none() => return Outcome::Duplicate,
                    Err(e) => return Outcome::StoreFailed(e.to_string()),
                    _ => {}
                }
                match self.resolver.killmail(id, &kill.hash).await {
                    Ok(esi) => esi,
                    Err(e) if waits_for_esi(&e) => return self.defer(kill, origin, rounds, &e),
                    Err(e) => return Outcome::Invalid(format!("esi killmail: {e}")),
                }
            }
        };
        let mut killmail = match esi.into_killmail(Some(kill.zkb.clone())) {
            Ok(km) => km,
            Err(e) => return Outcome::Invalid(e.to_string()),
        };
        // The feed's id wins: ESI's copy of the id is the same kill by construction of the URL.
        killmail.killmail_id = id;
        match self.store.get_in(killmail.system_id, id).await {
            Ok(Some(_)) if kill.updates_sequence.is_some() => {
                return self.refresh_zkb(&killmail).await
            }
            Ok(Some(_)) => return Outcome::Duplicate,
            Ok(None) => {}
            Err(e) => return Outcome::StoreFailed(e.to_string()),
        }
        if killmail.kill_time < self.store.retention_start() {
            return Outcome::TooOld;
        }

        // What arrives after the kill is stored (names past the deadline, tickers) is written
        // into the stored copy then.
        let mut late: Option<LocalBoxFuture<'static, ()>> = None;
        let mut past_deadline = false;
        let missing = self.resolver.fill(&mut killmail);
        if !missing.is_empty() {
            let Resolving { names, tickers } = self.resolver.resolve(&missing);
            let deadline = Box::pin(actix::clock::sleep(self.deadline));
            let rest = match select(names, deadline).await {
                Either::Right((_, names)) => {
                    past_deadline = true;
                    Some(names)
                }
                Either::Left(_) => None,
            };
            late = match (rest, tickers) {
                (None, None) => None,
                (Some(rest), None) => Some(rest),
                (None, Some(tickers)) => Some(tickers),
                (Some(rest), Some(tickers)) => Some(Box::pin(async move {
                    rest.await;
                    tickers.await;
                })),
            };
            self.resolver.fill(&mut killmail);
        }

        let system = killmail.system_id;
        let entry = match origin {
            Origin::Live => Entry::Live,
            Origin::Backfill => Entry::History,
        };
        let inserted = self
            .store
            .insert_as(killmail, entry)
            .await
            .map(|i| (i.outcome, i.system_count));
        match inserted {
            Ok((Insert::Stored(stored), system_count)) => {
                self.stats.pipeline_seconds.observe(started.elapsed());
                if origin == Origin::Live {
                    for recipient in &self.delivery {
                        recipient.do_send(KillStored {
                            kill: Arc::clone(&stored),
                            system_count,
                            receipt: None,
                        });
                    }
                }
                if past_deadline {
                    self.stats.kills_enriched_late.incr();
                }
                if let Some(names) = late {
                    let this = Rc::clone(self);
                    actix::spawn(async move {
                        names.await;
                        this.complete_later(system, id).await;
                    });
                }
                Outcome::Stored(stored)
            }
            Ok((Insert::Duplicate, _)) => Outcome::Duplicate,
            Ok((Insert::TooOld, _)) => Outcome::TooOld,
            Err(e) => Outcome::StoreFailed(e.to_string()),
        }
    }

    /// A re-published object: the stored kill takes its zkb block; it is not delivered again.
    async fn refresh_zkb(&self, fresh: &Killmail) -> Outcome {
        let zkb = fresh.zkb.clone();
        match self
            .store
            .update(fresh.system_id, fresh.killmail_id, move |km| km.zkb = zkb)
            .await
        {
            Ok(Some(updated)) => Outcome::Updated(updated),
            Ok(None) => Outcome::Duplicate,
            Err(e) => Outcome::StoreFailed(e.to_string()),
        }
    }
}

impl Actor for Enricher {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(RETRY_EVERY, |this, _| this.retry_waiting());
    }
}

impl Handler<Ingest> for Enricher {
    type Result = ResponseFuture<Accepted>;

    fn handle(&mut self, msg: Ingest, _: &mut Context<Self>) -> Self::Result {
        let (started, slot) = oneshot::channel();
        let (done, outcome) = oneshot::channel();
        self.run(msg.kill, msg.origin, 0, Some(started), Some(done));
        Box::pin(async move {
            let _ = slot.await;
            Accepted { outcome }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{EsiSettings, UpstreamSettings};
    use crate::enricher::names::{CacheLimits, NameCache};
    use crate::model::{EsiKillmail, KillTime, Zkb};
    use crate::store::journal::Journal;
    use crate::upstream::esi::EsiClient;

    #[actix::test]
    async fn a_kill_the_store_cannot_take_is_a_store_failure_not_an_invalid_kill() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (journal, _) = Journal::open(dir.path(), 3600).expect("opens");
        let stats: Arc<Stats> = Arc::default();
        let upstream = UpstreamSettings {
            user_agent: "test".into(),
            connect_timeout_ms: 200,
            request_timeout_ms: 200,
        };
        let esi = EsiSettings {
            // Never asked: the store is asked first, and fails.
            base_url: "http://127.0.0.1:9".into(),
            compatibility_date: "2025-08-26".into(),
            max_retries: 0,
        };
        let resolver = Resolver::new(
            EsiClient::new(&esi, &upstream),
            NameCache::new(CacheLimits::default()),
            Arc::clone(&stats),
        );
        let store = Store::unanswering(journal, Arc::clone(&stats));
        let enricher = Enricher::new(
            resolver,
            store,
            Arc::clone(&stats),
            Duration::from_millis(100),
            1,
            Vec::new(),
        )
        .start();
        let esi: EsiKillmail = serde_json::from_value(serde_json::json!({
            "killmail_id": 7, "killmail_time": KillTime::now().to_string(),
            "solar_system_id": 30000142, "victim": {"ship_type_id": 670}, "attackers": []
        }))
        .expect("an ESI killmail");
        let kill = FeedKill {
            killmail_id: KillmailId::new(7).expect("an id"),
            hash: "abc".into(),
            esi: Some(esi),
            zkb: Zkb::default(),
            updates_sequence: None,
        };

        let accepted = enricher
            .send(Ingest {
                kill,
                origin: Origin::Live,
            })
            .await
            .expect("the enricher answers");
        let outcome = accepted.outcome.await.expect("an outcome");

        assert!(matches!(outcome, Outcome::StoreFailed(_)), "{outcome:?}");
        assert_eq!(stats.kills_store_failed.get(), 1);
        assert_eq!(stats.kills_invalid.get(), 0);
    }
}
