//! The routing indexes: subscribers by system, by character, and of every kill. Pure, so routing
//! can be tested and benchmarked without actors.

use crate::model::ids::{IdMap, IdSet};
use crate::model::{CharacterId, Filter, KillFacts, SystemId};

use super::SubscriberKey;

/// The indexes.
#[derive(Default)]
pub struct Routes {
    by_system: IdMap<SystemId, IdSet<SubscriberKey>>,
    by_character: IdMap<CharacterId, IdSet<SubscriberKey>>,
    /// Subscribers of every kill.
    everything: IdSet<SubscriberKey>,
}

impl Routes {
    pub fn add(&mut self, key: SubscriberKey, filter: &Filter) {
        if filter.all {
            self.everything.insert(key);
        }
        for s in &filter.systems {
            self.by_system.entry(*s).or_default().insert(key);
        }
        for c in &filter.characters {
            self.by_character.entry(*c).or_default().insert(key);
        }
    }

    pub fn remove(&mut self, key: SubscriberKey, filter: &Filter) {
        self.everything.remove(&key);
        for s in &filter.systems {
            if let Some(keys) = self.by_system.get_mut(s) {
                keys.remove(&key);
                if keys.is_empty() {
                    self.by_system.remove(s);
                }
            }
        }
        for c in &filter.characters {
            if let Some(keys) = self.by_character.get_mut(c) {
                keys.remove(&key);
                if keys.is_empty() {
                    self.by_character.remove(c);
                }
            }
        }
    }

    /// Every subscriber the kill matches, each once, into `out` (cleared first).
    pub fn matching(&self, km: &KillFacts, out: &mut Vec<SubscriberKey>) {
        out.clear();
        out.extend(&self.everything);
        if let Some(keys) = self.by_system.get(&km.system_id) {
            out.extend(keys);
        }
        if !self.by_character.is_empty() {
            for c in km.character_ids() {
                if let Some(keys) = self.by_character.get(&c) {
                    out.extend(keys);
                }
            }
        }
        if out.len() > 1 {
            out.sort_unstable();
            out.dedup();
        }
    }

    pub fn systems(&self) -> usize {
        self.by_system.len()
    }

    /// An estimate of the bytes the indexes take: hash table entries and their key sets.
    pub fn bytes(&self) -> usize {
        const SET_ENTRY: usize = 16; // a key and its hash table overhead
        const MAP_ENTRY: usize = 64; // an id and an empty set
        let keys: usize = self
            .by_system
            .values()
            .chain(self.by_character.values())
            .map(IdSet::len)
            .sum();
        (self.by_system.len() + self.by_character.len()) * MAP_ENTRY
            + (keys + self.everything.len()) * SET_ENTRY
    }

    pub fn characters(&self) -> usize {
        self.by_character.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kill(system: u64, victim: u64, attackers: &[u64]) -> KillFacts {
        let attackers: Vec<_> = attackers
            .iter()
            .map(|c| json!({"character_id": c, "final_blow": false}))
            .collect();
        let km: crate::model::Killmail = serde_json::from_value(json!({
            "killmail_id": 1, "kill_time": "2026-11-26T10:11:12Z", "system_id": system,
            "victim": {"character_id": victim, "ship_type_id": 670}, "attackers": attackers
        }))
        .expect("a killmail");
        KillFacts::of(&km)
    }

    fn filter(systems: &[u64], characters: &[u64]) -> Filter {
        Filter {
            systems: systems.iter().filter_map(|s| SystemId::new(*s)).collect(),
            characters: characters
                .iter()
                .filter_map(|c| CharacterId::new(*c))
                .collect(),
            ..Filter::default()
        }
    }

    #[test]
    fn a_kill_matching_system_and_characters_of_one_subscriber_routes_to_it_once() {
        let mut routes = Routes::default();
        routes.add(1, &filter(&[30000142], &[90000001, 90000002]));
        routes.add(2, &filter(&[30002187], &[]));
        routes.add(3, &filter(&[], &[90000002]));
        let mut out = Vec::new();

        routes.matching(&kill(30000142, 90000001, &[90000002, 90000002]), &mut out);

        assert_eq!(out, vec![1, 3]);
    }

    #[test]
    fn characters_match_anywhere_even_when_systems_are_subscribed() {
        let mut routes = Routes::default();
        routes.add(7, &filter(&[30000142], &[90000009]));
        let mut out = Vec::new();
        routes.matching(&kill(31000005, 1, &[90000009]), &mut out);
        assert_eq!(out, vec![7]);
        routes.matching(&kill(31000005, 1, &[5]), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn an_everything_subscriber_gets_every_kill_once() {
        let mut routes = Routes::default();
        routes.add(1, &Filter::everything());
        routes.add(2, &filter(&[30000142], &[]));
        let mut out = Vec::new();

        routes.matching(&kill(30000142, 90000001, &[]), &mut out);
        assert_eq!(out, vec![1, 2]);
        routes.matching(&kill(31000005, 90000001, &[]), &mut out);
        assert_eq!(out, vec![1]);

        routes.remove(1, &Filter::everything());
        routes.matching(&kill(31000005, 90000001, &[]), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn removing_a_subscriber_empties_its_index_entries() {
        let mut routes = Routes::default();
        let f = filter(&[30000142], &[90000001]);
        routes.add(1, &f);
        routes.remove(1, &f);
        assert_eq!((routes.systems(), routes.characters()), (0, 0));
        let mut out = Vec::new();
        routes.matching(&kill(30000142, 90000001, &[]), &mut out);
        assert!(out.is_empty());
    }
}
