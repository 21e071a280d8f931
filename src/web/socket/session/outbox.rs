//! What a session sends that carries kills, bounded in bytes. The frames queue in the
//! connection until the client reads them, so the session keeps count of what it wrote and
//! what the connection drained ([`Drain`]): the difference waits in memory.
//!
//! History (preload, resume) goes out only while less than `max_queued_bytes` waits, a push at a
//! time; the rest waits as references to stored kills, not as bytes. A connection that lets
//! more than `max_queued_bytes` of live kills pile up is cut, and the watchdog (see
//! [`crate::web::socket::metered`]) cuts one that drains nothing for `stall_timeout` while
//! bytes wait: it is not reading, and what it holds is freed at once. Live kills that arrive
//! while history still waits queue behind it, keeping the order.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use ::actors::model::StoredKill;
use actix::prelude::*;
use actix_web_actors::ws;
use bytestring::ByteString;

use super::Session;
use crate::web::socket::frames::{preload_complete, HistoryPush};
use crate::web::socket::metered::Drain;

/// How often a session with waiting history looks at its connection again.
const PUMP_EVERY: Duration = Duration::from_millis(25);

/// The session's kill-carrying output.
#[derive(Default)]
pub struct Outbox {
    pub drain: Drain,
    history: VecDeque<HistoryPush>,
    /// `preload_complete` (total kills, systems, errors), sent once the history is out.
    complete: Option<(usize, usize, Vec<String>)>,
    preloaded: usize,
    pumping: bool,
}

impl Outbox {
    pub fn new(drain: Drain) -> Self {
        Self {
            drain,
            ..Self::default()
        }
    }

    /// Bytes written and not yet taken by the connection.
    pub fn queued(&self) -> u64 {
        self.drain.queued()
    }

    pub fn count(&mut self, frame_len: usize) {
        self.drain.wrote(frame_len);
    }
}

impl Session {
    /// Queues a history read; `complete` = `(systems_processed, errors)` when `preload_complete`
    /// follows it.
    pub(super) fn queue_history(
        &mut self,
        pushes: Vec<HistoryPush>,
        complete: Option<(usize, Vec<String>)>,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        self.outbox.history.extend(pushes);
        if let Some((systems, errors)) = complete {
            self.outbox.complete = Some((0, systems, errors));
            self.outbox.preloaded = 0;
        }
        self.pump(ctx);
    }

    /// Sends history while the connection drains, and `preload_complete` after it.
    pub(super) fn pump(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        let cap = self.settings.max_queued_bytes;
        while self.outbox.queued() < cap {
            let Some(push) = self.outbox.history.pop_front() else {
                break;
            };
            let preload = push.preload;
            if let Some((payload, kills)) = push.payload(&mut self.sent) {
                if preload {
                    self.outbox.preloaded += kills;
                }
                self.push(ctx, "killmail_update", &payload);
            }
        }
        if self.outbox.history.is_empty() {
            if let Some((_, systems, errors)) = self.outbox.complete.take() {
                let done = preload_complete(self.outbox.preloaded, systems, &errors);
                self.push(ctx, "preload_complete", &done);
            }
            return;
        }
        if !self.outbox.pumping {
            self.outbox.pumping = true;
            ctx.run_later(PUMP_EVERY, |this, ctx| {
                this.outbox.pumping = false;
                this.pump(ctx);
            });
        }
    }

    /// Whether live kills must wait behind history.
    pub(super) fn history_waits(&self) -> bool {
        !self.outbox.history.is_empty()
    }

    /// Queues a live kill behind waiting history (as a push of its own).
    pub(super) fn queue_live(&mut self, kill: Arc<StoredKill>) {
        self.outbox.history.push_back(HistoryPush {
            system: kill.facts.system_id,
            kills: vec![kill],
            preload: false,
        });
    }

    /// Writes a live frame, unless the client has let too much pile up: then it is cut.
    pub(super) fn send_live(&mut self, ctx: &mut ws::WebsocketContext<Self>, frame: ByteString) {
        if self.outbox.queued() >= self.settings.max_queued_bytes {
            self.cut(ctx, "too slow to keep up with kills");
            return;
        }
        self.outbox.count(frame.len());
        ctx.text(frame);
    }

    /// Ends a connection that does not read: its queued frames are dropped with it.
    fn cut(&mut self, ctx: &mut ws::WebsocketContext<Self>, why: &str) {
        log::warn!(
            "ws client not reading, connection cut client={} queued_bytes={} reason={why}",
            self.client,
            self.outbox.queued()
        );
        self.outbox.history.clear();
        self.outbox.drain.cut();
        ctx.stop();
    }
}
