//! Every figure of the engine read at one moment: the one source of the periodic status report,
//! `/status`, `/metrics` and the subscription stats, so the four can never disagree or forget a
//! figure one of them shows.

use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use serde::Serialize;

use crate::registry::{GetStats, Registry, RegistryStats};
use crate::stats::{HistogramSnapshot, Stats};

/// The engine's figures at one moment.
#[derive(Clone, Debug, Serialize)]
pub struct Snapshot {
    pub uptime_seconds: u64,
    /// Resident memory of the process in MiB (0 where the platform does not say).
    pub memory_mb: f64,
    pub feed: FeedFigures,
    pub kills: KillFigures,
    pub esi: EsiFigures,
    pub store: StoreFigures,
    pub webhooks: WebhookFigures,
    /// Subscribers by channel, index sizes, pushes.
    pub routing: RegistryStats,
    pub pipeline_seconds: HistogramSnapshot,
    pub delivery_seconds: DeliveryFigures,
}

#[derive(Clone, Debug, Serialize)]
pub struct FeedFigures {
    pub source: &'static str,
    pub objects: u64,
    pub placeholders: u64,
    pub skipped_sequences: u64,
    pub malformed: u64,
    pub errors: u64,
    pub cursor: i64,
    pub head: i64,
    pub lag_seconds: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct KillFigures {
    pub received: u64,
    pub stored: u64,
    pub updated: u64,
    pub duplicate: u64,
    pub too_old: u64,
    pub invalid: u64,
    pub enriched_late: u64,
    /// Kills waiting for ESI, and kills the full retry queue refused.
    pub retry_queue: i64,
    pub retry_dropped: u64,
    pub backfills: u64,
    pub backfill_errors: u64,
    pub mean_pipeline_ms: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct EsiFigures {
    pub requests: u64,
    pub errors: u64,
    pub error_budget: i64,
    pub tokens_remaining: i64,
    pub pauses: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub cache_hit_rate: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct StoreFigures {
    pub held: i64,
    pub expired: u64,
    pub write_errors: u64,
    /// Kills not stored because the store did not answer.
    pub unavailable: u64,
    /// Kills the disk refused that wait to be written again.
    pub waiting_for_disk: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct WebhookFigures {
    pub delivered: u64,
    pub kills_delivered: u64,
    pub retries: u64,
    pub failed: u64,
    pub dropped: u64,
    pub queued: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct DeliveryFigures {
    pub websocket: HistogramSnapshot,
    pub sse: HistogramSnapshot,
    pub webhook: HistogramSnapshot,
}

impl Snapshot {
    /// Reads every counter now, with the registry's figures as it just gave them.
    pub fn read(s: &Stats, feed_source: &'static str, routing: RegistryStats) -> Self {
        Self {
            uptime_seconds: s.uptime_seconds(),
            memory_mb: resident_memory_mb(),
            feed: FeedFigures {
                source: feed_source,
                objects: s.feed_objects.get(),
                placeholders: s.feed_placeholders.get(),
                skipped_sequences: s.feed_skipped_sequences.get(),
                malformed: s.feed_malformed.get(),
                errors: s.feed_errors.get(),
                cursor: s.feed_cursor.get(),
                head: s.feed_head.get(),
                lag_seconds: s.feed_lag_seconds.get(),
            },
            kills: KillFigures {
                received: s.kills_received.get(),
                stored: s.kills_stored.get(),
                updated: s.kills_updated.get(),
                duplicate: s.kills_duplicate.get(),
                too_old: s.kills_too_old.get(),
                invalid: s.kills_invalid.get(),
                enriched_late: s.kills_enriched_late.get(),
                retry_queue: s.retry_queue.get(),
                retry_dropped: s.retry_dropped.get(),
                backfills: s.backfills.get(),
                backfill_errors: s.backfill_errors.get(),
                mean_pipeline_ms: s.pipeline_ms_mean(),
            },
            esi: EsiFigures {
                requests: s.esi_requests.get(),
                errors: s.esi_errors.get(),
                error_budget: s.esi_error_budget.get(),
                tokens_remaining: s.esi_tokens_remaining.get(),
                pauses: s.esi_pauses.get(),
                cache_hits: s.cache_hits.get(),
                cache_misses: s.cache_misses.get(),
                cache_hit_rate: s.cache_hit_rate(),
            },
            store: StoreFigures {
                held: s.kills_held.get(),
                expired: s.kills_expired.get(),
                write_errors: s.store_write_errors.get(),
                unavailable: s.kills_store_failed.get(),
                waiting_for_disk: s.store_unsaved.get(),
            },
            webhooks: WebhookFigures {
                delivered: s.webhook_delivered.get(),
                kills_delivered: s.webhook_kills_delivered.get(),
                retries: s.webhook_retries.get(),
                failed: s.webhook_failed.get(),
                dropped: s.webhook_dropped.get(),
                queued: s.webhook_queued.get(),
            },
            routing,
            pipeline_seconds: s.pipeline_seconds.snapshot(),
            delivery_seconds: DeliveryFigures {
                websocket: s.delivery_websocket_seconds.snapshot(),
                sse: s.delivery_sse_seconds.snapshot(),
                webhook: s.delivery_webhook_seconds.snapshot(),
            },
        }
    }

    /// Live subscribers on every channel.
    pub fn subscribers(&self) -> usize {
        let r = &self.routing;
        r.websocket_subscribers + r.sse_subscribers + r.webhook_subscribers
    }

    /// The one-line status report the engine logs periodically (`key=value` pairs).
    pub fn report_line(&self, every_s: u64) -> String {
        let (r, k) = (&self.routing, &self.kills);
        format!(
            "status every_s={every_s} uptime_s={} websocket_subscribers={} sse_subscribers={} webhooks={} kills_pushed={} pushes_dropped={} feed_cursor={} feed_lag_s={} kills_received={} stored={} duplicates={} invalid={} held={} retry_queue={} esi_requests={} esi_errors={} cache_hit_rate={:.3} webhook_delivered={} webhook_failed={} store_write_errors={}",
            self.uptime_seconds,
            r.websocket_subscribers,
            r.sse_subscribers,
            r.webhook_subscribers,
            r.pushed,
            r.dropped_full,
            self.feed.cursor,
            self.feed.lag_seconds,
            k.received,
            k.stored,
            k.duplicate,
            k.invalid,
            self.store.held,
            k.retry_queue,
            self.esi.requests,
            self.esi.errors,
            self.esi.cache_hit_rate,
            self.webhooks.delivered,
            self.webhooks.failed,
            self.store.write_errors,
        )
    }
}

/// Logs the status report every `every`, until the registry stops.
pub fn report_every(
    every: Duration,
    stats: Arc<Stats>,
    feed_source: &'static str,
    registry: Addr<Registry>,
) {
    actix::spawn(async move {
        let mut tick = actix::clock::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Ok(routing) = registry.send(GetStats).await else {
                break;
            };
            let snapshot = Snapshot::read(&stats, feed_source, routing);
            log::info!("{}", snapshot.report_line(every.as_secs()));
        }
    });
}

/// Resident memory of this process in MiB, from `/proc/self/statm` (0 where there is none).
fn resident_memory_mb() -> f64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0);
    // Linux pages are 4 KiB on the platforms the image targets.
    (pages * 4096) as f64 / (1024.0 * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_line_carries_the_counters_as_they_were_read() {
        let stats = Stats::default();
        stats.kills_received.add(7);
        stats.kills_stored.add(5);
        stats.store_write_errors.incr();
        let routing = RegistryStats {
            websocket_subscribers: 3,
            ..RegistryStats::default()
        };

        let snapshot = Snapshot::read(&stats, "r2z2", routing);
        let line = snapshot.report_line(300);

        for pair in [
            "every_s=300",
            "websocket_subscribers=3",
            "kills_received=7",
            "stored=5",
            "store_write_errors=1",
        ] {
            assert!(line.contains(pair), "{pair} in {line}");
        }
        assert_eq!(snapshot.subscribers(), 3);
    }
}
