//! One storage shard: the kills of the systems it owns, newest first, bounded per system, expired
//! by real kill time, de-duplicated by `killmail_id`, and indexed by character (victim and every
//! attacker).
//!
//! Pure data, no actor and no I/O: the shard actor wraps it, and the on-disk journal sits beside
//! it (it replays into [`Shard::insert`] on boot). Offsets come from the caller, so every shard
//! draws them from one global sequence.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;

use crate::model::ids::{IdMap, IdSet};
use crate::model::recent_runs::Dictionaries;
use crate::model::{
    CharacterId, Dictionary, Filter, KillTime, Killmail, KillmailId, StoredKill, SystemId,
};

/// What a shard keeps.
#[derive(Clone, Copy, Debug)]
pub struct ShardLimits {
    /// Newest kills kept per system; older ones are dropped.
    pub max_per_system: usize,
    /// Kills older than this (by kill time) are refused and expired.
    pub retention_secs: i64,
}

/// Kills a shard holds as is at most (about 1 MB of simulator kills). Packing turns keep up
/// with live rates; a burst (a catch-up, a load test) outruns them, and the memory the
/// allocator took for the waiting JSON would stay with the process after they are packed.
/// Past this bound, storing a kill packs one at once.
const MAX_AS_IS: usize = 256;

/// What happened to a kill offered to the shard.
#[derive(Debug)]
pub enum Insert {
    /// Stored with the offset it was given; deliver it.
    Stored(Arc<StoredKill>),
    /// Already stored (same `killmail_id`); nothing to deliver.
    Duplicate,
    /// Older than the retention window, or older than every kill of a full system.
    TooOld,
}

#[derive(Default)]
pub struct Shard {
    limits: Option<ShardLimits>,
    /// Per system, newest first by (kill time, killmail id).
    systems: IdMap<SystemId, VecDeque<Arc<StoredKill>>>,
    by_id: IdMap<KillmailId, Arc<StoredKill>>,
    by_character: IdMap<CharacterId, IdSet<KillmailId>>,
    /// Every kill by its offset: the offset log's slice this shard holds.
    by_offset: BTreeMap<u64, Arc<StoredKill>>,
    /// Kills stored with their JSON as is, to be packed ([`Shard::pack`]).
    unpacked: Vec<KillmailId>,
    /// What kills are packed against: the runs of its recent kills.
    dictionaries: Dictionaries,
}

/// Where a kill goes: what placing it needs, before the stored copy is built.
#[derive(Clone, Copy)]
struct Place {
    id: KillmailId,
    time: KillTime,
    system: SystemId,
}

/// Sort key: newest first, ties broken by id so the order is total.
fn key(kill: &StoredKill) -> (KillTime, KillmailId) {
    (kill.facts.kill_time, kill.facts.killmail_id)
}

impl Shard {
    pub fn new(limits: ShardLimits) -> Self {
        Self {
            limits: Some(limits),
            ..Self::default()
        }
    }

    /// Packs the next kills against `dictionary` (the one the kills read back were packed
    /// against) until the shard builds one of its own.
    pub fn pack_against(&mut self, dictionary: Arc<Dictionary>) {
        self.dictionaries = Dictionaries::continuing(dictionary);
    }

    fn limits(&self) -> ShardLimits {
        self.limits.unwrap_or(ShardLimits {
            max_per_system: usize::MAX,
            retention_secs: i64::MAX,
        })
    }

    fn cutoff(&self, now: KillTime) -> KillTime {
        KillTime::from_unix(now.unix().saturating_sub(self.limits().retention_secs))
    }

    /// Stores `killmail` unless it is a duplicate or too old; `offset` is called only when the
    /// kill is stored, so refused kills use no offset.
    pub fn insert(
        &mut self,
        killmail: Killmail,
        now: KillTime,
        offset: impl FnOnce() -> u64,
    ) -> Insert {
        let place = Place {
            id: killmail.killmail_id,
            time: killmail.kill_time,
            system: killmail.system_id,
        };
        self.place(place, now, || StoredKill::new(offset(), &killmail))
    }

