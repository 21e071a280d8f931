//! Live counters and gauges of the ingest pipeline, shared by every engine part that moves a kill
//! and read by the status and metrics routes.
//!
//! Plain atomics rather than an actor: the feed, the enricher and every shard bump them on their
//! own threads without a message hop, and a reader reads each value at any time.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

use serde::Serialize;

/// One counter; serializes as its value. `Relaxed` everywhere: each value is independent and only ever read for reports.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Serialize for Counter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.get())
    }
}

impl Serialize for Gauge {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.get())
    }
}

impl Counter {
    pub fn incr(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down (queue length, kills held) or is set outright (cursor).
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    pub fn set(&self, value: i64) {
        self.0.store(value, Ordering::Relaxed);
    }

    pub fn add(&self, delta: i64) {
        self.0.fetch_add(delta, Ordering::Relaxed);
    }

    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// When the engine started.
#[derive(Debug)]
pub struct Started(pub Instant);

impl Default for Started {
    fn default() -> Self {
        Self(Instant::now())
    }
}

/// Everything the pipeline counts. Shared as `Arc<Stats>`.
#[derive(Debug, Default)]
pub struct Stats {
    pub started: Started,
    /// Objects or packages the feed received (kills, placeholders and updates alike).
    pub feed_objects: Counter,
    pub feed_placeholders: Counter,
    /// R2Z2 sequences given up on after being stuck while the head moved on.
    pub feed_skipped_sequences: Counter,
    /// Bodies that could not be read; logged and skipped.
    pub feed_malformed: Counter,
    /// Failed feed calls (transport errors, timeouts, 5xx, rate limits).
    pub feed_errors: Counter,
    /// The next R2Z2 sequence to read (0 before the first).
    pub feed_cursor: Gauge,
    /// The newest head `sequence.json` showed.
    pub feed_head: Gauge,
    /// Seconds between zKillboard publishing the last object and us reading it.
    pub feed_lag_seconds: Gauge,
    /// Kills handed to the pipeline, from any source.
    pub kills_received: Counter,
    pub kills_stored: Counter,
    pub kills_duplicate: Counter,
    pub kills_too_old: Counter,
    /// Invalid killmails (missing required fields, unknown to ESI); counted and skipped.
    pub kills_invalid: Counter,
    /// Stored kills whose zkb block a `sequence_updated` object refreshed.
    pub kills_updated: Counter,
    /// Kills stored at the enrichment deadline with some names still missing.
    pub kills_enriched_late: Counter,
    /// Kills waiting for ESI to come back (their killmail must come from ESI).
    pub retry_queue: Gauge,
    /// Kills refused because the retry queue was full.
    pub retry_dropped: Counter,
    /// Milliseconds from a kill entering the pipeline to being stored, summed (see `kills_stored`).
    pub pipeline_ms_total: Counter,
    pub esi_requests: Counter,
    pub esi_errors: Counter,
    pub cache_hits: Counter,
    pub cache_misses: Counter,
    /// Kills held in memory by every shard together.
    pub kills_held: Gauge,
    /// Kills dropped by retention or by the per-system bound.
    pub kills_expired: Counter,
    /// Kills the disk refused (they are still served from memory).
    pub store_write_errors: Counter,
    pub backfills: Counter,
    pub backfill_errors: Counter,
    /// Webhook POSTs answered 2xx, and the kills they carried.
    pub webhook_delivered: Counter,
    pub webhook_kills_delivered: Counter,
    /// Attempts that failed and were tried again.
    pub webhook_retries: Counter,
    /// Deliveries given up (attempts spent, or a 4xx other than 429).
    pub webhook_failed: Counter,
    /// Kills dropped because an endpoint's queue was full.
    pub webhook_dropped: Counter,
    /// Kills waiting for their endpoint.
    pub webhook_queued: Gauge,
}

impl Stats {
    pub fn uptime_seconds(&self) -> u64 {
        self.started.0.elapsed().as_secs()
    }

    /// Hits over lookups, 0..=1 (0 before the first lookup).
    pub fn cache_hit_rate(&self) -> f64 {
        let hits = self.cache_hits.get();
        ratio(hits, hits + self.cache_misses.get())
    }

    /// Mean milliseconds from entering the pipeline to stored.
    pub fn pipeline_ms_mean(&self) -> f64 {
        ratio(self.pipeline_ms_total.get(), self.kills_stored.get())
    }
}

/// `part / whole`, 0 when `whole` is 0. Counts stay far below 2^52, so the casts are exact.
fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}
