//! The schemas and operation shapes the route table's descriptions are built from, and the
//! canonical killmail's schema (SPEC §3).

use serde_json::{json, Map, Value};

use super::Operation;

pub fn page(tag: &str, summary: &str) -> Operation {
    Operation::new(tag, summary).response(
        200,
        "HTML",
        Some(json!({"text/html": {"schema": {"type": "string"}}})),
    )
}

pub fn asset(summary: &str, content_type: &str) -> Operation {
    let mut content = Map::new();
    content.insert(
        content_type.to_owned(),
        json!({"schema": {"type": "string"}}),
    );
    Operation::new("Service", summary).response(200, "Asset", Some(Value::Object(content)))
}

pub fn health_doc() -> Operation {
    let body = json!({"type": "object", "required": ["healthy", "status", "details", "timestamp", "circuit_breaker", "connection_monitor"],
        "properties": {"healthy": {"type": "boolean"}, "status": {"type": "string", "enum": ["ok", "degraded", "error"]},
                       "details": {"type": "object"}, "timestamp": timestamp(), "circuit_breaker": {"type": "object"},
                       "connection_monitor": {"type": "object"}}});
    Operation::new(
        "Service",
        "Component health and the feed's circuit breaker.",
    )
    .json(200, "Healthy", body.clone())
    .json(503, "Unhealthy", body)
}

pub fn stream_doc(enhanced: bool) -> Operation {
    let summary = if enhanced {
        "SSE with named events: connected, batch (history), transition, killmail (with id: offset), heartbeat, error. Send Last-Event-ID to resume."
    } else {
        "SSE: `retry: 2000`, then each matching kill as an unnamed `data:` event; `: ping` when quiet."
    };
    Operation::new("Streams", summary)
        .query(
            "system_ids",
            "string",
            "Comma-separated system ids (at most 100)",
        )
        .query(
            "character_ids",
            "string",
            "Comma-separated character ids (at most 100)",
        )
        .query(
            "min_value",
            "number",
            "Only kills worth at least this much ISK",
        )
        .query(
            "preload_days",
            "integer",
            "Replay stored kills of this many days first (at most 90)",
        )
        .query_repeated("filter", FILTER_PARAM)
        .response(
            200,
            "An event stream",
            Some(json!({"text/event-stream": {"schema": {"type": "string"}}})),
        )
        .json(
            400,
            "Bad filter",
            json!({"type": "object", "properties": {"error": {"type": "object", "properties": {
            "domain": {"type": "string"}, "type": {"type": "string"}, "message": {"type": "string"},
            "details": {"nullable": true}, "retryable": {"type": "boolean"}}}}}),
        )
        .json(503, "Connection limit reached", json!({"type": "object"}))
}

/// How the `filter=` parameter is written (README "Filters").
pub const FILTER_PARAM: &str = "A filter rule (repeatable; a kill matching any rule is sent): conditions separated by `;`, values by `,`, e.g. `region:10000002;ship_group:30,659;role:victim`, `value>=1e9`, `attackers<=1`, `label:solo`, `!label:npc`, `space:lowsec`, `name:caps`.";

/// A filter rule in its JSON form, as clients send it and listings show it (with its `id`).
pub fn filter_rule() -> Value {
    let ids = || json!({"type": "array", "items": {"type": "integer", "minimum": 1}});
    let role = || json!({"type": "string", "enum": ["any", "victim", "attacker", "final_blow"]});
    let labels = || json!({"type": "array", "items": {"type": "string", "pattern": "^[a-zA-Z0-9:#+._-]{1,40}$"}});
    json!({"type": "object", "additionalProperties": false, "properties": {
        "id": {"type": "integer"}, "name": {"type": "string", "minLength": 1, "maxLength": 64},
        "systems": ids(), "constellations": ids(), "regions": ids(),
        "space": {"type": "array", "items": {"type": "string",
                  "enum": ["highsec", "lowsec", "nullsec", "wspace", "abyssal", "pochven"]}},
        "characters": ids(), "corporations": ids(), "alliances": ids(), "role": role(),
        "ship_types": ids(), "ship_groups": ids(), "ship_role": role(),
        "min_value": {"type": "number", "minimum": 0}, "max_value": {"type": "number", "minimum": 0},
        "labels": labels(), "exclude_labels": labels(),
        "min_attackers": {"type": "integer", "minimum": 0}, "max_attackers": {"type": "integer", "minimum": 0}}})
}

