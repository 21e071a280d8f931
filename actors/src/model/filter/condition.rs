//! The conditions a filter rule can name, and how each one's values are read and checked (the
//! same for the JSON and the URL form): ids in their kind's range, space classes, roles, ISK
//! values, attacker counts, labels and a name.

use serde_json::Value;

use super::rule::Rule;

/// The conditions a rule can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Condition {
    Systems,
    Constellations,
    Regions,
    Space,
    Characters,
    Corporations,
    Alliances,
    Role,
    ShipTypes,
    ShipGroups,
    ShipRole,
    MinValue,
    MaxValue,
    Labels,
    ExcludeLabels,
    MinAttackers,
    MaxAttackers,
    Name,
    /// The id a listing shows; ignored on input (rules are numbered where they are read).
    Id,
}

impl Condition {
    /// A condition by its JSON key or its URL word (singular or plural).
    pub(super) fn named(key: &str) -> Option<Self> {
        use Condition::*;
        Some(match key {
            "systems" | "system" => Systems,
            "constellations" | "constellation" => Constellations,
            "regions" | "region" => Regions,
            "space" => Space,
            "characters" | "character" => Characters,
            "corporations" | "corporation" => Corporations,
            "alliances" | "alliance" => Alliances,
            "role" => Role,
            "ship_types" | "ship_type" => ShipTypes,
            "ship_groups" | "ship_group" => ShipGroups,
            "ship_role" => ShipRole,
            "min_value" | "value>=" => MinValue,
            "max_value" | "value<=" => MaxValue,
            "labels" | "label" => Labels,
            "exclude_labels" | "!label" => ExcludeLabels,
            "min_attackers" | "attackers>=" => MinAttackers,
            "max_attackers" | "attackers<=" => MaxAttackers,
            "name" => Name,
            "id" => Id,
            _ => return None,
        })
    }

    /// Conditions that take one value rather than a list.
    pub(super) fn single(self) -> bool {
        use Condition::*;
        matches!(
            self,
            Role | ShipRole | MinValue | MaxValue | MinAttackers | MaxAttackers | Name | Id
        )
    }
}

/// One value as written: a JSON value, or the text of a URL.
#[derive(Clone, Copy)]
pub(super) enum Given<'a> {
    Json(&'a Value),
    Text(&'a str),
}

impl Given<'_> {
    fn shown(self) -> String {
        match self {
            Self::Json(v) => v.to_string(),
            Self::Text(t) => format!("{t:?}"),
        }
    }

    fn int(self) -> Option<u64> {
        match self {
            Self::Json(v) => v.as_u64(),
            // Digits after an optional `+`, zeros included (`000` is 0).
            Self::Text(t) => {
                let digits = t.strip_prefix('+').unwrap_or(t);
                let all_digits = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
                all_digits.then(|| digits.parse().ok()).flatten()
            }
        }
    }

    fn number(self) -> Option<f64> {
        match self {
            Self::Json(v) => v.as_f64(),
            Self::Text(t) => t.parse::<f64>().ok(),
        }
        .filter(|n| n.is_finite() && *n >= 0.0)
    }

    fn str(&self) -> Option<&str> {
        match self {
            Self::Json(v) => v.as_str(),
            Self::Text(t) => Some(t),
        }
    }
}

/// The id range each kind of id lies in, and how it is named in errors.
fn id_range(condition: Condition) -> (std::ops::RangeInclusive<u64>, &'static str) {
    use Condition::*;
    match condition {
        Systems => (30_000_000..=32_999_999, "a solar system id"),
        Constellations => (20_000_000..=29_999_999, "a constellation id"),
        Regions => (10_000_000..=19_999_999, "a region id"),
        ShipGroups => (1..=999_999, "a ship group id"),
        Characters => (1..=u64::from(u32::MAX), "a character id"),
        Corporations => (1..=u64::from(u32::MAX), "a corporation id"),
        Alliances => (1..=u64::from(u32::MAX), "an alliance id"),
        _ => (1..=u64::from(u32::MAX), "a ship type id"),
    }
}

const LABEL_CHARS: &str = "a-z, 0-9 and : # + . _ -";
const MAX_NAME: usize = 64;
const MAX_LABEL: usize = 40;

