//! The history a session sends (preload, resume), bounded in bytes. The frames queue in the
//! connection's outlet until the client reads them, which counts what was written and what the
//! connection drained ([`crate::web::socket::metered::Drain`]): the difference waits in memory.
//!
//! History goes out only while less than `max_queued_bytes` waits, a push at a time; the rest
//! waits as references to stored kills, not as bytes. A connection that lets more than
//! `max_queued_bytes` of live kills pile up is cut (see [`crate::web::socket::live`]), and the
//! watchdog (see [`crate::web::socket::metered`]) cuts one that drains nothing for
//! `stall_timeout` while bytes wait: it is not reading, and what it holds is freed at once. Live
//! kills that arrive while history still waits queue behind it, keeping the order.

use std::collections::VecDeque;
use std::time::Duration;

use actix::prelude::*;
use actix_web_actors::ws;

use super::Session;
use crate::web::socket::frames::{preload_complete, HistoryPush};

/// How often a session with waiting history looks at its connection again.
const PUMP_EVERY: Duration = Duration::from_millis(25);

/// The session's history still to send.
#[derive(Default)]
pub struct Outbox {
    history: VecDeque<HistoryPush>,
    /// `preload_complete` (total kills, systems, errors), sent once the history is out.
    complete: Option<(usize, usize, Vec<String>)>,
    preloaded: usize,
    pumping: bool,
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

    /// Sends history while the connection drains, and `preload_complete` after it; then live
    /// kills go straight to the client again.
    pub(super) fn pump(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        // Live kills that came meanwhile follow the history queued before them, each a push of
        // its own.
        let deferred = std::mem::take(&mut *self.live.deferred.borrow_mut());
        self.outbox
            .history
            .extend(deferred.into_iter().map(|kill| HistoryPush {
                system: kill.facts.system_id,
                kills: vec![kill],
                preload: false,
            }));
        let cap = self.settings.max_queued_bytes;
        while self.live.outlet.queued() < cap {
            let Some(push) = self.outbox.history.pop_front() else {
                break;
            };
            let preload = push.preload;
            let payload = push.payload(&mut self.live.sent.borrow_mut());
            if let Some((payload, kills)) = payload {
                if preload {
                    self.outbox.preloaded += kills;
                }
                self.push("killmail_update", &payload);
            }
        }
        if self.outbox.history.is_empty() {
            if let Some((_, systems, errors)) = self.outbox.complete.take() {
                let done = preload_complete(self.outbox.preloaded, systems, &errors);
                self.push("preload_complete", &done);
            }
            self.live.behind.set(false);
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
}
