//! Where cluster mode keeps the RedisQ-relay queues: a book every instance shares (`cluster/`
//! implements it on a KV bucket; `relay::shared` polls through it).

use futures_util::future::BoxFuture;

use crate::model::RelayQueue;

/// The shared book of relay queues.
pub trait QueueBook: Send + Sync {
    /// A queue's record and its revision, if it has one.
    fn load(&self, id: &str) -> BoxFuture<'static, Result<Option<(RelayQueue, u64)>, String>>;
    /// Saves `queue` if its record is still at `revision` (`None`: if it has none); answers
    /// `false` when someone changed it first.
    fn save(
        &self,
        queue: &RelayQueue,
        revision: Option<u64>,
    ) -> BoxFuture<'static, Result<bool, String>>;
}
