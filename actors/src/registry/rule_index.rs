//! Filter rules indexed by their most selective anchor, so routing a kill looks at the rules
//! that could match it and no others.
//!
//! A rule is filed under each id of one of its conditions: the one expected to let through the
//! fewest kills (its number of ids times the share of kills one id of that kind is on: a
//! character is on far fewer kills than a region, a region on fewer than a ship group). A rule
//! naming none of them ("everything over 10 B") sits in a list ordered by its value floor, so a
//! kill checks only the rules whose floor it reaches. Per kill, the anchors the kill carries are
//! looked up once each, and each candidate's remaining conditions are checked.

use std::cell::RefCell;
use std::sync::Arc;

use crate::model::facts::Party;
use crate::model::ids::IdMap;
use crate::model::{KillFacts, Role, Rule};

use super::SubscriberKey;

/// The kinds of anchor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Character = 1,
    System,
    Corporation,
    ShipType,
    Alliance,
    Constellation,
    ShipGroup,
    Region,
    Space,
    /// The victim's ids only (a rule whose role is `victim`): a kill has one victim but many
    /// attackers, so these let far fewer kills through.
    VictimCharacter,
    VictimCorporation,
    VictimAlliance,
    VictimShipType,
    VictimShipGroup,
}

const KINDS: usize = 15;

impl Kind {
    /// Roughly the share of kills one id of this kind is on (there are ~8 000 systems, ~110
    /// regions, ~45 ship groups, 6 space classes, and a pilot is on few kills).
    fn share(self) -> f64 {
        match self {
            Kind::Character => 1e-5,
            Kind::System => 2e-4,
            Kind::Corporation => 5e-4,
            Kind::Constellation => 1e-3,
            Kind::Alliance => 2e-3,
            Kind::ShipType => 5e-3,
            Kind::Region => 1e-2,
            Kind::ShipGroup => 3e-2,
            Kind::Space => 0.2,
            Kind::VictimCharacter => Kind::Character.share() * 0.2,
            Kind::VictimCorporation => Kind::Corporation.share() * 0.2,
            Kind::VictimAlliance => Kind::Alliance.share() * 0.2,
            Kind::VictimShipType => Kind::ShipType.share() * 0.2,
            Kind::VictimShipGroup => Kind::ShipGroup.share() * 0.2,
        }
    }

    /// The kind that looks at the victim only, when `role` is the victim's.
    fn for_role(self, role: Role) -> Self {
        match (role, self) {
            (Role::Victim, Kind::Character) => Kind::VictimCharacter,
            (Role::Victim, Kind::Corporation) => Kind::VictimCorporation,
            (Role::Victim, Kind::Alliance) => Kind::VictimAlliance,
            (Role::Victim, Kind::ShipType) => Kind::VictimShipType,
            (Role::Victim, Kind::ShipGroup) => Kind::VictimShipGroup,
            _ => self,
        }
    }
}

/// One index key: the kind in the top byte, the id below (every EVE id fits in 56 bits).
fn anchor(kind: Kind, id: u64) -> u64 {
    (kind as u64) << 56 | (id & ((1 << 56) - 1))
}

/// Where a rule is filed: the kind and ids of the condition expected to let fewest kills through.
fn anchors_of(rule: &Rule) -> Option<(Kind, Vec<u64>)> {
    fn ids<T: Copy>(list: &[T], get: impl Fn(T) -> u64) -> Vec<u64> {
        list.iter().map(|id| get(*id)).collect()
    }
    let (role, ship_role) = (rule.role, rule.ship_role.unwrap_or(rule.role));
    let found = [
        (
            Kind::Character.for_role(role),
            ids(&rule.characters, |c| c.get()),
        ),
        (Kind::System, ids(&rule.systems, |s| s.get())),
        (
            Kind::Corporation.for_role(role),
            ids(&rule.corporations, |c| c.get()),
        ),
        (
            Kind::ShipType.for_role(ship_role),
            ids(&rule.ship_types, |t| t.get()),
        ),
        (
            Kind::Alliance.for_role(role),
            ids(&rule.alliances, |a| a.get()),
        ),
        (Kind::Constellation, ids(&rule.constellations, |c| c.get())),
        (
            Kind::ShipGroup.for_role(ship_role),
            ids(&rule.ship_groups, |g| g.get()),
        ),
        (Kind::Region, ids(&rule.regions, |r| r.get())),
        (Kind::Space, rule.space.iter().map(|s| s as u64).collect()),
    ];
    let expected = |(kind, ids): &(Kind, Vec<u64>)| kind.share() * ids.len() as f64;
    found
        .into_iter()
        .filter(|(_, ids)| !ids.is_empty())
        .min_by(|a, b| expected(a).total_cmp(&expected(b)))
}

/// The value floor of a rule (0 without one).
fn floor(rule: &Rule) -> f64 {
    rule.min_value.unwrap_or(0.0)
}

struct Entry {
    key: SubscriberKey,
    rule: Arc<Rule>,
}

