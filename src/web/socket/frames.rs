//! The payloads the lobby pushes: `killmail_update` built from the stored JSON of each kill, and
//! a live kill's two frames, encoded once per worker thread and shared by its sessions.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use ::actors::model::{now_iso, write_json_array, KillmailId, StoredKill, SystemId};
use ::actors::registry::{CaughtUp, SeenKills};
use actix_web::web::Bytes;
use awc::ws::Message;
use bytestring::ByteString;
use serde_json::{json, Value};

use super::lobby::TOPIC;
use super::outlet::encode;
use super::protocol::{self, Vsn};

/// `{"system_id", "killmails": [...], "timestamp", "preload"}` with the stored JSON of each kill,
/// plus `"offset"`: the largest store
/// offset among the kills, which a client passes back as the join's `since_offset` to resume.
pub fn killmail_update(system: SystemId, kills: &[Arc<StoredKill>], preload: bool) -> Vec<u8> {
    let mut out = format!("{{\"system_id\":{system},\"killmails\":").into_bytes();
    write_json_array(&mut out, kills);
    out.extend_from_slice(
        format!(",\"timestamp\":\"{}\",\"preload\":{preload}", now_iso()).as_bytes(),
    );
    if let Some(offset) = kills.iter().map(|k| k.offset).max() {
        out.extend_from_slice(format!(",\"offset\":{offset}").as_bytes());
    }
    out.push(b'}');
    out
}

/// One `killmail_update` of history still to send: its system, its kills (shared with the
/// store, so a waiting preload costs pointers, not copies), and whether it is a preload.
pub struct HistoryPush {
    pub system: SystemId,
    pub kills: Vec<Arc<StoredKill>>,
    pub preload: bool,
}

/// The pushes of a history read, in the order they go out: resumed kills first, one push per
/// run of the same system (`preload: false`: live kills the client missed), then one preload
/// push per system.
pub fn history_pushes(caught: CaughtUp) -> Vec<HistoryPush> {
    let mut pushes: Vec<HistoryPush> = caught
        .missed
        .chunk_by(|a, b| a.facts.system_id == b.facts.system_id)
        .map(|run| HistoryPush {
            system: run[0].facts.system_id,
            kills: run.to_vec(),
            preload: false,
        })
        .collect();
    pushes.extend(
        caught
            .batches
            .into_iter()
            .map(|(system, kills)| HistoryPush {
                system,
                kills,
                preload: true,
            }),
    );
    pushes
}

impl HistoryPush {
    /// The payload, without the kills already sent on this connection (`None` when that is all
    /// of them), and how many kills it carries.
    pub fn payload(self, sent: &mut SeenKills) -> Option<(Vec<u8>, usize)> {
        let fresh: Vec<Arc<StoredKill>> = self
            .kills
            .into_iter()
            .filter(|k| sent.first_time(k.facts.killmail_id))
            .collect();
        (!fresh.is_empty()).then(|| {
            (
                killmail_update(self.system, &fresh, self.preload),
                fresh.len(),
            )
        })
    }
}

/// `{"total_kills", "systems_processed", "errors"}`: `errors` names each part of the history
/// the store could not give.
pub fn preload_complete(total: usize, systems_processed: usize, errors: &[String]) -> Vec<u8> {
    json!({"total_kills": total, "systems_processed": systems_processed, "errors": errors})
        .to_string()
        .into_bytes()
}

/// The payloads of a live kill's two events, the same for every session, and their encoded
/// frames per serializer and join ref (most sessions of a client app share both), so a frame is
/// encoded once per worker thread, WebSocket header included, and each connection sends a
/// shared buffer.
pub struct LivePayloads {
    killmail_id: KillmailId,
    update: Vec<u8>,
    count: Vec<u8>,
    frames: RefCell<Vec<(Vsn, String, Rc<LiveFrames>)>>,
}

/// A live kill's two frames for one serializer and join ref, encoded.
pub struct LiveFrames {
    /// `killmail_update`
    pub update: Bytes,
    /// `kill_count_update`
    pub count: Bytes,
}

thread_local! {
    /// The latest live kill's payloads, built once per worker thread and shared by all the
    /// sessions on it (a kill reaches every matching session back to back).
    static LIVE: RefCell<Option<Rc<LivePayloads>>> = const { RefCell::new(None) };
}

impl LivePayloads {
    pub fn of(kill: &Arc<StoredKill>, system_count: usize) -> Rc<Self> {
        let id = kill.facts.killmail_id;
        LIVE.with_borrow_mut(|latest| match latest {
            Some(payloads) if payloads.killmail_id == id => payloads.clone(),
            _ => {
                let system = kill.facts.system_id;
                let count =
                    json!({"system_id": system, "count": system_count, "timestamp": now_iso()});
                let payloads = Rc::new(Self {
                    killmail_id: id,
                    update: killmail_update(system, std::slice::from_ref(kill), false),
                    count: count.to_string().into_bytes(),
                    frames: RefCell::new(Vec::new()),
                });
                *latest = Some(payloads.clone());
                payloads
            }
        })
    }
}

impl LivePayloads {
    /// The encoded WebSocket frames for a session speaking `vsn` joined with `join_ref`, which
    /// encodes as `join_key`.
    pub fn frames(&self, vsn: Vsn, join_ref: &Value, join_key: &str) -> Rc<LiveFrames> {
        let mut known = self.frames.borrow_mut();
        if let Some((.., frames)) = known.iter().find(|(v, j, _)| *v == vsn && **j == *join_key) {
            return Rc::clone(frames);
        }
        let frame = |name, payload| {
            let text = ByteString::from(protocol::push_raw(vsn, join_ref, TOPIC, name, payload));
            encode(Message::Text(text))
        };
        let frames = Rc::new(LiveFrames {
            update: frame("killmail_update", &self.update),
            count: frame("kill_count_update", &self.count),
        });
        // Bounded: a burst of distinct join refs on one thread only re-encodes.
        if known.len() < 64 {
            known.push((vsn, join_key.to_owned(), Rc::clone(&frames)));
        }
        frames
    }
}
