//! The OpenAPI descriptions of the routes that speak other services' protocols: the RedisQ and
//! R2Z2 relays, and Phoenix's LongPoll transport.

use serde_json::{json, Value};

use super::schemas::{filter_param, int, killmail_ref, FILTER_PARAM};
use super::Operation;

/// `{"error": "<message>"}`: the relays' errors, as zKillboard's feeds send them.
pub fn relay_error() -> Value {
    json!({"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}})
}

/// `GET /listen.php` and `GET /redisq`.
pub fn redisq_doc() -> Operation {
    Operation::new("Relays", "RedisQ relay: the next kill of your queue (each queueID has its own cursor, starting at the time of its first poll; kills are handed over once, in order; saved across restarts), or `{\"package\": null}` when none came within `ttw` seconds. The completed killmail is under `package.completed`.")
        .parameter_schema(
            "queueID",
            "query",
            true,
            json!({"type": "string", "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]{1,100}$"}),
            "Your queue's name",
        )
        .query_schema("ttw", json!({"type": "integer", "minimum": 1, "maximum": 10}), "Seconds to wait for a kill (default 10)")
        .query_schema(
            "ttl",
            json!({"type": "integer", "minimum": 0, "maximum": u64::MAX}),
            "Seconds the queue is remembered while unused, kept within 60 s to a week (default 10800)",
        )
        .query_schema("filter", filter_param(), FILTER_PARAM)
        .json(200, "A package, or null", json!({"type": "object", "required": ["package"], "properties": {"package": {
            "type": "object", "nullable": true, "properties": {"killID": int(), "killmail": {"type": "object"},
            "zkb": {"type": "object"}, "completed": killmail_ref()}}}}))
        .json(400, "queueID missing or a bad parameter", relay_error())
        .json(429, "Another poll of this queue is under way (Retry-After: 1)", relay_error())
        .json(503, "Too many queues, or the store did not answer", relay_error())
}

/// What the LongPoll transport answers: the status in the body.
pub fn longpoll_status() -> Value {
    json!({"type": "object", "required": ["status"], "properties": {"status": {"type": "integer"},
        "token": {"type": "string"}, "messages": {"type": "array", "items": {"type": "string"}}}})
}

/// `GET /ephemeral/sequence.json`.
pub fn r2z2_sequence_doc() -> Operation {
    Operation::new(
        "Relays",
        "R2Z2 relay: the newest sequence (the settled head of the offset log).",
    )
    .json(
        200,
        "The head",
        json!({"type": "object", "required": ["sequence"], "properties": {"sequence": int()}}),
    )
}

/// `GET /ephemeral/{seq}.json`.
pub fn r2z2_object_doc() -> Operation {
    Operation::new("Relays", "R2Z2 relay: the kill at an offset, as R2Z2 serves it, with the completed killmail under `completed`; R2Z2's placeholder (killmail_id, hash and esi null) for an offset whose kill is gone or does not match the filter; 404 past the head.")
        .path("seq", "Sequence (offset)")
        .query_schema("filter", filter_param(), FILTER_PARAM)
        .json(200, "An R2Z2 object", json!({"type": "object", "required": ["sequence_id"], "properties": {
            "killmail_id": {"type": "integer", "nullable": true}, "hash": {"type": "string", "nullable": true},
            "esi": {"type": "object", "nullable": true}, "zkb": {"type": "object", "nullable": true},
            "uploaded_at": {"type": "integer", "nullable": true}, "sequence_id": int(),
            "completed": killmail_ref()}}))
        .json(400, "Bad filter", relay_error())
        .json(404, "Not published yet", relay_error())
}

/// `GET /socket/longpoll`.
pub fn longpoll_poll_doc() -> Operation {
    Operation::new("WebSocket", "Phoenix LongPoll transport (the fallback of phoenix.js without WebSocket): without `token`, opens a session and answers `{\"status\": 410, \"token\"}`; with it, held until messages are there (`{\"status\": 200, \"token\", \"messages\": [<frames>]}`) or the window passes (`{\"status\": 204, \"token\"}`); `{\"status\": 410}` when the session is gone. The same channel as `/socket/websocket`.")
        .query("vsn", "string", "Serializer: absent/1.x (V1 objects) or 2.x (V2 arrays); else status 403")
        .query("token", "string", "The session's token, from the first answer")
        .json(200, "Status in the body, as phoenix.js reads it", longpoll_status())
        .json(503, "Connection limit reached", longpoll_status())
}

/// `POST /socket/longpoll`.
pub fn longpoll_post_doc() -> Operation {
    Operation::new("WebSocket", "Phoenix LongPoll transport: messages for the session (`application/x-ndjson`, one frame per line); `{\"status\": 200}`, or `{\"status\": 410}` when the session is gone.")
        .query("token", "string", "The session's token")
        .json(200, "Status in the body", longpoll_status())
}