/// Adds `values` for `condition` to `rule`; the problem, naming the value, when one is wrong.
pub(super) fn apply(
    rule: &mut Rule,
    condition: Condition,
    values: &[Given<'_>],
) -> Result<(), String> {
    use Condition::*;
    let bad = |v: Given<'_>, what: &str| format!("{}: {} is not {what}", key(condition), v.shown());
    if condition.single() && values.len() != 1 {
        return Err(format!(
            "{}: takes one value, got {}",
            key(condition),
            values.len()
        ));
    }
    for &v in values {
        match condition {
            Systems | Constellations | Regions | Characters | Corporations | Alliances
            | ShipTypes | ShipGroups => {
                let (range, what) = id_range(condition);
                let id = v
                    .int()
                    .filter(|n| range.contains(n))
                    .ok_or_else(|| bad(v, what))?;
                push_id(rule, condition, id);
            }
            Space => {
                let space = v
                    .str()
                    .and_then(crate::model::Space::named)
                    .ok_or_else(|| {
                        bad(
                            v,
                            "a space class (highsec, lowsec, nullsec, wspace, abyssal, pochven)",
                        )
                    })?;
                rule.space.insert(space);
            }
            Role | ShipRole => {
                let role = v
                    .str()
                    .and_then(super::rule::Role::named)
                    .ok_or_else(|| bad(v, &format!("a role ({})", super::rule::Role::NAMES)))?;
                if condition == Role {
                    rule.role = role;
                } else {
                    rule.ship_role = Some(role);
                }
            }
            MinValue | MaxValue => {
                let n = v
                    .number()
                    .ok_or_else(|| bad(v, "an ISK value (a number, 0 or more)"))?;
                *if condition == MinValue {
                    &mut rule.min_value
                } else {
                    &mut rule.max_value
                } = Some(n);
            }
            MinAttackers | MaxAttackers => {
                let n = v
                    .int()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| bad(v, "a number of attackers"))?;
                *if condition == MinAttackers {
                    &mut rule.min_attackers
                } else {
                    &mut rule.max_attackers
                } = Some(n);
            }
            Labels | ExcludeLabels => {
                let label = v
                    .str()
                    .map(str::to_ascii_lowercase)
                    .filter(|l| valid_label(l))
                    .ok_or_else(|| {
                        bad(v, &format!("a label (1 to {MAX_LABEL} of {LABEL_CHARS})"))
                    })?;
                let list = if condition == Labels {
                    &mut rule.labels
                } else {
                    &mut rule.exclude_labels
                };
                if !list.contains(&label) {
                    list.push(label);
                }
            }
            // Shown back by listings; only checked on input, the rule is numbered where read.
            Id => {
                v.int()
                    .ok_or_else(|| bad(v, "a rule id (a whole number)"))?;
            }
            Name => {
                let name = v
                    .str()
                    .filter(|n| {
                        !n.is_empty()
                            && n.chars().count() <= MAX_NAME
                            && !n.chars().any(char::is_control)
                    })
                    .ok_or_else(|| {
                        bad(v, &format!("a name (1 to {MAX_NAME} printable characters)"))
                    })?;
                rule.name = Some(name.to_owned());
            }
        }
    }
    Ok(())
}

fn valid_label(label: &str) -> bool {
    (1..=MAX_LABEL).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b":#+._-".contains(&b))
}

/// The JSON key of a condition, as errors name it.
pub(super) fn key(condition: Condition) -> &'static str {
    use Condition::*;
    match condition {
        Systems => "systems",
        Constellations => "constellations",
        Regions => "regions",
        Space => "space",
        Characters => "characters",
        Corporations => "corporations",
        Alliances => "alliances",
        Role => "role",
        ShipTypes => "ship_types",
        ShipGroups => "ship_groups",
        ShipRole => "ship_role",
        MinValue => "min_value",
        MaxValue => "max_value",
        Labels => "labels",
        ExcludeLabels => "exclude_labels",
        MinAttackers => "min_attackers",
        MaxAttackers => "max_attackers",
        Name => "name",
        Id => "id",
    }
}

/// Adds an id (already range-checked) to its list, keeping the list sorted and unique.
fn push_id(rule: &mut Rule, condition: Condition, id: u64) {
    fn add<T: Ord>(list: &mut Vec<T>, id: Option<T>) {
        if let Some(id) = id {
            if let Err(at) = list.binary_search(&id) {
                list.insert(at, id);
            }
        }
    }
    use crate::model::*;
    match condition {
        Condition::Systems => add(&mut rule.systems, SystemId::new(id)),
        Condition::Constellations => add(&mut rule.constellations, ConstellationId::new(id)),
        Condition::Regions => add(&mut rule.regions, RegionId::new(id)),
        Condition::Characters => add(&mut rule.characters, CharacterId::new(id)),
        Condition::Corporations => add(&mut rule.corporations, CorporationId::new(id)),
        Condition::Alliances => add(&mut rule.alliances, AllianceId::new(id)),
        Condition::ShipTypes => add(&mut rule.ship_types, TypeId::new(id)),
        Condition::ShipGroups => add(&mut rule.ship_groups, GroupId::new(id)),
        _ => {}
    }
}
