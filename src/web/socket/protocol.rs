//! Phoenix channels wire format (SPEC §8.1): V1 object frames and V2 array frames, decoding of
//! client frames and encoding of replies and pushes. Pure: no I/O, no actors.
//!
//! `join_ref` and `ref` are kept as the JSON values the client sent (a string stays a string, a
//! number a number, null null) and echoed verbatim: both real clients match replies on them.
//! Push payloads may be given as raw JSON bytes, so a killmail serialized once by the store goes
//! into every recipient's frame without being parsed or serialized again.

use serde_json::{json, Value};

/// The serializer a socket negotiated with its `vsn` query parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vsn {
    /// `{"topic", "event", "payload", "ref", "join_ref"?}` objects.
    V1,
    /// `[join_ref, ref, topic, event, payload]` arrays.
    V2,
}

impl Vsn {
    /// Absent or `1.x` → V1, `2.x` → V2, anything else → `None` (the upgrade is refused with 403).
    pub fn negotiate(vsn: Option<&str>) -> Option<Self> {
        let Some(vsn) = vsn else {
            return Some(Self::V1);
        };
        let major = vsn.split('.').next().unwrap_or_default();
        match major {
            "1" => Some(Self::V1),
            "2" => Some(Self::V2),
            _ => None,
        }
    }
}

/// A frame from the client.
#[derive(Clone, Debug, PartialEq)]
pub struct Inbound {
    pub join_ref: Value,
    pub r#ref: Value,
    pub topic: String,
    pub event: String,
    pub payload: Value,
}

/// Why a client frame was not understood. The frame is logged and ignored; the socket stays.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("a V1 frame must be a JSON object")]
    NotAnObject,
    #[error("a V2 frame must be an array of 5 elements")]
    NotAFiveArray,
    #[error("`{0}` must be a string")]
    NotAString(&'static str),
    #[error("`{0}` must be a string, a number or null")]
    BadRef(&'static str),
}

/// Reads one text frame in the socket's serializer.
pub fn decode(vsn: Vsn, text: &str) -> Result<Inbound, DecodeError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| DecodeError::NotJson(e.to_string()))?;
    match vsn {
        Vsn::V1 => {
            let Value::Object(mut map) = value else {
                return Err(DecodeError::NotAnObject);
            };
            let mut take = |key: &str| map.remove(key).unwrap_or(Value::Null);
            let join_ref = check_ref(take("join_ref"), "join_ref")?;
            let r#ref = check_ref(take("ref"), "ref")?;
            let topic = string(take("topic"), "topic")?;
            let event = string(take("event"), "event")?;
            let payload = take("payload");
            Ok(Inbound {
                join_ref,
                r#ref,
                topic,
                event,
                payload,
            })
        }
        Vsn::V2 => {
            let Value::Array(items) = value else {
                return Err(DecodeError::NotAFiveArray);
            };
            let Ok([join_ref, r#ref, topic, event, payload]) = <[Value; 5]>::try_from(items) else {
                return Err(DecodeError::NotAFiveArray);
            };
            Ok(Inbound {
                join_ref: check_ref(join_ref, "join_ref")?,
                r#ref: check_ref(r#ref, "ref")?,
                topic: string(topic, "topic")?,
                event: string(event, "event")?,
                payload,
            })
        }
    }
}

fn check_ref(value: Value, name: &'static str) -> Result<Value, DecodeError> {
    match value {
        Value::Null | Value::String(_) | Value::Number(_) => Ok(value),
        _ => Err(DecodeError::BadRef(name)),
    }
}

fn string(value: Value, name: &'static str) -> Result<String, DecodeError> {
    match value {
        Value::String(s) => Ok(s),
        _ => Err(DecodeError::NotAString(name)),
    }
}

