//! Turns the ids a killmail's caches could not answer into ESI calls, at most one per id at a
//! time: a second kill needing an id already being fetched waits for that fetch instead of
//! asking again (20 attackers from one corporation = one request).
//!
//! The names of the characters, corporations and alliances of every kill that arrives within a
//! few milliseconds come in one `/universe/names/` call (a burst of kills after a cold start costs
//! one request and one connection, not one per kill or per id); the tickers of corporations and alliances follow from their own routes (the ticker is
//! only there) and are written into the stored kill when they arrive. Ship types come from
//! `/universe/types/` (the group is only there) and systems from `/universe/systems/` when the
//! static data lacks them. Not an actor: it lives inside the
//! enricher's arbiter, and its fetches run as tasks there, so a fetch finishes (and fills the
//! cache) even when the kill that started it has already moved on at its deadline.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use futures_util::future::{join_all, FutureExt, LocalBoxFuture, Shared};
use tokio::sync::oneshot;

use crate::enricher::names::{Missing, NameCache};
use crate::model::{EsiKillmail, Killmail, KillmailId, NameKind};
use crate::stats::Stats;
use crate::store::journal::Journal;
use crate::upstream::esi::EsiClient;
use crate::upstream::http::FetchError;

/// Completes when the fetch it stands for is over (whatever its result).
type Pending = Shared<LocalBoxFuture<'static, ()>>;

/// The `/universe/names/` call about to leave: the ids it will ask for, and what completes
/// when it is over. It leaves as soon as the call before it is over (at once when none is under
/// way), so a lone kill never waits for company, and the ids of a burst that arrive while one
/// call is out leave together in the next.
struct Batch {
    ids: Rc<RefCell<Vec<(NameKind, u64)>>>,
    pending: Pending,
}

/// What a kill waits for: its names, and then (not waited for before it is stored) the tickers
/// of the corporations and alliances whose names came from `/universe/names/`.
pub struct Resolving {
    pub names: LocalBoxFuture<'static, ()>,
    pub tickers: Option<LocalBoxFuture<'static, ()>>,
}

pub struct Resolver {
    esi: EsiClient,
    cache: RefCell<NameCache>,
    /// Fetches under way, by the id they resolve; joined instead of repeated.
    inflight: RefCell<HashMap<(NameKind, u64), Pending>>,
    /// The names call still gathering ids.
    open_batch: RefCell<Option<Batch>>,
    /// The last names call that left (or is about to): the next one leaves after it.
    last_batch: RefCell<Option<Pending>>,
    stats: Arc<Stats>,
    /// Where learned names are saved, when there is a store.
    journal: Option<Journal>,
}

impl Resolver {
    pub fn new(esi: EsiClient, cache: NameCache, stats: Arc<Stats>) -> Self {
        Self {
            esi,
            cache: RefCell::new(cache),
            inflight: RefCell::new(HashMap::new()),
            open_batch: RefCell::new(None),
            last_batch: RefCell::new(None),
            stats,
            journal: None,
        }
    }

    /// Saves every name learned from ESI into `journal`.
    pub fn with_journal(mut self, journal: Journal) -> Self {
        self.journal = Some(journal);
        self
    }

    /// Hands what the cache learned to the journal.
    fn save_learned(&self) {
        let learned = self.cache.borrow_mut().take_learned();
        if let Some(journal) = &self.journal {
            journal.save_names(learned);
        }
    }

    /// ESI is refusing calls until then (error budget spent, 420 or 429).
    pub fn esi_paused_until(&self) -> Option<Instant> {
        self.esi.paused_until()
    }

    /// Writes every cached name into `km`; returns the ids still unknown.
    pub fn fill(&self, km: &mut Killmail) -> Missing {
        let (missing, lookups) = self.cache.borrow_mut().fill(km, Instant::now());
        self.stats.cache_hits.add(lookups.hits);
        self.stats.cache_misses.add(lookups.misses);
        missing
    }

    /// The killmail itself, for feeds that did not embed it.
    pub async fn killmail(&self, id: KillmailId, hash: &str) -> Result<EsiKillmail, FetchError> {
        self.stats.esi_requests.incr();
        let result = self.esi.killmail(id, hash).await;
        if result.is_err() {
            self.stats.esi_errors.incr();
        }
        result
    }

