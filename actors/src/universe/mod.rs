//! The static universe (CCP's Static Data Export, shipped in `priv/data/`): every solar system
//! with its constellation, region and security; constellation and region names; every ship type
//! with its group. Loaded once at start and shared read-only, so no ESI call is ever made for a
//! system, and none for a ship the data knows.

use std::path::Path;

mod load;

use crate::model::ids::IdMap;
use crate::model::{ConstellationId, KillFacts, Killmail, RegionId, Space};

pub use load::{read_systems, read_types, CsvError};

/// A type's name and, for ships, its group.
pub use crate::upstream::esi::InventoryType as TypeInfo;

/// A solar system as the static data describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct SystemInfo {
    pub name: String,
    pub constellation_id: Option<ConstellationId>,
    pub region_id: Option<RegionId>,
    /// True security, as CCP's data gives it.
    pub security: Option<f64>,
}

/// The file names each part is read from; the first that reads wins (a fuller `invTypes.csv`
/// put there is read before the shipped ships-only list).
const TYPES: [&str; 2] = ["invTypes.csv", "shipTypes.csv"];
const SYSTEMS: [&str; 1] = ["systems.csv"];
const CONSTELLATIONS: [&str; 1] = ["constellations.csv"];
const REGIONS: [&str; 1] = ["regions.csv"];

#[derive(Default)]
pub struct Universe {
    systems: IdMap<u64, SystemInfo>,
    constellations: IdMap<u64, String>,
    regions: IdMap<u64, String>,
    types: IdMap<u64, TypeInfo>,
}

impl Universe {
    /// Reads the static data from the first of `dirs` holding each file. The service works
    /// without it (ESI is then asked for names, and places and space classes stay unknown).
    pub fn load(dirs: &[&Path]) -> Self {
        Self {
            types: load::part(dirs, &TYPES, "ship types", read_types),
            systems: load::part(dirs, &SYSTEMS, "systems", read_systems),
            constellations: load::part(
                dirs,
                &CONSTELLATIONS,
                "constellations",
                load::read_constellations,
            ),
            regions: load::part(dirs, &REGIONS, "regions", load::read_regions),
        }
    }

    pub fn system(&self, id: u64) -> Option<&SystemInfo> {
        self.systems.get(&id)
    }

    pub fn ship(&self, id: u64) -> Option<&TypeInfo> {
        self.types.get(&id)
    }

    pub fn region_name(&self, id: RegionId) -> Option<&str> {
        self.regions.get(&id.get()).map(String::as_str)
    }

    pub fn constellation_name(&self, id: ConstellationId) -> Option<&str> {
        self.constellations.get(&id.get()).map(String::as_str)
    }

    /// Completes the facts of a kill stored before its place and ship groups were written on
    /// it (an older store): filters then see it as they see a new one. `true` when it changed.
    pub fn complete_facts(&self, facts: &mut KillFacts) -> bool {
        let mut changed = false;
        if let (None, Some(system)) = (facts.region_id, self.system(facts.system_id.get())) {
            facts.constellation_id = system.constellation_id;
            facts.region_id = system.region_id;
            facts.space = Space::of(facts.system_id, system.region_id, system.security);
            changed = true;
        }
        let parties = std::iter::once(&mut facts.victim).chain(facts.attackers.iter_mut());
        for party in parties.filter(|p| p.ship_group.is_none()) {
            let group = party
                .ship_type
                .and_then(|t| self.ship(t.get()))
                .and_then(|s| s.group_id);
            if group.is_some() {
                party.ship_group = group;
                changed = true;
            }
        }
        changed
    }

