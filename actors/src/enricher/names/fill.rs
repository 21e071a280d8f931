//! Writing known names into a killmail: the system, then the victim and every attacker (who
//! carry the same name slots), reporting each id no cache could answer.

use std::time::Instant;

use super::ttl::{Found, TtlCache};
use super::{Lookups, Missing, NameCache, Org, TypeInfo};
use crate::model::{AllianceId, CharacterId, CorporationId, Killmail, NameKind, TypeId};

impl NameCache {
    /// Writes every known name into `km` and returns the ids nobody knows yet. Idempotent: a
    /// second call after the missing ids were fetched completes the killmail.
    pub fn fill(&mut self, km: &mut Killmail, now: Instant) -> (Missing, Lookups) {
        let mut missing = Missing::default();
        let mut lookups = Lookups::default();
        let mut tickers = std::collections::BTreeSet::new();
        let mut note = |found: bool, kind: NameKind, id: u64| {
            if found {
                lookups.hits += 1;
            } else {
                lookups.misses += 1;
                missing.0.insert((kind, id));
            }
        };

        let system = km.system_id.get();
        if self.universe.place(km) {
            note(true, NameKind::System, system);
        } else {
            match self.systems.get(system, now) {
                Found::Known(name) => {
                    km.solar_system_name = Some(name.clone());
                    note(true, NameKind::System, system);
                }
                Found::Unknown => note(true, NameKind::System, system),
                Found::Missing => note(false, NameKind::System, system),
            }
        }

        let v = &mut km.victim;
        let ids = Person::of(
            v.character_id,
            v.corporation_id,
            v.alliance_id,
            v.ship_type_id,
        );
        let names = self.person(&ids, now, &mut note);
        names.tickers_to_come(&ids, &mut tickers);
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
            let names = self.person(&ids, now, &mut note);
            names.tickers_to_come(&ids, &mut tickers);
            if let Some(group) = names.ship.as_ref().and_then(|s| s.group_id) {
                a.ship_group_id = Some(group);
            }
            names.write(Slots {
                character_name: &mut a.character_name,
                corporation_name: &mut a.corporation_name,
                corporation_ticker: &mut a.corporation_ticker,
                alliance_name: &mut a.alliance_name,
                alliance_ticker: &mut a.alliance_ticker,
                ship_name: &mut a.ship_name,
            });
        }
        missing.1 = tickers;
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
            // The static data knows every ship; the cache holds what ESI answered for the rest.
            out.ship = match self.universe.ship(id) {
                Some(info) => {
                    note(true, NameKind::Type, id);
                    Some(info.clone())
                }
                None => lookup(&mut self.types, NameKind::Type, id, now, note),
            };
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
    /// The corporation and alliance known by name only, their tickers still coming.
    fn tickers_to_come(&self, ids: &Person, out: &mut std::collections::BTreeSet<(NameKind, u64)>) {
        let pending = |org: &Option<Org>| org.as_ref().is_some_and(|o| o.ticker.is_empty());
        if let (true, Some(id)) = (pending(&self.corporation), ids.corporation_id) {
            out.insert((NameKind::Corporation, id));
        }
        if let (true, Some(id)) = (pending(&self.alliance), ids.alliance_id) {
            out.insert((NameKind::Alliance, id));
        }
    }

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

/// A name and its ticker; a ticker not known yet (the name came from `/universe/names/`) is
/// left out, never written empty.
fn split(org: Option<Org>) -> (Option<String>, Option<String>) {
    org.map_or((None, None), |o| {
        let ticker = Some(o.ticker).filter(|t| !t.is_empty());
        (Some(o.name), ticker)
    })
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
