//! Kill storage: per-system shards in memory (this module), with the on-disk journal to come
//! underneath. Every stored kill carries its offset and its canonical JSON, serialized once and
//! shared by every recipient.

pub mod shard;

use bytes::Bytes;

use crate::model::Killmail;

pub use shard::{Insert, Shard, ShardLimits};

/// A kill as the store holds it.
#[derive(Debug)]
pub struct StoredKill {
    /// Position in the order the service accepted kills; resume points (`since_offset`,
    /// `Last-Event-ID`) refer to it.
    pub offset: u64,
    pub killmail: Killmail,
    /// The canonical JSON of `killmail` (SPEC §3), shared as is with every recipient.
    pub json: Bytes,
}

impl StoredKill {
    pub fn new(offset: u64, killmail: Killmail) -> Self {
        // Serializing the model cannot fail: every field is a string, number, bool, list or map
        // with string keys, and non-finite floats are filtered out when upstream JSON is read.
        let json = serde_json::to_vec(&killmail)
            .map(Bytes::from)
            .unwrap_or_default();
        Self {
            offset,
            killmail,
            json,
        }
    }
}
