//! The RedisQ relay's queue cursors in a KV bucket, one record per queue, changed only by
//! compare-and-set (see `relay::shared`). Queue ids are client text: keys are their hex bytes.

use async_nats::jetstream::kv::{self, CreateErrorKind, Operation, UpdateErrorKind};
use bytes::Bytes;
use futures_util::future::BoxFuture;

use crate::model::RelayQueue;
use crate::relay::book::QueueBook;

pub struct KvQueues(pub kv::Store);

fn key(id: &str) -> String {
    id.bytes().map(|b| format!("{b:02x}")).collect()
}

impl QueueBook for KvQueues {
    fn load(&self, id: &str) -> BoxFuture<'static, Result<Option<(RelayQueue, u64)>, String>> {
        let (book, key) = (self.0.clone(), key(id));
        Box::pin(async move {
            let entry = book.entry(key).await.map_err(|e| e.to_string())?;
            Ok(entry
                .filter(|e| e.operation == Operation::Put)
                .and_then(|e| {
                    let queue = serde_json::from_slice(&e.value).ok()?;
                    Some((queue, e.revision))
                }))
        })
    }

    fn save(
        &self,
        queue: &RelayQueue,
        revision: Option<u64>,
    ) -> BoxFuture<'static, Result<bool, String>> {
        let (book, key) = (self.0.clone(), key(&queue.id));
        // A record of strings and numbers always serializes.
        let value = Bytes::from(serde_json::to_vec(queue).unwrap_or_default());
        Box::pin(async move {
            match revision {
                None => match book.create(key, value).await {
                    Ok(_) => Ok(true),
                    Err(e) if e.kind() == CreateErrorKind::AlreadyExists => Ok(false),
                    Err(e) => Err(e.to_string()),
                },
                Some(revision) => match book.update(key, value, revision).await {
                    Ok(_) => Ok(true),
                    Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => Ok(false),
                    Err(e) => Err(e.to_string()),
                },
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn any_queue_id_becomes_a_key_nats_accepts() {
        assert_eq!(super::key("ab"), "6162");
        assert!(super::key("weird id/*>.ü")
            .chars()
            .all(|c| c.is_ascii_hexdigit()));
    }
}
