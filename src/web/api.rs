//! The route table: every HTTP route with its handler and its OpenAPI description, in one place.
//! [`super::routes`] mounts exactly these, and `GET /api/openapi` describes exactly these, so the
//! document cannot miss a route or describe one that is not there.

use actix_web::http::Method;
use actix_web::{web, Route};
use serde_json::{json, Map, Value};

use super::{dashboard, get, health, kills, metrics, notifier, socket, sse, status, subscriptions};

/// One route: method, actix path (`{name}` segments), how to mount it, and how to describe it.
pub struct Endpoint {
    pub method: Method,
    pub path: &'static str,
    pub route: fn() -> Route,
    pub doc: fn() -> Operation,
}

/// Every route, in mounting order (a literal path before a pattern that would also match it).
pub fn endpoints() -> Vec<Endpoint> {
    use Method as M;
    let e = |method, path, route, doc| Endpoint {
        method,
        path,
        route,
        doc,
    };
    vec![
        e(
            M::GET,
            "/",
            || get().to(dashboard::index),
            || page("Service", "The dashboard: live figures and recent kills."),
        ),
        e(
            M::GET,
            "/dashboard/app.js",
            || get().to(dashboard::script),
            || asset("The dashboard's script.", "text/javascript"),
        ),
        e(
            M::GET,
            "/dashboard/style.css",
            || get().to(dashboard::style),
            || asset("The dashboard's style sheet.", "text/css"),
        ),
        e(
            M::GET,
            "/ping",
            || get().to(health::ping),
            || Operation::new("Service", "Liveness: answers `pong`.").text(200, "pong"),
        ),
        e(M::GET, "/health", || get().to(health::health), health_doc),
        e(
            M::GET,
            "/api/health",
            || get().to(health::health),
            health_doc,
        ),
        e(
            M::GET,
            "/status",
            || get().to(status::status),
            || {
                Operation::new("Service", "Live figures of every part of the service.")
                .json(200, "Figures", json!({"type": "object", "required": ["metrics", "summary", "timestamp"],
                    "properties": {"metrics": {"type": "object"}, "summary": {"type": "object"}, "timestamp": timestamp()}}))
            },
        ),
        e(
            M::GET,
            "/metrics",
            || get().to(metrics::metrics),
            || {
                Operation::new(
                    "Service",
                    "Prometheus text exposition; JSON with `Accept: application/json`.",
                )
                .text(200, "Prometheus text format 0.0.4")
            },
        ),
        e(
            M::GET,
            "/api/openapi",
            || get().to(openapi),
            || {
                Operation::new("Service", "This document.").json(
                    200,
                    "OpenAPI 3 document",
                    json!({"type": "object"}),
                )
            },
        ),
        e(
            M::GET,
            "/socket/websocket",
            || get().to(socket::upgrade),
            || {
                Operation::new(
                    "WebSocket",
                    "Phoenix channels WebSocket (topic `killmails:lobby`).",
                )
                .query(
                    "vsn",
                    "string",
                    "Serializer: absent or 1.x → V1 objects, 2.x → V2 arrays",
                )
                .response(101, "Switching protocols", None)
                .response(403, "Unknown `vsn`", None)
            },
        ),
        e(
            M::GET,
            "/websocket",
            || get().to(socket::discovery),
            || {
                Operation::new("WebSocket", "How to connect, with the real limits.")
                .json(200, "Discovery", json!({"type": "object", "required": ["websocket_url", "protocol", "version", "channels", "authentication", "limits"]}))
            },
        ),
        e(
            M::GET,
            "/websocket/status",
            || get().to(socket::status),
            || {
                Operation::new("WebSocket", "Live WebSocket counts.").json(200, "Counts", json!({"type": "object",
                "required": ["status", "active_connections", "active_subscriptions", "uptime_seconds", "timestamp"],
                "properties": {"status": {"type": "string"}, "active_connections": int(), "active_subscriptions": int(),
                               "uptime_seconds": int(), "timestamp": timestamp()}}))
            },
        ),
        e(
            M::GET,
            "/api/v1/kills/stream",
            || get().to(sse::stream),
            || stream_doc(false),
        ),
        e(
            M::GET,
            "/api/v1/kills/stream/enhanced",
            || get().to(sse::enhanced),
            || stream_doc(true),
        ),
        e(
            M::GET,
            "/api/v1/kills/system/{system_id}",
            || get().to(kills::system_kills),
            || {
                Operation::new("Kills", "A system's kills, newest first; backfilled once from zKillboard within a deadline.")
                .path("system_id", "Solar system id")
                .query("since_hours", "integer", "Hours back (default 24)")
                .query("limit", "integer", "At most this many, 1..1000 (default 50)")
                .json(200, "Kills", data(kills_payload(true)))
                .json(400, "INVALID_SYSTEM_ID", error_ref())
            },
        ),
        e(
            M::POST,
            "/api/v1/kills/systems",
            || web::post().to(kills::systems_kills),
            || {
                Operation::new("Kills", "Kills of several systems (at most 100).")
                .body(json!({"type": "object", "required": ["system_ids"], "properties": {
                    "system_ids": {"type": "array", "items": int()}, "since_hours": int(), "limit": int()}}))
                .json(200, "Kills per system (string keys)", data(json!({"type": "object", "properties": {
                    "systems_kills": {"type": "object", "additionalProperties": killmails()}, "timestamp": timestamp()}})))
                .json(400, "INVALID_SYSTEM_IDS or INVALID_PARAMETERS", error_ref())
            },
        ),
        e(
            M::GET,
            "/api/v1/kills/cached/{system_id}",
            || get().to(kills::cached_kills),
            || {
                Operation::new("Kills", "A system's stored kills, no upstream call.")
                    .path("system_id", "Solar system id")
                    .json(200, "Kills", data(kills_payload(true)))
                    .json(400, "INVALID_SYSTEM_ID", error_ref())
            },
        ),
        e(
            M::GET,
            "/api/v1/kills/count/{system_id}",
            || get().to(kills::count),
            || {
                Operation::new(
                    "Kills",
                    "How many kills of a system are stored in the retention window.",
                )
                .path("system_id", "Solar system id")
                .json(
                    200,
                    "Count",
                    data(json!({"type": "object", "properties": {
                    "system_id": int(), "count": int(), "timestamp": timestamp()}})),
                )
                .json(400, "INVALID_SYSTEM_ID", error_ref())
            },
        ),
        e(
            M::GET,
            "/api/v1/killmail/{killmail_id}",
            || get().to(kills::killmail),
            || {
                Operation::new("Kills", "One killmail, from the store or zKillboard + ESI.")
                    .path("killmail_id", "Killmail id")
                    .json(200, "The killmail", data(killmail_ref()))
                    .json(400, "INVALID_KILLMAIL_ID", error_ref())
                    .json(404, "NOT_FOUND", error_ref())
            },
        ),
        e(
            M::POST,
            "/api/v1/systems/bulk/killmails",
            || web::post().to(notifier::bulk),
            || {
                Operation::new("Notifier", "Stored kills of several systems, every requested system present; not wrapped.")
                .body(json!({"type": "object", "required": ["system_ids"], "properties": {
                    "system_ids": {"type": "array", "items": int()}, "hours": int(), "limit_per_system": int()}}))
                .json(200, "Kills per system", json!({"type": "object", "required": ["systems"], "properties": {
                    "systems": {"type": "object", "additionalProperties": killmails()}, "timestamp": timestamp()}}))
                .json(400, "Invalid body", error_ref())
            },
        ),
        e(
            M::GET,
            "/api/v1/systems/{id}/killmails",
            || get().to(notifier::system),
            || {
                Operation::new("Notifier", "A system's stored kills; not wrapped.")
                    .path("id", "Solar system id")
                    .query("hours", "integer", "Hours back (default 24)")
                    .query("limit", "integer", "At most this many (default 50)")
                    .json(200, "Kills", kills_only())
                    .json(400, "Invalid parameter", error_ref())
            },
        ),
        e(
            M::GET,
            "/api/v1/characters/{id}/killmails",
            || get().to(notifier::character),
            || {
                Operation::new(
                    "Notifier",
                    "Stored kills where the character is the victim or an attacker; not wrapped.",
                )
                .path("id", "Character id")
                .query("hours", "integer", "Hours back (default 24)")
                .query("limit", "integer", "At most this many (default 50)")
                .json(200, "Kills", kills_only())
                .json(400, "Invalid parameter", error_ref())
            },
        ),
        e(
            M::GET,
            "/api/v1/subscriptions",
            || get().to(subscriptions::list),
            || {
                Operation::new("Subscriptions", "Every live subscription: webhooks, WebSocket channels and SSE streams.")
                .json(200, "Subscriptions", json!({"type": "object", "properties": {"data": {"type": "object", "properties": {
                    "count": int(), "subscriptions": {"type": "array", "items": {"type": "object", "properties": {
                        "id": {"type": "string"}, "subscriber_id": {"type": "string"},
                        "type": {"type": "string", "enum": ["webhook", "websocket", "sse"]},
                        "system_ids": {"type": "array", "items": int()}, "character_ids": {"type": "array", "items": int()},
                        "callback_url": {"type": "string", "nullable": true},
                        "created_at": timestamp(), "updated_at": timestamp()}}}}}}}))
            },
        ),
        e(
            M::POST,
            "/api/v1/subscriptions",
            || web::post().to(subscriptions::create),
            || {
                Operation::new("Subscriptions", "Create a webhook subscription (needs the API token when one is set).")
                .body(json!({"type": "object", "required": ["subscriber_id", "callback_url"], "properties": {
                    "subscriber_id": {"type": "string"}, "callback_url": {"type": "string", "format": "uri"},
                    "system_ids": {"type": "array", "items": int()}, "character_ids": {"type": "array", "items": int()},
                    "secret": {"type": "string", "description": "Signs each body: X-Wanderer-Signature: sha256=<hex HMAC>"}}}))
                .json(201, "Created", json!({"type": "object", "properties": {"data": {"type": "object", "properties": {
                    "subscription_id": {"type": "string"}, "message": {"type": "string"}}}}}))
                .json(400, "Invalid", subscription_error())
                .json(401, "API token missing or wrong", subscription_error())
            },
        ),
        e(
            M::GET,
            "/api/v1/subscriptions/stats",
            || get().to(subscriptions::stats),
            || {
                Operation::new("Subscriptions", "Subscription and delivery counts.")
                .json(200, "Stats", json!({"type": "object", "properties": {"data": {"type": "object", "required": [
                    "total_subscriptions", "websocket_subscriptions", "webhook_subscriptions", "sse_subscriptions",
                    "total_systems", "total_characters", "memory_usage"]}}}))
            },
        ),
        e(
            M::DELETE,
            "/api/v1/subscriptions/{subscriber_id}",
            || web::delete().to(subscriptions::delete),
            || {
                Operation::new("Subscriptions", "Remove every webhook of a subscriber; always 200.")
                .path_string("subscriber_id", "Who subscribed")
                .json(200, "Removed", json!({"type": "object", "properties": {"data": {"type": "object", "properties": {
                    "message": {"type": "string"}, "subscriber_id": {"type": "string"}}}}}))
                .json(401, "API token missing or wrong", subscription_error())
            },
        ),
    ]
}

