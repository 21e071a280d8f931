//! Plain clients for the upstreams: zKillboard's R2Z2 and RedisQ feeds and API, and ESI.
//!
//! No actors and no retries here: a client makes one call and says precisely what came back
//! ([`FetchError`] keeps "not yet" and "slow down" apart from "broken"). The actors that own a
//! client decide when to wait, retry or give up.

pub mod esi;
pub mod http;
pub mod r2z2;
pub mod redisq;
pub mod zkb;

pub use http::{Answer, FetchError, Http, Pacer};