    /// Puts back a kill read from disk, with its offset and JSON (boot).
    pub fn restore(&mut self, kill: StoredKill, now: KillTime) -> bool {
        matches!(self.insert_stored(kill, now), Insert::Stored(_))
    }

    /// Stores a kill that already has its offset (read back, or taken from a shared log).
    pub fn insert_stored(&mut self, kill: StoredKill, now: KillTime) -> Insert {
        let place = Place {
            id: kill.facts.killmail_id,
            time: kill.facts.kill_time,
            system: kill.facts.system_id,
        };
        self.place(place, now, || kill)
    }

    /// Puts the kill `build` makes where `place` says, unless it is a duplicate or too old;
    /// `build` runs only when the kill is stored.
    fn place(&mut self, place: Place, now: KillTime, build: impl FnOnce() -> StoredKill) -> Insert {
        let Place { id, time, system } = place;
        if self.by_id.contains_key(&id) {
            return Insert::Duplicate;
        }
        if time < self.cutoff(now) {
            return Insert::TooOld;
        }
        let max = self.limits().max_per_system;
        let list = self.systems.entry(system).or_default();
        let new_key = (time, id);
        let at = list.partition_point(|k| key(k) > new_key);
        if list.len() >= max && at == list.len() {
            return Insert::TooOld;
        }
        let stored = Arc::new(build());
        list.insert(at, Arc::clone(&stored));
        let evicted = if list.len() > max {
            list.pop_back()
        } else {
            None
        };
        self.index(&stored);
        if !stored.is_packed() {
            self.queue_for_packing(id);
        }
        if let Some(old) = evicted {
            self.unindex(&old);
        }
        Insert::Stored(stored)
    }

    /// Changes a stored kill (late names, a revalued zkb block), keeping its offset and place.
    /// The kill is parsed from its JSON and serialized again once.
    pub fn update(
        &mut self,
        id: KillmailId,
        change: impl FnOnce(&mut Killmail),
    ) -> Option<Arc<StoredKill>> {
        let old = self.by_id.get(&id)?;
        let mut killmail = old.killmail()?;
        change(&mut killmail);
        // The system and time place the kill; an update may not move it.
        killmail.system_id = old.facts.system_id;
        killmail.kill_time = old.facts.kill_time;
        let updated = Arc::new(StoredKill::new(old.offset, &killmail));
        let old = Arc::clone(old);
        self.unindex_characters(&old);
        self.put_in_place(&updated);
        self.index(&updated);
        self.queue_for_packing(id);
        Some(updated)
    }

    /// Puts `kill` where the stored kill with its id sits in its system's list.
    fn put_in_place(&mut self, kill: &Arc<StoredKill>) {
        let id = kill.facts.killmail_id;
        if let Some(slot) = self
            .systems
            .get_mut(&kill.facts.system_id)
            .and_then(|list| list.iter_mut().find(|k| k.facts.killmail_id == id))
        {
            *slot = Arc::clone(kill);
        }
    }

    /// Queues a kill stored as is for packing. Past [`MAX_AS_IS`], one is packed at once.
    fn queue_for_packing(&mut self, id: KillmailId) {
        self.unpacked.push(id);
        if self.unpacked.len() > MAX_AS_IS {
            self.pack(0);
        }
    }

    /// Compresses the JSON of kills stored as is, newest first, until `bytes` of JSON have been
    /// tried (a kill at least): compression costs by the byte. Copies already handed out keep their
    /// JSON as is until dropped. Answers how many are left.
    pub fn pack(&mut self, bytes: usize) -> usize {
        let mut packed_bytes = 0;
        while packed_bytes < bytes.max(1) {
            let Some(id) = self.unpacked.pop() else { break };
            let Some(kill) = self.by_id.get(&id) else {
                continue;
            };
            // Counted whether or not it shrinks: the attempt costs the same.
            packed_bytes += kill.json_len();
            let packed = kill.packed_with(self.dictionaries.current());
            kill.read_json(|json| self.dictionaries.packed(json));
            let Some(packed) = packed else {
                continue;
            };
            let packed = Arc::new(packed);
            self.put_in_place(&packed);
            self.by_offset.insert(packed.offset, Arc::clone(&packed));
            self.by_id.insert(id, packed);
        }
        self.unpacked.len()
    }