/// `GET /api/openapi`
pub async fn openapi() -> actix_web::HttpResponse {
    super::json(actix_web::http::StatusCode::OK, &document())
}

/// The OpenAPI 3 document of [`endpoints`].
pub fn document() -> Value {
    let mut paths = Map::new();
    for endpoint in endpoints() {
        let item = paths
            .entry(endpoint.path.to_owned())
            .or_insert_with(|| json!({}));
        let method = endpoint.method.as_str().to_ascii_lowercase();
        item[method] = (endpoint.doc)().0;
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "wanderer-kills",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Real-time EVE Online killmails: REST, Server-Sent Events, webhooks and Phoenix channels."
        },
        "paths": paths,
        "components": {"schemas": {
            "Killmail": killmail_schema(),
            "Error": {"type": "object", "required": ["error", "code", "details", "timestamp"], "properties": {
                "error": {"type": "string"}, "code": {"type": "string"},
                "details": {"type": "object", "nullable": true}, "timestamp": timestamp()}},
        }}
    })
}

/// An OpenAPI operation object under construction.
pub struct Operation(Value);

impl Operation {
    fn new(tag: &str, summary: &str) -> Self {
        Self(json!({"tags": [tag], "summary": summary, "parameters": [], "responses": {}}))
    }

    fn parameter(mut self, name: &str, place: &str, kind: &str, description: &str) -> Self {
        let required = place == "path";
        if let Some(list) = self.0["parameters"].as_array_mut() {
            list.push(json!({"name": name, "in": place, "required": required,
                             "description": description, "schema": {"type": kind}}));
        }
        self
    }

