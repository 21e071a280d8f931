//! What a session shares with its worker's hub so that a live kill reaches the client without
//! passing through the session: where the channel is joined (serializer, join ref, systems), the
//! kills already sent, and the connection's outlet. The hub calls [`Live::deliver`] for every
//! session a kill reaches; the session keeps the rest of the channel (join, history, replies).
//!
//! While the session has history to send (or is reading it), live kills wait for it
//! ([`Live::behind`]): they queue here, in order, and the session sends them after its history.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use ::actors::model::{StoredKill, SystemId};
use ::actors::registry::SeenKills;
use ::actors::stats::Stats;
use actix_web::web::Bytes;
use serde_json::Value;

use super::frames::{Live as Event, LivePayloads};
use super::outlet::Outlet;
use super::protocol::Vsn;

/// Where the session's channel is joined: what a live kill's frames need.
pub struct Target {
    pub vsn: Vsn,
    pub join_ref: Value,
    pub join_key: Box<str>,
    /// A kill in one of these also gets a `kill_count_update`.
    pub systems: BTreeSet<SystemId>,
}

/// A live kill waiting behind the session's history, with its system's count.
pub type Deferred = (Arc<StoredKill>, usize);

pub struct Live {
    pub outlet: Outlet,
    /// `None` while the channel is not joined: live kills are not for this connection.
    pub target: RefCell<Option<Target>>,
    /// Every kill sent on this connection lately, live or history: none is sent twice.
    pub sent: RefCell<SeenKills>,
    /// The session has history to send first.
    pub behind: Cell<bool>,
    /// Live kills that came while the session was behind, oldest first.
    pub deferred: RefCell<VecDeque<Deferred>>,
    /// The last push to the client; the quiet keepalive counts from it.
    pub last_push: Cell<Instant>,
    pub stats: Arc<Stats>,
    /// Bytes of frames the client may leave unread before it is cut.
    pub max_queued_bytes: u64,
    /// Live kills that may wait behind history before the client is cut.
    pub max_deferred: usize,
    /// For the log line of a cut.
    pub client: RefCell<String>,
    /// The connection was cut: nothing more is queued for it.
    pub gone: Cell<bool>,
}

impl Live {
    /// Sends a live kill's frames (`killmail_update` once per kill, `kill_count_update` when its
    /// system is followed by id), or queues the kill behind the session's history.
    pub fn deliver(&self, kill: Arc<StoredKill>, system_count: usize) {
        let target = self.target.borrow();
        let Some(target) = target.as_ref().filter(|_| !self.gone.get()) else {
            return;
        };
        if self.behind.get() {
            let mut deferred = self.deferred.borrow_mut();
            if deferred.len() >= self.max_deferred {
                drop(deferred);
                self.cut("too slow to keep up with kills");
                return;
            }
            deferred.push_back((kill, system_count));
            return;
        }
        let payloads = LivePayloads::of(&kill, system_count);
        let frame = |event| payloads.frame(target.vsn, &target.join_ref, &target.join_key, event);
        let update = self
            .sent
            .borrow_mut()
            .first_time(kill.facts.killmail_id)
            .then(|| frame(Event::Update));
        let count = target
            .systems
            .contains(&kill.facts.system_id)
            .then(|| frame(Event::Count));
        if let Some(update) = update {
            self.last_push.set(Instant::now());
            if !self.send_live(update) {
                return;
            }
            self.stats
                .delivery_websocket_seconds
                .observe(kill.stored_at.elapsed());
        }
        if let Some(count) = count {
            self.send_live(count);
        }
    }

    /// Queues a live frame, unless the client has let too much pile up: then it is cut.
    fn send_live(&self, frame: Bytes) -> bool {
        if self.outlet.queued() >= self.max_queued_bytes {
            self.cut("too slow to keep up with kills");
            return false;
        }
        self.outlet.push(frame);
        true
    }

    /// Ends a connection that does not read: the task that owns its socket drops it, with what
    /// it had queued, and the session stops with it.
    pub fn cut(&self, why: &str) {
        log::warn!(
            "ws client not reading, connection cut client={} queued_bytes={} reason={why}",
            self.client.borrow(),
            self.outlet.queued()
        );
        self.gone.set(true);
        self.deferred.borrow_mut().clear();
        self.outlet.drain().cut();
    }
}
