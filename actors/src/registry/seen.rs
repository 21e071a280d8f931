//! The kills one subscriber has been sent lately, so that a kill reaches it once even when it
//! comes both from history (preload, resume) and live.

use std::collections::VecDeque;

use crate::model::ids::IdSet;
use crate::model::KillmailId;

/// Kill ids a connection remembers by default: far more than can be stored while it reads its
/// history, so a live copy of a history kill is always recognised.
pub const REMEMBERED_KILLS: usize = 4_096;

/// The most recent kill ids sent to one subscriber, bounded: the oldest is forgotten first.
pub struct SeenKills {
    capacity: usize,
    order: VecDeque<KillmailId>,
    set: IdSet<KillmailId>,
}

impl Default for SeenKills {
    fn default() -> Self {
        Self::with_capacity(REMEMBERED_KILLS)
    }
}

impl SeenKills {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            order: VecDeque::new(),
            set: IdSet::default(),
        }
    }

    /// `true` when `id` was not sent yet (it is now remembered): send it.
    pub fn first_time(&mut self, id: KillmailId) -> bool {
        if !self.set.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> KillmailId {
        KillmailId::new(n).expect("a positive id")
    }

    #[test]
    fn a_kill_is_sent_once_then_recognised() {
        let mut seen = SeenKills::default();
        assert!(seen.first_time(id(1)));
        assert!(!seen.first_time(id(1)));
        assert!(seen.first_time(id(2)));
    }

    #[test]
    fn the_oldest_id_is_forgotten_past_the_capacity() {
        let mut seen = SeenKills::with_capacity(3);
        for n in 1..=4 {
            assert!(seen.first_time(id(n)));
        }
        assert_eq!(seen.len(), 3);
        assert!(seen.first_time(id(1)), "forgotten, so sent again");
        assert!(!seen.first_time(id(4)), "still remembered");
    }
}
