//! Connection slots for long-lived connections: a cap per client address and a cap in total,
//! a slot given back the moment its connection ends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// The caps and the open connections they count.
pub struct Slots {
    inner: Arc<Mutex<SlotCounts>>,
    max_total: usize,
    max_per_ip: usize,
}

#[derive(Default)]
struct SlotCounts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

impl Slots {
    pub fn new(max_total: usize, max_per_ip: usize) -> Self {
        Self {
            inner: Arc::default(),
            max_total,
            max_per_ip,
        }
    }

    /// The cap per client address.
    pub fn max_per_ip(&self) -> usize {
        self.max_per_ip
    }

    /// Open connections.
    pub fn open(&self) -> usize {
        self.lock().total
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SlotCounts> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot for one more connection from `ip`; `None` at either cap.
    pub fn acquire(&self, ip: IpAddr) -> Option<Slot> {
        let mut counts = self.lock();
        let of_ip = counts.per_ip.get(&ip).copied().unwrap_or(0);
        if counts.total >= self.max_total || of_ip >= self.max_per_ip {
            return None;
        }
        counts.total += 1;
        counts.per_ip.insert(ip, of_ip + 1);
        Some(Slot {
            counts: Arc::clone(&self.inner),
            ip,
        })
    }
}

/// One taken connection slot, given back on drop.
pub struct Slot {
    counts: Arc<Mutex<SlotCounts>>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.per_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_capped_per_ip_and_in_total_and_given_back_on_drop() {
        let slots = Slots::new(3, 2);
        let (a, b) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));

        let first = slots.acquire(a).expect("free");
        let _second = slots.acquire(a).expect("free");
        assert!(slots.acquire(a).is_none(), "per-IP cap");
        let _third = slots.acquire(b).expect("free");
        assert!(slots.acquire(b).is_none(), "total cap");
        drop(first);
        assert!(slots.acquire(a).is_some(), "a closed stream frees its slot");
    }
}
