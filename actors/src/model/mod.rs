//! The domain model: ids, the killmail in its upstream and canonical shapes, and feed objects.
//!
//! Pure data and parsing; no I/O and no actors.

pub mod bounded_ids;
pub mod esi_out;
pub mod facts;
pub mod feed;
pub mod filter;
pub mod ids;
pub mod killmail;
pub mod lenient;
mod long_matches;
pub mod name;
pub mod packed;
pub mod recent_runs;
pub mod relay_queue;
pub mod space;
pub mod stored;
pub mod time;
pub mod webhook;
mod wire;

pub use facts::KillFacts;
pub use feed::{FeedKill, R2z2Entry, R2z2Object, RedisqPackage, RedisqResponse, SequenceFile};
pub use filter::{Filter, FilterError, FilterLimits, Role, Rule};
pub use ids::{
    AllianceId, CharacterId, ConstellationId, CorporationId, FactionId, GroupId, IdParseError,
    KillmailId, RegionId, SystemId, TypeId,
};
pub use killmail::{
    Attacker, EsiKillmail, InvalidKillmail, Item, Killmail, NestedItem, Position, Victim, Zkb,
};
pub use long_matches::Dictionary;
pub use name::{NameKind, NameRecord};
pub use relay_queue::RelayQueue;
pub use space::{Space, SpaceSet};
pub use stored::{json_array_len, write_json_array, write_json_array_with, StoredKill};
pub use time::{now_iso, KillTime};
pub use webhook::{WebhookFormat, WebhookSubscription};
