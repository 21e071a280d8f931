//! Cluster mode's RedisQ-relay queues: each queue's cursor lives in a book every instance shares
//! (a KV bucket), so a reader whose polls a load balancer spreads over the instances still gets
//! each kill once, in order. A poll reads the queue's record, finds the next kill, and saves the
//! moved cursor only if nobody moved it meanwhile (compare-and-set); when somebody did, it reads
//! again, so two polls of one queue on two instances never hand out the same kill.

use std::sync::Arc;

use super::book::QueueBook;
use super::queues::{Poll, PollError, Queues};
use crate::model::{KillTime, RelayQueue, StoredKill};

impl Queues {
    /// [`Queues::poll`] with the cursor in the shared book.
    /// The queue is claimed by the caller; answers by `deadline`.
    pub(super) async fn poll_shared(
        &self,
        book: &Arc<dyn QueueBook>,
        poll: &Poll,
        deadline: tokio::time::Instant,
        mut settled: tokio::sync::watch::Receiver<u64>,
    ) -> Result<Option<Arc<StoredKill>>, PollError> {
        loop {
            let head = *settled.borrow_and_update();
            let now = KillTime::now().unix();
            let (mut record, revision) = match book.load(&poll.queue).await? {
                Some((record, revision)) if !expired(&record, now) => (record, Some(revision)),
                _ => (self.fresh(&poll.queue, now), None),
            };
            record.last_poll = now;
            if let Some(ttl) = poll.ttl_secs {
                record.ttl_secs = ttl;
            }
            let next = self
                .store
                .first_after(Arc::clone(&poll.filter), record.cursor, head)
                .await?;
            record.cursor = next.as_ref().map_or(record.cursor.max(head), |k| k.offset);
            if !book.save(&record, revision).await? {
                continue;
            }
            if next.is_some() {
                return Ok(next);
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, settled.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) | Err(_) => return Ok(None),
            }
        }
    }

    /// A new queue, starting at the settled head ("now").
    fn fresh(&self, id: &str, now: i64) -> RelayQueue {
        RelayQueue {
            id: id.to_owned(),
            cursor: self.store.settled(),
            last_poll: now,
            ttl_secs: self.settings.queue_ttl_s,
        }
    }
}

fn expired(queue: &RelayQueue, now: i64) -> bool {
    queue.last_poll.saturating_add(queue.ttl_secs as i64) < now
}

impl From<String> for PollError {
    fn from(why: String) -> Self {
        PollError::Shared(why)
    }
}
