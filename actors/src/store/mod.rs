//! Kill storage: per-system shards in memory, each owned by a shard actor, with the on-disk
//! journal to come underneath. Every stored kill carries its offset and its canonical JSON,
//! serialized once and shared by every recipient.
//!
//! [`Store`] is the one interface the rest of the engine and the web layer use: it routes a
//! system to its shard and fans the by-id and by-character reads out to every shard.

pub mod journal;
pub mod offsets;
pub mod shard;
pub mod shard_actor;
pub mod shared;

use std::sync::Arc;
use std::time::Duration;

use crate::config::StorageSettings;
use crate::model::{
    CharacterId, Dictionary, Filter, KillTime, Killmail, KillmailId, StoredKill, SystemId,
};
use crate::stats::Stats;
use actix::prelude::*;

use journal::Journal;
use offsets::Offsets;
pub use shard::{Insert, Shard, ShardLimits};
pub use shard_actor::Inserted;
use shard_actor::{
    AtOffset, CharacterKills, Count, FirstAfter, Get, Put, Replay, ShardActor, SystemKills, Update,
};
use shared::{Entry, SharedLog};

/// The first wait before a kill the disk refused is written again, and the longest.
const DISK_RETRY_FIRST: Duration = Duration::from_millis(200);
const DISK_RETRY_MAX: Duration = Duration::from_secs(5);

/// Shards in memory. Systems spread over them by id; more shards means shorter mailboxes.
pub const SHARDS: usize = 4;

/// The store could not answer; the caller reports it as a server error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A shard actor did not answer (it stopped).
    #[error("the store did not answer: {0}")]
    Mailbox(MailboxError),
    /// Cluster mode: the shared log did not give a kill back.
    #[error("the shared kill log: {0}")]
    Log(String),
}

/// The handle to every shard. Cheap to clone and usable from any thread.
#[derive(Clone)]
pub struct Store {
    shards: Arc<[Addr<ShardActor>]>,
    offsets: Arc<Offsets>,
    retention_secs: i64,
    journal: Journal,
    stats: Arc<Stats>,
    /// Cluster mode: the log kills go to (and come back from) instead of the journal.
    shared: Option<Arc<dyn SharedLog>>,
    /// Cluster mode: kills taken from the log as history, until the live feed brings them.
    history_only: Arc<std::sync::Mutex<crate::model::bounded_ids::BoundedIds>>,
}

/// Builds the shards from the kills read back at boot, the shards in parallel (this is most of
/// the boot time after parsing). They pack the next kills against `dictionary`, the one the
/// kills read back were packed against, until they have one of their own.
pub fn rebuild(
    limits: ShardLimits,
    restored: Vec<StoredKill>,
    dictionary: Option<Arc<Dictionary>>,
) -> Vec<Shard> {
    let mut parts: Vec<Vec<StoredKill>> = (0..SHARDS).map(|_| Vec::new()).collect();
    for kill in restored {
        parts[shard_of(kill.facts.system_id)].push(kill);
    }
    let now = KillTime::now();
    std::thread::scope(|scope| {
        let workers: Vec<_> = parts
            .into_iter()
            .map(|part| {
                let dictionary = dictionary.clone();
                scope.spawn(move || {
                    let mut shard = Shard::new(limits);
                    if let Some(dictionary) = dictionary {
                        shard.pack_against(dictionary);
                    }
                    for kill in part {
                        shard.restore(kill, now);
                    }
                    shard
                })
            })
            .collect();
        workers
            .into_iter()
            // A restoring thread only panics on a bug; start that shard empty rather than fail.
            .map(|w| w.join().unwrap_or_else(|_| Shard::new(limits)))
            .collect()
    })
}

/// The shard that owns `system`. The modulo keeps the index below `SHARDS`.
fn shard_of(system: SystemId) -> usize {
    (system.get() % SHARDS as u64) as usize
}

impl Store {
    /// Starts the shard actors on the current arbiter holding the kills read back from disk;
    /// offsets continue after `last_offset`; every kill stored from now on goes to `journal`.
    pub fn start(
        settings: &StorageSettings,
        stats: Arc<Stats>,
        journal: Journal,
        restored: Vec<StoredKill>,
        dictionary: Option<Arc<Dictionary>>,
        last_offset: u64,
    ) -> Self {
        let limits = ShardLimits {
            max_per_system: settings.max_kills_per_system.max(1),
            retention_secs: i64::try_from(settings.retention().as_secs()).unwrap_or(i64::MAX),
        };
        let shards = rebuild(limits, restored, dictionary);
        let held: usize = shards.iter().map(Shard::len).sum();
        stats.kills_held.set(held as i64);
        let offsets = Arc::new(Offsets::new(last_offset));
        let shards = shards
            .into_iter()
            .map(|shard| {
                let (offsets, stats) = (Arc::clone(&offsets), Arc::clone(&stats));
                Supervisor::start(move |_| ShardActor::new(shard, offsets, stats))
            })
            .collect();
        Self {
            shards,
            offsets,
            retention_secs: limits.retention_secs,
            journal,
            stats,
            shared: None,
            history_only: Arc::default(),
        }
    }