/// Encodes a frame whose payload is already JSON text. `join_ref` is left out of V1 frames, as
/// Phoenix's V1 serializer does.
pub fn encode_raw(
    vsn: Vsn,
    join_ref: &Value,
    r#ref: &Value,
    topic: &str,
    event: &str,
    payload: &[u8],
) -> String {
    // Writing a Value or a str into JSON cannot fail.
    let text = |v: &Value| v.to_string();
    let topic = Value::from(topic).to_string();
    let event = Value::from(event).to_string();
    let payload = String::from_utf8_lossy(payload);
    match vsn {
        Vsn::V1 => format!(
            "{{\"topic\":{topic},\"event\":{event},\"payload\":{payload},\"ref\":{}}}",
            text(r#ref)
        ),
        Vsn::V2 => format!(
            "[{},{},{topic},{event},{payload}]",
            text(join_ref),
            text(r#ref)
        ),
    }
}

/// Encodes a frame with a payload value.
pub fn encode(
    vsn: Vsn,
    join_ref: &Value,
    r#ref: &Value,
    topic: &str,
    event: &str,
    payload: &Value,
) -> String {
    encode_raw(
        vsn,
        join_ref,
        r#ref,
        topic,
        event,
        payload.to_string().as_bytes(),
    )
}

/// `phx_reply` with `{"status": "ok", "response": response}` to the frame `to`.
pub fn reply_ok(vsn: Vsn, to: &Inbound, response: Value) -> String {
    reply(vsn, to, "ok", response)
}

/// `phx_reply` with `{"status": "error", "response": {"reason": reason}}` to the frame `to`.
pub fn reply_error(vsn: Vsn, to: &Inbound, reason: &str) -> String {
    reply(vsn, to, "error", json!({ "reason": reason }))
}

fn reply(vsn: Vsn, to: &Inbound, status: &str, response: Value) -> String {
    let payload = json!({"status": status, "response": response});
    encode(
        vsn,
        &to.join_ref,
        &to.r#ref,
        &to.topic,
        "phx_reply",
        &payload,
    )
}

/// A server push: `ref` is null; `join_ref` is the channel's.
pub fn push_raw(vsn: Vsn, join_ref: &Value, topic: &str, event: &str, payload: &[u8]) -> String {
    encode_raw(vsn, join_ref, &Value::Null, topic, event, payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vsn_absent_or_1_is_v1_2_is_v2_and_anything_else_is_refused() {
        assert_eq!(Vsn::negotiate(None), Some(Vsn::V1));
        assert_eq!(Vsn::negotiate(Some("1.0.0")), Some(Vsn::V1));
        assert_eq!(Vsn::negotiate(Some("2.0.0")), Some(Vsn::V2));
        assert_eq!(Vsn::negotiate(Some("2")), Some(Vsn::V2));
        for bad in ["3.0.0", "", "x", "12.0", "v2"] {
            assert_eq!(Vsn::negotiate(Some(bad)), None, "{bad:?}");
        }
    }

    #[test]
    fn a_v2_frame_decodes_with_its_refs_kept_as_sent() {
        let f = decode(
            Vsn::V2,
            r#"[1,1,"killmails:lobby","phx_join",{"systems":[30000142]}]"#,
        )
        .expect("decodes");
        assert_eq!((f.join_ref, f.r#ref), (json!(1), json!(1)));
        assert_eq!(
            (f.topic.as_str(), f.event.as_str()),
            ("killmails:lobby", "phx_join")
        );
        assert_eq!(f.payload, json!({"systems": [30000142]}));
        let f = decode(Vsn::V2, r#"["3","7","phoenix","heartbeat",{}]"#).expect("decodes");
        assert_eq!((f.join_ref, f.r#ref), (json!("3"), json!("7")));
    }

    #[test]
    fn a_v1_frame_without_join_ref_decodes_with_a_null_join_ref() {
        let f = decode(
            Vsn::V1,
            r#"{"event":"heartbeat","payload":{},"ref":"heartbeat_1760000030000","topic":"phoenix"}"#,
        )
        .expect("decodes");
        assert_eq!(f.join_ref, Value::Null);
        assert_eq!(f.r#ref, json!("heartbeat_1760000030000"));
        assert_eq!(f.event, "heartbeat");
    }

    #[test]
    fn malformed_frames_are_errors_not_panics() {
        let cases = [
            (Vsn::V2, "not json", "NotJson"),
            (Vsn::V2, r#"{"topic":"x"}"#, "NotAFiveArray"),
            (Vsn::V2, r#"[1,1,"t","e"]"#, "NotAFiveArray"),
            (Vsn::V2, r#"[1,1,"t","e",{},6]"#, "NotAFiveArray"),
            (Vsn::V2, r#"[1,1,5,"e",{}]"#, "NotAString"),
            (Vsn::V2, r#"[[1],1,"t","e",{}]"#, "BadRef"),
            (Vsn::V1, r#"[1,1,"t","e",{}]"#, "NotAnObject"),
            (Vsn::V1, r#""text""#, "NotAnObject"),
            (Vsn::V1, r#"{"topic":"t","payload":{}}"#, "NotAString"),
            (
                Vsn::V1,
                r#"{"topic":"t","event":"e","ref":{"a":1}}"#,
                "BadRef",
            ),
            (Vsn::V1, "", "NotJson"),
        ];
        for (vsn, text, kind) in cases {
            let err = decode(vsn, text).expect_err(text);
            assert!(format!("{err:?}").starts_with(kind), "{text}: {err:?}");
        }
    }

    #[test]
    fn replies_echo_refs_verbatim_in_each_serializer() {
        let v2 =
            decode(Vsn::V2, r#"[1,2,"killmails:lobby","subscribe_systems",{}]"#).expect("decodes");
        let out: Value =
            serde_json::from_str(&reply_ok(Vsn::V2, &v2, json!({"a": 1}))).expect("json");
        assert_eq!(
            out,
            json!([1, 2, "killmails:lobby", "phx_reply", {"status": "ok", "response": {"a": 1}}])
        );

        let v1 = decode(
            Vsn::V1,
            r#"{"topic":"nope","event":"phx_join","payload":{},"ref":"join_1_2"}"#,
        )
        .expect("decodes");
        let out: Value =
            serde_json::from_str(&reply_error(Vsn::V1, &v1, "unmatched topic")).expect("json");
        assert_eq!(
            out,
            json!({"topic": "nope", "event": "phx_reply", "ref": "join_1_2",
                   "payload": {"status": "error", "response": {"reason": "unmatched topic"}}})
        );
        let null_ref = decode(Vsn::V2, r#"[null,null,"phoenix","heartbeat",{}]"#).expect("ok");
        let out: Value = serde_json::from_str(&reply_ok(Vsn::V2, &null_ref, json!({}))).expect("j");
        assert_eq!(out[0], Value::Null);
        assert_eq!(out[1], Value::Null);
    }

    #[test]
    fn pushes_carry_the_channel_join_ref_a_null_ref_and_the_raw_payload() {
        let payload = br#"{"system_id":30000142,"killmails":[{"killmail_id":1}]}"#;
        let v2: Value = serde_json::from_str(&push_raw(
            Vsn::V2,
            &json!(1),
            "killmails:lobby",
            "killmail_update",
            payload,
        ))
        .expect("json");
        assert_eq!(v2[0], 1);
        assert_eq!(v2[1], Value::Null);
        assert_eq!(v2[4]["killmails"][0]["killmail_id"], 1);
        let v1: Value = serde_json::from_str(&push_raw(
            Vsn::V1,
            &Value::Null,
            "killmails:lobby",
            "killmail_update",
            payload,
        ))
        .expect("json");
        assert_eq!(v1["ref"], Value::Null);
        assert_eq!(v1["event"], "killmail_update");
        assert!(
            v1.get("join_ref").is_none(),
            "V1 server frames carry no join_ref"
        );
    }

    #[test]
    fn topics_and_events_are_escaped() {
        let out = push_raw(Vsn::V1, &Value::Null, "a\"b", "e\\v", b"{}");
        let v: Value = serde_json::from_str(&out).expect("valid JSON");
        assert_eq!(
            (v["topic"].as_str(), v["event"].as_str()),
            (Some("a\"b"), Some("e\\v"))
        );
    }
}
