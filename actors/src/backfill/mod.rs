//! Backfill from the zKillboard API (SPEC §1.3): a system asked for over REST that has no history
//! yet, and a killmail asked for by id that is not stored.
//!
//! zKillboard gives ids, hashes and zkb blocks; each kill then goes through the enricher like a
//! feed kill (ESI killmail by hash, names, store), marked as history so it is not delivered live.
//! Concurrent requests for one system share one backfill; a system backfilled within
//! `CACHE_SYSTEM_TTL` (for at least the asked window) is not asked again. The work runs as its own
//! task, so a caller that stops waiting at its deadline does not cancel it.

mod deadline;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures_util::future::{join_all, FutureExt, LocalBoxFuture, Shared};
use tokio::sync::oneshot;

use crate::enricher::{Enricher, Ingest, Origin, Outcome};
use crate::model::{FeedKill, KillmailId, StoredKill, SystemId};
use crate::stats::Stats;
use crate::store::Store;
use crate::upstream::http::FetchError;
use crate::upstream::zkb::{ZkbClient, ZkbRef};

pub use deadline::{BackfillError, Backfiller};

/// Kills taken from one zKillboard answer (it lists up to 200, newest first).
pub const MAX_KILLS_PER_BACKFILL: usize = 200;

/// Load a system's history from zKillboard unless it was loaded recently. Answers whether
/// upstream was asked (`true`) or the stored history was already current (`false`).
#[derive(Message)]
#[rtype(result = "Result<bool, FetchError>")]
pub struct BackfillSystem {
    pub system: SystemId,
    pub past: Duration,
}

/// Find a killmail that is not stored: zKillboard for its hash, then ESI. `None` when zKillboard
/// does not know it.
#[derive(Message)]
#[rtype(result = "Result<Option<Arc<StoredKill>>, BackfillError>")]
pub struct FetchKillmail(pub KillmailId);

type Running = Shared<LocalBoxFuture<'static, Result<bool, FetchError>>>;

pub struct Backfill {
    zkb: Rc<ZkbClient>,
    enricher: Addr<Enricher>,
    store: Store,
    stats: Arc<Stats>,
    /// A system loaded within this long is not loaded again.
    fresh_for: Duration,
    /// When each system was last loaded, and how far back.
    loaded: Rc<RefCell<HashMap<SystemId, (Instant, Duration)>>>,
    running: Rc<RefCell<HashMap<SystemId, Running>>>,
}

impl Backfill {
    pub fn new(
        zkb: ZkbClient,
        enricher: Addr<Enricher>,
        store: Store,
        stats: Arc<Stats>,
        fresh_for: Duration,
    ) -> Self {
        Self {
            zkb: Rc::new(zkb),
            enricher,
            store,
            stats,
            fresh_for,
            loaded: Rc::default(),
            running: Rc::default(),
        }
    }

    fn is_fresh(&self, system: SystemId, past: Duration) -> bool {
        self.loaded
            .borrow()
            .get(&system)
            .is_some_and(|(at, window)| at.elapsed() < self.fresh_for && *window >= past)
    }
}

impl Actor for Backfill {
    type Context = Context<Self>;
}

impl Handler<BackfillSystem> for Backfill {
    type Result = ResponseFuture<Result<bool, FetchError>>;

    fn handle(&mut self, msg: BackfillSystem, _: &mut Context<Self>) -> Self::Result {
        let BackfillSystem { system, past } = msg;
        if self.is_fresh(system, past) {
            return Box::pin(async { Ok(false) });
        }
        if let Some(running) = self.running.borrow().get(&system) {
            return Box::pin(running.clone());
        }
        let (done, result) = oneshot::channel();
        let zkb = Rc::clone(&self.zkb);
        let (enricher, stats) = (self.enricher.clone(), Arc::clone(&self.stats));
        let (loaded, running) = (Rc::clone(&self.loaded), Rc::clone(&self.running));
        actix::spawn(async move {
            stats.backfills.incr();
            let outcome = load_system(&zkb, &enricher, system, past).await;
            match &outcome {
                Ok(_) => {
                    loaded.borrow_mut().insert(system, (Instant::now(), past));
                }
                Err(e) => {
                    stats.backfill_errors.incr();
                    log::warn!("backfill failed system_id={system} error={e}");
                }
            }
            running.borrow_mut().remove(&system);
            let _ = done.send(outcome.map(|_| true));
        });
        let shared = async move {
            result
                .await
                .unwrap_or(Err(FetchError::Transport("backfill task ended".to_owned())))
        }
        .boxed_local()
        .shared();
        self.running.borrow_mut().insert(system, shared.clone());
        Box::pin(shared)
    }
}

/// Every kill zKillboard lists for the system, through the enricher; returns how many are stored.
async fn load_system(
    zkb: &ZkbClient,
    enricher: &Addr<Enricher>,
    system: SystemId,
    past: Duration,
) -> Result<usize, FetchError> {
    let refs = zkb.system_kills(system, past).await?;
    let outcomes = join_all(
        refs.into_iter()
            .take(MAX_KILLS_PER_BACKFILL)
            .map(|r| ingest(enricher, r)),
    )
    .await;
    Ok(outcomes
        .iter()
        .filter(|o| matches!(o, Some(Outcome::Stored(_) | Outcome::Duplicate)))
        .count())
}

/// Hands one zKillboard reference to the enricher as history and waits for the outcome.
async fn ingest(enricher: &Addr<Enricher>, r: ZkbRef) -> Option<Outcome> {
    let kill = FeedKill {
        killmail_id: r.killmail_id,
        hash: r.hash,
        esi: None,
        zkb: r.zkb,
        updates_sequence: None,
    };
    let accepted = enricher
        .send(Ingest {
            kill,
            origin: Origin::Backfill,
        })
        .await
        .ok()?;
    accepted.outcome.await.ok()
}

impl Handler<FetchKillmail> for Backfill {
    type Result = ResponseFuture<Result<Option<Arc<StoredKill>>, BackfillError>>;

    fn handle(&mut self, FetchKillmail(id): FetchKillmail, _: &mut Context<Self>) -> Self::Result {
        let zkb = Rc::clone(&self.zkb);
        let (enricher, store) = (self.enricher.clone(), self.store.clone());
        Box::pin(async move {
            let Some(found) = zkb.kill(id).await? else {
                return Ok(None);
            };
            match ingest(&enricher, found).await {
                Some(Outcome::Stored(kill) | Outcome::Updated(kill)) => Ok(Some(kill)),
                Some(Outcome::Duplicate) => store
                    .get(id)
                    .await
                    .map_err(|e| BackfillError::Store(e.to_string())),
                Some(Outcome::StoreFailed(why)) => Err(BackfillError::Store(why)),
                Some(Outcome::Deferred) => Err(FetchError::Status { status: 503 }.into()),
                _ => Ok(None),
            }
        })
    }
}
