//! Filter rules on the `killmails:lobby` topic: `filters` on join, and the `subscribe_filters`,
//! `unsubscribe_filters` (by the rule ids the replies give) and `set_filters` events. The cap on
//! rules holds for the connection, not per frame. Pure: the session does the I/O.

use std::sync::Arc;

use actors::model::filter::rules_from_json;
use actors::model::{FilterLimits, Rule};
use serde_json::{json, Value};

/// A refused event: its validation kind and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    pub kind: &'static str,
    pub message: String,
}

/// What an event changed in the channel's rules.
#[derive(Debug)]
pub enum Changed {
    Nothing,
    /// Rules were removed.
    Shrunk,
    /// These rules were added (or replaced the others): preload what they match.
    Added(Vec<Arc<Rule>>),
}

/// The `filters` of a join, numbered from 1.
pub fn join_filters(payload: &Value, limits: &FilterLimits) -> Result<Vec<Arc<Rule>>, Refused> {
    read(payload.get("filters"), 1, limits)
}

fn read(
    value: Option<&Value>,
    first_id: u32,
    limits: &FilterLimits,
) -> Result<Vec<Arc<Rule>>, Refused> {
    let rules = rules_from_json(value, first_id, limits).map_err(|e| Refused {
        kind: "invalid_filters",
        message: e.to_string(),
    })?;
    Ok(rules.into_iter().map(Arc::new).collect())
}

/// The next free rule id of a channel.
fn next_id(rules: &[Arc<Rule>]) -> u32 {
    rules
        .iter()
        .map(|r| r.id)
        .max()
        .map_or(1, |id| id.saturating_add(1))
}

/// A filter event's reply and what it changed in `rules`; `None` when `event` is not one.
pub fn change(
    rules: &mut Vec<Arc<Rule>>,
    event: &str,
    payload: &Value,
    limits: &FilterLimits,
) -> Option<Result<(Value, Changed), Refused>> {
    Some(match event {
        "subscribe_filters" => subscribe(rules, payload, limits),
        "set_filters" => read(payload.get("filters"), next_id(rules), limits).map(|new| {
            *rules = new.clone();
            (listing(rules), Changed::Added(new))
        }),
        "unsubscribe_filters" => unsubscribe(rules, payload),
        _ => return None,
    })
}

fn subscribe(
    rules: &mut Vec<Arc<Rule>>,
    payload: &Value,
    limits: &FilterLimits,
) -> Result<(Value, Changed), Refused> {
    let added = read(payload.get("filters"), next_id(rules), limits)?;
    if added.is_empty() {
        return Err(Refused {
            kind: "invalid_filters",
            message: "filters must list at least one rule".into(),
        });
    }
    if rules.len() + added.len() > limits.max_rules {
        return Err(Refused {
            kind: "too_many_filters",
            message: format!(
                "too many filters (max: {} per connection; {} subscribed)",
                limits.max_rules,
                rules.len()
            ),
        });
    }
    rules.extend(added.iter().cloned());
    let ids: Vec<u32> = added.iter().map(|r| r.id).collect();
    let mut reply = listing(rules);
    reply["added"] = json!(ids);
    Ok((reply, Changed::Added(added)))
}

fn unsubscribe(rules: &mut Vec<Arc<Rule>>, payload: &Value) -> Result<(Value, Changed), Refused> {
    let bad = || Refused {
        kind: "invalid_filter_ids",
        message: "ids must be a list of the rule ids the subscribe replies gave".into(),
    };
    let ids: Vec<u64> = payload
        .get("ids")
        .or_else(|| payload.get("filter_ids"))
        .and_then(Value::as_array)
        .ok_or_else(bad)?
        .iter()
        .map(Value::as_u64)
        .collect::<Option<_>>()
        .ok_or_else(bad)?;
    let before = rules.len();
    rules.retain(|r| !ids.contains(&u64::from(r.id)));
    if rules.len() == before {
        let reply = json!({"message": "Not subscribed to any of the requested filters"});
        return Ok((reply, Changed::Nothing));
    }
    Ok((listing(rules), Changed::Shrunk))
}

/// `{"filters": [...]}`: the channel's rules with their ids.
pub fn listing(rules: &[Arc<Rule>]) -> Value {
    json!({ "filters": rules })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn limits() -> FilterLimits {
        FilterLimits {
            max_rules: 3,
            max_values_per_rule: 10,
        }
    }

    fn ok(rules: &mut Vec<Arc<Rule>>, event: &str, payload: Value) -> Value {
        match change(rules, event, &payload, &limits()) {
            Some(Ok((reply, _))) => reply,
            _ => panic!("{event} {payload} refused"),
        }
    }

    #[test]
    fn rules_get_ids_that_unsubscribe_removes_and_set_replaces() {
        let mut rules = Vec::new();
        let reply = ok(
            &mut rules,
            "subscribe_filters",
            json!({"filters": [{"regions": [10000002]}, {"name": "big", "min_value": 1e10}]}),
        );
        assert_eq!(reply["added"], json!([1, 2]));
        assert_eq!(
            reply["filters"][1],
            json!({"id": 2, "name": "big", "min_value": 1e10, "role": "any"})
        );
        let reply = ok(
            &mut rules,
            "subscribe_filters",
            json!({"filters": [{"space": ["lowsec"]}]}),
        );
        assert_eq!(reply["added"], json!([3]));
        let reply = ok(&mut rules, "unsubscribe_filters", json!({"ids": [1, 3]}));
        assert_eq!(reply["filters"].as_array().map(Vec::len), Some(1));
        assert_eq!(reply["filters"][0]["id"], 2);
        let reply = ok(&mut rules, "unsubscribe_filters", json!({"ids": [9]}));
        assert_eq!(
            reply["message"],
            "Not subscribed to any of the requested filters"
        );
        let reply = ok(
            &mut rules,
            "set_filters",
            json!({"filters": [{"alliances": [99005338]}]}),
        );
        assert_eq!(reply["filters"][0]["alliances"], json!([99005338]));
        assert_eq!(rules.len(), 1);
        ok(&mut rules, "set_filters", json!({"filters": []}));
        assert!(rules.is_empty(), "set to none");
    }

    #[test]
    fn the_cap_on_rules_holds_for_the_connection_and_bad_rules_name_their_condition() {
        let mut rules = Vec::new();
        ok(
            &mut rules,
            "subscribe_filters",
            json!({"filters": [{}, {}]}),
        );
        let Some(Err(refused)) = change(
            &mut rules,
            "subscribe_filters",
            &json!({"filters": [{}, {}]}),
            &limits(),
        ) else {
            panic!("2 + 2 > 3 must be refused");
        };
        assert_eq!(refused.kind, "too_many_filters");
        assert_eq!(
            refused.message,
            "too many filters (max: 3 per connection; 2 subscribed)"
        );
        let Some(Err(bad)) = change(
            &mut rules,
            "subscribe_filters",
            &json!({"filters": [{"ship_groups": ["x"]}]}),
            &limits(),
        ) else {
            panic!("refused");
        };
        assert_eq!(bad.kind, "invalid_filters");
        assert_eq!(
            bad.message,
            r#"filter 1: ship_groups: "x" is not a ship group id"#
        );
        assert_eq!(rules.len(), 2, "nothing was added");
        assert!(change(&mut rules, "subscribe_systems", &json!({}), &limits()).is_none());
    }
}
