//! The retry queue: a kill whose killmail must come from ESI while ESI is down waits here,
//! bounded, and is offered to ESI again every few seconds instead of being lost.

use std::time::Duration;

use super::{Enricher, Origin, Outcome, Pipeline};
use crate::model::FeedKill;
use crate::upstream::http::FetchError;

/// How often the retry queue is offered to ESI again.
pub(super) const RETRY_EVERY: Duration = Duration::from_secs(2);
/// Kills held while ESI is down; beyond this they are counted as dropped and logged.
pub const RETRY_CAPACITY: usize = 10_000;
/// A kill whose killmail ESI keeps failing on is given up after this many rounds.
const MAX_ROUNDS: u32 = 50;

impl Pipeline {
    /// Parks a kill until ESI answers again.
    pub(super) fn defer(
        &self,
        kill: FeedKill,
        origin: Origin,
        rounds: u32,
        error: &FetchError,
    ) -> Outcome {
        let id = kill.killmail_id;
        if rounds >= MAX_ROUNDS {
            log::error!("kill given up killmail_id={id} rounds={rounds} error={error}");
            self.stats.retry_dropped.incr();
            return Outcome::Dropped;
        }
        let mut queue = self.retry.borrow_mut();
        if queue.len() >= RETRY_CAPACITY {
            log::error!("retry queue full, kill dropped killmail_id={id} error={error}");
            self.stats.retry_dropped.incr();
            return Outcome::Dropped;
        }
        log::debug!("kill waits for esi killmail_id={id} error={error}");
        queue.push_back((kill, origin, rounds + 1));
        self.stats.retry_queue.set(queue.len() as i64);
        Outcome::Deferred
    }
}

/// ESI had a bad moment (down, slow, limiting us, or a garbled answer): the killmail exists and
/// asking again later will work. A 404 or 422 (wrong hash) will not.
pub(super) fn waits_for_esi(error: &FetchError) -> bool {
    error.is_transient() || matches!(error, FetchError::Malformed(_))
}

impl Enricher {
    /// Offers the retry queue to ESI again, unless ESI asked us to wait.
    pub(super) fn retry_waiting(&mut self) {
        if self.pipeline.resolver.esi_paused_until().is_some() {
            return;
        }
        let waiting: Vec<_> = self.pipeline.retry.borrow_mut().drain(..).collect();
        self.pipeline.stats.retry_queue.set(0);
        for (kill, origin, rounds) in waiting {
            let done = self.pipeline.waiting.borrow_mut().remove(&kill.killmail_id);
            self.run(kill, origin, rounds, None, done);
        }
    }
}
