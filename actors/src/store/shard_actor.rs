//! The actor that owns one [`Shard`]: every read and write of the systems it holds goes through
//! its mailbox, so a shard needs no lock. It expires old kills on a timer, and packs the JSON of
//! new kills shortly after they are stored, once their first pushes have their copy.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::offsets::Offsets;
use super::shard::{Insert, Shard};
use crate::model::{CharacterId, Filter, KillTime, Killmail, KillmailId, StoredKill, SystemId};
use crate::stats::Stats;

/// How often expired kills are dropped.
const EXPIRE_EVERY: Duration = Duration::from_secs(60);
/// How long a new kill's JSON stays as is before it is packed.
const PACK_AFTER: Duration = Duration::from_millis(50);
/// JSON packed per turn: about 1.5 ms of the engine's thread for the simulator's 2.9 KB kills
/// (16 µs each), under 1 ms for 10 KB ones, so what waits behind a turn (reads, live kills)
/// waits little, even when the four shards' turns fall together after boot. A shard packs
/// 5 MB of JSON a second.
const PACK_BYTES: usize = 256 * 1024;

/// Pack the JSON of kills stored as is.
#[derive(Message)]
#[rtype(result = "()")]
struct Pack;

/// Store a kill (unless duplicate or too old).
#[derive(Message)]
#[rtype(result = "Inserted")]
pub struct Put {
    pub killmail: Killmail,
    pub now: KillTime,
}

/// Store a kill that already has its offset and JSON (cluster mode: taken from the shared log).
#[derive(Message)]
#[rtype(result = "Inserted")]
pub struct PutStored {
    pub kill: StoredKill,
    pub now: KillTime,
}

/// What became of a stored kill, with its system's count inside the retention window (what
/// `kill_count_update` sends), read in the same visit to the shard.
#[derive(Debug)]
pub struct Inserted {
    pub outcome: Insert,
    pub system_count: usize,
}

/// Change a stored kill in place (late names, a revalued zkb block).
#[derive(Message)]
#[rtype(result = "Option<Arc<StoredKill>>")]
pub struct Update {
    pub id: KillmailId,
    pub change: Box<dyn FnOnce(&mut Killmail) + Send>,
}

/// One kill by id.
#[derive(Message)]
#[rtype(result = "Option<Arc<StoredKill>>")]
pub struct Get(pub KillmailId);

/// A system's kills at or after `since`, newest first, at most `limit`.
#[derive(Message)]
#[rtype(result = "Vec<Arc<StoredKill>>")]
pub struct SystemKills {
    pub system: SystemId,
    pub since: KillTime,
    pub limit: usize,
}

/// A character's kills (victim or attacker) held by this shard.
#[derive(Message)]
#[rtype(result = "Vec<Arc<StoredKill>>")]
pub struct CharacterKills {
    pub character: CharacterId,
    pub since: KillTime,
    pub limit: usize,
}

/// The kills a filter admits after an offset (see [`Shard::replay`]).
#[derive(Message)]
#[rtype(result = "Vec<Arc<StoredKill>>")]
pub struct Replay {
    pub filter: Arc<Filter>,
    pub after: u64,
    pub since: KillTime,
}

/// The kill holding an offset, if this shard holds it.
#[derive(Message)]
#[rtype(result = "Option<Arc<StoredKill>>")]
pub struct AtOffset(pub u64);

/// The first kill `filter` admits with an offset in `after + 1..=upto` (see
/// [`Shard::first_after`]).
#[derive(Message)]
#[rtype(result = "Option<Arc<StoredKill>>")]
pub struct FirstAfter {
    pub filter: Arc<Filter>,
    pub after: u64,
    pub upto: u64,
}

/// How many kills of a system are at or after `since`.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct Count {
    pub system: SystemId,
    pub since: KillTime,
}

pub struct ShardActor {
    shard: Shard,
    /// The one offset sequence every shard draws from, so offsets follow acceptance order.
    offsets: Arc<Offsets>,
    stats: Arc<Stats>,
    /// A [`Pack`] is on its way.
    packing: bool,
}

impl ShardActor {
    pub fn new(shard: Shard, offsets: Arc<Offsets>, stats: Arc<Stats>) -> Self {
        Self {
            shard,
            offsets,
            stats,
            packing: false,
        }
    }

