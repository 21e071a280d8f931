//! What the enricher knows about ids: character names, corporation and alliance names with their
//! tickers, ship type names with their groups, and system names. Pure data, no I/O.
//!
//! Each kind is an LRU bounded in size whose entries expire (`CACHE_ESI_TTL` for people and
//! organisations, a week for static data). An id ESI said it does not know is remembered briefly
//! too, so a kill full of deleted characters does not ask ESI again for each of them. Ship types
//! seeded from a static-data CSV never expire.

mod fill;
pub mod static_data;
mod ttl;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::model::{NameKind, NameRecord};
use ttl::TtlCache;

use std::sync::Arc;

use crate::universe::Universe;
/// A type's name and, for ships, its group, as ESI gives it.
pub use crate::upstream::esi::InventoryType as TypeInfo;
/// A corporation's or an alliance's name and ticker, as ESI gives it.
pub use crate::upstream::esi::Organisation as Org;

/// How long an id ESI does not know stays known as unknown.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(300);
/// Ship types and systems barely change; a week keeps ESI out of the hot path.
pub const STATIC_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Sizes and lifetimes of the caches.
#[derive(Clone, Copy, Debug)]
pub struct CacheLimits {
    /// Lifetime of character, corporation and alliance entries.
    pub ttl: Duration,
    /// Entries per kind before the least recently used go.
    pub capacity: usize,
}

impl Default for CacheLimits {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(24 * 3600),
            capacity: 200_000,
        }
    }
}

/// The ids of a killmail no cache could answer, by kind; then the corporations and alliances
/// whose name is known but whose ticker is still coming.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Missing(pub BTreeSet<(NameKind, u64)>, pub BTreeSet<(NameKind, u64)>);

impl Missing {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty() && self.1.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// Hits and misses of one [`NameCache::fill`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lookups {
    pub hits: u64,
    pub misses: u64,
}

pub struct NameCache {
    characters: TtlCache<String>,
    corporations: TtlCache<Org>,
    alliances: TtlCache<Org>,
    types: TtlCache<TypeInfo>,
    systems: TtlCache<String>,
    /// The static data: systems and their places, ship types.
    universe: Arc<Universe>,
    /// Answers learned from ESI since the last [`NameCache::take_learned`], to be saved.
    learned: Vec<NameRecord>,
}

impl NameCache {
    pub fn new(limits: CacheLimits) -> Self {
        Self {
            characters: TtlCache::new(limits.capacity, limits.ttl),
            corporations: TtlCache::new(limits.capacity / 4, limits.ttl),
            alliances: TtlCache::new(limits.capacity / 16, limits.ttl),
            types: TtlCache::new(limits.capacity / 4, STATIC_TTL),
            systems: TtlCache::new(limits.capacity / 16, STATIC_TTL),
            universe: Arc::default(),
            learned: Vec::new(),
        }
    }

    /// The caches answering from the static data first: its ship types and systems are never
    /// asked of anyone (nor copied into the caches).
    pub fn with_universe(mut self, universe: Arc<Universe>) -> Self {
        self.universe = universe;
        self
    }

    fn learn(
        &mut self,
        kind: NameKind,
        id: u64,
        name: &str,
        ticker: Option<&str>,
        group: Option<u64>,
    ) {
        let ttl = match kind {
            NameKind::Character => self.characters.ttl,
            NameKind::Corporation => self.corporations.ttl,
            NameKind::Alliance => self.alliances.ttl,
            NameKind::Type => self.types.ttl,
            NameKind::System => self.systems.ttl,
        };
        self.learned.push(NameRecord {
            kind,
            id,
            name: name.to_owned(),
            ticker: ticker.map(str::to_owned),
            group_id: group,
            ttl_secs: ttl.as_secs(),
        });
    }

    pub fn put_character(&mut self, id: u64, name: String, now: Instant) {
        self.learn(NameKind::Character, id, &name, None, None);
        self.characters.put(id, name, now);
    }

    pub fn put_corporation(&mut self, id: u64, org: Org, now: Instant) {
        self.learn(
            NameKind::Corporation,
            id,
            &org.name,
            Some(&org.ticker),
            None,
        );
        self.corporations.put(id, org, now);
    }

    pub fn put_alliance(&mut self, id: u64, org: Org, now: Instant) {
        self.learn(NameKind::Alliance, id, &org.name, Some(&org.ticker), None);
        self.alliances.put(id, org, now);
    }

