//! The route table: every HTTP route with its handler and its OpenAPI description, in one place.
//! [`super::mount`] mounts exactly these, and `GET /api/openapi` describes exactly these, so the
//! document cannot miss a route or describe one that is not there.

use actix_web::http::Method;
use actix_web::{web, Route};
use serde_json::json;

use super::openapi::schemas::*;
use super::openapi::transports::*;
use super::openapi::{self, Operation};
use super::{
    dashboard, get, health, kill_search, kills, metrics, notifier, relay, socket, sse, status,
    subscriptions,
};

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
            "/health/live",
            || get().to(health::live),
            || {
                Operation::new("Service", "Liveness: 200 while the service runs, whatever its upstreams do (for container health checks).")
                    .json(200, "Alive", json!({"type": "object", "required": ["status"], "properties": {
                        "status": {"type": "string"}, "uptime_seconds": int(), "timestamp": timestamp()}}))
                    .json(503, "The engine does not answer", json!({"type": "object"}))
            },
        ),
        e(
            M::GET,
            "/health/ready",
            || get().to(health::ready),
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
            || get().to(openapi::openapi),
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
                .query_schema(
                    "vsn",
                    json!({"type": "string", "enum": ["1.0.0", "2.0.0"]}),
                    "Serializer: absent or 1.x → V1 objects, 2.x → V2 arrays; anything else → 403",
                )
                .response(101, "Switching protocols", None)
                .json(400, "Not a WebSocket handshake", plain_error())
                .json(
                    403,
                    "Unknown `vsn`, or a browser of another site when ORIGIN_HOST is set",
                    plain_error(),
                )
                .json(503, "Connection limit reached", json!({"type": "object"}))
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
            "/socket/longpoll",
            || get().to(socket::longpoll::poll),
            longpoll_poll_doc,
        ),
        e(
            M::POST,
            "/socket/longpoll",
            || web::post().to(socket::longpoll::post),
            longpoll_post_doc,
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
            "/listen.php",
            || get().to(relay::listen),
            redisq_doc,
        ),
        e(M::GET, "/redisq", || get().to(relay::listen), redisq_doc),
        e(
            M::GET,
            "/ephemeral/sequence.json",
            || get().to(relay::sequence),
            r2z2_sequence_doc,
        ),
        e(
            M::GET,
            "/ephemeral/{seq}.json",
            || get().to(relay::object),
            r2z2_object_doc,
        ),
        e(
            M::GET,
            "/api/v1/kills",
            || get().to(kill_search::search),
            || {
                Operation::new("Kills", "Stored kills any `filter=` rule matches (none: every kill), newest first; each kill lists the names of the rules it matched in `matched_filters`. No upstream call.")
                .query_schema("filter", filter_param(), FILTER_PARAM)
                .query_schema("since_hours", hours(), "Hours back (default 24)")
                .query_schema("limit", limit(), "At most this many (default 50)")
                .json(200, "Kills", data(json!({"type": "object", "properties": {
                    "kills": killmails(), "filters": filter_rules(), "timestamp": timestamp()}})))
                .json(400, "INVALID_FILTER or INVALID_PARAMETERS", error_ref())
            },
        ),
        e(
            M::GET,
            "/api/v1/kills/system/{system_id}",
            || get().to(kills::system_kills),
            || {
                Operation::new("Kills", "A system's kills, newest first; backfilled once from zKillboard within a deadline.")
                .path("system_id", "Solar system id")
                .query_schema("since_hours", hours(), "Hours back (default 24)")
                .query_schema("limit", limit(), "At most this many (default 50)")
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
                    "system_ids": non_empty(ids(100)), "since_hours": or_null(hours()), "limit": or_null(limit())}}))
                .json(200, "Kills per system (string keys)", data(json!({"type": "object", "properties": {
                    "systems_kills": {"type": "object", "additionalProperties": killmails()}, "timestamp": timestamp()}})))
                .json(400, "INVALID_SYSTEM_IDS or INVALID_PARAMETERS (malformed JSON: the generic envelope)", either(error_ref()))
                .json(413, "Body too large", plain_error())
                .json(415, "Body not JSON (Content-Type)", plain_error())
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
                    "system_ids": ids(100), "hours": or_null(hours()), "limit_per_system": or_null(limit())}}))
                .json(200, "Kills per system", json!({"type": "object", "required": ["systems"], "properties": {
                    "systems": {"type": "object", "additionalProperties": killmails()}, "timestamp": timestamp()}}))
                .json(400, "Invalid body (malformed JSON: the generic envelope)", either(error_ref()))
                .json(413, "Body too large", plain_error())
                .json(415, "Body not JSON (Content-Type)", plain_error())
            },
        ),
        e(
            M::GET,
            "/api/v1/systems/{id}/killmails",
            || get().to(notifier::system),
            || {
                Operation::new("Notifier", "A system's stored kills; not wrapped.")
                    .path("id", "Solar system id")
                    .query_schema("hours", hours(), "Hours back (default 24)")
                    .query_schema("limit", limit(), "At most this many (default 50)")
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
                .query_schema("hours", hours(), "Hours back (default 24)")
                .query_schema("limit", limit(), "At most this many (default 50)")
                .json(200, "Kills", kills_only())
                .json(400, "Invalid parameter", error_ref())
            },
        ),
        e(
            M::GET,
            "/api/v1/subscriptions",
            || get().to(subscriptions::list),
            || {
                Operation::new("Subscriptions", "Every live subscription: webhooks, WebSocket channels and SSE streams. Needs the API token when one is set.")
                .json(200, "Subscriptions", json!({"type": "object", "properties": {"data": {"type": "object", "properties": {
                    "count": int(), "subscriptions": {"type": "array", "items": {"type": "object", "properties": {
                        "id": {"type": "string"}, "subscriber_id": {"type": "string"},
                        "type": {"type": "string", "enum": ["webhook", "websocket", "sse"]},
                        "system_ids": {"type": "array", "items": int()}, "character_ids": {"type": "array", "items": int()},
                        "filters": filter_rules(),
                        "callback_url": {"type": "string", "nullable": true},
                        "format": {"type": "string", "nullable": true, "enum": ["json", "discord", "slack", null]},
                        "created_at": timestamp(), "updated_at": timestamp()}}}}}}}))
                .json(401, "API token missing or wrong (when one is set)", subscription_error())
            },
        ),
        e(
            M::POST,
            "/api/v1/subscriptions",
            || web::post().to(subscriptions::create),
            || {
                Operation::new("Subscriptions", "Create a webhook subscription (needs the API token when one is set).")
                .body(subscription_body())
                .json(201, "Created", json!({"type": "object", "properties": {"data": {"type": "object", "properties": {
                    "subscription_id": {"type": "string"}, "message": {"type": "string"}}}}}))
                .json(400, "Invalid (malformed JSON: the generic envelope)", either(subscription_error()))
                .json(401, "API token missing or wrong", subscription_error())
                .json(413, "Body too large", plain_error())
                .json(415, "Body not JSON (Content-Type)", plain_error())
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
                    "total_systems", "total_characters", "total_filters", "unanchored_filters", "memory_usage"]}}}))
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
