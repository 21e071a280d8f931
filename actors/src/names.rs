//! What the enricher knows about ids: character names, corporation and alliance names with their
//! tickers, ship type names with their groups, and system names. Pure data, no I/O.
//!
//! Each kind is an LRU bounded in size whose entries expire (`CACHE_ESI_TTL` for people and
//! organisations, a week for static data). An id ESI said it does not know is remembered briefly
//! too, so a kill full of deleted characters does not ask ESI again for each of them. Ship types
//! seeded from a static-data CSV never expire.

use std::collections::BTreeSet;
use std::num::NonZeroUsize;
use std::path::Path;
use std::time::{Duration, Instant};

use lru::LruCache;

use crate::model::{
    AllianceId, CharacterId, CorporationId, GroupId, Killmail, NameKind, NameRecord, TypeId,
};

/// A type's name and, for ships, its group, as ESI gives it.
pub use crate::upstream::esi::InventoryType as TypeInfo;
/// A corporation's or an alliance's name and ticker, as ESI gives it.
pub use crate::upstream::esi::Organisation as Org;

/// How long an id ESI does not know stays known as unknown.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(300);
/// Ship types and systems barely change; a week keeps ESI out of the hot path.
pub const STATIC_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// One cached answer: the value, or `None` when ESI said the id does not exist.
struct Entry<V> {
    value: Option<V>,
    /// `None` for entries that never expire (seeded static data).
    expires: Option<Instant>,
}

/// An LRU whose entries also expire.
struct TtlCache<V> {
    entries: LruCache<u64, Entry<V>>,
    ttl: Duration,
}

/// What a lookup found.
enum Found<'a, V> {
    Known(&'a V),
    Unknown,
    Missing,
}

impl<V> TtlCache<V> {
    fn new(capacity: usize, ttl: Duration) -> Self {
        // `max(1)` makes the capacity non-zero, so the fallback is never taken.
        let capacity = NonZeroUsize::new(capacity.max(1)).unwrap_or(NonZeroUsize::MIN);
        Self {
            entries: LruCache::new(capacity),
            ttl,
        }
    }

    fn get(&mut self, id: u64, now: Instant) -> Found<'_, V> {
        let live = match self.entries.peek(&id) {
            None => return Found::Missing,
            Some(e) => e.expires.is_none_or(|t| t > now),
        };
        if !live {
            self.entries.pop(&id);
            return Found::Missing;
        }
        match self.entries.get(&id).and_then(|e| e.value.as_ref()) {
            Some(v) => Found::Known(v),
            None => Found::Unknown,
        }
    }

    fn put(&mut self, id: u64, value: V, now: Instant) {
        let expires = Some(now + self.ttl);
        self.entries.put(
            id,
            Entry {
                value: Some(value),
                expires,
            },
        );
    }

    fn put_until(&mut self, id: u64, value: V, expires: Instant) {
        self.entries.put(
            id,
            Entry {
                value: Some(value),
                expires: Some(expires),
            },
        );
    }

    fn put_forever(&mut self, id: u64, value: V) {
        self.entries.put(
            id,
            Entry {
                value: Some(value),
                expires: None,
            },
        );
    }

    fn put_unknown(&mut self, id: u64, now: Instant) {
        self.entries.put(
            id,
            Entry {
                value: None,
                expires: Some(now + NEGATIVE_TTL),
            },
        );
    }

    fn len(&self) -> usize {
        self.entries.len()
    }
}

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

/// The ids of a killmail no cache could answer, by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Missing(pub BTreeSet<(NameKind, u64)>);