    fn path(self, name: &str, description: &str) -> Self {
        self.parameter(name, "path", "integer", description)
    }

    fn path_string(self, name: &str, description: &str) -> Self {
        self.parameter(name, "path", "string", description)
    }

    fn query(self, name: &str, kind: &str, description: &str) -> Self {
        self.parameter(name, "query", kind, description)
    }

    fn body(mut self, schema: Value) -> Self {
        self.0["requestBody"] =
            json!({"required": true, "content": {"application/json": {"schema": schema}}});
        self
    }

    fn response(mut self, code: u16, description: &str, content: Option<Value>) -> Self {
        let mut answer = json!({"description": description});
        if let Some(content) = content {
            answer["content"] = content;
        }
        self.0["responses"][code.to_string()] = answer;
        self
    }

    fn json(self, code: u16, description: &str, schema: Value) -> Self {
        self.response(
            code,
            description,
            Some(json!({"application/json": {"schema": schema}})),
        )
    }

    fn text(self, code: u16, description: &str) -> Self {
        self.response(
            code,
            description,
            Some(json!({"text/plain": {"schema": {"type": "string"}}})),
        )
    }
}

fn page(tag: &str, summary: &str) -> Operation {
    Operation::new(tag, summary).response(
        200,
        "HTML",
        Some(json!({"text/html": {"schema": {"type": "string"}}})),
    )
}

