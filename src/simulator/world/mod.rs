//! The simulated EVE universe: systems, ships, pilots, corporations and alliances, and the kills
//! that happen in it. Everything is a pure function of the seed (and, for kills, their index), so
//! two simulators with one seed tell the same story and every route agrees on every name.

use serde_json::{json, Value};

mod rng;
mod tables;

pub use rng::Rng;
pub use tables::*;

/// Stream ids, so the name of an entity never depends on how many kills came before.
const NAME_STREAM: u64 = 1;
const KILL_STREAM: u64 = 2;

pub struct Character {
    pub name: String,
    pub corporation_id: u64,
    pub alliance_id: Option<u64>,
    pub security_status: f64,
}

pub struct Corporation {
    pub name: String,
    pub ticker: String,
    pub alliance_id: Option<u64>,
    pub member_count: u64,
}

pub struct Alliance {
    pub name: String,
    pub ticker: String,
}

/// A kill before publication: its ESI killmail and zkb block, as upstream would serve them.
#[derive(Clone, Debug)]
pub struct SimKill {
    pub killmail_id: u64,
    pub hash: String,
    pub esi: Value,
    pub zkb: Value,
}

impl SimKill {
    /// Moves the kill to another system (tests that need a kill in a given system).
    pub fn set_system(&mut self, system_id: u64) {
        self.esi["solar_system_id"] = json!(system_id);
    }

    /// Makes the kill `seconds` old relative to `now` (Unix seconds).
    pub fn set_age(&mut self, now: i64, seconds: i64) {
        self.esi["killmail_time"] = json!(iso(now - seconds));
    }

    pub fn set_victim_character(&mut self, character_id: u64) {
        self.esi["victim"]["character_id"] = json!(character_id);
    }

    pub fn system_id(&self) -> u64 {
        self.esi["solar_system_id"].as_u64().unwrap_or_default()
    }
}

/// Every entity and kill of one seed.
#[derive(Clone, Debug)]
pub struct World {
    seed: u64,
}

impl World {
    pub fn new(seed: u64) -> Self {
        Self { seed }
    }

    fn rng_for(&self, id: u64) -> Rng {
        Rng::new(self.seed ^ NAME_STREAM.rotate_left(32), id)
    }

    fn word(rng: &mut Rng, syllables: u64) -> String {
        let mut word: String = (0..syllables).map(|_| *rng.pick(&SYLLABLES)).collect();
        if let Some(first) = word.get(0..1) {
            word.replace_range(0..1, &first.to_ascii_uppercase());
        }
        word
    }

    fn ticker(rng: &mut Rng, name: &str, len: usize) -> String {
        let mut t: String = name
            .chars()
            .filter(char::is_ascii_alphabetic)
            .take(2)
            .collect();
        while t.len() < len {
            t.push(char::from(b'A' + rng.below(26) as u8));
        }
        t.to_ascii_uppercase()
    }

    pub fn character(&self, id: u64) -> Option<Character> {
        if !(CHARACTER_BASE..CHARACTER_BASE + CHARACTER_COUNT).contains(&id) {
            return None;
        }
        let mut rng = self.rng_for(id);
        let first = Self::word(&mut rng, 2);
        let last_len = 2 + rng.below(2);
        let name = format!("{first} {}", Self::word(&mut rng, last_len));
        let corporation_id = CORPORATION_BASE + rng.below(CORPORATION_COUNT);
        let alliance_id = self.corporation(corporation_id).and_then(|c| c.alliance_id);
        let security_status = ((rng.unit() * 15.0 - 10.0) * 10.0).round() / 10.0;
        Some(Character {
            name,
            corporation_id,
            alliance_id,
            security_status,
        })
    }

    pub fn corporation(&self, id: u64) -> Option<Corporation> {
        if let Some((_, _, _, name, ticker)) = FACTIONS.iter().find(|f| f.2 == id) {
            return Some(Corporation {
                name: (*name).into(),
                ticker: (*ticker).into(),
                alliance_id: None,
                member_count: 0,
            });
        }
        if !(CORPORATION_BASE..CORPORATION_BASE + CORPORATION_COUNT).contains(&id) {
            return None;
        }
        let mut rng = self.rng_for(id);
        let name = format!("{} {}", Self::word(&mut rng, 2), rng.pick(&CORP_SUFFIXES));
        let ticker = Self::ticker(&mut rng, &name, 4);
        let alliance_id = (!rng.chance(0.25)).then(|| ALLIANCE_BASE + rng.below(ALLIANCE_COUNT));
        Some(Corporation {
            name,
            ticker,
            alliance_id,
            member_count: 1 + rng.below(500),
        })
    }

