//! Kill storage: per-system shards in memory, each owned by a shard actor, with the on-disk
//! journal to come underneath. Every stored kill carries its offset and its canonical JSON,
//! serialized once and shared by every recipient.
//!
//! [`Store`] is the one interface the rest of the engine and the web layer use: it routes a
//! system to its shard and fans the by-id and by-character reads out to every shard.

pub mod shard;
pub mod shard_actor;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use actix::prelude::*;
use bytes::Bytes;

use crate::config::StorageSettings;
use crate::model::{CharacterId, Filter, KillTime, Killmail, KillmailId, SystemId};
use crate::stats::Stats;

pub use shard::{Insert, Shard, ShardLimits};
pub use shard_actor::Inserted;
use shard_actor::{CharacterKills, Count, Get, Put, Replay, ShardActor, SystemKills, Update};

/// Shards in memory. Systems spread over them by id; more shards means shorter mailboxes.
pub const SHARDS: usize = 4;

/// A kill as the store holds it.
#[derive(Debug)]
pub struct StoredKill {
    /// Position in the order the service accepted kills; resume points (`since_offset`,
    /// `Last-Event-ID`) refer to it.
    pub offset: u64,
    pub killmail: Killmail,
    /// The canonical JSON of `killmail` (SPEC §3), shared as is with every recipient.
    pub json: Bytes,
}

impl StoredKill {
    pub fn new(offset: u64, killmail: Killmail) -> Self {
        // Serializing the model cannot fail: every field is a string, number, bool, list or map
        // with string keys, and non-finite floats are filtered out when upstream JSON is read.
        let json = serde_json::to_vec(&killmail)
            .map(Bytes::from)
            .unwrap_or_default();
        Self {
            offset,
            killmail,
            json,
        }
    }
}

/// Appends `[k1,k2,...]` to `out`, each kill as the JSON bytes the store holds (no re-serializing).
pub fn write_json_array(out: &mut Vec<u8>, kills: &[Arc<StoredKill>]) {
    out.reserve(kills.iter().map(|k| k.json.len() + 1).sum::<usize>() + 2);
    out.push(b'[');
    for (i, kill) in kills.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&kill.json);
    }
    out.push(b']');
}

/// A shard actor did not answer (it stopped); the caller reports it as a server error.
#[derive(Debug, thiserror::Error)]
#[error("the store did not answer: {0}")]
pub struct StoreError(#[from] MailboxError);

/// The handle to every shard. Cheap to clone and usable from any thread.
#[derive(Clone)]
pub struct Store {
    shards: Arc<[Addr<ShardActor>]>,
    retention_secs: i64,
}

impl Store {
    /// Starts the shard actors on the current arbiter; offsets continue after `last_offset`.
    pub fn start(settings: &StorageSettings, stats: Arc<Stats>, last_offset: u64) -> Self {
        let limits = ShardLimits {
            max_per_system: settings.max_kills_per_system.max(1),
            retention_secs: i64::try_from(settings.retention().as_secs()).unwrap_or(i64::MAX),
        };
        let next_offset = Arc::new(AtomicU64::new(last_offset + 1));
        let shards = (0..SHARDS)
            .map(|_| {
                let (next, stats) = (Arc::clone(&next_offset), Arc::clone(&stats));
                Supervisor::start(move |_| ShardActor::new(limits, next, stats))
            })
            .collect();
        Self {
            shards,
            retention_secs: limits.retention_secs,
        }
    }

    fn shard(&self, system: SystemId) -> &Addr<ShardActor> {
        // The modulo keeps the index below `SHARDS`, which is the slice's length.
        &self.shards[(system.get() % SHARDS as u64) as usize]
    }

    /// The oldest kill time still inside the retention window.
    pub fn retention_start(&self) -> KillTime {
        KillTime::now().minus_secs(self.retention_secs)
    }

    /// Stores a kill; the answer carries the system's count after it.
    pub async fn insert(&self, killmail: Killmail) -> Result<Inserted, StoreError> {
        let shard = self.shard(killmail.system_id);
        let now = KillTime::now();
        Ok(shard.send(Put { killmail, now }).await?)
    }

    /// Changes a stored kill of `system` in place; `None` when it is not stored.
    pub async fn update(
        &self,
        system: SystemId,
        id: KillmailId,
        change: impl FnOnce(&mut Killmail) + Send + 'static,
    ) -> Result<Option<Arc<StoredKill>>, StoreError> {
        let change = Box::new(change);
        Ok(self.shard(system).send(Update { id, change }).await?)
    }

    /// A kill by id, from whichever shard holds it.
    pub async fn get(&self, id: KillmailId) -> Result<Option<Arc<StoredKill>>, StoreError> {
        for shard in self.shards.iter() {
            if let Some(kill) = shard.send(Get(id)).await? {
                return Ok(Some(kill));
            }
        }
        Ok(None)
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

    /// Kills where `character` is the victim or an attacker, newest first, across every shard.
    pub async fn character_kills(
        &self,
        character: CharacterId,
        since: KillTime,
        limit: usize,
    ) -> Result<Vec<Arc<StoredKill>>, StoreError> {
        let since = since.max(self.retention_start());
        let mut kills = Vec::new();
        for shard in self.shards.iter() {
            let query = CharacterKills {
                character,
                since,
                limit,
            };
            kills.extend(shard.send(query).await?);
        }
        kills.sort_unstable_by_key(|k| {
            std::cmp::Reverse((k.killmail.kill_time, k.killmail.killmail_id))
        });
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
        let mut kills = Vec::new();
        for shard in self.shards.iter() {
            let query = Replay {
                filter: Arc::clone(&filter),
                after,
                since,
            };
            kills.extend(shard.send(query).await?);
        }
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
