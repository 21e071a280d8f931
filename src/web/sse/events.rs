//! The bytes of one event: `data: <killmail>` for the plain stream, named events with an
//! optional `id:` for the enhanced one.

use ::actors::model::StoredKill;
use actix_web::web;

/// `data: <killmail>\n\n`: an unnamed event, what a browser's `onmessage` gets; `matched`
/// names the stream's rules the kill matched.
pub fn data_event(kill: &StoredKill, matched: &[&str]) -> web::Bytes {
    let json = kill.json_matched(matched);
    let mut out = Vec::with_capacity(json.len() + 8);
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(&json);
    out.extend_from_slice(b"\n\n");
    out.into()
}

pub fn killmail_event(kill: &StoredKill, matched: &[&str]) -> web::Bytes {
    named("killmail", Some(kill.offset), &kill.json_matched(matched))
}

/// `event: <name>\n[id: <offset>\n]data: <json>\n\n` (the JSON holds no raw newline).
pub fn named(event: &str, id: Option<u64>, data: &[u8]) -> web::Bytes {
    let mut out = Vec::with_capacity(data.len() + 48);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(event.as_bytes());
    out.push(b'\n');
    if let Some(id) = id {
        out.extend_from_slice(format!("id: {id}\n").as_bytes());
    }
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\n\n");
    out.into()
}
