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
                       "connection_monitor": {"type": "object"},
                       "cluster": {"type": "object", "description": "Cluster mode only: instance, nats, role (leader|follower), log_head, taken, lag, caught_up, ready, leads"}}});
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
        .query_schema(
            "system_ids",
            id_list(),
            "Comma-separated system ids (at most 100)",
        )
        .query_schema(
            "character_ids",
            id_list(),
            "Comma-separated character ids (at most 100)",
        )
        .query_schema(
            "min_value",
            or_empty(json!({"type": "number", "minimum": 0})),
            "Only kills worth at least this much ISK (empty: no floor)",
        )
        .query_schema(
            "preload_days",
            or_empty(json!({"type": "integer", "minimum": 0, "maximum": u64::MAX})),
            "Replay stored kills of this many days first (capped at 90; empty: none)",
        )
        .query_schema("filter", filter_param(), FILTER_PARAM)
        .response(
            200,
            "An event stream: each event's `data` is JSON (a killmail, or a named event's payload)",
            Some(
                json!({"text/event-stream": {"schema": {"type": "object", "properties": {
                "event": {"type": "string"}, "data": {"type": "string"}, "id": {"type": "string"},
                "retry": {"type": "integer"}}}}}),
            ),
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
    let range = |lo: u64, hi: u64| {
        or_null(
            json!({"type": "array", "maxItems": 1000, "items": {"type": "integer", "minimum": lo, "maximum": hi}}),
        )
    };
    let entity = || range(1, u64::from(u32::MAX));
    let role = || json!({"type": "string", "nullable": true, "enum": ["any", "victim", "attacker", "final_blow", null]});
    let labels = || {
        or_null(
            json!({"type": "array", "maxItems": 1000, "items": {"type": "string", "pattern": "^[A-Za-z0-9:#+._-]{1,40}$"}}),
        )
    };
    let count = || json!({"type": "integer", "nullable": true, "minimum": 0, "maximum": u32::MAX});
    json!({"type": "object", "additionalProperties": false, "properties": {
        "id": {"type": "integer", "nullable": true, "minimum": 0, "maximum": u64::MAX},
        "name": {"type": "string", "nullable": true, "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]{1,64}$"},
        "systems": range(30_000_000, 32_999_999), "constellations": range(20_000_000, 29_999_999),
        "regions": range(10_000_000, 19_999_999),
        "space": or_null(json!({"type": "array", "items": {"type": "string",
                  "enum": ["highsec", "lowsec", "nullsec", "wspace", "abyssal", "pochven"]}})),
        "characters": entity(), "corporations": entity(), "alliances": entity(), "role": role(),
        "ship_types": entity(), "ship_groups": range(1, 999_999), "ship_role": role(),
        "min_value": {"type": "number", "nullable": true, "minimum": 0},
        "max_value": {"type": "number", "nullable": true, "minimum": 0},
        "labels": labels(), "exclude_labels": labels(),
        "min_attackers": count(), "max_attackers": count()}})
}

pub fn filter_rules() -> Value {
    json!({"type": "array", "maxItems": 50, "items": filter_rule()})
}

/// Hours back: 1 to a year.
pub fn hours() -> Value {
    json!({"type": "integer", "minimum": 1, "maximum": 8760})
}

/// How many kills: 1 to 1000.
pub fn limit() -> Value {
    json!({"type": "integer", "minimum": 1, "maximum": 1000})
}

/// A filter rule in the URL form. The pattern admits a sample of the grammar (README "Filters"
/// has all of it); the service accepts every rule the grammar describes.
pub fn filter_param() -> Value {
    json!({"type": "array", "items": {"type": "string",
        "pattern": "^(space:(highsec|lowsec|nullsec|wspace|abyssal|pochven)|region:1000000[1-9]|label:(solo|npc|pvp|awox)|value>=[0-9]{1,12}|attackers<=[0-9]{1,3})?$"}})
}

/// A comma-separated list of positive ids (at most 100).
pub fn id_list() -> Value {
    json!({"type": "string", "pattern": "^([1-9][0-9]{0,17}(,[1-9][0-9]{0,17}){0,99})?$"})
}

/// A list of positive integer ids.
pub fn ids(max: usize) -> Value {
    json!({"type": "array", "maxItems": max, "items": {"type": "integer", "minimum": 1, "maximum": u64::MAX}})
}

/// `schema`, or null (read as absent).
pub fn or_null(mut schema: Value) -> Value {
    schema["nullable"] = json!(true);
    schema
}

/// `schema` (an array) with at least one item.
pub fn non_empty(mut schema: Value) -> Value {
    schema["minItems"] = json!(1);
    schema
}

/// The body of `POST /api/v1/subscriptions`: at least one system, character or rule.
pub fn subscription_body() -> Value {
    let named = |key: &str, schema: Value| json!({"required": [key], "properties": {key: non_empty(schema)}});
    json!({"type": "object", "required": ["subscriber_id", "callback_url"],
        "anyOf": [named("system_ids", ids(100)), named("character_ids", ids(1000)), named("filters", filter_rules())],
        "properties": {
        "subscriber_id": {"type": "string", "pattern": "\\S"},
        "callback_url": {"type": "string", "format": "uri", "pattern": "^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$"},
        "system_ids": or_null(ids(100)), "character_ids": or_null(ids(1000)),
        "filters": or_null(filter_rules()),
        "format": {"type": "string", "nullable": true, "enum": ["json", "discord", "slack", null], "description": "The body each delivery has: the service's JSON (default), a Discord webhook message, or a Slack incoming-webhook message"},
        "secret": {"type": "string", "nullable": true, "minLength": 1, "description": "Signs each body: X-Wanderer-Signature: sha256=<hex HMAC>"}}})
}

/// `{"error": "<reason phrase>", "status": "<code>"}`: routes outside the API's envelopes.
pub fn plain_error() -> Value {
    json!({"type": "object", "required": ["error", "status"], "properties": {
        "error": {"type": "string"}, "status": {"type": "string"}}})
}

/// A route's own error, or the generic envelope of a body that is not JSON at all (SPEC).
pub fn either(route_error: Value) -> Value {
    json!({"oneOf": [route_error, plain_error()]})
}

/// `schema`, or the empty text a client that sends `name=` means as "not given".
pub fn or_empty(schema: Value) -> Value {
    json!({"anyOf": [schema, {"type": "string", "enum": [""]}]})
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