    /// Starts (or joins) the fetches of every id in `missing`. The names of every character,
    /// corporation and alliance come in one `/universe/names/` call; ship types and systems (rare:
    /// the static data names them) from their own routes. Answers when the names are in, and,
    /// when corporations or alliances were asked, a second future for their tickers, which
    /// follow from their own routes. Dropping either does not stop the fetches.
    pub fn resolve(self: &Rc<Self>, missing: &Missing) -> Resolving {
        let mut waits = Vec::new();
        let mut people: Vec<(NameKind, u64)> = Vec::new();
        for &(kind, id) in &missing.0 {
            if let Some(pending) = self.inflight.borrow().get(&(kind, id)) {
                waits.push(pending.clone());
                continue;
            }
            match kind {
                NameKind::Character | NameKind::Corporation | NameKind::Alliance => {
                    people.push((kind, id));
                }
                NameKind::Type | NameKind::System => {
                    let this = Rc::clone(self);
                    let pending =
                        self.spawn(&[(kind, id)], async move { this.fetch_one(kind, id).await });
                    waits.push(pending);
                }
            }
        }
        // Tickers of names known already (from another kill's names call): joined, or fetched.
        let mut ticker_waits: Vec<Pending> = missing
            .1
            .iter()
            .map(|&(kind, id)| self.ticker(kind, id))
            .collect();
        if !people.is_empty() {
            let names = self.join_batch(&people);
            waits.push(names.clone());
            let orgs: Vec<(NameKind, u64)> = people
                .iter()
                .filter(|(kind, _)| *kind != NameKind::Character)
                .copied()
                .collect();
            if !orgs.is_empty() {
                // Once the names are in, the tickers follow on their own: the kill does not
                // wait for them before it is stored.
                let (told, tickers_done) = oneshot::channel::<()>();
                let this = Rc::clone(self);
                actix::spawn(async move {
                    names.await;
                    let now = Instant::now();
                    let fetches: Vec<Pending> = orgs
                        .into_iter()
                        .filter(|&(kind, id)| this.cache.borrow_mut().ticker_pending(kind, id, now))
                        .map(|(kind, id)| this.ticker(kind, id))
                        .collect();
                    join_all(fetches).await;
                    let _ = told.send(());
                });
                ticker_waits.push(
                    async move {
                        let _ = tickers_done.await;
                    }
                    .boxed_local()
                    .shared(),
                );
            }
        }
        Resolving {
            names: async move {
                join_all(waits).await;
            }
            .boxed_local(),
            tickers: (!ticker_waits.is_empty()).then(|| {
                async move {
                    join_all(ticker_waits).await;
                }
                .boxed_local()
            }),
        }
    }

    /// Adds `keys` to the `/universe/names/` call about to leave, opening one when none is. A
    /// new call leaves once the previous one is over (and once the kills already running had
    /// their turn to join it), so a burst of kills costs one request per round trip, not one
    /// each, and a lone kill's names leave at once.
    fn join_batch(self: &Rc<Self>, keys: &[(NameKind, u64)]) -> Pending {
        let mut open = self.open_batch.borrow_mut();
        let batch = open.get_or_insert_with(|| {
            let ids: Rc<RefCell<Vec<(NameKind, u64)>>> = Rc::default();
            let (done, finished) = oneshot::channel::<()>();
            let this = Rc::clone(self);
            let asked = Rc::clone(&ids);
            let before = self.last_batch.borrow_mut().take();
            actix::spawn(async move {
                if let Some(before) = before {
                    before.await;
                }
                this.open_batch.borrow_mut().take();
                let asked: Vec<(NameKind, u64)> = asked.borrow().clone();
                this.fetch_names(&asked).await;
                let mut inflight = this.inflight.borrow_mut();
                for key in &asked {
                    inflight.remove(key);
                }
                drop(inflight);
                // The receiver may be gone when every waiter moved on.
                let _ = done.send(());
            });
            let pending = async move {
                let _ = finished.await;
            }
            .boxed_local()
            .shared();
            *self.last_batch.borrow_mut() = Some(pending.clone());
            Batch { ids, pending }
        });
        batch.ids.borrow_mut().extend_from_slice(keys);
        let mut inflight = self.inflight.borrow_mut();
        for key in keys {
            inflight.insert(*key, batch.pending.clone());
        }
        batch.pending.clone()
    }

