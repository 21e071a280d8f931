//! Cluster mode's side of the store: kills are appended to a log several instances share (a
//! JetStream stream), and every instance, the one that appended included, takes them back from
//! that log in its order. The log's sequence number is the kill's offset, so an offset means
//! the same kill on every instance, and a kill is "durable" once the log acknowledged it.
//!
//! The store only knows the [`SharedLog`] interface; `cluster/` implements it on NATS.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use bytes::Bytes;
use futures_util::future::BoxFuture;

use super::shard::Insert;
use super::shard_actor::{Inserted, PutStored, Update};
use super::{Store, StoreError};
use crate::model::bounded_ids::BoundedIds;
use crate::model::{KillTime, Killmail, KillmailId, StoredKill, SystemId};

/// The longest an appending instance waits to take its own kill back from the log.
const TAKE_BACK_WAIT: Duration = Duration::from_secs(60);

/// What an entry of the log is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A kill from the live feed: stored and delivered on every instance.
    Live,
    /// A kill from a backfill: stored on every instance, served as history, not pushed.
    History,
    /// A new version of a kill already in the log (late names, a revalued zkb block).
    Update,
}

impl Entry {
    pub fn as_str(self) -> &'static str {
        match self {
            Entry::Live => "live",
            Entry::History => "history",
            Entry::Update => "update",
        }
    }

    /// The entry a header names; unknown names are read as history (stored, never pushed).
    pub fn parse(name: &str) -> Self {
        match name {
            "live" => Entry::Live,
            "update" => Entry::Update,
            _ => Entry::History,
        }
    }
}

/// One kill for the log: its canonical JSON and what the log needs to place it.
pub struct Appended {
    pub id: KillmailId,
    pub system: SystemId,
    pub json: Bytes,
    pub entry: Entry,
    /// What makes the entry one of a kind in the log (a kill is stored once whoever publishes
    /// it); `None` for entries that are new each time (updates).
    pub unique: Option<String>,
}

/// A log shared by the instances of a cluster.
pub trait SharedLog: Send + Sync {
    /// Appends `kill`; answers its sequence number once the log holds it. A kill the log
    /// already holds (same id) answers the first copy's sequence and is not stored twice.
    fn append(&self, kill: Appended) -> BoxFuture<'static, Result<u64, String>>;
}

/// What became of one entry taken from the log.
pub struct Taken {
    pub entry: Entry,
    /// The entry's kill, when it held one.
    pub id: Option<KillmailId>,
    /// Stored (or updated) here; `None` for a duplicate, a kill too old, or an unreadable entry.
    pub kill: Option<Arc<StoredKill>>,
    pub system_count: usize,
}

impl Store {
    /// Cluster mode's insert: the kill goes to the shared log, and is answered as this
    /// instance stored it when it came back from the log.
    pub(super) async fn insert_shared(
        &self,
        log: &Arc<dyn SharedLog>,
        killmail: Killmail,
        entry: Entry,
    ) -> Result<Inserted, StoreError> {
        let (id, system) = (killmail.killmail_id, killmail.system_id);
        let counted = |outcome| async move {
            let system_count = self.count(system).await?;
            Ok(Inserted {
                outcome,
                system_count,
            })
        };
        if self.get_in(system, id).await?.is_some() {
            return counted(Insert::Duplicate).await;
        }
        if killmail.kill_time < self.retention_start() {
            return counted(Insert::TooOld).await;
        }
        let json = StoredKill::json_of(&killmail);
        let appended = || Appended {
            id,
            system,
            json: json.clone(),
            entry,
            unique: Some(id.get().to_string()),
        };
        let sequence = self.until_durable(id, || log.append(appended())).await;
        let mut settled = self.offsets.watch();
        let reached = settled.wait_for(|head| *head >= sequence);
        match actix::clock::timeout(TAKE_BACK_WAIT, reached).await {
            Ok(Ok(_)) => {}
            _ => {
                return Err(StoreError::Log(format!(
                    "kill {id} did not come back from the log"
                )))
            }
        }
        if entry == Entry::Live {
            // A backfill on another instance may have published this kill as history just
            // before: the log kept that copy and dropped this one. Then it is announced live,
            // as when the feed brings a kill already held.
            self.announce_live(id).await;
        }
        match self.get_in(system, id).await? {
            // Stored from this very entry (not from an earlier copy the log already held).
            Some(kill) if kill.offset == sequence => {
                let system_count = self.count(system).await?;
                Ok(Inserted {
                    outcome: Insert::Stored(kill),
                    system_count,
                })
            }
            _ => counted(Insert::Duplicate).await,
        }
    }