#[derive(Default)]
pub struct RuleIndex {
    by_anchor: IdMap<u64, Vec<Entry>>,
    unanchored: Vec<Entry>,
    /// Entries filed per kind: a kind nobody filed under is not looked up.
    per_kind: [usize; KINDS],
    rules: usize,
    /// The kill's anchors, reused for every kill.
    scratch: RefCell<Vec<u64>>,
}

impl RuleIndex {
    pub fn add(&mut self, key: SubscriberKey, rules: &[Arc<Rule>]) {
        for rule in rules {
            self.rules += 1;
            let entry = |rule: &Arc<Rule>| Entry {
                key,
                rule: Arc::clone(rule),
            };
            match anchors_of(rule) {
                None => {
                    let at = self
                        .unanchored
                        .partition_point(|e| floor(&e.rule) <= floor(rule));
                    self.unanchored.insert(at, entry(rule));
                }
                Some((kind, ids)) => {
                    for id in ids {
                        self.per_kind[kind as usize] += 1;
                        self.by_anchor
                            .entry(anchor(kind, id))
                            .or_default()
                            .push(entry(rule));
                    }
                }
            }
        }
    }

    pub fn remove(&mut self, key: SubscriberKey, rules: &[Arc<Rule>]) {
        for rule in rules {
            self.rules = self.rules.saturating_sub(1);
            let mine = |e: &Entry| e.key == key && Arc::ptr_eq(&e.rule, rule);
            match anchors_of(rule) {
                None => self.unanchored.retain(|e| !mine(e)),
                Some((kind, ids)) => {
                    for id in ids {
                        let at = anchor(kind, id);
                        let Some(list) = self.by_anchor.get_mut(&at) else {
                            continue;
                        };
                        let before = list.len();
                        list.retain(|e| !mine(e));
                        self.per_kind[kind as usize] -= before - list.len();
                        if list.is_empty() {
                            self.by_anchor.remove(&at);
                        }
                    }
                }
            }
        }
    }

    /// Adds to `out` the subscriber of every rule `kill` matches (duplicates possible).
    pub fn matching(&self, kill: &KillFacts, out: &mut Vec<SubscriberKey>) {
        let value = kill.total_value.unwrap_or(0.0);
        let reached = self.unanchored.partition_point(|e| floor(&e.rule) <= value);
        for e in &self.unanchored[..reached] {
            if e.rule.admits(kill) {
                out.push(e.key);
            }
        }
        if self.by_anchor.is_empty() {
            return;
        }
        let mut anchors = self.scratch.borrow_mut();
        self.anchors(kill, &mut anchors);
        for at in anchors.iter() {
            for e in self.by_anchor.get(at).into_iter().flatten() {
                if e.rule.admits(kill) {
                    out.push(e.key);
                }
            }
        }
    }

    /// Every anchor `kill` carries, of the kinds some rule is filed under, each once.
    fn anchors(&self, kill: &KillFacts, out: &mut Vec<u64>) {
        out.clear();
        let filed = |kind: Kind| self.per_kind[kind as usize] > 0;
        let mut put = |kind: Kind, id: Option<u64>| {
            if let (true, Some(id)) = (filed(kind), id) {
                out.push(anchor(kind, id));
            }
        };
        put(Kind::System, Some(kill.system_id.get()));
        put(Kind::Constellation, kill.constellation_id.map(|c| c.get()));
        put(Kind::Region, kill.region_id.map(|r| r.get()));
        put(Kind::Space, kill.space.map(|s| s as u64));
        for c in kill.character_ids() {
            put(Kind::Character, Some(c.get()));
        }
        let mut party = |p: &Party, victim: bool| {
            let role = if victim { Role::Victim } else { Role::Any };
            for kind in [
                Kind::Corporation,
                Kind::Alliance,
                Kind::ShipType,
                Kind::ShipGroup,
            ] {
                let id = match kind {
                    Kind::Corporation => p.corporation.map(|c| c.get()),
                    Kind::Alliance => p.alliance.map(|a| a.get()),
                    Kind::ShipType => p.ship_type.map(|t| t.get()),
                    _ => p.ship_group.map(|g| g.get()),
                };
                put(kind, id);
                if victim {
                    put(kind.for_role(role), id);
                }
            }
        };
        party(&kill.victim, true);
        for p in kill.attackers.iter() {
            party(p, false);
        }
        put(
            Kind::VictimCharacter,
            kill.victim.character.map(|c| c.get()),
        );
        out.sort_unstable();
        out.dedup();
    }

    /// Rules indexed.
    pub fn count(&self) -> usize {
        self.rules
    }

    /// Rules checked for every kill.
    pub fn unanchored(&self) -> usize {
        self.unanchored.len()
    }

    /// An estimate of the bytes the index takes (the rules themselves are shared).
    pub fn bytes(&self) -> usize {
        const ENTRY: usize = std::mem::size_of::<Entry>();
        const MAP_ENTRY: usize = 48;
        let entries: usize =
            self.by_anchor.values().map(Vec::len).sum::<usize>() + self.unanchored.len();
        self.by_anchor.len() * MAP_ENTRY + entries * ENTRY
    }
}
