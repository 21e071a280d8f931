//! Filter rules indexed by their most selective anchor, so routing a kill looks at the rules
//! that could match it and no others.
//!
//! A rule is filed under each id of one of its conditions, the most selective it names
//! (characters, then systems, corporations, ship types, alliances, constellations, ship groups,
//! regions, space classes); a rule naming none of them ("everything over 10 B") sits in a small
//! list checked for every kill. Per kill, the anchors the kill carries are looked up once each,
//! and each candidate's remaining conditions are checked.

use std::cell::RefCell;
use std::sync::Arc;

use crate::model::ids::IdMap;
use crate::model::{KillFacts, Rule};

use super::SubscriberKey;

/// The kinds of anchor, most selective first (the order a rule's anchor is chosen in).
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
}

const KINDS: usize = 10;

/// One index key: the kind in the top byte, the id below (every EVE id fits in 56 bits).
fn anchor(kind: Kind, id: u64) -> u64 {
    (kind as u64) << 56 | (id & ((1 << 56) - 1))
}

/// Where a rule is filed: its kind and the ids of that condition.
fn anchors_of(rule: &Rule) -> Option<(Kind, Vec<u64>)> {
    fn ids<T: Copy>(list: &[T], get: impl Fn(T) -> u64) -> Vec<u64> {
        list.iter().map(|id| get(*id)).collect()
    }
    let found = [
        (Kind::Character, ids(&rule.characters, |c| c.get())),
        (Kind::System, ids(&rule.systems, |s| s.get())),
        (Kind::Corporation, ids(&rule.corporations, |c| c.get())),
        (Kind::ShipType, ids(&rule.ship_types, |t| t.get())),
        (Kind::Alliance, ids(&rule.alliances, |a| a.get())),
        (Kind::Constellation, ids(&rule.constellations, |c| c.get())),
        (Kind::ShipGroup, ids(&rule.ship_groups, |g| g.get())),
        (Kind::Region, ids(&rule.regions, |r| r.get())),
        (Kind::Space, rule.space.iter().map(|s| s as u64).collect()),
    ];
    found.into_iter().find(|(_, ids)| !ids.is_empty())
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
                None => self.unanchored.push(entry(rule)),
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
        for e in &self.unanchored {
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
        for p in std::iter::once(&kill.victim).chain(kill.attackers.iter()) {
            put(Kind::Corporation, p.corporation.map(|c| c.get()));
            put(Kind::Alliance, p.alliance.map(|a| a.get()));
            put(Kind::ShipType, p.ship_type.map(|t| t.get()));
            put(Kind::ShipGroup, p.ship_group.map(|g| g.get()));
        }
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
