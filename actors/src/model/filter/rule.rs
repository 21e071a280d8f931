//! One filter rule: an AND of the conditions it names, each condition a list meaning "any of".
//! A rule that names nothing matches every kill.

use serde::Serialize;

use crate::model::facts::Party;
use crate::model::{
    AllianceId, CharacterId, ConstellationId, CorporationId, GroupId, KillFacts, RegionId,
    SpaceSet, SystemId, TypeId,
};

/// Whose ids an entity or ship condition looks at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The victim or any attacker.
    #[default]
    Any,
    Victim,
    Attacker,
    /// The attacker who dealt the final blow.
    FinalBlow,
}

impl Role {
    pub const NAMES: &'static str = "any, victim, attacker, final_blow";

    pub fn named(name: &str) -> Option<Self> {
        match name {
            "any" => Some(Self::Any),
            "victim" => Some(Self::Victim),
            "attacker" => Some(Self::Attacker),
            "final_blow" => Some(Self::FinalBlow),
            _ => None,
        }
    }
}

/// A rule as clients write it (JSON form) and as listings show it back.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Rule {
    /// Numbers the rule within its subscription (for `unsubscribe_filters`).
    pub id: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub systems: Vec<SystemId>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub constellations: Vec<ConstellationId>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<RegionId>,
    #[serde(skip_serializing_if = "SpaceSet::is_empty")]
    pub space: SpaceSet,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub characters: Vec<CharacterId>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub corporations: Vec<CorporationId>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alliances: Vec<AllianceId>,
    /// Whose character, corporation and alliance the entity conditions look at.
    pub role: Role,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ship_types: Vec<TypeId>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ship_groups: Vec<GroupId>,
    /// Whose ship the ship conditions look at; unset, the same parties as `role`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ship_role: Option<Role>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_value: Option<f64>,
    /// Every one of these labels (zKillboard's labels and its `solo`/`npc`/`awox` flags).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// None of these labels.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclude_labels: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_attackers: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_attackers: Option<u32>,
}

/// An empty list places no condition; otherwise the id must be in it (lists are sorted).
fn any_of<T: Ord>(list: &[T], id: Option<T>) -> bool {
    list.is_empty() || id.is_some_and(|id| list.binary_search(&id).is_ok())
}

/// Some party in `role` carries one of `list`'s ids.
fn someone<T: Ord + Copy>(
    list: &[T],
    kill: &KillFacts,
    role: Role,
    id: impl Fn(&Party) -> Option<T>,
) -> bool {
    list.is_empty()
        || parties(kill, role).any(|p| id(p).is_some_and(|id| list.binary_search(&id).is_ok()))
}

/// The victim and attackers a role names.
fn parties(kill: &KillFacts, role: Role) -> impl Iterator<Item = &Party> {
    let victim = matches!(role, Role::Any | Role::Victim).then_some(&kill.victim);
    let attackers: &[Party] = if matches!(role, Role::Any | Role::Attacker) {
        &kill.attackers
    } else {
        &[]
    };
    let final_blow = (role == Role::FinalBlow)
        .then(|| kill.final_blow())
        .flatten();
    victim.into_iter().chain(attackers).chain(final_blow)
}

impl Rule {
    /// Whether every condition the rule names holds for `kill`.
    pub fn admits(&self, kill: &KillFacts) -> bool {
        let value = kill.total_value.unwrap_or(0.0);
        let attackers = u32::try_from(kill.attackers.len()).unwrap_or(u32::MAX);
        let ship_role = self.ship_role.unwrap_or(self.role);
        any_of(&self.systems, Some(kill.system_id))
            && any_of(&self.constellations, kill.constellation_id)
            && any_of(&self.regions, kill.region_id)
            && (self.space.is_empty() || kill.space.is_some_and(|s| self.space.contains(s)))
            && self.min_value.is_none_or(|min| value >= min)
            && self.max_value.is_none_or(|max| value <= max)
            && self.min_attackers.is_none_or(|min| attackers >= min)
            && self.max_attackers.is_none_or(|max| attackers <= max)
            && self.labels.iter().all(|l| kill.has_label(l))
            && !self.exclude_labels.iter().any(|l| kill.has_label(l))
            && someone(&self.characters, kill, self.role, |p| p.character)
            && someone(&self.corporations, kill, self.role, |p| p.corporation)
            && someone(&self.alliances, kill, self.role, |p| p.alliance)
            && someone(&self.ship_types, kill, ship_role, |p| p.ship_type)
            && someone(&self.ship_groups, kill, ship_role, |p| p.ship_group)
    }

    /// How many ids and values the rule's lists hold (bounded per rule by a setting).
    pub fn values(&self) -> usize {
        self.systems.len()
            + self.constellations.len()
            + self.regions.len()
            + self.space.len()
            + self.characters.len()
            + self.corporations.len()
            + self.alliances.len()
            + self.ship_types.len()
            + self.ship_groups.len()
            + self.labels.len()
            + self.exclude_labels.len()
    }
}