    /// Cluster mode: kills are stored through `log`, and their offsets are its sequence numbers.
    pub fn sharing(mut self, log: Arc<dyn SharedLog>) -> Self {
        self.shared = Some(log);
        self
    }

    /// Whether kills go through a log shared with other instances.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// A store whose shard actors have all stopped, so every question fails: for tests of how
    /// callers report a broken store.
    #[cfg(test)]
    pub(crate) fn unanswering(journal: Journal, stats: Arc<Stats>) -> Self {
        let offsets = Arc::new(Offsets::new(0));
        let shards = (0..SHARDS)
            .map(|_| {
                let actor =
                    ShardActor::new(Shard::default(), Arc::clone(&offsets), Arc::clone(&stats));
                ShardActor::create(|ctx: &mut Context<ShardActor>| {
                    ctx.stop();
                    actor
                })
            })
            .collect();
        Self {
            shards,
            offsets,
            retention_secs: 3600,
            journal,
            stats,
            shared: None,
            history_only: Arc::default(),
        }
    }

    fn shard(&self, system: SystemId) -> &Addr<ShardActor> {
        &self.shards[shard_of(system)]
    }

    /// The oldest kill time still inside the retention window.
    pub fn retention_start(&self) -> KillTime {
        KillTime::now().minus_secs(self.retention_secs)
    }

    /// Stores a kill; the answer carries the system's count after it. A stored kill is
    /// answered only once it is on disk: when the disk refuses it (full, read-only), it is
    /// written again until the disk takes it, and the answer waits. So the kill is delivered
    /// only once durable, the feed's cursor never passes it, and the feed pauses while every
    /// enrichment slot waits (back-pressure). It is served from memory meanwhile, and `/health`
    /// says how many kills wait for the disk.
    pub async fn insert(&self, killmail: Killmail) -> Result<Inserted, StoreError> {
        self.insert_as(killmail, Entry::Live).await
    }

    /// [`Store::insert`] saying where the kill comes from: in cluster mode, the other instances
    /// push a live kill and only store a history one.
    pub async fn insert_as(
        &self,
        killmail: Killmail,
        entry: Entry,
    ) -> Result<Inserted, StoreError> {
        if let Some(log) = &self.shared {
            return self.insert_shared(log, killmail, entry).await;
        }
        let shard = self.shard(killmail.system_id);
        let now = KillTime::now();
        let inserted = shard.send(Put { killmail, now }).await?;
        if let Insert::Stored(kill) = &inserted.outcome {
            // Its offset is pending until it is on disk; a caller that stops waiting must not
            // leave it pending, so the write runs on its own.
            let (store, kill) = (self.clone(), Arc::clone(kill));
            let durable = actix::spawn(async move {
                let id = kill.facts.killmail_id;
                store
                    .until_durable(id, || store.journal.append(&kill))
                    .await;
                store.offsets.settle(kill.offset);
            });
            let _ = durable.await;
        }
        Ok(inserted)
    }

    /// The settled head of the offset log: every kill up to it is on disk (or gone for good),
    /// none still on its way.
    pub fn settled(&self) -> u64 {
        self.offsets.settled()
    }

    /// Wakes when the settled head moves.
    pub fn watch_settled(&self) -> tokio::sync::watch::Receiver<u64> {
        self.offsets.watch()
    }

    /// The kill holding `offset`, if it is still stored.
    pub async fn at_offset(&self, offset: u64) -> Result<Option<Arc<StoredKill>>, StoreError> {
        let found = self.ask_all(|| AtOffset(offset)).await?;
        Ok(found.into_iter().flatten().next())
    }

    /// The first kill `filter` admits with an offset in `after + 1..=upto`.
    pub async fn first_after(
        &self,
        filter: Arc<Filter>,
        after: u64,
        upto: u64,
    ) -> Result<Option<Arc<StoredKill>>, StoreError> {
        let query = || FirstAfter {
            filter: Arc::clone(&filter),
            after,
            upto,
        };
        let found = self.ask_all(query).await?;
        Ok(found.into_iter().flatten().min_by_key(|k| k.offset))
    }

