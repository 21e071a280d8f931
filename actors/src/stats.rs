//! Live counters and gauges of the ingest pipeline, shared by every engine part that moves a kill
//! and read by the status and metrics routes.
//!
//! Plain atomics rather than an actor: the feed, the enricher and every shard bump them on their
//! own threads without a message hop, and a reader gets a consistent-enough snapshot at any time.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

use serde::Serialize;

/// One counter. `Relaxed` everywhere: each value is independent and only ever read for reports.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

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

/// Everything the pipeline counts. Shared as `Arc<Stats>`.
#[derive(Debug)]
pub struct Stats {
    pub started: Instant,
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
    pub backfills: Counter,
    pub backfill_errors: Counter,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            feed_objects: Counter::default(),
            feed_placeholders: Counter::default(),
            feed_skipped_sequences: Counter::default(),
            feed_malformed: Counter::default(),
            feed_errors: Counter::default(),
            feed_cursor: Gauge::default(),
            feed_head: Gauge::default(),
            feed_lag_seconds: Gauge::default(),
            kills_received: Counter::default(),
            kills_stored: Counter::default(),
            kills_duplicate: Counter::default(),
            kills_too_old: Counter::default(),
            kills_invalid: Counter::default(),
            kills_updated: Counter::default(),
            kills_enriched_late: Counter::default(),
            retry_queue: Gauge::default(),
            retry_dropped: Counter::default(),
            pipeline_ms_total: Counter::default(),
            esi_requests: Counter::default(),
            esi_errors: Counter::default(),
            cache_hits: Counter::default(),
            cache_misses: Counter::default(),
            kills_held: Gauge::default(),
            kills_expired: Counter::default(),
            backfills: Counter::default(),
            backfill_errors: Counter::default(),
        }
    }
}

/// A point-in-time copy of [`Stats`], as the status route shows it.
#[derive(Clone, Debug, Serialize)]
pub struct Snapshot {
    pub uptime_seconds: u64,
    pub feed_objects: u64,
    pub feed_placeholders: u64,
    pub feed_skipped_sequences: u64,
    pub feed_malformed: u64,
    pub feed_errors: u64,
    pub feed_cursor: i64,
    pub feed_head: i64,
    pub feed_lag_seconds: i64,
    pub kills_received: u64,
    pub kills_stored: u64,
    pub kills_duplicate: u64,
    pub kills_too_old: u64,
    pub kills_invalid: u64,
    pub kills_updated: u64,
    pub kills_enriched_late: u64,
    pub retry_queue: i64,
    pub retry_dropped: u64,
    /// Mean milliseconds from entering the pipeline to stored.
    pub pipeline_ms_mean: f64,
    pub esi_requests: u64,
    pub esi_errors: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    /// Hits over lookups, 0..=1 (0 before the first lookup).
    pub cache_hit_rate: f64,
    pub kills_held: i64,
    pub kills_expired: u64,
    pub backfills: u64,
    pub backfill_errors: u64,
}

impl Stats {
    pub fn snapshot(&self) -> Snapshot {
        let hits = self.cache_hits.get();
        let lookups = hits + self.cache_misses.get();
        let stored = self.kills_stored.get();
        Snapshot {
            uptime_seconds: self.started.elapsed().as_secs(),
            feed_objects: self.feed_objects.get(),
            feed_placeholders: self.feed_placeholders.get(),
            feed_skipped_sequences: self.feed_skipped_sequences.get(),
            feed_malformed: self.feed_malformed.get(),
            feed_errors: self.feed_errors.get(),
            feed_cursor: self.feed_cursor.get(),
            feed_head: self.feed_head.get(),
            feed_lag_seconds: self.feed_lag_seconds.get(),
            kills_received: self.kills_received.get(),
            kills_stored: stored,
            kills_duplicate: self.kills_duplicate.get(),
            kills_too_old: self.kills_too_old.get(),
            kills_invalid: self.kills_invalid.get(),
            kills_updated: self.kills_updated.get(),
            kills_enriched_late: self.kills_enriched_late.get(),
            retry_queue: self.retry_queue.get(),
            retry_dropped: self.retry_dropped.get(),
            pipeline_ms_mean: ratio(self.pipeline_ms_total.get(), stored),
            esi_requests: self.esi_requests.get(),
            esi_errors: self.esi_errors.get(),
            cache_hits: hits,
            cache_misses: self.cache_misses.get(),
            cache_hit_rate: ratio(hits, lookups),
            kills_held: self.kills_held.get(),
            kills_expired: self.kills_expired.get(),
            backfills: self.backfills.get(),
            backfill_errors: self.backfill_errors.get(),
        }
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
