//! Reading filter rules in their two forms, into one [`Rule`]:
//!
//! - JSON (WebSocket, webhooks): `{"regions": [10000002], "ship_groups": [30, 659], "role": "victim"}`;
//! - URL (SSE, REST): `region:10000002;ship_group:30,659;role:victim`, with `value>=1e9`,
//!   `value<=`, `attackers>=`, `attackers<=`, `label:solo`, `!label:npc`, `space:lowsec`.
//!
//! A rule that cannot be read is refused whole, with the condition and the value named.

use std::fmt;

use serde_json::Value;

use super::condition::{apply, key, Condition, Given};
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

/// The checks that span conditions, once a rule is read.
fn finish(rule: Rule, limits: &FilterLimits) -> Result<Rule, String> {
    if rule.values() > limits.max_values_per_rule {
        return Err(format!(
            "too many ids and values: {} (max: {} per filter)",
            rule.values(),
            limits.max_values_per_rule
        ));
    }
    // Crossed bounds (`min_value` above `max_value`, a label both required and excluded) are
    // kept: such a rule matches no kill, which is what it says.
    Ok(rule)
}

/// [`apply`], refusing a list longer than a rule may hold before reading any of it.
fn apply_bounded(
    rule: &mut Rule,
    condition: Condition,
    values: &[Given<'_>],
    limits: &FilterLimits,
) -> Result<(), String> {
    if values.len() > limits.max_values_per_rule {
        return Err(format!(
            "{}: too many values: {} (max: {} per filter)",
            key(condition),
            values.len(),
            limits.max_values_per_rule
        ));
    }
    apply(rule, condition, values)
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
                let items: Vec<Given<'_>> = items.iter().map(Given::Json).collect();
                apply_bounded(&mut rule, condition, &items, limits)?;
            }
            one if condition.single() => apply(&mut rule, condition, &[Given::Json(one)])?,
            other => return Err(format!("{}: {other} is not a list", key(condition))),
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
        apply_bounded(&mut rule, condition, &values, limits)?;
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