    pub fn put_type(&mut self, id: u64, info: TypeInfo, now: Instant) {
        let group = info.group_id.map(|g| g.get());
        self.learn(NameKind::Type, id, &info.name, None, group);
        self.types.put(id, info, now);
    }

    pub fn put_system(&mut self, id: u64, name: String, now: Instant) {
        self.learn(NameKind::System, id, &name, None, None);
        self.systems.put(id, name, now);
    }

    /// What ESI taught the cache since the last call, for saving.
    pub fn take_learned(&mut self) -> Vec<NameRecord> {
        std::mem::take(&mut self.learned)
    }

    /// Puts back a saved name; it stays good for its `ttl_secs` from `now`.
    pub fn restore(&mut self, record: NameRecord, now: Instant) {
        let expires = now + Duration::from_secs(record.ttl_secs);
        let (id, name) = (record.id, record.name);
        let org = |name: String| Org {
            name,
            ticker: record.ticker.clone().unwrap_or_default(),
        };
        match record.kind {
            NameKind::Character => self.characters.put_until(id, name, expires),
            NameKind::Corporation => self.corporations.put_until(id, org(name), expires),
            NameKind::Alliance => self.alliances.put_until(id, org(name), expires),
            NameKind::Type => {
                let info = TypeInfo {
                    name,
                    group_id: record.group_id.and_then(crate::model::GroupId::new),
                };
                self.types.put_until(id, info, expires);
            }
            NameKind::System => self.systems.put_until(id, name, expires),
        }
    }

    /// A corporation's or an alliance's name without its ticker (from `/universe/names/`), good
    /// for a short while: the full entry with the ticker replaces it when it comes. Not saved.
    pub fn put_org_name(&mut self, kind: NameKind, id: u64, name: String, now: Instant) {
        let org = Org {
            name,
            ticker: String::new(),
        };
        let until = now + NEGATIVE_TTL;
        match kind {
            NameKind::Corporation => self.corporations.put_until(id, org, until),
            NameKind::Alliance => self.alliances.put_until(id, org, until),
            _ => {}
        }
    }

    /// Whether a corporation or an alliance is known by name only (its ticker still to fetch).
    pub fn ticker_pending(&mut self, kind: NameKind, id: u64, now: Instant) -> bool {
        let cache = match kind {
            NameKind::Corporation => &mut self.corporations,
            NameKind::Alliance => &mut self.alliances,
            _ => return false,
        };
        matches!(cache.get(id, now), ttl::Found::Known(org) if org.ticker.is_empty())
    }

    /// Remembers briefly that ESI does not know `id`.
    pub fn put_unknown(&mut self, kind: NameKind, id: u64, now: Instant) {
        match kind {
            NameKind::Character => self.characters.put_unknown(id, now),
            NameKind::Corporation => self.corporations.put_unknown(id, now),
            NameKind::Alliance => self.alliances.put_unknown(id, now),
            NameKind::Type => self.types.put_unknown(id, now),
            NameKind::System => self.systems.put_unknown(id, now),
        }
    }

