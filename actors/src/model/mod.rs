//! The domain model: ids, the killmail in its upstream and canonical shapes, and feed objects.
//!
//! Pure data and parsing; no I/O and no actors.

pub mod facts;
pub mod feed;
pub mod filter;
pub mod ids;
pub mod killmail;
pub mod lenient;
pub mod name;
pub mod stored;
pub mod time;
pub mod webhook;
mod wire;

pub use facts::KillFacts;
pub use feed::{FeedKill, R2z2Entry, R2z2Object, RedisqPackage, RedisqResponse, SequenceFile};
pub use filter::Filter;
pub use ids::{
    AllianceId, CharacterId, CorporationId, FactionId, GroupId, IdParseError, KillmailId, SystemId,
    TypeId,
};
pub use killmail::{
    Attacker, EsiKillmail, InvalidKillmail, Item, Killmail, NestedItem, Position, Victim, Zkb,
};
pub use name::{NameKind, NameRecord};
pub use stored::{write_json_array, StoredKill};
pub use time::{now_iso, KillTime};
pub use webhook::WebhookSubscription;
