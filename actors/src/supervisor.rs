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
use crate::cluster::{Cluster, ClusterError, Parts};
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
    #[error(transparent)]
    Cluster(#[from] ClusterError),
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
    /// The registry the webhook endpoints are in: the main one, except in cluster mode, where
    /// webhooks take their kills from the cluster's shared consumer instead.
    pub webhook_routes: Addr<Registry>,
    /// Cluster mode: this instance's membership.
    pub cluster: Option<Arc<Cluster>>,
}

impl Engine {
    /// Every figure of the engine, read now.
    pub async fn snapshot(&self) -> Result<Snapshot, MailboxError> {
        let mut routing = self.registry.send(GetStats).await?;
        if self.webhook_routes != self.registry {
            routing.webhook_subscribers = self
                .webhook_routes
                .send(GetStats)
                .await?
                .webhook_subscribers;
        }
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
        if let Some(cluster) = &self.cluster {
            cluster.leave().await;
        }
        self.store.flush().await;
        log::info!("engine stopped; store flushed");
    }
}

impl Engine {
    /// Starts every actor on the current arbiter. Must be called from within a running system.
    /// In cluster mode, joins the cluster first (and fails when NATS cannot be reached).
    pub async fn start(settings: EngineSettings) -> Result<Self, EngineError> {
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
        let cluster = match settings.cluster.enabled() {
            true => Some(Arc::new(
                Cluster::connect(&settings.cluster, settings.storage.retention()).await?,
            )),
            false => None,
        };
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
        if cluster.is_some() {
            // The shared log is the source of truth: kills and webhooks come from it.
            loaded.kills.clear();
            loaded.dictionary = None;
            loaded.last_offset = 0;
            loaded.webhooks.clear();
            loaded.pending.clear();
        }
        let restored = loaded.kills.len();
        let store = Store::start(
            &settings.storage,
            Arc::clone(&stats),
            journal.clone(),
            loaded.kills,
            loaded.dictionary,
            loaded.last_offset,
        );
        let store = match &cluster {
            Some(cluster) => store.sharing(cluster.log()),
            None => store,
        };
        let relay = Queues::new(
            store.clone(),
            journal.clone(),
            settings.relay,
            loaded.relay_queues,
        );
        let relay = match &cluster {
            Some(cluster) => relay.sharing(cluster.relay_queues()),
            None => relay,
        };
        log::info!(
            "store loaded kills={restored} last_offset={} webhooks={} ms={}",
            loaded.last_offset,
            loaded.webhooks.len(),
            started.elapsed().as_millis()
        );
        let registry = Supervisor::start(|_| Registry::default());
        // In cluster mode every instance delivers what it reads from the shared log instead.
        let delivery: Vec<Recipient<KillStored>> = match cluster {
            Some(_) => Vec::new(),
            None => vec![registry.clone().recipient()],
        };
        let webhook_routes = match cluster {
            Some(_) => Supervisor::start(|_| Registry::default()),
            None => registry.clone(),
        };

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
            webhook_routes.clone(),
            store.clone(),
            journal.clone(),
            Arc::clone(&stats),
        );
        let webhooks = match &cluster {
            Some(cluster) => webhooks.sharing(cluster.webhook_book()),
            None => webhooks,
        }
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
                also_save: cluster.as_ref().map(|c| c.cursor_saver()),
            },
            enricher.clone(),
            monitor.clone(),
            Arc::clone(&stats),
        );
        let feed = match cluster {
            Some(_) => feed.waiting_to_lead(),
            None => feed,
        }
        .start();
        if let Some(cluster) = &cluster {
            cluster.start(Parts {
                store: store.clone(),
                registry: registry.clone(),
                feed: feed.clone(),
                webhooks: webhooks.clone(),
                webhook_routes: webhook_routes.clone(),
            });
        }

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
            webhook_routes,
            cluster,
        })
    }
}
