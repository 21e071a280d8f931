//! The kills one subscriber has been sent lately, so that a kill reaches it once even when it
//! comes both from history (preload, resume) and live.

use crate::model::ids::fibonacci_slot;
use crate::model::KillmailId;

/// Kill ids a connection remembers by default: far more than can be stored while it reads its
/// history, so a live copy of a history kill is always recognised.
pub const REMEMBERED_KILLS: usize = 4_096;

/// The most recent kill ids sent to one subscriber, bounded: the oldest is forgotten first.
///
/// Kept compact, since every connection that gets kills holds one: the ids in a ring (8 bytes
/// each), and an open-addressing index of ring positions (4 bytes a slot, at least twice as many
/// slots as ids), grown as ids come. Full, with the default capacity: 64 KB. (A `HashSet` with a
/// `VecDeque` for the order came to about 140 KB per connection, growing towards 210 KB as
/// deleted slots piled up.)
pub struct SeenKills {
    capacity: usize,
    /// The ids, in the order they were sent; once full, `ring[oldest]` is the next forgotten.
    ring: Vec<u64>,
    oldest: usize,
    /// Linear probing; a slot holds a position in `ring` plus one, 0 when empty.
    slots: Vec<u32>,
}

impl Default for SeenKills {
    fn default() -> Self {
        Self::with_capacity(REMEMBERED_KILLS)
    }
}

impl SeenKills {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            // Positions are stored plus one in a `u32`.
            capacity: capacity.clamp(1, u32::MAX as usize - 1),
            ring: Vec::new(),
            oldest: 0,
            slots: Vec::new(),
        }
    }

    /// `true` when `id` was not sent yet (it is now remembered): send it.
    pub fn first_time(&mut self, id: KillmailId) -> bool {
        let id = id.get();
        if self.find(id).is_ok() {
            return false;
        }
        if self.ring.len() < self.capacity {
            self.ring.push(id);
            if self.ring.len() * 2 > self.slots.len() {
                // Growing places every id, this one included.
                self.grow();
            } else {
                self.place(self.ring.len() - 1);
            }
        } else {
            let position = self.oldest;
            self.forget(self.ring[position]);
            self.ring[position] = id;
            self.oldest = (position + 1) % self.capacity;
            self.place(position);
        }
        true
    }

    pub fn len(&self) -> usize {
        self.ring.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// Bytes held on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.ring.capacity() * std::mem::size_of::<u64>()
            + self.slots.capacity() * std::mem::size_of::<u32>()
    }

    /// Indexes the id at `position` in the ring (not indexed yet).
    fn place(&mut self, position: usize) {
        if let Err(slot) = self.find(self.ring[position]) {
            // `with_capacity` keeps positions under `u32::MAX`.
            self.slots[slot] = u32::try_from(position + 1).unwrap_or(u32::MAX);
        }
    }

    /// The slot where an id hashes to first.
    fn home(&self, id: u64) -> usize {
        fibonacci_slot(id, self.slots.len().trailing_zeros())
    }

    /// `Ok(slot)` holding `id`, or `Err(slot)`: the empty slot where it would go.
    fn find(&self, id: u64) -> Result<usize, usize> {
        if self.slots.is_empty() {
            return Err(0);
        }
        let mask = self.slots.len() - 1;
        let mut slot = self.home(id);
        loop {
            match self.slots[slot] {
                0 => return Err(slot),
                entry if self.ring[entry as usize - 1] == id => return Ok(slot),
                _ => slot = (slot + 1) & mask,
            }
        }
    }

    /// Empties the slot of `id`, shifting back the entries probed past it so that every entry
    /// stays reachable from its home slot.
    fn forget(&mut self, id: u64) {
        let Ok(mut hole) = self.find(id) else {
            return;
        };
        let mask = self.slots.len() - 1;
        let mut next = hole;
        loop {
            next = (next + 1) & mask;
            let entry = self.slots[next];
            if entry == 0 {
                break;
            }
            let home = self.home(self.ring[entry as usize - 1]);
            // The entry may fill the hole unless its home lies cyclically in (hole, next].
            let stays = if hole <= next {
                hole < home && home <= next
            } else {
                hole < home || home <= next
            };
            if !stays {
                self.slots[hole] = entry;
                hole = next;
            }
        }
        self.slots[hole] = 0;
    }

    /// Doubles the index (at least 8 slots) and places every remembered id again.
    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(8);
        self.slots = vec![0; size];
        for position in 0..self.ring.len() {
            self.place(position);
        }
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

    #[test]
    fn it_answers_as_a_set_and_a_queue_would_over_a_long_run() {
        use rand::Rng;
        use std::collections::{HashSet, VecDeque};
        let mut rng = rand::rng();
        for capacity in [1, 2, 7, 64, 500] {
            let mut seen = SeenKills::with_capacity(capacity);
            let (mut set, mut order) = (HashSet::new(), VecDeque::new());
            for step in 0..20_000 {
                // Ids from a range a few times the capacity: many repeats, many forgotten.
                let n = rng.random_range(1..=(capacity as u64 * 3 + 2));
                let expected = set.insert(n);
                if expected {
                    order.push_back(n);
                    if order.len() > capacity {
                        let old = order.pop_front().expect("over capacity");
                        set.remove(&old);
                    }
                }
                assert_eq!(
                    seen.first_time(id(n)),
                    expected,
                    "capacity {capacity}, step {step}, id {n}"
                );
                assert_eq!(seen.len(), order.len());
            }
        }
    }

    #[test]
    fn a_full_memory_of_kills_stays_within_64_kb() {
        let mut seen = SeenKills::default();
        for n in 1..=100_000 {
            seen.first_time(id(n));
        }
        assert_eq!(seen.len(), REMEMBERED_KILLS);
        assert!(
            seen.heap_bytes() <= 64 * 1024,
            "{} bytes on the heap",
            seen.heap_bytes()
        );
        assert!(!seen.first_time(id(100_000)), "the newest is remembered");
        assert!(seen.first_time(id(1)), "the oldest was forgotten");
    }
}