    pub fn alliance(&self, id: u64) -> Option<Alliance> {
        if !(ALLIANCE_BASE..ALLIANCE_BASE + ALLIANCE_COUNT).contains(&id) {
            return None;
        }
        let mut rng = self.rng_for(id);
        let name = format!(
            "{} {}",
            Self::word(&mut rng, 3),
            rng.pick(&ALLIANCE_SUFFIXES)
        );
        let ticker = Self::ticker(&mut rng, &name, 5);
        Some(Alliance { name, ticker })
    }

    pub fn system(&self, id: u64) -> Option<(&'static str, f64)> {
        SYSTEMS.iter().find(|s| s.0 == id).map(|s| (s.1, s.2))
    }

    /// `(name, group_id)` of a ship or item type.
    pub fn inventory_type(&self, id: u64) -> Option<(&'static str, u64)> {
        SHIPS
            .iter()
            .chain(ITEMS.iter())
            .find(|t| t.0 == id)
            .map(|t| (t.2, t.1))
    }

    pub fn faction(&self, id: u64) -> Option<&'static str> {
        FACTIONS.iter().find(|f| f.0 == id).map(|f| f.1)
    }

    /// What `POST /universe/names/` answers for one id: `(name, category)`.
    pub fn name(&self, id: u64) -> Option<(String, &'static str)> {
        if let Some(c) = self.character(id) {
            return Some((c.name, "character"));
        }
        if let Some(c) = self.corporation(id) {
            return Some((c.name, "corporation"));
        }
        if let Some(a) = self.alliance(id) {
            return Some((a.name, "alliance"));
        }
        if let Some((name, _)) = self.system(id) {
            return Some((name.into(), "solar_system"));
        }
        if let Some((name, _)) = self.inventory_type(id) {
            return Some((name.into(), "inventory_type"));
        }
        self.faction(id).map(|name| (name.into(), "faction"))
    }

    /// Kill number `index`, happening at `now` (Unix seconds). The same seed and index always
    /// give the same kill, apart from its time.
    pub fn kill(&self, index: u64, now: i64) -> SimKill {
        let mut rng = Rng::new(self.seed ^ KILL_STREAM.rotate_left(40), index);
        let killmail_id = KILLMAIL_BASE + index;
        let hash = format!(
            "{:016x}{:016x}{:08x}",
            rng.next_u64(),
            rng.next_u64(),
            rng.next_u64() as u32
        );
        let system_id = rng.pick(&SYSTEMS).0;

        let attacker_count = match rng.below(10) {
            0..=3 => 1,
            4..=6 => 2 + rng.below(3),
            7 | 8 => 5 + rng.below(10),
            _ => 15 + rng.below(16),
        };
        let npc = rng.chance(0.1);
        let final_blow = rng.below(attacker_count);
        let mut total_damage = 0;
        let attackers: Vec<Value> = (0..attacker_count)
            .map(|i| {
                let damage = rng.below(5000);
                total_damage += damage;
                let ship = rng.pick(&SHIPS[1..]).0;
                let weapon = rng.pick(&ITEMS[..6]).0;
                if npc {
                    let (faction_id, _, corporation_id, _, _) = *rng.pick(&FACTIONS);
                    json!({"faction_id": faction_id, "corporation_id": corporation_id, "ship_type_id": ship,
                           "weapon_type_id": weapon, "damage_done": damage, "final_blow": i == final_blow,
                           "security_status": 0.0})
                } else {
                    let id = CHARACTER_BASE + rng.below(CHARACTER_COUNT);
                    self.pilot(id, json!({"ship_type_id": ship, "weapon_type_id": weapon, "damage_done": damage,
                                          "final_blow": i == final_blow}))
                }
            })
            .collect();

        let victim_ship = if rng.chance(0.15) {
            SHIPS[0].0
        } else {
            rng.pick(&SHIPS[1..]).0
        };
        let victim_id = CHARACTER_BASE + rng.below(CHARACTER_COUNT);
        let mut victim = self.pilot(
            victim_id,
            json!({"ship_type_id": victim_ship, "damage_taken": total_damage}),
        );
        if let Some(v) = victim.as_object_mut() {
            v.remove("security_status");
            let coordinate = |rng: &mut Rng| ((rng.unit() - 0.5) * 2.0e12).round() / 1000.0;
            v.insert("position".into(), json!({"x": coordinate(&mut rng), "y": coordinate(&mut rng), "z": coordinate(&mut rng)}));
            v.insert("items".into(), Value::Array(Self::items(&mut rng)));
        }

        let fitted = ((rng.unit() * 3.0e8).round() + 10_000.0).round();
        let dropped = (fitted * rng.unit() * 0.5).round();
        let destroyed = fitted - dropped;
        let total = fitted + (rng.unit() * 1.0e6).round();
        let mut labels = vec![if npc { "npc" } else { "pvp" }];
        if attacker_count == 1 {
            labels.push("solo");
        }
        let zkb = json!({
            "locationID": 40_000_000 + rng.below(400_000),
            "hash": hash,
            "fittedValue": fitted, "droppedValue": dropped, "destroyedValue": destroyed, "totalValue": total,
            "points": 1 + rng.below(40),
            "npc": npc, "solo": attacker_count == 1 && !npc, "awox": false,
            "labels": labels,
            "href": format!("https://esi.evetech.net/v1/killmails/{killmail_id}/{hash}/"),
        });
        let esi = json!({
            "killmail_id": killmail_id,
            "killmail_time": iso(now),
            "solar_system_id": system_id,
            "victim": victim,
            "attackers": attackers,
        });
        SimKill {
            killmail_id,
            hash,
            esi,
            zkb,
        }
    }

    /// A pilot's ids (character, corporation, alliance) merged into `extra`.
    fn pilot(&self, id: u64, mut extra: Value) -> Value {
        if let (Some(c), Some(obj)) = (self.character(id), extra.as_object_mut()) {
            obj.insert("character_id".into(), json!(id));
            obj.insert("corporation_id".into(), json!(c.corporation_id));
            if let Some(a) = c.alliance_id {
                obj.insert("alliance_id".into(), json!(a));
            }
            obj.insert("security_status".into(), json!(c.security_status));
        }
        extra
    }

    fn items(rng: &mut Rng) -> Vec<Value> {
        (0..rng.below(6))
            .map(|_| {
                let (type_id, _, _) = *rng.pick(&ITEMS[6..]);
                let quantity = 1 + rng.below(3);
                let mut item = json!({"item_type_id": type_id, "flag": 11 + rng.below(20), "singleton": 0});
                let key = if rng.chance(0.5) { "quantity_destroyed" } else { "quantity_dropped" };
                item[key] = json!(quantity);
                if type_id == 3467 {
                    item["items"] = json!([{"item_type_id": 34, "flag": 0, "singleton": 0, "quantity_dropped": 100 + rng.below(900)}]);
                }
                item
            })
            .collect()
    }
}