    /// Runs `write` until it succeeds, waiting longer after each refusal; answers its result.
    /// Meanwhile `/health` says why, and how many kills wait.
    async fn until_durable<T, E: std::fmt::Display, F>(
        &self,
        id: KillmailId,
        write: impl Fn() -> F,
    ) -> T
    where
        F: std::future::Future<Output = Result<T, E>>,
    {
        let mut wait = DISK_RETRY_FIRST;
        let mut refused = false;
        loop {
            match write().await {
                Ok(done) => {
                    if refused {
                        self.stats.store_unsaved.add(-1);
                        log::info!("kill written after all killmail_id={id}");
                    }
                    return done;
                }
                Err(e) => {
                    if !refused {
                        refused = true;
                        self.stats.store_write_errors.incr();
                        self.stats.store_unsaved.add(1);
                        log::error!(
                            "kill not written, trying again until it is killmail_id={id} error={e}"
                        );
                    }
                    self.stats.set_disk_error(Some(e.to_string()));
                    actix::clock::sleep(wait).await;
                    wait = (wait * 2).min(DISK_RETRY_MAX);
                }
            }
        }
    }

    /// Changes a stored kill of `system` in place; `None` when it is not stored.
    pub async fn update(
        &self,
        system: SystemId,
        id: KillmailId,
        change: impl FnOnce(&mut Killmail) + Send + 'static,
    ) -> Result<Option<Arc<StoredKill>>, StoreError> {
        let change = Box::new(change);
        let updated = self.shard(system).send(Update { id, change }).await?;
        match (&updated, &self.shared) {
            (Some(kill), Some(log)) => self.publish_update(log, kill),
            (Some(kill), None) => self.journal.update(kill),
            (None, _) => {}
        }
        Ok(updated)
    }

    /// A kill by id, from whichever shard holds it (all asked together).
    pub async fn get(&self, id: KillmailId) -> Result<Option<Arc<StoredKill>>, StoreError> {
        let found = self.ask_all(|| Get(id)).await?;
        Ok(found.into_iter().flatten().next())
    }

    /// Waits until every write sent to disk so far is committed (shutdown).
    pub async fn flush(&self) {
        self.journal.flush().await;
    }

    /// Asks every shard the same question at once; the answers in shard order.
    async fn ask_all<M>(&self, query: impl Fn() -> M) -> Result<Vec<M::Result>, StoreError>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        ShardActor: Handler<M>,
    {
        let asked = self.shards.iter().map(|shard| shard.send(query()));
        futures_util::future::join_all(asked)
            .await
            .into_iter()
            .map(|answer| answer.map_err(StoreError::from))
            .collect()
    }

    /// A kill by id when its system is known (one shard asked).
    pub async fn get_in(
        &self,
        system: SystemId,
        id: KillmailId,
    ) -> Result<Option<Arc<StoredKill>>, StoreError> {
        Ok(self.shard(system).send(Get(id)).await?)
    }

    /// The system's kills at or after `since` (never before the retention window), newest first.
    pub async fn system_kills(
        &self,
        system: SystemId,
        since: KillTime,
        limit: usize,
    ) -> Result<Vec<Arc<StoredKill>>, StoreError> {
        let since = since.max(self.retention_start());
        let query = SystemKills {
            system,
            since,
            limit,
        };
        Ok(self.shard(system).send(query).await?)
    }

    /// Kills where `character` is the victim or an attacker, newest first, across every shard
    /// (asked together).
    pub async fn character_kills(
        &self,
        character: CharacterId,
        since: KillTime,
        limit: usize,
    ) -> Result<Vec<Arc<StoredKill>>, StoreError> {
        let since = since.max(self.retention_start());
        let query = || CharacterKills {
            character,
            since,
            limit,
        };
        let mut kills: Vec<_> = self.ask_all(query).await?.into_iter().flatten().collect();
        kills.sort_unstable_by_key(|k| std::cmp::Reverse((k.facts.kill_time, k.facts.killmail_id)));
        kills.truncate(limit);
        Ok(kills)
    }

    /// Kills `filter` admits that were stored after offset `after` (0 = from the start) with a
    /// kill time at or after `since`, oldest offset first, at most `limit` of them (the oldest:
    /// a resuming client continues from the last one it got). For resume and history replays.
    pub async fn replay(
        &self,
        filter: Filter,
        after: u64,
        since: KillTime,
        limit: usize,
    ) -> Result<Vec<Arc<StoredKill>>, StoreError> {
        let since = since.max(self.retention_start());
        let filter = Arc::new(filter);
        let query = || Replay {
            filter: Arc::clone(&filter),
            after,
            since,
        };
        let mut kills: Vec<_> = self.ask_all(query).await?.into_iter().flatten().collect();
        kills.sort_unstable_by_key(|k| k.offset);
        kills.truncate(limit);
        Ok(kills)
    }

    /// Kills of `system` stored within the retention window.
    pub async fn count(&self, system: SystemId) -> Result<usize, StoreError> {
        let since = self.retention_start();
        Ok(self.shard(system).send(Count { system, since }).await?)
    }
}
