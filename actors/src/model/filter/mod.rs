//! What a subscriber follows, for every delivery channel (WebSocket, SSE, webhooks, REST) and for
//! the store's replay queries: the legacy system and character lists, and filter rules.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::{CharacterId, KillFacts, SystemId};

mod condition;
mod parse;
mod rule;

pub use parse::{
    rule_from_json, rule_from_url, rules_from_json, rules_from_url, FilterError, FilterLimits,
};
pub use rule::{Role, Rule};

/// What a subscriber follows: kills in `systems` OR involving `characters` (victim or attacker)
/// OR matched by any of `rules` OR every kill when `all`; then only those worth at least
/// `min_value` ISK (zKillboard's `totalValue`, 0 when unknown).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    pub systems: BTreeSet<SystemId>,
    pub characters: BTreeSet<CharacterId>,
    pub rules: Vec<Arc<Rule>>,
    pub all: bool,
    pub min_value: Option<f64>,
}

impl Filter {
    /// Every kill, with no value floor.
    pub fn everything() -> Self {
        Self {
            all: true,
            ..Self::default()
        }
    }

    /// Kills any of `rules` matches.
    pub fn of_rules(rules: Vec<Rule>) -> Self {
        Self {
            rules: rules.into_iter().map(Arc::new).collect(),
            ..Self::default()
        }
    }

    /// Whether `kill` matches, by the same rule the routing indexes apply.
    pub fn admits(&self, kill: &KillFacts) -> bool {
        let followed = self.all
            || self.systems.contains(&kill.system_id)
            || kill.character_ids().any(|c| self.characters.contains(&c))
            || self.rules.iter().any(|r| r.admits(kill));
        followed && self.admits_value(kill)
    }

    /// The value floor alone (the indexes have already matched systems and characters).
    pub fn admits_value(&self, kill: &KillFacts) -> bool {
        self.min_value
            .is_none_or(|min| kill.total_value.unwrap_or(0.0) >= min)
    }

    /// The names of the named rules `kill` matches, in rule order (echoed with deliveries).
    pub fn matched_names(&self, kill: &KillFacts) -> Vec<&str> {
        self.rules
            .iter()
            .filter(|r| r.name.is_some() && r.admits(kill))
            .filter_map(|r| r.name.as_deref())
            .collect()
    }

    /// Whether nothing at all is followed.
    pub fn is_empty(&self) -> bool {
        !self.all && self.systems.is_empty() && self.characters.is_empty() && self.rules.is_empty()
    }
}

#[cfg(test)]
mod tests;