    pub fn get(&self, id: KillmailId) -> Option<Arc<StoredKill>> {
        self.by_id.get(&id).cloned()
    }

    /// Kills of `system` at or after `since`, newest first, at most `limit`.
    pub fn system_kills(
        &self,
        system: SystemId,
        since: KillTime,
        limit: usize,
    ) -> Vec<Arc<StoredKill>> {
        self.systems.get(&system).map_or_else(Vec::new, |list| {
            list.iter()
                .take_while(|k| k.facts.kill_time >= since)
                .take(limit)
                .cloned()
                .collect()
        })
    }

    /// How many kills of `system` are at or after `since`.
    pub fn count(&self, system: SystemId, since: KillTime) -> usize {
        self.systems.get(&system).map_or(0, |list| {
            list.iter()
                .take_while(|k| k.facts.kill_time >= since)
                .count()
        })
    }

    /// How many kills of `system` are inside the retention window at `now`.
    pub fn live_count(&self, system: SystemId, now: KillTime) -> usize {
        self.count(system, self.cutoff(now))
    }

    /// Kills where `character` is the victim or an attacker, at or after `since`, newest first.
    pub fn character_kills(
        &self,
        character: CharacterId,
        since: KillTime,
        limit: usize,
    ) -> Vec<Arc<StoredKill>> {
        let mut kills: Vec<Arc<StoredKill>> = self
            .by_character
            .get(&character)
            .into_iter()
            .flatten()
            .filter_map(|id| self.by_id.get(id))
            .filter(|k| k.facts.kill_time >= since)
            .cloned()
            .collect();
        kills.sort_unstable_by_key(|k| std::cmp::Reverse(key(k)));
        kills.truncate(limit);
        kills
    }

    /// The kill holding `offset`.
    pub fn at_offset(&self, offset: u64) -> Option<Arc<StoredKill>> {
        self.by_offset.get(&offset).cloned()
    }

    /// The first kill `filter` admits with an offset in `after + 1..=upto`.
    pub fn first_after(&self, filter: &Filter, after: u64, upto: u64) -> Option<Arc<StoredKill>> {
        if after >= upto {
            return None;
        }
        self.by_offset
            .range(after + 1..=upto)
            .map(|(_, kill)| kill)
            .find(|kill| filter.admits(&kill.facts))
            .cloned()
    }

    /// Kills `filter` admits, stored after offset `after`, with a kill time at or after `since`;
    /// in offset order (the order they were accepted).
    pub fn replay(&self, filter: &Filter, after: u64, since: KillTime) -> Vec<Arc<StoredKill>> {
        let fresh = |k: &&Arc<StoredKill>| k.offset > after && k.facts.kill_time >= since;
        let mut kills: Vec<Arc<StoredKill>> = if filter.all || !filter.rules.is_empty() {
            // Rules can match any kill: every kill after the offset is checked.
            self.by_offset
                .range(after.saturating_add(1)..)
                .map(|(_, kill)| kill)
                .filter(fresh)
                .filter(|k| filter.admits(&k.facts))
                .cloned()
                .collect()
        } else {
            let by_system = filter
                .systems
                .iter()
                .filter_map(|s| self.systems.get(s))
                .flatten();
            let by_character = filter
                .characters
                .iter()
                .filter_map(|c| self.by_character.get(c))
                .flatten()
                .filter_map(|id| self.by_id.get(id));
            let mut seen = HashSet::new();
            by_system
                .chain(by_character)
                .filter(fresh)
                .filter(|k| seen.insert(k.facts.killmail_id))
                .cloned()
                .collect()
        };
        kills.retain(|k| filter.admits_value(&k.facts));
        kills.sort_unstable_by_key(|k| k.offset);
        kills
    }