    /// The fetch of a corporation's or an alliance's ticker: joined when one is under way.
    fn ticker(self: &Rc<Self>, kind: NameKind, id: u64) -> Pending {
        if let Some(pending) = self.inflight.borrow().get(&(kind, id)) {
            return pending.clone();
        }
        let this = Rc::clone(self);
        self.spawn(&[(kind, id)], async move { this.fetch_one(kind, id).await })
    }

    /// Runs `fetch` as its own task, registered under `keys` until it is over.
    fn spawn(
        self: &Rc<Self>,
        keys: &[(NameKind, u64)],
        fetch: impl Future<Output = ()> + 'static,
    ) -> Pending {
        let (done, finished) = oneshot::channel::<()>();
        let this = Rc::clone(self);
        let owned: Vec<(NameKind, u64)> = keys.to_vec();
        actix::spawn(async move {
            fetch.await;
            let mut inflight = this.inflight.borrow_mut();
            for key in &owned {
                inflight.remove(key);
            }
            // The receiver may be gone when every waiter moved on; nothing to tell then.
            let _ = done.send(());
        });
        let pending = async move {
            let _ = finished.await;
        }
        .boxed_local()
        .shared();
        let mut inflight = self.inflight.borrow_mut();
        for key in keys {
            inflight.insert(*key, pending.clone());
        }
        pending
    }

    /// One `/universe/names/` call for characters, corporations and alliances.
    async fn fetch_names(&self, asked: &[(NameKind, u64)]) {
        self.stats.esi_requests.incr();
        let ids: Vec<u64> = asked.iter().map(|(_, id)| *id).collect();
        // A batch gathers many kills' ids: look each answer's kind up, not through the list.
        let kind_of: HashMap<u64, NameKind> = asked.iter().map(|&(kind, id)| (id, kind)).collect();
        match self.esi.names(&ids).await {
            Ok(names) => {
                let now = Instant::now();
                let mut cache = self.cache.borrow_mut();
                for name in names.resolved {
                    match kind_of.get(&name.id).copied() {
                        Some(NameKind::Character) => cache.put_character(name.id, name.name, now),
                        Some(kind @ (NameKind::Corporation | NameKind::Alliance)) => {
                            cache.put_org_name(kind, name.id, name.name, now);
                        }
                        _ => {}
                    }
                }
                for id in names.unknown {
                    if let Some(&kind) = kind_of.get(&id) {
                        cache.put_unknown(kind, id, now);
                    }
                }
            }
            Err(e) => self.failed(NameKind::Character, ids.len(), &e),
        }
        self.save_learned();
    }

    async fn fetch_one(&self, kind: NameKind, id: u64) {
        self.stats.esi_requests.incr();
        let now = Instant::now();
        let result = match kind {
            NameKind::Corporation => self.esi.corporation(id).await.map(|org| {
                self.cache.borrow_mut().put_corporation(id, org, now);
            }),
            NameKind::Alliance => self.esi.alliance(id).await.map(|org| {
                self.cache.borrow_mut().put_alliance(id, org, now);
            }),
            NameKind::Type => self.esi.inventory_type(id).await.map(|info| {
                self.cache.borrow_mut().put_type(id, info, now);
            }),
            NameKind::System => self.esi.solar_system(id).await.map(|s| {
                self.cache.borrow_mut().put_system(id, s.name, now);
            }),
            NameKind::Character => self.esi.character(id).await.map(|c| {
                self.cache.borrow_mut().put_character(id, c.name, now);
            }),
        };
        match result {
            Ok(()) => {}
            Err(FetchError::NotFound) => self.cache.borrow_mut().put_unknown(kind, id, now),
            Err(e) => self.failed(kind, 1, &e),
        }
        self.save_learned();
    }

    fn failed(&self, kind: NameKind, ids: usize, error: &FetchError) {
        self.stats.esi_errors.incr();
        log::debug!("esi lookup failed kind={kind:?} ids={ids} error={error}");
    }
}