impl Missing {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
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
            learned: Vec::new(),
        }
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

    /// Static ship types that never expire (from a CSV); returns how many were added.
    pub fn seed_types(&mut self, types: impl IntoIterator<Item = (u64, TypeInfo)>) -> usize {
        let mut n = 0;
        for (id, info) in types {
            self.types.put_forever(id, info);
            n += 1;
        }
        n
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

    /// Writes every known name into `km` and returns the ids nobody knows yet. Idempotent: a
    /// second call after the missing ids were fetched completes the killmail.
    pub fn fill(&mut self, km: &mut Killmail, now: Instant) -> (Missing, Lookups) {
        let mut missing = Missing::default();
        let mut lookups = Lookups::default();
        let mut note = |found: bool, kind: NameKind, id: u64| {
            if found {
                lookups.hits += 1;
            } else {
                lookups.misses += 1;
                missing.0.insert((kind, id));
            }
        };

        let system = km.system_id.get();
        match self.systems.get(system, now) {
            Found::Known(name) => {
                km.solar_system_name = Some(name.clone());
                note(true, NameKind::System, system);
            }
            Found::Unknown => note(true, NameKind::System, system),
            Found::Missing => note(false, NameKind::System, system),
        }

        let v = &mut km.victim;
        let ids = Person::of(
            v.character_id,
            v.corporation_id,
            v.alliance_id,
            v.ship_type_id,
        );
        let names = self.person(&ids, now, &mut note);
        let ship = names.ship.clone();
        names.write(Slots {
            character_name: &mut v.character_name,
            corporation_name: &mut v.corporation_name,
            corporation_ticker: &mut v.corporation_ticker,
            alliance_name: &mut v.alliance_name,
            alliance_ticker: &mut v.alliance_ticker,
            ship_name: &mut v.ship_name,
        });
        if let Some(group) = ship.and_then(|s| s.group_id) {
            v.ship_group_id = Some(group);
        }

        for a in &mut km.attackers {
            let ids = Person::of(
                a.character_id,
                a.corporation_id,
                a.alliance_id,
                a.ship_type_id,
            );
            self.person(&ids, now, &mut note).write(Slots {
                character_name: &mut a.character_name,
                corporation_name: &mut a.corporation_name,
                corporation_ticker: &mut a.corporation_ticker,
                alliance_name: &mut a.alliance_name,
                alliance_ticker: &mut a.alliance_ticker,
                ship_name: &mut a.ship_name,
            });
        }
        (missing, lookups)
    }

    /// The names of one victim or attacker; reports each id to `note` as found or not.
    fn person(
        &mut self,
        p: &Person,
        now: Instant,
        note: &mut impl FnMut(bool, NameKind, u64),
    ) -> PersonNames {
        let mut out = PersonNames::default();
        if let Some(id) = p.character_id {
            out.character = lookup(&mut self.characters, NameKind::Character, id, now, note);
        }
        if let Some(id) = p.corporation_id {
            out.corporation = lookup(&mut self.corporations, NameKind::Corporation, id, now, note);
        }
        if let Some(id) = p.alliance_id {
            out.alliance = lookup(&mut self.alliances, NameKind::Alliance, id, now, note);
        }
        if let Some(id) = p.ship_type_id {
            out.ship = lookup(&mut self.types, NameKind::Type, id, now, note);
        }
        out
    }
}

/// The ids of one victim or attacker.
struct Person {
    character_id: Option<u64>,
    corporation_id: Option<u64>,
    alliance_id: Option<u64>,
    ship_type_id: Option<u64>,
}

impl Person {
    fn of(
        character: Option<CharacterId>,
        corporation: Option<CorporationId>,
        alliance: Option<AllianceId>,
        ship: Option<TypeId>,
    ) -> Self {
        Self {
            character_id: character.map(CharacterId::get),
            corporation_id: corporation.map(CorporationId::get),
            alliance_id: alliance.map(AllianceId::get),
            ship_type_id: ship.map(TypeId::get),
        }
    }
}

/// The names a victim and an attacker both carry.
struct Slots<'a> {
    character_name: &'a mut Option<String>,
    corporation_name: &'a mut Option<String>,
    corporation_ticker: &'a mut Option<String>,
    alliance_name: &'a mut Option<String>,
    alliance_ticker: &'a mut Option<String>,
    ship_name: &'a mut Option<String>,
}

#[derive(Default)]
struct PersonNames {
    character: Option<String>,
    corporation: Option<Org>,
    alliance: Option<Org>,
    ship: Option<TypeInfo>,
}

impl PersonNames {
    /// Writes each known name; a slot whose name is not known keeps what it had.
    fn write(self, slots: Slots<'_>) {
        fn set(slot: &mut Option<String>, value: Option<String>) {
            if value.is_some() {
                *slot = value;
            }
        }
        let (corporation_name, corporation_ticker) = split(self.corporation);
        let (alliance_name, alliance_ticker) = split(self.alliance);
        set(slots.character_name, self.character);
        set(slots.corporation_name, corporation_name);
        set(slots.corporation_ticker, corporation_ticker);
        set(slots.alliance_name, alliance_name);
        set(slots.alliance_ticker, alliance_ticker);
        set(slots.ship_name, self.ship.map(|s| s.name));
    }
}

