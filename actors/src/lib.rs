//! The wanderer-kills engine: the killmail model, the upstream clients and the supervised actors
//! that ingest, enrich, store and route kills.
//!
//! This crate never depends on web types (actix-web): the HTTP and WebSocket layer lives in the
//! `wanderer-kills` package and talks to the engine only through actor messages.

pub mod backfill;
pub mod cluster;
pub mod config;
pub mod enricher;
pub mod feed;
pub mod model;
pub mod monitor;
pub mod registry;
pub mod relay;
pub mod snapshot;
pub mod stats;
pub mod store;
pub mod supervisor;
pub mod universe;
pub mod upstream;
pub mod webhooks;

pub use supervisor::Engine;
