//! wanderer-kills: a real-time EVE Online killmail service.
//!
//! The engine (feed, enrichment, storage, routing) lives in the `actors` crate; this crate holds
//! the configuration, the HTTP/WebSocket layer, and the upstream simulator used by tests and demos.

pub mod app;
pub mod config;
pub mod loadtest;
pub mod logging;
pub mod simulator;
pub mod web;

pub use app::Application;
pub use config::Settings;