/// ISO-8601 UTC, whole seconds.
pub fn iso(unix: i64) -> String {
    actors::model::KillTime::from_unix(unix).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_seed_tells_one_story_and_another_seed_another() {
        let (a, b, c) = (World::new(7), World::new(7), World::new(8));
        assert_eq!(a.kill(3, 0).esi, b.kill(3, 0).esi);
        assert_ne!(a.kill(3, 0).esi, c.kill(3, 0).esi);
        assert_eq!(
            a.character(CHARACTER_BASE).map(|c| c.name),
            b.character(CHARACTER_BASE).map(|c| c.name)
        );
    }

    #[test]
    fn every_id_on_a_kill_has_a_name() {
        let w = World::new(1);
        for i in 0..50 {
            let k = w.kill(i, 1_790_000_000);
            let text = k.esi.to_string();
            let v: actors::model::EsiKillmail = serde_json::from_str(&text).expect("parses as ESI");
            let km = v.into_killmail(None).expect("valid killmail");
            assert!(w.system(km.system_id.get()).is_some());
            for id in km.character_ids() {
                assert!(w.name(id.get()).is_some(), "character {id}");
            }
            for a in &km.attackers {
                for id in [
                    a.corporation_id.map(|i| i.get()),
                    a.alliance_id.map(|i| i.get()),
                    a.ship_type_id.map(|i| i.get()),
                ]
                .into_iter()
                .flatten()
                {
                    assert!(w.name(id).is_some(), "attacker id {id}");
                }
            }
        }
    }

    #[test]
    fn each_kill_has_exactly_one_final_blow() {
        let w = World::new(3);
        for i in 0..50 {
            let k = w.kill(i, 0);
            let blows = k.esi["attackers"]
                .as_array()
                .map_or(0, |a| a.iter().filter(|x| x["final_blow"] == true).count());
            assert_eq!(blows, 1);
        }
    }

    #[test]
    fn every_ship_flies_in_the_group_ccp_s_data_gives_it() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/priv/data/shipTypes.csv");
        let text = std::fs::read_to_string(path).expect("the shipped ship list");
        for (id, group, name) in SHIPS {
            let row = format!("{id},{group},{name},");
            assert!(
                text.lines().any(|l| l.starts_with(&row)),
                "{row} is not in {path}"
            );
        }
    }

    #[test]
    fn ids_outside_the_world_are_unknown() {
        let w = World::new(1);
        assert!(w.name(CHARACTER_BASE + CHARACTER_COUNT).is_none());
        assert!(w.name(1).is_none());
    }
}