    /// Cluster mode's update: applied here at once, and appended so every other instance
    /// applies it too.
    pub(super) fn publish_update(&self, log: &Arc<dyn SharedLog>, kill: &Arc<StoredKill>) {
        let appended = Appended {
            id: kill.facts.killmail_id,
            system: kill.facts.system_id,
            json: kill.json(),
            entry: Entry::Update,
            unique: None,
        };
        let append = log.append(appended);
        let id = kill.facts.killmail_id;
        actix::spawn(async move {
            if let Err(e) = append.await {
                log::warn!("kill update not shared killmail_id={id} error={e}");
            }
        });
    }

    /// Cluster mode: the live feed brought a kill the log already holds (a backfill stored it
    /// first). Announced once as a `live` entry, so every instance that holds it only as
    /// history pushes it now, as a single node does.
    pub async fn announce_live(&self, id: KillmailId) {
        let Some(log) = &self.shared else { return };
        if !self.history_only().remove(id) {
            return;
        }
        let Ok(Some(kill)) = self.get(id).await else {
            return;
        };
        let appended = Appended {
            id,
            system: kill.facts.system_id,
            json: kill.json(),
            entry: Entry::Live,
            unique: Some(format!("{}.live", id.get())),
        };
        if let Err(e) = log.append(appended).await {
            log::warn!("late live kill not announced killmail_id={id} error={e}");
        }
    }

    /// Takes entry `sequence` of the shared log into this instance's store; the offset log's
    /// head moves to it whatever the entry held, so nobody waits for it.
    pub async fn take(&self, sequence: u64, entry: Entry, json: Bytes) -> Taken {
        let taken = self.take_entry(sequence, entry, json).await;
        self.offsets.reached(sequence);
        taken
    }

    async fn take_entry(&self, sequence: u64, entry: Entry, json: Bytes) -> Taken {
        let mut taken = Taken {
            entry,
            id: None,
            kill: None,
            system_count: 0,
        };
        let Some(kill) = StoredKill::with_json(sequence, &json) else {
            log::warn!("shared log entry is not a killmail, skipped sequence={sequence}");
            return taken;
        };
        let system = kill.facts.system_id;
        taken.id = Some(kill.facts.killmail_id);
        if entry == Entry::Update {
            let Ok(fresh) = serde_json::from_slice::<Killmail>(&json) else {
                return taken;
            };
            let update = Update {
                id: kill.facts.killmail_id,
                change: Box::new(move |km| *km = fresh),
            };
            taken.kill = self.shard(system).send(update).await.ok().flatten();
            return taken;
        }
        let put = PutStored {
            kill,
            now: KillTime::now(),
        };
        match self.shard(system).send(put).await {
            Ok(Inserted {
                outcome: Insert::Stored(kill),
                system_count,
            }) => {
                if entry == Entry::History {
                    self.history_only().insert(kill.facts.killmail_id);
                }
                taken.kill = Some(kill);
                taken.system_count = system_count;
            }
            Ok(_) => {}
            Err(e) => log::error!("shared log entry not stored sequence={sequence} error={e}"),
        }
        taken
    }
}

impl Store {
    /// Kills taken from the log as history and not yet announced live.
    fn history_only(&self) -> std::sync::MutexGuard<'_, BoundedIds> {
        // A set of ids: a panic elsewhere cannot leave it half-changed.
        self.history_only
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl From<MailboxError> for StoreError {
    fn from(e: MailboxError) -> Self {
        StoreError::Mailbox(e)
    }
}
