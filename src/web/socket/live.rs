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

use super::frames::LivePayloads;
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

pub struct Live {
    pub outlet: Outlet,
    /// `None` while the channel is not joined: live kills are not for this connection.
    pub target: RefCell<Option<Target>>,
    /// Every kill sent on this connection lately, live or history: none is sent twice.
    pub sent: RefCell<SeenKills>,
    /// The session has history to send first.
    pub behind: Cell<bool>,
    /// Live kills that came while the session was behind, oldest first.
    pub deferred: RefCell<VecDeque<Arc<StoredKill>>>,
    /// The last push to the client; the quiet keepalive counts from it.
    pub last_push: Cell<Instant>,
    pub stats: Arc<Stats>,
    /// Bytes of frames the client may leave unread before it is cut.
    pub max_queued_bytes: u64,
    /// Live kills that may wait behind history before the client is cut.
    pub max_deferred: usize,
    /// The client's name: connect params, else the join payload's `client_identifier`.
    pub client: RefCell<String>,
    /// The connection was cut: nothing more is queued for it.
    pub gone: Cell<bool>,
}

impl Live {
    pub fn new(
        outlet: Outlet,
        stats: Arc<Stats>,
        max_queued_bytes: u64,
        max_deferred: usize,
        client: String,
    ) -> Self {
        Self {
            outlet,
            target: RefCell::new(None),
            sent: RefCell::new(SeenKills::default()),
            behind: Cell::new(false),
            deferred: RefCell::new(VecDeque::new()),
            last_push: Cell::new(Instant::now()),
            stats,
            max_queued_bytes,
            max_deferred,
            client: RefCell::new(client),
            gone: Cell::new(false),
        }
    }

    /// Sends a live kill's frames (`killmail_update` once per kill, `kill_count_update` when its
    /// system is followed by id), or queues the kill behind the session's history.
    pub fn deliver(&self, kill: &Arc<StoredKill>, system_count: usize) {
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
            // Its count update is left out: the next one is absolute.
            deferred.push_back(Arc::clone(kill));
            return;
        }
        let first_time = self.sent.borrow_mut().first_time(kill.facts.killmail_id);
        let followed = target.systems.contains(&kill.facts.system_id);
        if !first_time && !followed {
            return;
        }
        let payloads = LivePayloads::of(kill, system_count);
        let encoded = payloads.frames(target.vsn, &target.join_ref, &target.join_key);
        // Both frames in one push, so one write to the socket; an empty frame is no frame.
        let nothing = Bytes::new();
        let frames = [
            if first_time {
                &encoded.update
            } else {
                &nothing
            },
            if followed { &encoded.count } else { &nothing },
        ];
        if self.outlet.queued() >= self.max_queued_bytes {
            self.cut("too slow to keep up with kills");
            return;
        }
        self.outlet.push_all(&frames);
        if first_time {
            self.last_push.set(Instant::now());
            self.stats
                .delivery_websocket_seconds
                .observe(kill.stored_at.elapsed());
        }
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

#[cfg(test)]
mod tests {
    use ::actors::model::{KillTime, Killmail, KillmailId};
    use actix_codec::Decoder;
    use actix_web::web::BytesMut;
    use awc::ws::{Codec, Frame};
    use serde_json::json;

    use super::*;
    use crate::web::socket::metered::Drain;
    use crate::web::socket::outlet::Runner;

    const JITA: u64 = 30000142;

    fn kill(id: u64) -> Arc<StoredKill> {
        let killmail = Killmail::bare(
            KillmailId::new(id).expect("non-zero"),
            KillTime::now(),
            SystemId::new(JITA).expect("non-zero"),
        );
        Arc::new(StoredKill::new(id, &killmail))
    }

    /// A connection joined to Jita with V2 frames, allowed `max_queued_bytes`.
    fn joined(max_queued_bytes: u64) -> Live {
        let live = Live::new(
            Outlet::new(Drain::default()),
            Arc::default(),
            max_queued_bytes,
            4,
            "test".into(),
        );
        *live.target.borrow_mut() = Some(Target {
            vsn: Vsn::V2,
            join_ref: json!("7"),
            join_key: "\"7\"".into(),
            systems: SystemId::new(JITA).into_iter().collect(),
        });
        live
    }

    /// What the writer would take now: each frame's event and kill ids.
    async fn written(live: &Live) -> Vec<(String, Vec<u64>)> {
        let mut session = Runner::new(Box::pin(futures_util::stream::pending()));
        let mut batch = Vec::new();
        let took = session.next_batch(&live.outlet, &mut batch);
        if tokio::time::timeout(std::time::Duration::from_millis(20), took)
            .await
            .is_err()
        {
            return Vec::new();
        }
        let mut bytes = BytesMut::new();
        for frame in batch {
            bytes.extend_from_slice(&frame);
        }
        let mut codec = Codec::new().client_mode();
        let mut frames = Vec::new();
        while let Ok(Some(Frame::Text(text))) = codec.decode(&mut bytes) {
            let frame: Value = serde_json::from_slice(&text).expect("JSON frames");
            assert_eq!(frame[0], "7", "the join ref of the join");
            let ids = frame[4]["killmails"]
                .as_array()
                .map(|ks| {
                    ks.iter()
                        .filter_map(|k| k["killmail_id"].as_u64())
                        .collect()
                })
                .unwrap_or_default();
            frames.push((frame[3].as_str().unwrap_or_default().to_owned(), ids));
        }
        frames
    }

    #[actix_web::test]
    async fn live_kills_wait_behind_history_then_go_out_each_once() {
        let live = joined(1 << 20);

        live.behind.set(true);
        live.deliver(&kill(1), 1);
        assert_eq!(written(&live).await, [], "nothing overtakes the history");
        let deferred: Vec<u64> = live
            .deferred
            .borrow()
            .iter()
            .map(|k| k.facts.killmail_id.get())
            .collect();
        assert_eq!(deferred, [1], "it waits for the session, in order");

        live.behind.set(false);
        live.deliver(&kill(2), 2);
        live.deliver(&kill(2), 2);
        let frames = written(&live).await;
        let update = ("killmail_update".to_owned(), vec![2]);
        let count = ("kill_count_update".to_owned(), vec![]);
        assert_eq!(frames, [update, count.clone(), count]);
    }

    #[actix_web::test]
    async fn a_connection_that_left_its_channel_gets_no_live_kill() {
        let live = joined(1 << 20);
        *live.target.borrow_mut() = None;

        live.deliver(&kill(1), 1);

        assert_eq!(written(&live).await, []);
    }

    #[actix_web::test]
    async fn a_client_that_lets_kills_pile_up_is_cut_and_gets_nothing_more() {
        let live = joined(1);
        if let Some(target) = live.target.borrow_mut().as_mut() {
            target.systems.clear();
        }
        live.deliver(&kill(1), 1);
        assert!(!live.gone.get(), "under the limit");

        live.deliver(&kill(2), 1);
        tokio::time::timeout(
            std::time::Duration::from_secs(1),
            live.outlet.drain().cut_requested(),
        )
        .await
        .expect("the connection is cut");
        live.deliver(&kill(3), 1);

        let ids: Vec<u64> = written(&live).await.into_iter().flat_map(|f| f.1).collect();
        assert_eq!(ids, [1], "only what came before the cut");
    }
}
