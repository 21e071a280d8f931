//! An LRU whose entries also expire: the store of each kind of name.

use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use lru::LruCache;

use super::NEGATIVE_TTL;

/// One cached answer: the value, or `None` when ESI said the id does not exist.
pub struct Entry<V> {
    value: Option<V>,
    /// `None` for entries that never expire (seeded static data).
    expires: Option<Instant>,
}

/// An LRU whose entries also expire.
pub struct TtlCache<V> {
    entries: LruCache<u64, Entry<V>>,
    pub ttl: Duration,
}

/// What a lookup found.
pub enum Found<'a, V> {
    Known(&'a V),
    Unknown,
    Missing,
}

impl<V> TtlCache<V> {
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        // `max(1)` makes the capacity non-zero, so the fallback is never taken.
        let capacity = NonZeroUsize::new(capacity.max(1)).unwrap_or(NonZeroUsize::MIN);
        Self {
            entries: LruCache::new(capacity),
            ttl,
        }
    }

    pub fn get(&mut self, id: u64, now: Instant) -> Found<'_, V> {
        let live = match self.entries.peek(&id) {
            None => return Found::Missing,
            Some(e) => e.expires.is_none_or(|t| t > now),
        };
        if !live {
            self.entries.pop(&id);
            return Found::Missing;
        }
        match self.entries.get(&id).and_then(|e| e.value.as_ref()) {
            Some(v) => Found::Known(v),
            None => Found::Unknown,
        }
    }

    pub fn put(&mut self, id: u64, value: V, now: Instant) {
        let expires = Some(now + self.ttl);
        self.entries.put(
            id,
            Entry {
                value: Some(value),
                expires,
            },
        );
    }

    pub fn put_until(&mut self, id: u64, value: V, expires: Instant) {
        self.entries.put(
            id,
            Entry {
                value: Some(value),
                expires: Some(expires),
            },
        );
    }

    pub fn put_unknown(&mut self, id: u64, now: Instant) {
        self.entries.put(
            id,
            Entry {
                value: None,
                expires: Some(now + NEGATIVE_TTL),
            },
        );
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
}
