//! Filter rules on the `killmails:lobby` topic: `filters` on join, and the `subscribe_filters`,
//! `unsubscribe_filters` (by the rule ids the replies give) and `set_filters` events. The cap on
//! rules holds for the connection, not per frame. Pure: the session does the I/O.

use std::sync::Arc;

use actors::model::filter::rules_from_json;
use actors::model::{FilterLimits, Rule};
use serde_json::{json, Value};

use super::lobby::{After, Invalid, Joined};

/// The `filters` of a join, numbered from 1.
pub fn join_filters(payload: &Value, limits: &FilterLimits) -> Result<Vec<Arc<Rule>>, Invalid> {
    read(payload.get("filters"), 1, limits)
}

fn read(
    value: Option<&Value>,
    first_id: u32,
    limits: &FilterLimits,
) -> Result<Vec<Arc<Rule>>, Invalid> {
    let rules = rules_from_json(value, first_id, limits).map_err(|e| Invalid {
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

/// A filter event's reply and what it leaves to do; `None` when `event` is not one.
pub fn change(
    lobby: &mut Joined,
    event: &str,
    payload: &Value,
    limits: &FilterLimits,
) -> Option<Result<(Value, After), Invalid>> {
    Some(match event {
        "subscribe_filters" => subscribe(lobby, payload, limits),
        "set_filters" => read(payload.get("filters"), next_id(&lobby.rules), limits).map(|rules| {
            lobby.rules = rules.clone();
            (listing(&lobby.rules), After::PreloadRules(rules))
        }),
        "unsubscribe_filters" => unsubscribe(lobby, payload),
        _ => return None,
    })
}

fn subscribe(
    lobby: &mut Joined,
    payload: &Value,
    limits: &FilterLimits,
) -> Result<(Value, After), Invalid> {
    let added = read(payload.get("filters"), next_id(&lobby.rules), limits)?;
    if added.is_empty() {
        return Err(Invalid {
            kind: "invalid_filters",
            message: "filters must list at least one rule".into(),
        });
    }
    if lobby.rules.len() + added.len() > limits.max_rules {
        return Err(Invalid {
            kind: "too_many_filters",
            message: format!(
                "too many filters (max: {} per connection; {} subscribed)",
                limits.max_rules,
                lobby.rules.len()
            ),
        });
    }
    lobby.rules.extend(added.iter().cloned());
    let ids: Vec<u32> = added.iter().map(|r| r.id).collect();
    let mut reply = listing(&lobby.rules);
    reply["added"] = json!(ids);
    Ok((reply, After::PreloadRules(added)))
}

fn unsubscribe(lobby: &mut Joined, payload: &Value) -> Result<(Value, After), Invalid> {
    let bad = || Invalid {
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
    let before = lobby.rules.len();
    lobby.rules.retain(|r| !ids.contains(&u64::from(r.id)));
    if lobby.rules.len() == before {
        let reply = json!({"message": "Not subscribed to any of the requested filters"});
        return Ok((reply, After::Nothing));
    }
    Ok((listing(&lobby.rules), After::Refilter))
}

/// `{"filters": [...]}`: the channel's rules with their ids.
pub fn listing(rules: &[Arc<Rule>]) -> Value {
    json!({ "filters": rules })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn joined() -> Joined {
        Joined {
            join_ref: json!("1"),
            systems: Default::default(),
            characters: Default::default(),
            rules: Vec::new(),
            preload: Default::default(),
        }
    }

    fn limits() -> FilterLimits {
        FilterLimits {
            max_rules: 3,
            max_values_per_rule: 10,
        }
    }

    fn ok(lobby: &mut Joined, event: &str, payload: Value) -> Value {
        match change(lobby, event, &payload, &limits()) {
            Some(Ok((reply, _))) => reply,
            _ => panic!("{event} {payload} refused"),
        }
    }

    #[test]
    fn rules_get_ids_that_unsubscribe_removes_and_set_replaces() {
        let mut lobby = joined();
        let reply = ok(
            &mut lobby,
            "subscribe_filters",
            json!({"filters": [{"regions": [10000002]}, {"name": "big", "min_value": 1e10}]}),
        );
        assert_eq!(reply["added"], json!([1, 2]));
        assert_eq!(
            reply["filters"][1],
            json!({"id": 2, "name": "big", "min_value": 1e10, "role": "any"})
        );
        let reply = ok(
            &mut lobby,
            "subscribe_filters",
            json!({"filters": [{"space": ["lowsec"]}]}),
        );
        assert_eq!(reply["added"], json!([3]));
        let reply = ok(&mut lobby, "unsubscribe_filters", json!({"ids": [1, 3]}));
        assert_eq!(reply["filters"].as_array().map(Vec::len), Some(1));
        assert_eq!(reply["filters"][0]["id"], 2);
        let reply = ok(&mut lobby, "unsubscribe_filters", json!({"ids": [9]}));
        assert_eq!(
            reply["message"],
            "Not subscribed to any of the requested filters"
        );
        let reply = ok(
            &mut lobby,
            "set_filters",
            json!({"filters": [{"alliances": [99005338]}]}),
        );
        assert_eq!(reply["filters"][0]["alliances"], json!([99005338]));
        assert_eq!(lobby.rules.len(), 1);
        ok(&mut lobby, "set_filters", json!({"filters": []}));
        assert!(lobby.rules.is_empty(), "set to none");
    }

    #[test]
    fn the_cap_on_rules_holds_for_the_connection_and_bad_rules_name_their_condition() {
        let mut lobby = joined();
        ok(
            &mut lobby,
            "subscribe_filters",
            json!({"filters": [{}, {}]}),
        );
        let Some(Err(refused)) = change(
            &mut lobby,
            "subscribe_filters",
            &json!({"filters": [{}, {}]}),
            &limits(),
        ) else {
            panic!("2 + 2 > 3 must be refused");
        };
        assert_eq!(
            refused.reason(),
            "[validation:too_many_filters] too many filters (max: 3 per connection; 2 subscribed)"
        );
        let Some(Err(bad)) = change(
            &mut lobby,
            "subscribe_filters",
            &json!({"filters": [{"ship_groups": ["x"]}]}),
            &limits(),
        ) else {
            panic!("refused");
        };
        assert_eq!(
            bad.reason(),
            r#"[validation:invalid_filters] filter 1: ship_groups: "x" is not a ship group id"#
        );
        assert_eq!(lobby.rules.len(), 2, "nothing was added");
        assert!(change(&mut lobby, "subscribe_systems", &json!({}), &limits()).is_none());
    }
}
