//! The `killmails:lobby` topic (SPEC §8.2–§8.3): what a join and each lobby event carry, validated
//! in the documented order, and the subscription state a joined channel keeps. Pure: the session
//! actor does the I/O.

use std::collections::BTreeSet;
use std::sync::Arc;

use actors::model::{CharacterId, Filter, FilterLimits, KillTime, Rule, SystemId};
use actors::registry;
use serde_json::{json, Value};

use super::lobby_filters::{self, Changed, Refused};

pub const TOPIC: &str = "killmails:lobby";

pub const MAX_SYSTEMS: usize = 10_000;
pub const MAX_CHARACTERS: usize = 50_000;
const SYSTEM_RANGE: std::ops::RangeInclusive<u64> = 1..=50_000_000;
const CHARACTER_RANGE: std::ops::RangeInclusive<u64> = 90_000_000..=3_000_000_000;

/// A refused payload: `{"reason": "[validation:<kind>] <message>"}` on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    pub kind: &'static str,
    pub message: String,
}

impl From<Refused> for Invalid {
    fn from(refused: Refused) -> Self {
        Self {
            kind: refused.kind,
            message: refused.message,
        }
    }
}

impl Invalid {
    fn new(kind: &'static str, message: &str) -> Self {
        Self {
            kind,
            message: message.to_owned(),
        }
    }

    pub fn reason(&self) -> String {
        format!("[validation:{}] {}", self.kind, self.message)
    }
}

/// What the preload of a join sends (SPEC §8.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preload {
    pub enabled: bool,
    /// 1..=168.
    pub since_hours: u64,
    /// 1..=200.
    pub limit_per_system: usize,
}

impl Default for Preload {
    fn default() -> Self {
        Self {
            enabled: true,
            since_hours: 24,
            limit_per_system: 5,
        }
    }
}

/// A valid join payload.
#[derive(Clone, Debug, PartialEq)]
pub struct Join {
    pub systems: BTreeSet<SystemId>,
    pub characters: BTreeSet<CharacterId>,
    /// Filter rules, numbered from 1.
    pub rules: Vec<Arc<Rule>>,
    pub preload: Preload,
    /// Replay the matching kills stored after this offset before live ones (resume).
    pub since_offset: Option<u64>,
}

/// Reads a join payload: systems first, then characters, each checked for count, type and range,
/// then the filter rules.
pub fn parse_join(payload: &Value, limits: &FilterLimits) -> Result<Join, Invalid> {
    let systems = systems(payload.get("systems"))?;
    let characters = characters(
        payload
            .get("character_ids")
            .or_else(|| payload.get("characters")),
    )?;
    let since_offset = match payload.get("since_offset") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| {
            Invalid::new(
                "invalid_since_offset",
                "since_offset must be a non-negative integer",
            )
        })?),
    };
    let rules = lobby_filters::join_filters(payload, limits)?;
    Ok(Join {
        systems,
        characters,
        rules,
        preload: preload(payload.get("preload")),
        since_offset,
    })
}

/// The `systems` of a join or of a (un)subscribe event.
pub fn systems(list: Option<&Value>) -> Result<BTreeSet<SystemId>, Invalid> {
    let ids = ids(
        list,
        MAX_SYSTEMS,
        &SYSTEM_RANGE,
        [
            ("too_many_systems", "Too many systems (max: 10000)"),
            ("non_integer_system_ids", "System IDs must be integers"),
            ("invalid_system_ids", "Invalid system IDs"),
        ],
    )?;
    Ok(ids.into_iter().filter_map(SystemId::new).collect())
}

/// The `character_ids` of a join or of a (un)subscribe event.
pub fn characters(list: Option<&Value>) -> Result<BTreeSet<CharacterId>, Invalid> {
    let ids = ids(
        list,
        MAX_CHARACTERS,
        &CHARACTER_RANGE,
        [
            ("too_many_characters", "Too many characters (max: 50000)"),
            (
                "non_integer_character_ids",
                "Character IDs must be integers",
            ),
            ("invalid_character_ids", "Invalid character IDs"),
        ],
    )?;
    Ok(ids.into_iter().filter_map(CharacterId::new).collect())
}

