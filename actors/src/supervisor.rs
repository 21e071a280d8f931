//! Starts the engine's actors in dependency order and stops them in reverse.
//!
//! Start order: monitor first (everyone reports to it), then — as they land — storage, registry,
//! enricher, and the feed last, so no kill is ingested before the parts that store and route it
//! are up. Shutdown runs the other way: the feed stops first, storage is flushed last.
//!
//! Actors that must survive a restart of a sibling keep their state owned here, not inside a
//! child that could be restarted (the original lost every subscription index when one process
//! crashed).

use actix::prelude::*;

use crate::config::EngineSettings;
use crate::monitor::Monitor;

/// Handles to the running engine. Cheap to clone; every field is an actor address.
#[derive(Clone)]
pub struct Engine {
    pub monitor: Addr<Monitor>,
}

impl Engine {
    /// Starts every actor on the current actix system. Must be called from within a running system.
    pub fn start(settings: EngineSettings) -> Self {
        let feed_source = settings.feed.source;
        let monitor = Supervisor::start(move |_| Monitor::new(feed_source));
        log::info!(
            "engine started feed={} retention_hours={} data_dir={}",
            settings.feed.source.as_str(),
            settings.storage.retention_hours,
            settings.storage.data_dir.display()
        );
        Self { monitor }
    }
}
