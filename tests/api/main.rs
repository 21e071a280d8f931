//! Integration tests: the real application and the real binary against the project's upstream
//! simulator on loopback. One test binary; each module is one area of behaviour.

mod browser;
mod chat_webhooks;
mod cluster;
mod contract;
mod dashboard;
mod disk_full;
mod dockerfile;
mod docs;
mod durability;
mod examples;
mod filters;
mod helpers;
mod http_basics;
mod ingest;
mod longpoll;
mod metrics;
mod notifier;
mod openapi;
mod phoenix_js;
mod process;
mod protection;
mod relays;
mod simulator;
mod socket;
mod sse;
mod upstream;
mod webhooks;
