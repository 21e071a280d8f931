//! What a subscriber follows, for every delivery channel (WebSocket, SSE, webhooks) and for the
//! store's replay queries.

use std::collections::BTreeSet;

use super::{CharacterId, KillFacts, SystemId};

/// What a subscriber follows: kills in `systems` OR involving `characters` (victim or attacker)
/// OR every kill when `all`; then only those worth at least `min_value` ISK (zKillboard's
/// `totalValue`, 0 when unknown).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    pub systems: BTreeSet<SystemId>,
    pub characters: BTreeSet<CharacterId>,
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

    /// Whether `km` matches, by the same rule the routing indexes apply.
    pub fn admits(&self, kill: &KillFacts) -> bool {
        let followed = self.all
            || self.systems.contains(&kill.system_id)
            || kill.character_ids().any(|c| self.characters.contains(&c));
        followed && self.admits_value(kill)
    }

    /// The value floor alone (the indexes have already matched systems and characters).
    pub fn admits_value(&self, kill: &KillFacts) -> bool {
        self.min_value
            .is_none_or(|min| kill.total_value.unwrap_or(0.0) >= min)
    }
}