/// A list of ids: absent or null is empty; then count, integer type and range, in that order.
fn ids(
    list: Option<&Value>,
    max: usize,
    range: &std::ops::RangeInclusive<u64>,
    [too_many, non_integer, out_of_range]: [(&'static str, &str); 3],
) -> Result<BTreeSet<u64>, Invalid> {
    let items = match list {
        None | Some(Value::Null) => return Ok(BTreeSet::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(Invalid::new(non_integer.0, non_integer.1)),
    };
    if items.len() > max {
        return Err(Invalid::new(too_many.0, too_many.1));
    }
    let numbers: Vec<u64> = items
        .iter()
        .map(Value::as_u64)
        .collect::<Option<_>>()
        .ok_or_else(|| {
            // A negative integer is an integer, just out of range.
            if items.iter().all(|v| v.is_i64() || v.is_u64()) {
                Invalid::new(out_of_range.0, out_of_range.1)
            } else {
                Invalid::new(non_integer.0, non_integer.1)
            }
        })?;
    if numbers.iter().any(|n| !range.contains(n)) {
        return Err(Invalid::new(out_of_range.0, out_of_range.1));
    }
    Ok(numbers.into_iter().collect())
}

/// The preload options; missing or wrong-typed values take their defaults, numbers are clamped.
fn preload(value: Option<&Value>) -> Preload {
    let mut out = Preload::default();
    let Some(options) = value.and_then(Value::as_object) else {
        return out;
    };
    if let Some(enabled) = options.get("enabled").and_then(Value::as_bool) {
        out.enabled = enabled;
    }
    if let Some(hours) = options.get("since_hours").and_then(Value::as_u64) {
        out.since_hours = hours.clamp(1, 168);
    }
    if let Some(limit) = options.get("limit_per_system").and_then(Value::as_u64) {
        out.limit_per_system = usize::try_from(limit.clamp(1, 200)).unwrap_or(5);
    }
    out
}

/// The ok reply of a join; `filters` only when the join has rules.
pub fn join_reply(subscription_id: &str, join: &Join) -> Value {
    let mut reply = json!({
        "subscription_id": subscription_id,
        "subscribed_systems": join.systems,
        "subscribed_characters": join.characters,
        "status": "connected",
    });
    if !join.rules.is_empty() {
        reply["filters"] = json!(join.rules);
    }
    reply
}

/// Adds `asked` to `current`; the reply, and what was new.
pub fn subscribe<T: Ord + Copy + serde::Serialize>(
    current: &mut BTreeSet<T>,
    asked: &BTreeSet<T>,
    key: &str,
    noun: &str,
    max: usize,
) -> Result<(Value, BTreeSet<T>), Invalid> {
    let new: BTreeSet<T> = asked.difference(current).copied().collect();
    if new.is_empty() {
        let message = format!("Already subscribed to all requested {noun}");
        return Ok((json!({ "message": message }), new));
    }
    // The cap holds for the connection, not per frame: many frames cannot add up past it.
    if current.len() + new.len() > max {
        let message = format!(
            "Too many {noun} (max: {max} per connection; {} subscribed)",
            current.len()
        );
        return Err(Invalid {
            kind: if noun == "systems" {
                "too_many_systems"
            } else {
                "too_many_characters"
            },
            message,
        });
    }
    current.extend(new.iter().copied());
    Ok((json!({ key: current }), new))
}

/// Removes `asked` from `current`; the reply, and whether anything changed.
pub fn unsubscribe<T: Ord + Copy + serde::Serialize>(
    current: &mut BTreeSet<T>,
    asked: &BTreeSet<T>,
    key: &str,
    noun: &str,
) -> (Value, bool) {
    let before = current.len();
    current.retain(|id| !asked.contains(id));
    if current.len() == before {
        let message = format!("Not subscribed to any of the requested {noun}");
        return (json!({ "message": message }), false);
    }
    (json!({ key: current }), true)
}

/// The joined lobby channel.
pub struct Joined {
    pub join_ref: Value,
    /// `join_ref` as encoded: the key of the live frames a worker shares between sessions.
    pub join_key: Box<str>,
    pub systems: BTreeSet<SystemId>,
    pub characters: BTreeSet<CharacterId>,
    pub rules: Vec<Arc<Rule>>,
    pub preload: Preload,
}

impl Joined {
    /// What the channel follows.
    pub fn filter(&self) -> Filter {
        Filter {
            systems: self.systems.clone(),
            characters: self.characters.clone(),
            rules: self.rules.clone(),
            ..Filter::default()
        }
    }

    /// Whether the channel follows anything.
    pub fn follows_any(&self) -> bool {
        !self.systems.is_empty() || !self.characters.is_empty() || !self.rules.is_empty()
    }

    /// The preload of `systems`, `characters` and `rules` with the channel's preload options.
    pub fn preload_of(
        &self,
        systems: BTreeSet<SystemId>,
        characters: BTreeSet<CharacterId>,
        rules: Vec<Arc<Rule>>,
    ) -> registry::Preload {
        let since_secs = i64::try_from(self.preload.since_hours * 3600).unwrap_or(0);
        registry::Preload {
            systems,
            characters,
            rules,
            since: KillTime::now().minus_secs(since_secs),
            limit_per_system: self.preload.limit_per_system,
        }
    }
}

/// What a lobby event leaves to do once its reply is sent.
pub enum After {
    Nothing,
    Refilter,
    /// The filter grew: tell the registry, then preload what is new.
    Preload(BTreeSet<SystemId>, BTreeSet<CharacterId>),
    /// Rules were added or replaced: tell the registry, then preload what they match.
    PreloadRules(Vec<Arc<Rule>>),
}

impl After {
    fn grown(systems: BTreeSet<SystemId>, characters: BTreeSet<CharacterId>) -> Self {
        if systems.is_empty() && characters.is_empty() {
            Self::Nothing
        } else {
            Self::Preload(systems, characters)
        }
    }

    fn shrunk(changed: bool) -> Self {
        if changed {
            Self::Refilter
        } else {
            Self::Nothing
        }
    }
}

/// Applies a (un)subscribe event to the channel's sets and rules; an unknown event is an error
/// reply.
pub fn change(
    lobby: &mut Joined,
    event: &str,
    payload: &Value,
    limits: &FilterLimits,
) -> (Result<Value, String>, After) {
    let (systems_key, characters_key) = ("subscribed_systems", "subscribed_characters");
    if let Some(result) = lobby_filters::change(&mut lobby.rules, event, payload, limits) {
        return match result {
            Ok((reply, Changed::Nothing)) => (Ok(reply), After::Nothing),
            Ok((reply, Changed::Shrunk)) => (Ok(reply), After::Refilter),
            Ok((reply, Changed::Added(rules))) => (Ok(reply), After::PreloadRules(rules)),
            Err(refused) => (Err(Invalid::from(refused).reason()), After::Nothing),
        };
    }
    let result = match event {
        "subscribe_systems" => systems(payload.get("systems")).and_then(|asked| {
            let (reply, new) = subscribe(
                &mut lobby.systems,
                &asked,
                systems_key,
                "systems",
                MAX_SYSTEMS,
            )?;
            Ok((reply, After::grown(new, BTreeSet::new())))
        }),
        "unsubscribe_systems" => systems(payload.get("systems")).map(|asked| {
            let (reply, changed) = unsubscribe(&mut lobby.systems, &asked, systems_key, "systems");
            (reply, After::shrunk(changed))
        }),
        "subscribe_characters" => characters(payload.get("character_ids")).and_then(|asked| {
            let (reply, new) = subscribe(
                &mut lobby.characters,
                &asked,
                characters_key,
                "characters",
                MAX_CHARACTERS,
            )?;
            Ok((reply, After::grown(BTreeSet::new(), new)))
        }),
        "unsubscribe_characters" => characters(payload.get("character_ids")).map(|asked| {
            let (reply, changed) =
                unsubscribe(&mut lobby.characters, &asked, characters_key, "characters");
            (reply, After::shrunk(changed))
        }),
        other => return (Err(format!("unknown event: {other}")), After::Nothing),
    };
    match result {
        Ok((reply, after)) => (Ok(reply), after),
        Err(invalid) => (Err(invalid.reason()), After::Nothing),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_join(payload: &Value) -> Result<Join, Invalid> {
        super::parse_join(payload, &FilterLimits::default())
    }

    fn reason(payload: Value) -> String {
        parse_join(&payload).expect_err("refused").reason()
    }

    #[test]
    fn a_map_join_is_read_with_default_preload_and_sorted_unique_ids() {
        let join = parse_join(&json!({"client_identifier": "wanderer_app",
                                      "systems": [31000005, 30000142, 30000142]}))
        .expect("valid");
        let systems: Vec<u64> = join.systems.iter().map(|s| s.get()).collect();
        assert_eq!(systems, vec![30000142, 31000005]);
        assert!(join.characters.is_empty());
        assert_eq!(join.preload, Preload::default());
    }

    #[test]
    fn a_notifier_join_reads_characters_and_preload_options() {
        let join = parse_join(&json!({"character_ids": [2119000001u64, 95465499],
            "preload": {"enabled": true, "limit_per_system": 20, "since_hours": 12},
            "systems": [30000142]}))
        .expect("valid");
        assert_eq!(join.characters.len(), 2);
        assert_eq!(
            join.preload,
            Preload {
                enabled: true,
                since_hours: 12,
                limit_per_system: 20
            }
        );
        let off =
            parse_join(&json!({"character_ids": [], "preload": {"enabled": false}, "systems": []}))
                .expect("valid");
        assert!(!off.preload.enabled);
        let clamped = parse_join(&json!({"preload": {"since_hours": 9999, "limit_per_system": 0}}))
            .expect("valid");
        assert_eq!(
            (
                clamped.preload.since_hours,
                clamped.preload.limit_per_system
            ),
            (168, 1)
        );
        let alias = parse_join(&json!({"characters": [95465499]})).expect("valid");
        assert_eq!(alias.characters.len(), 1);
    }

    #[test]
    fn validation_runs_in_the_documented_order_with_the_documented_messages() {
        let many: Vec<u64> = (1..=10_001).collect();
        assert_eq!(
            reason(json!({"systems": many, "character_ids": ["x"]})),
            "[validation:too_many_systems] Too many systems (max: 10000)"
        );
        assert_eq!(
            reason(json!({"systems": [1, "2"]})),
            "[validation:non_integer_system_ids] System IDs must be integers"
        );
        assert_eq!(
            reason(json!({"systems": [1.5]})),
            "[validation:non_integer_system_ids] System IDs must be integers"
        );
        assert_eq!(
            reason(json!({"systems": [50_000_001]})),
            "[validation:invalid_system_ids] Invalid system IDs"
        );
        assert_eq!(
            reason(json!({"systems": [0]})),
            "[validation:invalid_system_ids] Invalid system IDs"
        );
        assert_eq!(
            reason(json!({"systems": [-3]})),
            "[validation:invalid_system_ids] Invalid system IDs"
        );
        let many: Vec<u64> = (0..50_001).map(|i| 90_000_000 + i).collect();
        assert_eq!(
            reason(json!({"systems": [30000142], "character_ids": many})),
            "[validation:too_many_characters] Too many characters (max: 50000)"
        );
        assert_eq!(
            reason(json!({"character_ids": [true]})),
            "[validation:non_integer_character_ids] Character IDs must be integers"
        );
        assert_eq!(
            reason(json!({"character_ids": [89_999_999]})),
            "[validation:invalid_character_ids] Invalid character IDs"
        );
        assert_eq!(
            reason(json!({"systems": "30000142"})),
            "[validation:non_integer_system_ids] System IDs must be integers"
        );
    }

    #[test]
    fn subscribing_reports_all_or_says_nothing_was_new() {
        let id = |n| SystemId::new(n).expect("non-zero");
        let mut current: BTreeSet<SystemId> = [id(1)].into();
        let (reply, new) = subscribe(
            &mut current,
            &[id(1), id(2)].into(),
            "subscribed_systems",
            "systems",
            10,
        )
        .expect("under the cap");
        assert_eq!(reply, json!({"subscribed_systems": [1, 2]}));
        assert_eq!(new, [id(2)].into());
        let (reply, new) = subscribe(
            &mut current,
            &[id(2)].into(),
            "subscribed_systems",
            "systems",
            10,
        )
        .expect("nothing new");
        assert_eq!(
            reply,
            json!({"message": "Already subscribed to all requested systems"})
        );
        assert!(new.is_empty());
        let (reply, changed) = unsubscribe(
            &mut current,
            &[id(9)].into(),
            "subscribed_systems",
            "systems",
        );
        assert_eq!(
            reply,
            json!({"message": "Not subscribed to any of the requested systems"})
        );
        assert!(!changed);
        let (reply, changed) = unsubscribe(
            &mut current,
            &[id(1)].into(),
            "subscribed_systems",
            "systems",
        );
        assert_eq!(reply, json!({"subscribed_systems": [2]}));
        assert!(changed);
    }

    #[test]
    fn the_cap_holds_for_the_whole_connection_not_per_frame() {
        let id = |n| SystemId::new(n).expect("non-zero");
        let mut current: BTreeSet<SystemId> = (1..=8).map(id).collect();

        let refused = subscribe(
            &mut current,
            &(9..=11).map(id).collect(),
            "subscribed_systems",
            "systems",
            10,
        )
        .expect_err("8 + 3 > 10");

        assert_eq!(refused.kind, "too_many_systems");
        assert!(refused.message.contains("per connection"), "{refused:?}");
        assert_eq!(current.len(), 8, "nothing was added");
    }
}