fn split(org: Option<Org>) -> (Option<String>, Option<String>) {
    org.map_or((None, None), |o| (Some(o.name), Some(o.ticker)))
}

fn lookup<V: Clone>(
    cache: &mut TtlCache<V>,
    kind: NameKind,
    id: u64,
    now: Instant,
    note: &mut impl FnMut(bool, NameKind, u64),
) -> Option<V> {
    match cache.get(id, now) {
        Found::Known(v) => {
            note(true, kind, id);
            Some(v.clone())
        }
        Found::Unknown => {
            note(true, kind, id);
            None
        }
        Found::Missing => {
            note(false, kind, id);
            None
        }
    }
}

/// Why a static-data CSV could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    #[error("{path}: {source}")]
    Read { path: String, source: csv::Error },
    #[error("{path}: no `{column}` column in the header")]
    Column { path: String, column: &'static str },
}

/// Reads ship types from a static-data CSV with a header row holding `typeID`, `groupID` and
/// `typeName` (EVE's `invTypes.csv`, or a ships-only extract). Rows that do not parse are skipped.
pub fn read_types_csv(path: &Path) -> Result<Vec<(u64, TypeInfo)>, CsvError> {
    let shown = path.display().to_string();
    let read_error = |source| CsvError::Read {
        path: shown.clone(),
        source,
    };
    let mut reader = csv::Reader::from_path(path).map_err(read_error)?;
    let header = reader.headers().map_err(read_error)?.clone();
    let column = |name: &'static str| {
        header
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| CsvError::Column {
                path: shown.clone(),
                column: name,
            })
    };
    let (id_at, group_at, name_at) = (column("typeID")?, column("groupID")?, column("typeName")?);
    let mut out = Vec::new();
    for record in reader.records().map_while(Result::ok) {
        let id = record.get(id_at).and_then(|v| v.trim().parse::<u64>().ok());
        let name = record.get(name_at).map(str::trim).filter(|n| !n.is_empty());
        if let (Some(id), Some(name)) = (id, name) {
            let group_id = record
                .get(group_at)
                .and_then(|v| v.trim().parse::<u64>().ok())
                .and_then(GroupId::new);
            out.push((
                id,
                TypeInfo {
                    name: name.to_owned(),
                    group_id,
                },
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn killmail() -> Killmail {
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

    fn temp_csv(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("wk-names-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(name);
        std::fs::write(&path, text).expect("written");
        path
    }

    #[test]
    fn the_ship_csv_seeds_names_and_groups_that_never_expire() {
        let path = temp_csv(
            "ships.csv",
            "typeID,groupID,typeName,published\n670,29,Capsule,1\nx,1,Broken,1\n17918,27,Rattlesnake,1\n",
        );
        let types = read_types_csv(&path).expect("the CSV reads");
        assert_eq!(types.len(), 2, "the unreadable row is skipped");
        let mut cache = NameCache::new(CacheLimits::default());
        cache.seed_types(types);
        let mut km = killmail();
        let (missing, _) = cache.fill(&mut km, Instant::now() + STATIC_TTL * 2);
        assert!(!missing.0.contains(&(NameKind::Type, 670)));
        assert!(!missing.0.contains(&(NameKind::Type, 17918)));
        assert_eq!(km.victim.ship_name.as_deref(), Some("Capsule"));
        assert_eq!(km.victim.ship_group_id.map(GroupId::get), Some(29));
    }

    #[test]
    fn the_shared_ship_list_reads_when_it_is_beside_the_repository() {
        // The team's static data sits beside the repository; on other machines there is nothing
        // to read and the inline CSV test above covers the parser.
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/shipTypes.csv");
        if let Ok(types) = read_types_csv(&path) {
            assert!(types.len() > 400, "{} ship types", types.len());
            assert!(types.iter().any(|(id, t)| *id == 587 && t.name == "Rifter"));
        }
    }

    #[test]
    fn a_csv_without_the_needed_columns_is_refused_with_its_name() {
        let path = temp_csv("bad.csv", "id,name\n1,x\n");
        let err = read_types_csv(&path).expect_err("refused");
        assert!(err.to_string().contains("typeID"), "{err}");
        assert!(err.to_string().contains("bad.csv"), "{err}");
    }
}