fn asset(summary: &str, content_type: &str) -> Operation {
    let mut content = Map::new();
    content.insert(
        content_type.to_owned(),
        json!({"schema": {"type": "string"}}),
    );
    Operation::new("Service", summary).response(200, "Asset", Some(Value::Object(content)))
}

fn health_doc() -> Operation {
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

fn stream_doc(enhanced: bool) -> Operation {
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

fn int() -> Value {
    json!({"type": "integer"})
}

fn timestamp() -> Value {
    json!({"type": "string", "format": "date-time"})
}

fn killmail_ref() -> Value {
    json!({"$ref": "#/components/schemas/Killmail"})
}

fn killmails() -> Value {
    json!({"type": "array", "items": killmail_ref()})
}

fn error_ref() -> Value {
    json!({"$ref": "#/components/schemas/Error"})
}

fn subscription_error() -> Value {
    json!({"type": "object", "properties": {"error": {"type": "object", "properties": {
        "message": {"type": "string"}, "details": {"type": "string"}}}}})
}

fn data(payload: Value) -> Value {
    json!({"type": "object", "required": ["data", "timestamp"],
           "properties": {"data": payload, "timestamp": timestamp()}})
}

fn kills_payload(cached: bool) -> Value {
    let mut properties = json!({"kills": killmails(), "timestamp": timestamp()});
    if cached {
        properties["cached"] = json!({"type": "boolean"});
    }
    json!({"type": "object", "properties": properties})
}

fn kills_only() -> Value {
    json!({"type": "object", "required": ["kills"], "properties": {"kills": killmails()}})
}

/// The canonical killmail (SPEC §3).
fn killmail_schema() -> Value {
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
