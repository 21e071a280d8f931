//! Reading filter rules in their two forms, into one [`Rule`]:
//!
//! - JSON (WebSocket, webhooks): `{"regions": [10000002], "ship_groups": [30, 659], "role": "victim"}`;
//! - URL (SSE, REST): `region:10000002;ship_group:30,659;role:victim`, with `value>=1e9`,
//!   `value<=`, `attackers>=`, `attackers<=`, `label:solo`, `!label:npc`, `space:lowsec`.
//!
//! A rule that cannot be read is refused whole, with the condition and the value named.

use std::fmt;

use serde_json::Value;

use super::rule::Rule;

/// Bounds on what one subscription may ask for (`[filters]` settings).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterLimits {
    pub max_rules: usize,
    /// Ids and values across all the lists of one rule.
    pub max_values_per_rule: usize,
}

impl Default for FilterLimits {
    fn default() -> Self {
        Self {
            max_rules: 50,
            max_values_per_rule: 1_000,
        }
    }
}

/// Why a filter was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("filter {rule}: {problem}")]
    Rule { rule: usize, problem: String },
    #[error("too many filters: {count} (max: {max} per subscription)")]
    TooMany { count: usize, max: usize },
    #[error("filters must be a list of objects")]
    NotAList,
}

impl FilterError {
    fn at(rule: usize, problem: impl fmt::Display) -> Self {
        Self::Rule {
            rule,
            problem: problem.to_string(),
        }
    }
}

/// The conditions a rule can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Condition {
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
    fn named(key: &str) -> Option<Self> {
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
    fn single(self) -> bool {
        use Condition::*;
        matches!(
            self,
            Role | ShipRole | MinValue | MaxValue | MinAttackers | MaxAttackers | Name | Id
        )
    }
}

/// One value as written: a JSON value, or the text of a URL.
#[derive(Clone, Copy)]
enum Given<'a> {
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
            Self::Text(t) => crate::model::ids::parse_positive(t)
                .map(std::num::NonZeroU64::get)
                .ok()
                .or_else(|| (t == "0").then_some(0)),
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
fn apply(rule: &mut Rule, condition: Condition, values: &[Given<'_>]) -> Result<(), String> {
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
            Id => {}
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
fn key(condition: Condition) -> &'static str {
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

/// The checks that span conditions, once a rule is read.
fn finish(rule: Rule, limits: &FilterLimits) -> Result<Rule, String> {
    if rule.values() > limits.max_values_per_rule {
        return Err(format!(
            "too many ids and values: {} (max: {} per filter)",
            rule.values(),
            limits.max_values_per_rule
        ));
    }
    if let (Some(min), Some(max)) = (rule.min_value, rule.max_value) {
        if min > max {
            return Err(format!("min_value {min} is above max_value {max}"));
        }
    }
    if let (Some(min), Some(max)) = (rule.min_attackers, rule.max_attackers) {
        if min > max {
            return Err(format!("min_attackers {min} is above max_attackers {max}"));
        }
    }
    if let Some(both) = rule.labels.iter().find(|l| rule.exclude_labels.contains(l)) {
        return Err(format!("label {both:?} is both required and excluded"));
    }
    Ok(rule)
}

/// Reads one rule in its JSON form.
pub fn rule_from_json(value: &Value, limits: &FilterLimits) -> Result<Rule, String> {
    let Some(object) = value.as_object() else {
        return Err(format!("must be an object, got {value}"));
    };
    let mut rule = Rule::default();
    for (name, given) in object {
        let condition = Condition::named(name)
            .filter(|c| key(*c) == name || !name.contains(['<', '>', '!']))
            .ok_or_else(|| format!("unknown condition {name:?}"))?;
        match given {
            Value::Null => {}
            Value::Array(items) if !condition.single() => {
                if items.len() > limits.max_values_per_rule {
                    return Err(format!(
                        "{}: too many values: {} (max: {} per filter)",
                        key(condition),
                        items.len(),
                        limits.max_values_per_rule
                    ));
                }
                let items: Vec<Given<'_>> = items.iter().map(Given::Json).collect();
                apply(&mut rule, condition, &items)?;
            }
            one => apply(&mut rule, condition, &[Given::Json(one)])?,
        }
    }
    finish(rule, limits)
}

/// Reads one rule in its URL form (`region:10000002;value>=1e9;!label:npc`).
pub fn rule_from_url(text: &str, limits: &FilterLimits) -> Result<Rule, String> {
    let mut rule = Rule::default();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, values) = split_condition(part)
            .ok_or_else(|| format!("{part:?} is not a condition (write name:value or value>=n)"))?;
        let condition =
            Condition::named(name).ok_or_else(|| format!("unknown condition {name:?}"))?;
        let values: Vec<Given<'_>> = values.split(',').map(|v| Given::Text(v.trim())).collect();
        if values.len() > limits.max_values_per_rule {
            return Err(format!(
                "{}: too many values: {} (max: {} per filter)",
                key(condition),
                values.len(),
                limits.max_values_per_rule
            ));
        }
        apply(&mut rule, condition, &values)?;
    }
    finish(rule, limits)
}

/// `name:values`, or a comparison `value>=n` whose name keeps its operator.
fn split_condition(part: &str) -> Option<(&str, &str)> {
    for op in [">=", "<="] {
        if let Some(at) = part.find(op) {
            return Some((&part[..at + op.len()], &part[at + op.len()..]))
                .filter(|(name, _)| !name.contains(':'));
        }
    }
    part.split_once(':')
}

/// Reads a JSON list of rules (absent or null: none), numbered from `first_id`.
pub fn rules_from_json(
    value: Option<&Value>,
    first_id: u32,
    limits: &FilterLimits,
) -> Result<Vec<Rule>, FilterError> {
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(FilterError::NotAList),
    };
    if items.len() > limits.max_rules {
        return Err(FilterError::TooMany {
            count: items.len(),
            max: limits.max_rules,
        });
    }
    number(
        items.iter().map(|item| rule_from_json(item, limits)),
        first_id,
    )
}

/// Reads the `filter=` parameters of a URL, one rule each, numbered from 1.
pub fn rules_from_url<'a>(
    texts: impl ExactSizeIterator<Item = &'a str>,
    limits: &FilterLimits,
) -> Result<Vec<Rule>, FilterError> {
    if texts.len() > limits.max_rules {
        return Err(FilterError::TooMany {
            count: texts.len(),
            max: limits.max_rules,
        });
    }
    number(texts.map(|text| rule_from_url(text, limits)), 1)
}

fn number(
    rules: impl Iterator<Item = Result<Rule, String>>,
    first_id: u32,
) -> Result<Vec<Rule>, FilterError> {
    rules
        .enumerate()
        .map(|(i, rule)| {
            let mut rule = rule.map_err(|problem| FilterError::at(i + 1, problem))?;
            rule.id = first_id.saturating_add(u32::try_from(i).unwrap_or(u32::MAX));
            Ok(rule)
        })
        .collect()
}