    /// Writes the kill's system name, constellation, region and security; `false` when the
    /// data does not know the system.
    pub fn place(&self, km: &mut Killmail) -> bool {
        let Some(system) = self.system(km.system_id.get()) else {
            return false;
        };
        km.solar_system_name = Some(system.name.clone());
        km.constellation_id = system.constellation_id;
        km.region_id = system.region_id;
        km.region_name = system
            .region_id
            .and_then(|r| self.region_name(r))
            .map(str::to_owned);
        km.security_status = system.security;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shipped() -> Universe {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../priv/data");
        Universe::load(&[&dir])
    }

    fn kill_in(system: u64) -> Killmail {
        serde_json::from_value(json!({
            "killmail_id": 1, "kill_time": "2026-11-26T10:11:12Z", "system_id": system,
            "victim": {"ship_type_id": 670}, "attackers": []
        }))
        .expect("a killmail")
    }

    #[test]
    fn the_shipped_data_places_every_kind_of_system() {
        let universe = shipped();
        assert!(universe.systems.len() > 8000, "{}", universe.systems.len());
        assert!(universe.regions.len() > 100 && universe.constellations.len() > 1000);
        let cases = [
            (30000142, "Jita", 10000002, "The Forge", Space::Highsec),
            (30002813, "Tama", 10000033, "The Citadel", Space::Lowsec),
            (30004759, "1DQ1-A", 10000060, "Delve", Space::Nullsec),
            (31000005, "Thera", 11000031, "G-R00031", Space::Wspace),
            (30100000, "Zarzakh", 10001000, "Yasna Zakh", Space::Nullsec),
        ];
        for (system, name, region, region_name, space) in cases {
            let mut km = kill_in(system);
            assert!(universe.place(&mut km), "{system} is known");
            let out = serde_json::to_value(&km).expect("serializes");
            assert_eq!(out["solar_system_name"], name);
            assert_eq!(out["region_id"], region, "{name}");
            assert_eq!(out["region_name"], region_name);
            assert_eq!(out["space"], space.name(), "{name}");
            assert!(out["constellation_id"]
                .as_u64()
                .is_some_and(|c| c / 1_000_000 >= 20));
            assert!(out["security_status"].is_number());
        }
    }

    #[test]
    fn pochven_and_abyssal_pockets_have_their_own_class() {
        let universe = shipped();
        let pochven = universe
            .systems
            .iter()
            .find(|(_, s)| s.region_id.is_some_and(|r| r.get() == 10000070))
            .map(|(id, _)| *id)
            .expect("Pochven ships");
        let mut km = kill_in(pochven);
        universe.place(&mut km);
        assert_eq!(km.space(), Some(Space::Pochven));
        let mut abyss = kill_in(32000001);
        universe.place(&mut abyss);
        assert_eq!(abyss.space(), Some(Space::Abyssal));
    }

    #[test]
    fn facts_of_a_kill_stored_before_places_existed_are_completed() {
        let universe = shipped();
        let old = kill_in(30002813);
        let json = serde_json::to_vec(&old).expect("serializes");
        let mut facts = KillFacts::from_json(&json).expect("reads");
        assert_eq!((facts.region_id, facts.space), (None, None));
        assert_eq!(facts.victim.ship_group, None);

        assert!(universe.complete_facts(&mut facts));

        assert_eq!(facts.region_id.map(|r| r.get()), Some(10000033));
        assert_eq!(facts.space, Some(Space::Lowsec));
        assert_eq!(
            facts.victim.ship_group.map(|g| g.get()),
            Some(29),
            "a capsule"
        );
        assert!(
            !universe.complete_facts(&mut facts),
            "nothing left to complete"
        );
    }

    #[test]
    fn an_unknown_system_is_left_as_it_was() {
        let universe = shipped();
        let mut km = kill_in(30999999);
        assert!(!universe.place(&mut km));
        assert_eq!(km.region_id, None);
        assert_eq!(km.space(), None, "no security known");
    }

    #[test]
    fn every_shipped_ship_has_its_name_and_group() {
        let universe = shipped();
        let rifter = universe.ship(587).expect("the Rifter");
        assert_eq!(rifter.name, "Rifter");
        assert_eq!(rifter.group_id.map(|g| g.get()), Some(25), "a frigate");
        assert!(universe.types.len() > 400);
    }

    #[test]
    fn a_csv_without_the_needed_columns_is_refused_with_its_name() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("bad.csv");
        std::fs::write(&path, "id,name\n1,x\n").expect("written");
        let err = read_types(&path).expect_err("refused");
        assert!(err.to_string().contains("typeID") && err.to_string().contains("bad.csv"));
    }
}
