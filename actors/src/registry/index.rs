//! The routing indexes: subscribers by system, by character, and of every kill, and their filter
//! rules by anchor. Pure, so routing can be tested and benchmarked without actors.

use crate::model::ids::{IdMap, IdSet};
use crate::model::{CharacterId, Filter, KillFacts, SystemId};

use super::rule_index::RuleIndex;
use super::SubscriberKey;

/// The indexes.
#[derive(Default)]
pub struct Routes {
    by_system: IdMap<SystemId, IdSet<SubscriberKey>>,
    by_character: IdMap<CharacterId, IdSet<SubscriberKey>>,
    /// Subscribers of every kill.
    everything: IdSet<SubscriberKey>,
    rules: RuleIndex,
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
        self.rules.add(key, &filter.rules);
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
        self.rules.remove(key, &filter.rules);
    }

    /// Every subscriber the kill matches, each once, into `out` (cleared first): by its systems,
    /// its characters or one of its rules (the value floor is left to the caller).
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
        self.rules.matching(km, out);
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
            + self.rules.bytes()
    }

    /// Filter rules indexed, and how many of them have no anchor.
    pub fn rules(&self) -> (usize, usize) {
        (self.rules.count(), self.rules.unanchored())
    }

    pub fn characters(&self) -> usize {
        self.by_character.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        AllianceId, ConstellationId, CorporationId, GroupId, RegionId, Role, TypeId,
    };
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

    /// A small world, so that random filters and kills meet often.
    mod world {
        use super::*;
        use crate::model::{Rule, Space, SpaceSet};
        use std::sync::Arc;

        pub struct Rng(pub u64);

        impl Rng {
            pub fn next(&mut self) -> u64 {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                self.0
            }
            pub fn below(&mut self, n: u64) -> u64 {
                self.next() % n
            }
            pub fn some<T>(&mut self, n: u64, f: impl Fn(u64) -> T) -> Vec<T> {
                let len = self.below(n + 1);
                (0..len).map(|_| f(self.next())).collect()
            }
            pub fn chance(&mut self, percent: u64) -> bool {
                self.below(100) < percent
            }
        }

        fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
            v.sort();
            v.dedup();
            v
        }

        pub fn rule(rng: &mut Rng) -> Rule {
            let roles = [Role::Any, Role::Victim, Role::Attacker, Role::FinalBlow];
            let mut rule = Rule::default();
            let pick = |rng: &mut Rng| rng.chance(25);
            if pick(rng) {
                rule.systems =
                    sorted(rng.some(2, |n| SystemId::new(30000001 + n % 4).expect("id")));
            }
            if pick(rng) {
                rule.constellations =
                    sorted(rng.some(2, |n| ConstellationId::new(20000001 + n % 2).expect("id")));
            }
            if pick(rng) {
                rule.regions =
                    sorted(rng.some(2, |n| RegionId::new(10000001 + n % 2).expect("id")));
            }
            if pick(rng) {
                rule.space = rng
                    .some(2, |n| Space::ALL[(n % 6) as usize])
                    .into_iter()
                    .collect::<SpaceSet>();
            }
            if pick(rng) {
                rule.characters =
                    sorted(rng.some(3, |n| CharacterId::new(90000001 + n % 8).expect("id")));
            }
            if pick(rng) {
                rule.corporations =
                    sorted(rng.some(2, |n| CorporationId::new(98000001 + n % 4).expect("id")));
            }
            if pick(rng) {
                rule.alliances =
                    sorted(rng.some(2, |n| AllianceId::new(99000001 + n % 3).expect("id")));
            }
            if pick(rng) {
                rule.ship_types = sorted(rng.some(2, |n| TypeId::new(580 + n % 5).expect("id")));
            }
            if pick(rng) {
                rule.ship_groups = sorted(rng.some(2, |n| GroupId::new(25 + n % 3).expect("id")));
            }
            rule.role = roles[rng.below(4) as usize];
            if rng.chance(30) {
                rule.ship_role = Some(roles[rng.below(4) as usize]);
            }
            if rng.chance(20) {
                rule.min_value = Some(rng.below(4) as f64 * 1e6);
            }
            if rng.chance(20) {
                rule.max_value = Some(rng.below(4) as f64 * 1e6);
            }
            if rng.chance(20) {
                rule.labels =
                    sorted(rng.some(1, |n| ["solo", "pvp", "npc"][(n % 3) as usize].to_owned()));
            }
            if rng.chance(20) {
                rule.exclude_labels =
                    sorted(rng.some(1, |n| ["solo", "pvp", "npc"][(n % 3) as usize].to_owned()));
            }
            if rng.chance(15) {
                rule.min_attackers = Some(rng.below(4) as u32);
            }
            if rng.chance(15) {
                rule.max_attackers = Some(rng.below(4) as u32);
            }
            rule
        }

        pub fn filter(rng: &mut Rng) -> Filter {
            Filter {
                systems: rng
                    .some(2, |n| SystemId::new(30000001 + n % 4).expect("id"))
                    .into_iter()
                    .collect(),
                characters: rng
                    .some(2, |n| CharacterId::new(90000001 + n % 8).expect("id"))
                    .into_iter()
                    .collect(),
                rules: rng
                    .some(3, |_| ())
                    .into_iter()
                    .map(|()| Arc::new(rule(rng)))
                    .collect(),
                all: rng.chance(3),
                min_value: rng.chance(10).then(|| rng.below(3) as f64 * 1e6),
            }
        }

        pub fn kill(rng: &mut Rng) -> KillFacts {
            let party = |rng: &mut Rng, final_blow: bool| {
                json!({
                    "character_id": 90000001 + rng.below(8), "corporation_id": 98000001 + rng.below(4),
                    "alliance_id": 99000001 + rng.below(3), "ship_type_id": 580 + rng.below(5),
                    "ship_group_id": 25 + rng.below(3), "final_blow": final_blow
                })
            };
            let count = rng.below(4);
            let blow = rng.below(count.max(1));
            let attackers: Vec<_> = (0..count).map(|i| party(rng, i == blow)).collect();
            let labels: Vec<&str> = ["solo", "pvp", "npc"]
                .into_iter()
                .filter(|_| rng.chance(40))
                .collect();
            let km: crate::model::Killmail = serde_json::from_value(json!({
                "killmail_id": 1 + rng.below(1000), "kill_time": "2026-11-26T10:11:12Z",
                "system_id": 30000001 + rng.below(4), "constellation_id": 20000001 + rng.below(2),
                "region_id": 10000001 + rng.below(2), "security_status": rng.below(10) as f64 / 10.0 - 0.4,
                "victim": party(rng, false), "attackers": attackers,
                "zkb": {"totalValue": rng.below(4) as f64 * 1e6, "labels": labels}
            }))
            .expect("a killmail");
            KillFacts::of(&km)
        }
    }

    proptest::proptest! {
        /// Index-based routing returns exactly what a brute-force scan of every subscriber's
        /// filter returns: the same subscribers, each once.
        #[test]
        fn index_routing_returns_what_a_brute_force_scan_returns(seed in 1u64..) {
            let mut rng = world::Rng(seed);
            let filters: Vec<Filter> = (0..40).map(|_| world::filter(&mut rng)).collect();
            let mut routes = Routes::default();
            for (key, filter) in filters.iter().enumerate() {
                routes.add(key as SubscriberKey, filter);
            }
            // Some leave again: their entries must go with them.
            for key in (0..40).filter(|k| k % 7 == 3) {
                routes.remove(key, &filters[key as usize]);
            }
            let mut out = Vec::new();
            for _ in 0..30 {
                let kill = world::kill(&mut rng);
                routes.matching(&kill, &mut out);
                out.retain(|k| filters[*k as usize].admits_value(&kill));
                let expected: Vec<SubscriberKey> = (0..40)
                    .filter(|k| k % 7 != 3 && filters[*k as usize].admits(&kill))
                    .collect();
                proptest::prop_assert_eq!(&out, &expected);
            }
        }
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
