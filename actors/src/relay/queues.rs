//! The RedisQ relay's queues: each `queueID` has its own cursor in the offset log. A new queue
//! starts at the settled head ("now"); each poll hands over the first kill after the cursor that
//! the poll's filter admits (kills it passes over are skipped for good), or waits up to `ttw`
//! for one. One poll per queue at a time. Cursors are saved, so a restart loses no queue; a
//! queue nobody polls for its `ttl` is forgotten.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::model::{Filter, KillTime, RelayQueue, StoredKill};
use crate::store::journal::Journal;
use crate::store::{Store, StoreError};

use super::book::QueueBook;

/// Bounds of the relay (`[relay]` settings).
#[derive(Clone, Copy, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelaySettings {
    /// Queues remembered at once; a new one past it is refused.
    pub max_queues: usize,
    /// A queue's lifetime while unused, when its poll does not say (`ttl`).
    pub queue_ttl_s: u64,
    /// The longest a poll is held, whatever its `ttw` asks (for proxies with short timeouts).
    #[serde(default = "default_max_wait_ms")]
    pub max_wait_ms: u64,
}

fn default_max_wait_ms() -> u64 {
    10_000
}

/// One poll.
pub struct Poll {
    pub queue: String,
    pub filter: Arc<Filter>,
    /// How long to wait for a kill (1–10 s).
    pub wait: Duration,
    /// The queue's lifetime while unused, when the poll names one.
    pub ttl_secs: Option<u64>,
}

/// Why a poll was refused.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("another poll of this queue is under way; poll one at a time")]
    Busy,
    #[error("too many queues (max: {0}); reuse your queueID")]
    TooManyQueues(usize),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Cluster mode: the shared book of queues could not be read or written.
    #[error("the shared relay queues: {0}")]
    Shared(String),
}

struct Queue {
    saved: RelayQueue,
    busy: bool,
}

/// Every queue; cheap to clone.
#[derive(Clone)]
pub struct Queues {
    queues: Arc<Mutex<HashMap<String, Queue>>>,
    pub(super) store: Store,
    journal: Journal,
    pub(super) settings: RelaySettings,
    /// Cluster mode: where the cursors live, shared by every instance.
    shared: Option<Arc<dyn QueueBook>>,
}

/// Marks the queue free again when its poll ends, however it ends.
struct Claim<'a> {
    queues: &'a Queues,
    id: &'a str,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if let Some(queue) = self.queues.lock().get_mut(self.id) {
            queue.busy = false;
        }
    }
}

impl Queues {
    /// The queues read back at boot.
    pub fn new(
        store: Store,
        journal: Journal,
        settings: RelaySettings,
        saved: Vec<RelayQueue>,
    ) -> Self {
        let queues = saved
            .into_iter()
            .map(|saved| (saved.id.clone(), Queue { saved, busy: false }))
            .collect();
        Self {
            queues: Arc::new(Mutex::new(queues)),
            store,
            journal,
            settings,
            shared: None,
        }
    }

    /// Cluster mode: cursors are kept in `book`.
    pub fn sharing(mut self, book: Arc<dyn QueueBook>) -> Self {
        self.shared = Some(book);
        self
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Queue>> {
        // Plain records: a panic elsewhere cannot leave one half-written.
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The queues held now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Marks the queue busy (creating it at the settled head) and answers its cursor.
    fn claim(&self, poll: &Poll) -> Result<u64, PollError> {
        let now = KillTime::now().unix();
        let mut queues = self.lock();
        let expired: Vec<String> = queues
            .iter()
            .filter(|(_, q)| {
                !q.busy && q.saved.last_poll.saturating_add(q.saved.ttl_secs as i64) < now
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in &expired {
            queues.remove(id);
        }
        self.journal.drop_relay_queues(expired);
        if !queues.contains_key(&poll.queue) && queues.len() >= self.settings.max_queues {
            return Err(PollError::TooManyQueues(self.settings.max_queues));
        }
        let head = self.store.settled();
        let queue = queues.entry(poll.queue.clone()).or_insert_with(|| Queue {
            saved: RelayQueue {
                id: poll.queue.clone(),
                cursor: head,
                last_poll: now,
                ttl_secs: self.settings.queue_ttl_s,
            },
            busy: false,
        });
        if queue.busy {
            return Err(PollError::Busy);
        }
        queue.busy = true;
        queue.saved.last_poll = now;
        if let Some(ttl) = poll.ttl_secs {
            queue.saved.ttl_secs = ttl;
        }
        // In cluster mode the shared book holds the cursor; this copy only marks the poll.
        if self.shared.is_none() {
            self.journal.save_relay_queue(&queue.saved);
        }
        Ok(queue.saved.cursor)
    }

    /// Moves the queue's cursor and saves it.
    fn advance(&self, id: &str, cursor: u64) {
        if let Some(queue) = self.lock().get_mut(id) {
            if queue.saved.cursor != cursor {
                queue.saved.cursor = cursor;
                self.journal.save_relay_queue(&queue.saved);
            }
        }
    }

    /// The next kill for the queue, or `None` when none came within the wait.
    pub async fn poll(&self, poll: Poll) -> Result<Option<Arc<StoredKill>>, PollError> {
        let mut cursor = self.claim(&poll)?;
        let _claim = Claim {
            queues: self,
            id: &poll.queue,
        };
        let wait = poll
            .wait
            .min(Duration::from_millis(self.settings.max_wait_ms));
        let deadline = tokio::time::Instant::now() + wait;
        let mut settled = self.store.watch_settled();
        if let Some(book) = &self.shared {
            return self.poll_shared(book, &poll, deadline, settled).await;
        }
        loop {
            let head = *settled.borrow_and_update();
            let next = self
                .store
                .first_after(Arc::clone(&poll.filter), cursor, head)
                .await?;
            if let Some(kill) = next {
                self.advance(&poll.queue, kill.offset);
                return Ok(Some(kill));
            }
            cursor = cursor.max(head);
            self.advance(&poll.queue, cursor);
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, settled.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) | Err(_) => return Ok(None),
            }
        }
    }
}