    /// Runs `change` on the shard and moves the held-kills gauge by what it added or dropped.
    fn tracked<T>(&mut self, change: impl FnOnce(&mut Shard) -> T) -> T {
        let before = self.shard.len();
        let out = change(&mut self.shard);
        let after = self.shard.len();
        // Shard sizes are far below i64::MAX.
        self.stats.kills_held.add(after as i64 - before as i64);
        out
    }

    /// Sends itself a [`Pack`] soon, unless one is on its way.
    fn pack_soon(&mut self, ctx: &mut Context<Self>) {
        if !self.packing {
            self.packing = true;
            ctx.notify_later(Pack, PACK_AFTER);
        }
    }
}

impl Handler<Pack> for ShardActor {
    type Result = ();

    fn handle(&mut self, _: Pack, ctx: &mut Context<Self>) {
        self.packing = false;
        if self.shard.pack(PACK_BYTES) > 0 {
            self.pack_soon(ctx);
        }
    }
}

impl Actor for ShardActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(EXPIRE_EVERY, |this, _| {
            let dropped = this.tracked(|shard| shard.expire(KillTime::now()));
            this.stats.kills_expired.add(dropped as u64);
        });
        // Kills read back at boot arrive as is.
        self.pack_soon(ctx);
    }
}

/// The shard's data lives in the actor value, which a supervisor keeps across restarts.
impl actix::Supervised for ShardActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        log::warn!("store shard restarting kills={}", self.shard.len());
        // A `Pack` on its way died with the old context; `started` sends a new one.
        self.packing = false;
    }
}

impl Handler<Put> for ShardActor {
    type Result = MessageResult<Put>;

    fn handle(&mut self, put: Put, ctx: &mut Context<Self>) -> Self::Result {
        let offsets = Arc::clone(&self.offsets);
        let (system, now) = (put.killmail.system_id, put.now);
        let outcome = self.tracked(|shard| shard.insert(put.killmail, now, || offsets.assign()));
        self.pack_soon(ctx);
        MessageResult(Inserted {
            outcome,
            system_count: self.shard.live_count(system, now),
        })
    }
}

impl Handler<PutStored> for ShardActor {
    type Result = MessageResult<PutStored>;

    fn handle(&mut self, put: PutStored, ctx: &mut Context<Self>) -> Self::Result {
        let (system, now) = (put.kill.facts.system_id, put.now);
        let outcome = self.tracked(|shard| shard.insert_stored(put.kill, now));
        self.pack_soon(ctx);
        MessageResult(Inserted {
            outcome,
            system_count: self.shard.live_count(system, now),
        })
    }
}

impl Handler<Update> for ShardActor {
    type Result = Option<Arc<StoredKill>>;

    fn handle(&mut self, update: Update, ctx: &mut Context<Self>) -> Self::Result {
        self.pack_soon(ctx);
        self.shard.update(update.id, update.change)
    }
}

impl Handler<AtOffset> for ShardActor {
    type Result = Option<Arc<StoredKill>>;

    fn handle(&mut self, AtOffset(offset): AtOffset, _: &mut Context<Self>) -> Self::Result {
        self.shard.at_offset(offset)
    }
}

impl Handler<FirstAfter> for ShardActor {
    type Result = Option<Arc<StoredKill>>;

    fn handle(&mut self, q: FirstAfter, _: &mut Context<Self>) -> Self::Result {
        self.shard.first_after(&q.filter, q.after, q.upto)
    }
}

impl Handler<Get> for ShardActor {
    type Result = Option<Arc<StoredKill>>;

    fn handle(&mut self, Get(id): Get, _: &mut Context<Self>) -> Self::Result {
        self.shard.get(id)
    }
}

impl Handler<SystemKills> for ShardActor {
    type Result = MessageResult<SystemKills>;

    fn handle(&mut self, q: SystemKills, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.shard.system_kills(q.system, q.since, q.limit))
    }
}

impl Handler<CharacterKills> for ShardActor {
    type Result = MessageResult<CharacterKills>;

    fn handle(&mut self, q: CharacterKills, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.shard.character_kills(q.character, q.since, q.limit))
    }
}

impl Handler<Replay> for ShardActor {
    type Result = MessageResult<Replay>;

    fn handle(&mut self, q: Replay, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.shard.replay(&q.filter, q.after, q.since))
    }
}

impl Handler<Count> for ShardActor {
    type Result = usize;

    fn handle(&mut self, q: Count, _: &mut Context<Self>) -> usize {
        self.shard.count(q.system, q.since)
    }
}
