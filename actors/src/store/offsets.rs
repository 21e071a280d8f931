//! The offset log's sequence: every stored kill draws the next offset here, and an offset is
//! *settled* once the kill holding it is on disk. The settled head is the highest offset below
//! which nothing is still on its way to disk, so a reader that walks offsets up to it (the
//! relays) never passes a kill that lands later with a smaller offset.

use std::collections::BTreeSet;
use std::sync::Mutex;

use tokio::sync::watch;

pub struct Offsets {
    state: Mutex<State>,
    settled: watch::Sender<u64>,
}

struct State {
    /// The next offset to hand out.
    next: u64,
    /// Handed out, not yet on disk.
    pending: BTreeSet<u64>,
}

impl Offsets {
    /// Offsets continue after `last`, which is settled (it was read back from disk).
    pub fn new(last: u64) -> Self {
        Self {
            state: Mutex::new(State {
                next: last + 1,
                pending: BTreeSet::new(),
            }),
            settled: watch::Sender::new(last),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a counter and a set: a panic elsewhere cannot leave it half-changed.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The next offset, pending until [`Offsets::settle`].
    pub fn assign(&self) -> u64 {
        let mut state = self.state();
        let offset = state.next;
        state.next += 1;
        state.pending.insert(offset);
        offset
    }

    /// The kill holding `offset` is on disk.
    pub fn settle(&self, offset: u64) {
        let head = {
            let mut state = self.state();
            state.pending.remove(&offset);
            state
                .pending
                .first()
                .map_or(state.next - 1, |first| first - 1)
        };
        self.settled.send_if_modified(|settled| {
            let moved = head > *settled;
            if moved {
                *settled = head;
            }
            moved
        });
    }

    /// Cluster mode: the shared log's entry `offset` was taken in, in log order; nothing before
    /// it is still on its way.
    pub fn reached(&self, offset: u64) {
        {
            let mut state = self.state();
            state.next = state.next.max(offset + 1);
        }
        self.settled.send_if_modified(|settled| {
            let moved = offset > *settled;
            if moved {
                *settled = offset;
            }
            moved
        });
    }

    /// The highest offset every kill up to which is on disk (or gone for good).
    pub fn settled(&self) -> u64 {
        *self.settled.borrow()
    }

    /// Wakes when the settled head moves.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.settled.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_waits_for_an_earlier_offset_still_on_its_way_to_disk() {
        let offsets = Offsets::new(10);
        assert_eq!(offsets.settled(), 10);
        let (a, b, c) = (offsets.assign(), offsets.assign(), offsets.assign());
        assert_eq!((a, b, c), (11, 12, 13));

        offsets.settle(12);
        offsets.settle(13);
        assert_eq!(offsets.settled(), 10, "11 is not on disk yet");

        offsets.settle(11);
        assert_eq!(offsets.settled(), 13);
    }

    #[test]
    fn a_shared_log_moves_the_head_to_each_entry_taken_and_never_back() {
        let offsets = Offsets::new(0);
        offsets.reached(5);
        assert_eq!(offsets.settled(), 5);
        offsets.reached(3);
        assert_eq!(offsets.settled(), 5, "an older entry does not move it back");
        assert_eq!(
            offsets.assign(),
            6,
            "local offsets would continue after the log's"
        );
    }

    #[test]
    fn watchers_wake_when_the_head_moves() {
        let offsets = Offsets::new(0);
        let mut watch = offsets.watch();
        let n = offsets.assign();
        assert!(!watch.has_changed().unwrap_or(true));
        offsets.settle(n);
        assert!(watch.has_changed().unwrap_or(false));
        assert_eq!(*watch.borrow_and_update(), 1);
    }
}