pub fn filter_rules() -> Value {
    json!({"type": "array", "items": filter_rule()})
}

pub fn int() -> Value {
    json!({"type": "integer"})
}

pub fn timestamp() -> Value {
    json!({"type": "string", "format": "date-time"})
}

pub fn killmail_ref() -> Value {
    json!({"$ref": "#/components/schemas/Killmail"})
}

pub fn killmails() -> Value {
    json!({"type": "array", "items": killmail_ref()})
}

pub fn error_ref() -> Value {
    json!({"$ref": "#/components/schemas/Error"})
}

pub fn subscription_error() -> Value {
    json!({"type": "object", "properties": {"error": {"type": "object", "properties": {
        "message": {"type": "string"}, "details": {"type": "string"}}}}})
}

pub fn data(payload: Value) -> Value {
    json!({"type": "object", "required": ["data", "timestamp"],
           "properties": {"data": payload, "timestamp": timestamp()}})
}

pub fn kills_payload(cached: bool) -> Value {
    let mut properties = json!({"kills": killmails(), "timestamp": timestamp()});
    if cached {
        properties["cached"] = json!({"type": "boolean"});
    }
    json!({"type": "object", "properties": properties})
}

pub fn kills_only() -> Value {
    json!({"type": "object", "required": ["kills"], "properties": {"kills": killmails()}})
}

/// The canonical killmail (SPEC §3).
pub fn killmail_schema() -> Value {
    let named = |fields: &[(&str, Value)]| {
        let properties: Map<String, Value> = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        json!({"type": "object", "properties": properties})
    };
    let s = || json!({"type": "string"});
    let n = || json!({"type": "number"});
    let b = || json!({"type": "boolean"});
    let party = [
        ("character_id", int()),
        ("character_name", s()),
        ("corporation_id", int()),
        ("corporation_name", s()),
        ("corporation_ticker", s()),
        ("alliance_id", int()),
        ("alliance_name", s()),
        ("alliance_ticker", s()),
        ("faction_id", int()),
        ("ship_type_id", int()),
        ("ship_name", s()),
        ("ship_group_id", int()),
    ];
    let mut victim: Vec<(&str, Value)> = party.to_vec();
    victim.extend([
        ("damage_taken", int()),
        ("position", json!({"type": "object"})),
        (
            "items",
            json!({"type": "array", "items": {"type": "object"}}),
        ),
    ]);
    let mut attacker: Vec<(&str, Value)> = party.to_vec();
    attacker.extend([
        ("weapon_type_id", int()),
        ("damage_done", int()),
        ("final_blow", b()),
        ("security_status", n()),
    ]);
    let mut killmail = named(&[
        ("killmail_id", int()),
        ("kill_time", timestamp()),
        ("system_id", int()),
        ("solar_system_id", int()),
        ("solar_system_name", s()),
        ("constellation_id", int()),
        ("region_id", int()),
        ("region_name", s()),
        ("security_status", n()),
        (
            "space",
            json!({"type": "string", "enum": ["highsec", "lowsec", "nullsec", "wspace", "abyssal", "pochven"]}),
        ),
        ("matched_filters", json!({"type": "array", "items": s()})),
        ("moon_id", int()),
        ("war_id", int()),
        ("victim", named(&victim)),
        (
            "attackers",
            json!({"type": "array", "items": named(&attacker)}),
        ),
        ("attacker_count", int()),
        (
            "zkb",
            named(&[
                ("locationID", int()),
                ("hash", s()),
                ("fittedValue", n()),
                ("droppedValue", n()),
                ("destroyedValue", n()),
                ("totalValue", n()),
                ("points", int()),
                ("npc", b()),
                ("solo", b()),
                ("awox", b()),
                ("labels", json!({"type": "array", "items": s()})),
            ]),
        ),
    ]);
    killmail["required"] = json!([
        "killmail_id",
        "kill_time",
        "system_id",
        "solar_system_id",
        "victim",
        "attackers",
        "attacker_count"
    ]);
    killmail
}
