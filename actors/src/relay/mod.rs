//! Relays for clients written against zKillboard's feeds: RedisQ (`listen.php`: one kill per
//! poll from a named queue) and R2Z2 (`sequence.json`, then one object per sequence). Both read
//! the offset log, so they hand out kills in the order the service stored them, up to the
//! settled head only (never past a kill still on its way to disk), with the completed killmail
//! beside ESI's own shape.

pub mod book;
pub mod queues;
pub mod shapes;
pub mod shared;

pub use queues::{Poll, PollError, Queues, RelaySettings};
