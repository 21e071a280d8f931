//! Starts the engine's actors in dependency order and stops them in reverse.
//!
//! Start order: monitor first (everyone reports to it), then storage, the subscription registry,
//! the enricher (it writes into the store, then hands stored kills to the registry), the backfill
//! that feeds the enricher, and the feed last, so no kill is ingested before the parts that store
//! and route it are up. Shutdown runs the other way: the feed stops first.
//!
//! Actors that must survive a restart keep their state in the actor value, which an actix
//! `Supervisor` keeps across restarts (the original lost every subscription index when one
//! process crashed).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::backfill::{Backfill, Backfiller};
use crate::config::{EngineSettings, FeedSource};
use crate::enricher::names::static_data::seeded_cache;
use crate::enricher::resolver::Resolver;
use crate::enricher::Enricher;
use crate::feed::queue_id::queue_id;
use crate::feed::{Feed, Place, StopFeed};
use crate::model::FilterLimits;
use crate::monitor::Monitor;
use crate::registry::{GetStats, KillStored, Registry};
use crate::relay::Queues;
use crate::snapshot::{report_every, Snapshot};
use crate::stats::Stats;
use crate::store::journal::{Journal, JournalError};
use crate::store::Store;
use crate::universe::Universe;
use crate::upstream::esi::EsiClient;
use crate::upstream::zkb::ZkbClient;
use crate::webhooks::{Restore, Webhooks};

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] JournalError),
}

/// Handles to the running engine. Cheap to clone; usable from any thread.
#[derive(Clone)]
pub struct Engine {
    pub monitor: Addr<Monitor>,
    pub store: Store,
    pub registry: Addr<Registry>,
    pub enricher: Addr<Enricher>,
    /// The backfill, each question bounded by the backfill deadline.
    pub backfill: Backfiller,
    pub feed: Addr<Feed>,
    pub webhooks: Addr<Webhooks>,
    pub stats: Arc<Stats>,
    pub feed_source: FeedSource,
    /// The static data: systems, constellations, regions and ship types.
    pub universe: Arc<Universe>,
    /// Bounds on the filter rules of one subscription, on every channel.
    pub filter_limits: FilterLimits,
    /// The RedisQ relay's queues.
    pub relay: Queues,
}

impl Engine {
    /// Every figure of the engine, read now.
    pub async fn snapshot(&self) -> Result<Snapshot, MailboxError> {
        let routing = self.registry.send(GetStats).await?;
        Ok(Snapshot::read(
            &self.stats,
            self.feed_source.as_str(),
            routing,
        ))
    }

    /// The engine's half of a graceful stop: no more kills from the feed, and everything
    /// written so far committed to disk.
    pub async fn stop(&self) {
        let _ = self.feed.send(StopFeed).await;
        self.store.flush().await;
        log::info!("engine stopped; store flushed");
    }
}

impl Engine {
    /// Starts every actor on the current arbiter. Must be called from within a running system.
    pub fn start(settings: EngineSettings) -> Result<Self, EngineError> {
        let data_dir = &settings.storage.data_dir;
        std::fs::create_dir_all(data_dir).map_err(|source| EngineError::DataDir {
            path: data_dir.clone(),
            source,
        })?;
        let stats = Arc::new(Stats::default());
        let feed_source = settings.feed.source;
        let monitored = Arc::clone(&stats);
        let monitor = Supervisor::start(move |_| Monitor::new(feed_source, monitored));
        let retention = i64::try_from(settings.storage.retention().as_secs()).unwrap_or(i64::MAX);
        let started = std::time::Instant::now();
        let universe = Arc::new(Universe::load(&[Path::new("priv/data"), data_dir]));
        let (journal, mut loaded) = Journal::open(data_dir, retention)?;
        let completed = loaded
            .kills
            .iter_mut()
            .map(|k| universe.complete_facts(&mut k.facts))
            .filter(|changed| *changed)
            .count();
        if completed > 0 {
            log::info!("stored kills placed from the static data kills={completed}");
        }
        let restored = loaded.kills.len();
        let store = Store::start(
            &settings.storage,
            Arc::clone(&stats),
            journal.clone(),
            loaded.kills,
            loaded.last_offset,
        );
        let relay = Queues::new(
            store.clone(),
            journal.clone(),
            settings.relay,
            loaded.relay_queues,
        );
        log::info!(
            "store loaded kills={restored} last_offset={} webhooks={} ms={}",
            loaded.last_offset,
            loaded.webhooks.len(),
            started.elapsed().as_millis()
        );
        let registry = Supervisor::start(|_| Registry::default());
        let delivery: Vec<Recipient<KillStored>> = vec![registry.clone().recipient()];

        let mut cache = seeded_cache(&settings, Arc::clone(&universe));
        let names = loaded.names.len();
        let now = std::time::Instant::now();
        for record in loaded.names {
            cache.restore(record, now);
        }
        log::info!("name cache restored names={names}");
        let resolver = Resolver::new(
            EsiClient::new(&settings.esi, &settings.upstream).with_stats(Arc::clone(&stats)),
            cache,
            Arc::clone(&stats),
        )
        .with_journal(journal.clone());
        let enricher = Enricher::new(
            resolver,
            store.clone(),
            Arc::clone(&stats),
            Duration::from_millis(settings.enrich.deadline_ms),
            settings.enrich.concurrency,
            delivery,
        )
        .start();

        let zkb = ZkbClient::new(
            &settings.zkb.base_url,
            Duration::from_millis(settings.zkb.min_interval_ms),
            &settings.upstream,
        );
        let backfill = Backfill::new(
            zkb,
            enricher.clone(),
            store.clone(),
            Arc::clone(&stats),
            Duration::from_secs(settings.cache.system_ttl_s),
        )
        .start();

        let webhooks = Webhooks::new(
            settings.webhooks.clone(),
            &settings.upstream,
            registry.clone(),
            store.clone(),
            journal.clone(),
            Arc::clone(&stats),
        )
        .start();
        webhooks.do_send(Restore {
            subscriptions: loaded.webhooks,
            pending: loaded.pending,
        });

        let queue_id = match feed_source {
            FeedSource::Redisq => queue_id(
                &settings.feed.redisq_queue_id,
                loaded.redisq_queue_id,
                data_dir,
                &journal,
            ),
            _ => String::new(),
        };
        let feed = Feed::new(
            settings.feed.clone(),
            settings.upstream.clone(),
            Place {
                queue_id,
                r2z2_after: loaded.r2z2_cursor,
                journal: journal.clone(),
            },
            enricher.clone(),
            monitor.clone(),
            Arc::clone(&stats),
        )
        .start();

        report_every(
            settings.monitor.status_report_interval(),
            Arc::clone(&stats),
            feed_source.as_str(),
            registry.clone(),
        );

        log::info!(
            "engine started feed={} retention_hours={} data_dir={}",
            feed_source.as_str(),
            settings.storage.retention_hours,
            data_dir.display()
        );
        Ok(Self {
            monitor,
            store,
            registry,
            enricher,
            backfill: Backfiller::new(
                backfill,
                Duration::from_millis(settings.zkb.backfill_deadline_ms),
            ),
            feed,
            webhooks,
            stats,
            feed_source,
            universe,
            filter_limits: settings.filters,
            relay,
        })
    }
}
