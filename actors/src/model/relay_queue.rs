//! A RedisQ-relay queue as the journal saves it: where its reader is in the offset log.

/// One queue of the RedisQ relay.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RelayQueue {
    /// The `queueID` its reader polls with.
    pub id: String,
    /// The last offset handed to (or passed over for) its reader.
    pub cursor: u64,
    /// When it was last polled (Unix seconds).
    pub last_poll: i64,
    /// Seconds it is remembered while nobody polls it.
    pub ttl_secs: u64,
}