    /// Drops every kill older than the retention window; returns how many.
    pub fn expire(&mut self, now: KillTime) -> usize {
        let cutoff = self.cutoff(now);
        let mut expired = Vec::new();
        self.systems.retain(|_, list| {
            while list.back().is_some_and(|k| k.facts.kill_time < cutoff) {
                expired.extend(list.pop_back());
            }
            !list.is_empty()
        });
        for kill in &expired {
            self.unindex(kill);
        }
        expired.len()
    }

    /// Kills stored in this shard.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    fn index(&mut self, kill: &Arc<StoredKill>) {
        let id = kill.facts.killmail_id;
        self.by_id.insert(id, Arc::clone(kill));
        self.by_offset.insert(kill.offset, Arc::clone(kill));
        for character in kill.facts.character_ids() {
            self.by_character.entry(character).or_default().insert(id);
        }
    }

    fn unindex(&mut self, kill: &StoredKill) {
        self.by_id.remove(&kill.facts.killmail_id);
        self.by_offset.remove(&kill.offset);
        self.unindex_characters(kill);
    }

    fn unindex_characters(&mut self, kill: &StoredKill) {
        let id = kill.facts.killmail_id;
        for character in kill.facts.character_ids() {
            if let Some(ids) = self.by_character.get_mut(&character) {
                ids.remove(&id);
                if ids.is_empty() {
                    self.by_character.remove(&character);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Attacker, CorporationId, GroupId, TypeId, Victim, Zkb};
    use proptest::prelude::*;

    const NOW: i64 = 1_800_000_000;
    const HOUR: i64 = 3600;

    fn kill(id: u64, system: u64, age_secs: i64, victim: u64, attackers: &[u64]) -> Killmail {
        Killmail {
            victim: Victim {
                character_id: CharacterId::new(victim),
                ship_type_id: TypeId::new(670),
                ..Victim::default()
            },
            attackers: attackers
                .iter()
                .map(|&a| Attacker {
                    character_id: CharacterId::new(a),
                    ..Attacker::default()
                })
                .collect(),
            zkb: Some(Zkb::default()),
            ..Killmail::bare(
                KillmailId::new(id).expect("non-zero"),
                KillTime::from_unix(NOW - age_secs),
                SystemId::new(system).expect("non-zero"),
            )
        }
    }

    fn shard(max_per_system: usize) -> Shard {
        Shard::new(ShardLimits {
            max_per_system,
            retention_secs: 48 * HOUR,
        })
    }

    fn now() -> KillTime {
        KillTime::from_unix(NOW)
    }

    fn ids(kills: &[Arc<StoredKill>]) -> Vec<u64> {
        kills.iter().map(|k| k.facts.killmail_id.get()).collect()
    }

    fn sys(id: u64) -> SystemId {
        SystemId::new(id).expect("non-zero")
    }

    #[test]
    fn a_replay_returns_what_the_filter_admits_after_the_offset_in_offset_order() {
        let mut s = shard(100);
        // id, system, age, victim, attackers, value; offsets are 10 × id.
        let kills = [
            (1, 30000142, 50, 90_000_001, vec![], 1e6),
            (2, 30002187, 40, 90_000_002, vec![90_000_009], 5e9),
            (3, 30000142, 30, 90_000_003, vec![], 2e9),
            (4, 31000005, 20, 90_000_009, vec![], 3e9),
            (5, 31000005, 10, 90_000_004, vec![], 4e9),
        ];
        for (id, system, age, victim, attackers, value) in kills {
            let mut km = kill(id, system, age, victim, &attackers);
            km.zkb = Some(Zkb {
                total_value: Some(value),
                ..Zkb::default()
            });
            s.insert(km, now(), || id * 10);
        }
        let filter = Filter {
            systems: [sys(30000142)].into(),
            characters: CharacterId::new(90_000_009).into_iter().collect(),
            ..Filter::default()
        };

        let all = s.replay(&filter, 0, KillTime::from_unix(0));
        let after_first = s.replay(&filter, 10, KillTime::from_unix(0));
        let valuable = s.replay(
            &Filter {
                min_value: Some(2.5e9),
                ..filter.clone()
            },
            0,
            KillTime::from_unix(0),
        );
        let everything = s.replay(&Filter::everything(), 30, KillTime::from_unix(0));

        assert_eq!(
            ids(&all),
            vec![1, 2, 3, 4],
            "system OR character, each once"
        );
        assert_eq!(ids(&after_first), vec![2, 3, 4]);
        assert_eq!(ids(&valuable), vec![2, 4]);
        assert_eq!(ids(&everything), vec![4, 5]);
    }

    #[test]
    fn kills_are_listed_newest_first_whatever_the_arrival_order() {
        let mut s = shard(100);
        for (id, age) in [(1, 50), (2, 10), (3, 30), (4, 20)] {
            s.insert(kill(id, 30000142, age, 90_000_001, &[]), now(), || id);
        }

        let listed = s.system_kills(sys(30000142), KillTime::from_unix(0), 10);

        assert_eq!(ids(&listed), vec![2, 4, 3, 1]);
    }

    #[test]
    fn a_duplicate_is_refused_and_uses_no_offset() {
        let mut s = shard(100);
        let mut next = 0;
        let mut offset = || {
            next += 1;
            next
        };
        assert!(matches!(
            s.insert(kill(1, 30000142, 10, 90_000_001, &[]), now(), &mut offset),
            Insert::Stored(_)
        ));

        let again = s.insert(kill(1, 30000142, 10, 90_000_001, &[]), now(), &mut offset);
        let other = s.insert(kill(2, 30000142, 10, 90_000_001, &[]), now(), &mut offset);

        assert!(matches!(again, Insert::Duplicate));
        let Insert::Stored(other) = other else {
            panic!("stored")
        };
        assert_eq!(other.offset, 2, "offsets stay dense across refusals");
    }

    #[test]
    fn kills_outside_the_retention_window_are_refused_and_expired() {
        let mut s = shard(100);
        assert!(matches!(
            s.insert(kill(1, 30000142, 49 * HOUR, 90_000_001, &[]), now(), || 1),
            Insert::TooOld
        ));
        s.insert(kill(2, 30000142, 47 * HOUR, 90_000_001, &[]), now(), || 2);
        s.insert(kill(3, 30000142, HOUR, 90_000_001, &[]), now(), || 3);

        let expired = s.expire(KillTime::from_unix(NOW + 2 * HOUR));

        assert_eq!(expired, 1);
        assert_eq!(
            ids(&s.system_kills(sys(30000142), KillTime::from_unix(0), 10)),
            vec![3]
        );
        assert!(s.get(KillmailId::new(2).expect("id")).is_none());
        assert_eq!(
            ids(&s.character_kills(
                CharacterId::new(90_000_001).expect("id"),
                KillTime::from_unix(0),
                10
            )),
            vec![3]
        );
    }

    #[test]
    fn a_full_system_keeps_its_newest_kills() {
        let mut s = shard(2);
        s.insert(kill(1, 30000142, 30, 90_000_001, &[]), now(), || 1);
        s.insert(kill(2, 30000142, 20, 90_000_001, &[]), now(), || 2);

        let older = s.insert(kill(3, 30000142, 40, 90_000_001, &[]), now(), || 3);
        let newer = s.insert(kill(4, 30000142, 10, 90_000_001, &[]), now(), || 4);

        assert!(matches!(older, Insert::TooOld));
        assert!(matches!(newer, Insert::Stored(_)));
        assert_eq!(
            ids(&s.system_kills(sys(30000142), KillTime::from_unix(0), 10)),
            vec![4, 2]
        );
        assert_eq!(s.len(), 2, "the evicted kill left the indexes too");
    }

    #[test]
    fn since_and_limit_really_filter_and_count_matches() {
        let mut s = shard(100);
        for id in 1..=10 {
            s.insert(
                kill(id, 31000005, (id as i64) * HOUR, 90_000_001, &[]),
                now(),
                || id,
            );
        }
        let since = KillTime::from_unix(NOW - 5 * HOUR);

        assert_eq!(ids(&s.system_kills(sys(31000005), since, 3)), vec![1, 2, 3]);
        assert_eq!(s.system_kills(sys(31000005), since, 100).len(), 5);
        assert_eq!(s.count(sys(31000005), since), 5);
        assert_eq!(s.count(sys(30000142), since), 0);
    }

    #[test]
    fn a_character_is_found_as_victim_or_attacker_once_per_kill() {
        let mut s = shard(100);
        s.insert(
            kill(1, 30000142, 10, 90_000_001, &[90_000_002, 90_000_002]),
            now(),
            || 1,
        );
        s.insert(
            kill(2, 30002187, 20, 90_000_002, &[90_000_003]),
            now(),
            || 2,
        );
        s.insert(
            kill(3, 30002187, 30, 90_000_004, &[90_000_003]),
            now(),
            || 3,
        );

        let listed = s.character_kills(
            CharacterId::new(90_000_002).expect("id"),
            KillTime::from_unix(0),
            10,
        );

        assert_eq!(ids(&listed), vec![1, 2]);
    }

    #[test]
    fn a_stored_kill_is_packed_into_under_half_its_json_and_gives_back_the_same_bytes() {
        let mut km = kill(
            7,
            30000142,
            10,
            90_000_001,
            &[90_000_002, 90_000_003, 90_000_004],
        );
        km.solar_system_name = Some("Jita".into());
        km.victim.character_name = Some("Ysnav Zamo".into());
        for (i, a) in km.attackers.iter_mut().enumerate() {
            a.character_name = Some(format!("Pilot {i}"));
            a.corporation_id = crate::model::CorporationId::new(98_000_057);
            a.corporation_name = Some("Ithul Holdings".into());
            a.corporation_ticker = Some("ITQJ".into());
            a.ship_type_id = TypeId::new(627);
            a.ship_name = Some("Thorax".into());
            a.damage_done = Some(1000 + i as u64);
            a.security_status = Some(-3.3);
        }
        let mut s = shard(10);
        let Insert::Stored(stored) = s.insert(km.clone(), now(), || 1) else {
            panic!("stored");
        };
        let canonical = StoredKill::json_of(&km);
        // Stored as is: the first pushes pay no compression.
        assert_eq!(stored.packed_len(), canonical.len());

        let left = s.pack(10);
        let stored = s.get(km.killmail_id).expect("still stored");

        assert_eq!(left, 0);
        assert_eq!(stored.offset, 1);
        assert_eq!(stored.json(), canonical);
        assert_eq!(stored.json_len(), canonical.len());
        assert!(
            stored.packed_len() * 2 < canonical.len(),
            "{} bytes held for {} bytes of JSON",
            stored.packed_len(),
            canonical.len()
        );
        let mut listed = Vec::new();
        crate::model::write_json_array(
            &mut listed,
            &s.system_kills(sys(30000142), KillTime::from_unix(0), 10),
        );
        assert_eq!(listed, [&b"["[..], &canonical, b"]"].concat());
        // Every index holds the packed copy.
        let at_offset = s.at_offset(1).expect("by offset");
        let in_system = s.system_kills(sys(30000142), KillTime::from_unix(0), 1);
        for held in [at_offset, Arc::clone(&in_system[0])] {
            assert_eq!(held.packed_len(), stored.packed_len());
        }
    }

    #[test]
    fn a_turn_packs_kills_until_its_bytes_of_json_are_packed_newest_first() {
        let mut s = shard(10);
        for id in 1..=3 {
            s.insert(kill(id, 30000142, 10, 90_000_001, &[]), now(), || id);
        }
        let held = |s: &Shard, id| s.get(KillmailId::new(id).expect("id")).expect("kill");
        let json = held(&s, 3).json_len();
        let packed = |s: &Shard| {
            (1..=3)
                .filter(|id| held(s, *id).packed_len() < json)
                .count()
        };

        // One and a half kills' worth of JSON: the first kill leaves room, the second fills it.
        assert_eq!(s.pack(json + json / 2), 1);
        assert_eq!(packed(&s), 2);
        assert!(held(&s, 1).packed_len() >= json, "the oldest waits");
        // Any budget packs at least one kill.
        assert_eq!(s.pack(0), 0);
        assert_eq!(packed(&s), 3);
    }

    #[test]
    fn a_burst_of_kills_is_never_held_as_is_past_the_bound() {
        let mut s = shard(10_000);
        let burst = MAX_AS_IS as u64 * 3;
        for id in 1..=burst {
            s.insert(
                kill(id, 30000142 + id % 7, 10, 90_000_001, &[]),
                now(),
                || id,
            );
        }
        let as_is = s.by_id.values().filter(|k| !k.is_packed()).count();

        assert_eq!(s.len(), burst as usize);
        assert_eq!(
            as_is, MAX_AS_IS,
            "no packing turn ran: storing packed the rest"
        );
        assert!(s.by_id.values().all(|k| k.killmail().is_some()));
        assert_eq!(
            s.pack(usize::MAX),
            0,
            "what waits is packed by the next turn"
        );
        assert!(s.by_id.values().all(|k| k.is_packed()));
    }

    #[test]
    fn kills_after_the_first_two_thousand_pack_against_their_parties_and_every_kill_reads_back() {
        // Arrange: named parties who fly together again and again
        let named = |id: u64| {
            let mut km = kill(
                id,
                30000142,
                10,
                90_000_000 + id % 40,
                &[90_000_100 + id % 7],
            );
            km.victim.character_name = Some(format!("Victim {}", id % 40));
            km.victim.corporation_name = Some("Victims Inc".into());
            km.victim.corporation_id = CorporationId::new(98_000_001);
            km.victim.ship_name = Some("Capsule".into());
            km.victim.ship_group_id = GroupId::new(29);
            for a in &mut km.attackers {
                a.character_name = Some(format!("Hunter {}", id % 7));
                a.corporation_id = CorporationId::new(98_000_002);
                a.corporation_name = Some("Hunters Ltd".into());
                a.ship_type_id = TypeId::new(587);
                a.ship_name = Some("Rifter".into());
                a.ship_group_id = GroupId::new(25);
            }
            km
        };
        let mut s = shard(10_000);
        let first = 2_000;
        for id in 1..=first {
            s.insert(named(id), now(), || id);
            s.pack(usize::MAX);
        }
        let before = s.get(KillmailId::new(first).expect("id")).expect("kill");

        // Act: the next kill of the same parties
        s.insert(named(first + 7), now(), || first + 7);
        s.pack(usize::MAX);

        // Assert: packed smaller, and every kill, before and after, comes back as stored
        let after = s
            .get(KillmailId::new(first + 7).expect("id"))
            .expect("kill");
        assert_eq!(after.json_len(), before.json_len());
        assert!(
            after.packed_len() * 3 < before.packed_len() * 2,
            "{} against {}",
            after.packed_len(),
            before.packed_len()
        );
        for id in (1..=first).chain([first + 7]) {
            let held = s.get(KillmailId::new(id).expect("id")).expect("kill");
            let expected = StoredKill::json_of(&named(id));
            assert_eq!(held.json(), expected, "kill {id}");
        }
    }

    #[test]
    fn an_update_keeps_offset_and_place_and_reserializes_once() {
        let mut s = shard(100);
        s.insert(kill(1, 30000142, 10, 90_000_001, &[]), now(), || 7);
        let id = KillmailId::new(1).expect("id");

        let updated = s.update(id, |k| {
            k.victim.character_name = Some("Pilot".into());
            k.zkb = Some(Zkb {
                total_value: Some(9.0),
                ..Zkb::default()
            });
        });

        let updated = updated.expect("stored");
        assert_eq!(updated.offset, 7);
        let json: serde_json::Value = serde_json::from_slice(&updated.json()).expect("json");
        assert_eq!(json["victim"]["character_name"], "Pilot");
        assert_eq!(json["zkb"]["totalValue"], 9.0);
        assert!(Arc::ptr_eq(
            &s.system_kills(sys(30000142), KillTime::from_unix(0), 1)[0],
            &updated
        ));
        assert!(s.update(KillmailId::new(2).expect("id"), |_| {}).is_none());
    }

    proptest! {
        #[test]
        fn the_shard_agrees_with_a_brute_force_model(
            kills in prop::collection::vec((1u64..60, 0u64..6, prop::collection::vec(0u64..6, 0..4)), 0..120),
            max in 1usize..8,
        ) {
            let mut s = Shard::new(ShardLimits { max_per_system: max, retention_secs: 50 });
            let mut seen = HashSet::new();
            for (id, victim, attackers) in kills {
                // One killmail id is one kill: its system and time follow from the id.
                let (system, age) = (id % 4, (id as i64 * 7) % 60);
                let attackers: Vec<u64> = attackers.iter().map(|a| 90_000_000 + a).collect();
                let k = kill(id, 30_000_000 + system, age, 90_000_000 + victim, &attackers);
                let outcome = s.insert(k, now(), || id);
                if matches!(outcome, Insert::Stored(_)) {
                    prop_assert!(age <= 50, "too old kills are refused");
                    prop_assert!(seen.insert(id), "a kill is stored at most once");
                }
                if id % 3 == 0 {
                    s.pack(2);
                }
            }
            // Packed or not, every index holds the same copy, and it reads back as the kill.
            for (id, held) in &s.by_id {
                prop_assert!(Arc::ptr_eq(held, &s.by_offset[&held.offset]));
                let in_system = s.systems[&held.facts.system_id].iter().find(|k| k.facts.killmail_id == *id);
                prop_assert!(in_system.is_some_and(|k| Arc::ptr_eq(held, k)));
                prop_assert_eq!(held.killmail().map(|k| k.killmail_id), Some(*id));
            }
            for system in 0..4u64 {
                let listed = ids(&s.system_kills(sys(30_000_000 + system), KillTime::from_unix(0), usize::MAX));
                let mut keys: Vec<(KillTime, KillmailId)> = listed.iter()
                    .map(|&id| s.get(KillmailId::new(id).expect("id")).map(|k| key(&k)).expect("indexed"))
                    .collect();
                let sorted = { let mut k = keys.clone(); k.sort_unstable_by(|a, b| b.cmp(a)); k };
                prop_assert_eq!(&keys, &sorted, "newest first");
                prop_assert!(listed.len() <= max);
                keys.dedup();
                prop_assert_eq!(keys.len(), listed.len(), "no duplicates");
            }
            for character in 0..6u64 {
                let c = CharacterId::new(90_000_000 + character).expect("id");
                let listed: HashSet<u64> = ids(&s.character_kills(c, KillTime::from_unix(0), usize::MAX)).into_iter().collect();
                let brute: HashSet<u64> = s.by_id.values()
                    .filter(|k| k.facts.character_ids().any(|x| x == c))
                    .map(|k| k.facts.killmail_id.get())
                    .collect();
                prop_assert_eq!(listed, brute);
            }
            let total: usize = (0..4u64).map(|system| s.count(sys(30_000_000 + system), KillTime::from_unix(0))).sum();
            prop_assert_eq!(total, s.len());
        }
    }
}
