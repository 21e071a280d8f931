//! Kill ids, bounded: past the capacity the oldest are forgotten first.

use std::collections::{HashSet, VecDeque};

use super::KillmailId;

/// Backfilled kill ids remembered until the live feed brings them; the oldest are forgotten.
pub const HISTORY_ONLY_CAPACITY: usize = 100_000;

/// Kill ids, bounded: past the capacity the oldest go first.
#[derive(Default)]
pub struct BoundedIds {
    order: VecDeque<KillmailId>,
    set: HashSet<KillmailId>,
}

impl BoundedIds {
    pub fn insert(&mut self, id: KillmailId) {
        if self.set.insert(id) {
            self.order.push_back(id);
        }
        while self.order.len() > HISTORY_ONLY_CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }

    /// `true` when `id` was there (it is gone now).
    pub fn remove(&mut self, id: KillmailId) -> bool {
        self.set.remove(&id)
    }
}