    /// Entries held, all kinds together.
    pub fn len(&self) -> usize {
        self.characters.len()
            + self.corporations.len()
            + self.alliances.len()
            + self.types.len()
            + self.systems.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::ttl::Found;
    use super::*;
    use crate::model::{GroupId, Killmail};
    use serde_json::json;

    pub fn killmail() -> Killmail {
        serde_json::from_value(json!({
            "killmail_id": 1, "kill_time": "2026-11-26T10:11:12Z", "system_id": 30000142,
            "victim": {"character_id": 10, "corporation_id": 20, "alliance_id": 30, "ship_type_id": 670},
            "attackers": [
                {"character_id": 11, "corporation_id": 20, "ship_type_id": 17918, "final_blow": true},
                {"ship_type_id": 17918}
            ]
        }))
        .expect("a killmail")
    }

    fn org(name: &str, ticker: &str) -> Org {
        Org {
            name: name.into(),
            ticker: ticker.into(),
        }
    }

    #[test]
    fn an_empty_cache_reports_each_distinct_id_once() {
        let mut cache = NameCache::new(CacheLimits::default());
        let (missing, lookups) = cache.fill(&mut killmail(), Instant::now());
        let kinds: Vec<(NameKind, u64)> = missing.0.into_iter().collect();
        assert_eq!(
            kinds,
            vec![
                (NameKind::Character, 10),
                (NameKind::Character, 11),
                (NameKind::Corporation, 20),
                (NameKind::Alliance, 30),
                (NameKind::Type, 670),
                (NameKind::Type, 17918),
                (NameKind::System, 30000142),
            ]
        );
        assert_eq!(lookups.hits, 0);
    }

    #[test]
    fn known_names_are_written_into_victim_attackers_and_system() {
        let now = Instant::now();
        let mut cache = NameCache::new(CacheLimits::default());
        cache.put_character(10, "Victim".into(), now);
        cache.put_character(11, "Killer".into(), now);
        cache.put_corporation(20, org("Corp", "CRP"), now);
        cache.put_alliance(30, org("Alliance", "ALLY"), now);
        cache.put_type(
            670,
            TypeInfo {
                name: "Capsule".into(),
                group_id: GroupId::new(29),
            },
            now,
        );
        cache.put_type(
            17918,
            TypeInfo {
                name: "Rattlesnake".into(),
                group_id: GroupId::new(27),
            },
            now,
        );
        cache.put_system(30000142, "Jita".into(), now);
        let mut km = killmail();

        let (missing, lookups) = cache.fill(&mut km, now);

        assert!(missing.is_empty());
        assert_eq!(lookups.misses, 0);
        let out = serde_json::to_value(&km).expect("serializes");
        assert_eq!(out["solar_system_name"], "Jita");
        assert_eq!(out["victim"]["character_name"], "Victim");
        assert_eq!(out["victim"]["corporation_ticker"], "CRP");
        assert_eq!(out["victim"]["alliance_ticker"], "ALLY");
        assert_eq!(out["victim"]["ship_name"], "Capsule");
        assert_eq!(out["victim"]["ship_group_id"], 29);
        assert_eq!(out["attackers"][0]["character_name"], "Killer");
        assert_eq!(out["attackers"][0]["corporation_name"], "Corp");
        assert_eq!(out["attackers"][1]["ship_name"], "Rattlesnake");
        assert!(out["attackers"][1].get("character_name").is_none());
    }

    #[test]
    fn learned_names_are_handed_out_once_and_restore_with_their_time_left() {
        let now = Instant::now();
        let mut cache = NameCache::new(CacheLimits::default());
        cache.put_character(2112000001, "Pilot".into(), now);
        cache.put_unknown(NameKind::Alliance, 99000001, now);
        let org = Org {
            name: "Corp".into(),
            ticker: "CORP".into(),
        };
        cache.put_corporation(98000001, org.clone(), now);

        let learned = cache.take_learned();

        assert_eq!(learned.len(), 2, "unknown ids are not saved");
        assert!(cache.take_learned().is_empty());
        let mut fresh = NameCache::new(CacheLimits::default());
        for mut record in learned {
            record.ttl_secs = 10;
            fresh.restore(record, now);
        }
        assert!(matches!(fresh.corporations.get(98000001, now), Found::Known(o) if *o == org));
        assert!(matches!(
            fresh
                .characters
                .get(2112000001, now + Duration::from_secs(11)),
            Found::Missing
        ));
        assert!(fresh.take_learned().is_empty(), "restoring is not learning");
    }

    #[test]
    fn entries_expire_after_their_ttl_and_unknown_ids_are_not_asked_again() {
        let now = Instant::now();
        let mut cache = NameCache::new(CacheLimits {
            ttl: Duration::from_secs(60),
            capacity: 100,
        });
        cache.put_character(10, "Victim".into(), now);
        cache.put_unknown(NameKind::Character, 11, now);

        let (missing, _) = cache.fill(&mut killmail(), now);
        assert!(!missing.0.contains(&(NameKind::Character, 10)));
        assert!(!missing.0.contains(&(NameKind::Character, 11)));

        let later = now + Duration::from_secs(61);
        let (missing, _) = cache.fill(&mut killmail(), later);
        assert!(missing.0.contains(&(NameKind::Character, 10)));
        assert!(
            !missing.0.contains(&(NameKind::Character, 11)),
            "negative entries live 5 min"
        );
        let (missing, _) = cache.fill(&mut killmail(), now + NEGATIVE_TTL + Duration::from_secs(1));
        assert!(missing.0.contains(&(NameKind::Character, 11)));
    }
}
