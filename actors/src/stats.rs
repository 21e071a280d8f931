//! Live counters and gauges of the ingest pipeline, shared by every engine part that moves a kill
//! and read by the status and metrics routes.
//!
//! Plain atomics rather than an actor: the feed, the enricher and every shard bump them on their
//! own threads without a message hop, and a reader reads each value at any time.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
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

/// A latency histogram in seconds with fixed buckets, Prometheus style (cumulative on export).
#[derive(Debug)]
pub struct Histogram {
    /// Counts per bucket (not cumulative); the last slot is `+Inf`.
    counts: [AtomicU64; HISTOGRAM_BOUNDS.len() + 1],
    sum_micros: AtomicU64,
}

/// Upper bounds of the buckets, in seconds: 1 ms to 10 s.
pub const HISTOGRAM_BOUNDS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_micros: AtomicU64::new(0),
        }
    }
}

/// A histogram as read at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistogramSnapshot {
    /// `(upper bound in seconds, cumulative count)`, the last bound being `+Inf` (`f64::INFINITY`).
    pub buckets: Vec<(f64, u64)>,
    pub count: u64,
    pub sum_seconds: f64,
}

impl Histogram {
    pub fn observe(&self, elapsed: std::time::Duration) {
        let seconds = elapsed.as_secs_f64();
        let slot = HISTOGRAM_BOUNDS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(HISTOGRAM_BOUNDS.len());
        self.counts[slot].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// The mean of every observation, 0 before the first.
    pub fn mean_seconds(&self) -> f64 {
        let count: u64 = self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum();
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        if count == 0 {
            0.0
        } else {
            sum / count as f64
        }
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut total = 0;
        let buckets = HISTOGRAM_BOUNDS
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(&self.counts)
            .map(|(bound, count)| {
                total += count.load(Ordering::Relaxed);
                (bound, total)
            })
            .collect();
        HistogramSnapshot {
            buckets,
            count: total,
            sum_seconds: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
        }
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
    pub esi_requests: Counter,
    pub esi_errors: Counter,
    /// ESI's error budget left in its window (`X-ESI-Error-Limit-Remain`; 0 until ESI first answers).
    pub esi_error_budget: Gauge,
    /// Tokens left in ESI's rate-limit bucket (`X-Ratelimit-Remaining`; 0 until ESI first answers).
    pub esi_tokens_remaining: Gauge,
    /// Times ESI asked us to pause (420, 429, spent budget or bucket).
    pub esi_pauses: Counter,
    pub cache_hits: Counter,
    pub cache_misses: Counter,
    /// Kills held in memory by every shard together.
    pub kills_held: Gauge,
    /// Kills dropped by retention or by the per-system bound.
    pub kills_expired: Counter,
    /// Kills the disk refused (they are still served from memory).
    pub store_write_errors: Counter,
    /// Kills the disk refused that wait to be written again (they hold the feed's cursor).
    pub store_unsaved: Gauge,
    /// Why the disk last refused a kill.
    disk_error: Mutex<Option<String>>,
    /// Kills not stored because the store did not answer (an actor stopped).
    pub kills_store_failed: Counter,
    pub backfills: Counter,
    pub backfill_errors: Counter,
    /// From a kill entering the pipeline to being stored (and routed).
    pub pipeline_seconds: Histogram,
    /// From a kill being stored to its frame being handed to each client's connection.
    pub delivery_websocket_seconds: Histogram,
    pub delivery_sse_seconds: Histogram,
    /// From a kill being stored to its webhook POST being answered 2xx.
    pub delivery_webhook_seconds: Histogram,
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
    pub fn set_disk_error(&self, error: Option<String>) {
        *self
            .disk_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = error;
    }

    /// Why the disk last refused a kill, while kills still wait for it.
    pub fn disk_error(&self) -> Option<String> {
        if self.store_unsaved.get() <= 0 {
            return None;
        }
        self.disk_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

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
        self.pipeline_seconds.mean_seconds() * 1000.0
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_histogram_counts_cumulatively_per_bucket() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(30));

        let snap = h.snapshot();

        assert_eq!(snap.count, 3);
        assert_eq!(snap.buckets[0], (0.001, 1));
        assert_eq!(snap.buckets[2], (0.005, 2));
        assert_eq!(snap.buckets.last(), Some(&(f64::INFINITY, 3)));
        assert!((snap.sum_seconds - 30.0035).abs() < 1e-6);
    }
}
