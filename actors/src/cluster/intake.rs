//! Every instance reads the shared kill log, in order, into its own store, and delivers each
//! live kill to its own subscribers (WebSocket, LongPoll, SSE). An ordered consumer: no
//! acknowledgements, restarted after the last entry taken when it breaks.
//!
//! At start the log is read up to where it stood (its head then) without pushing: that is
//! history. The instance is caught up after it; only later entries are pushed.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use async_nats::jetstream::stream::Stream;
use futures_util::StreamExt;

use super::log::read_entry;
use super::status::ClusterStatus;
use crate::model::{KillmailId, StoredKill};
use crate::registry::{KillStored, Registry};
use crate::store::shared::Entry;
use crate::store::Store;

/// Pause before reading again after the consumer broke.
const REOPEN_AFTER: Duration = Duration::from_secs(1);

/// Reads the log into `store` for as long as the process runs.
pub async fn run(
    stream: Stream,
    store: Store,
    registry: Addr<Registry>,
    status: Arc<ClusterStatus>,
) {
    let mut stream = stream;
    let head = loop {
        match stream.info().await {
            Ok(info) => break info.state.last_sequence,
            Err(e) => {
                log::warn!("shared log unreadable, trying again error={e}");
                actix::clock::sleep(REOPEN_AFTER).await;
            }
        }
    };
    status.saw_head(head);
    if store.settled() >= head {
        status.set_caught_up();
    }
    log::info!("reading the shared log head={head}");
    loop {
        let start = store.settled() + 1;
        if let Err(e) = read_from(&stream, start, head, &store, &registry, &status).await {
            log::warn!(
                "shared log reading stopped, reopening after={} error={e}",
                start - 1
            );
        }
        actix::clock::sleep(REOPEN_AFTER).await;
    }
}

async fn read_from(
    stream: &Stream,
    start: u64,
    history_head: u64,
    store: &Store,
    registry: &Addr<Registry>,
    status: &ClusterStatus,
) -> Result<(), async_nats::Error> {
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: start,
            },
            ..Default::default()
        })
        .await?;
    let mut messages = consumer.messages().await?;
    while let Some(message) = messages.next().await {
        let message = message?;
        let (sequence, entry) = read_entry(&message)?;
        let taken = store.take(sequence, entry, message.payload.clone()).await;
        status.took(sequence);
        if sequence >= history_head {
            status.set_caught_up();
        }
        // Entries from before this instance started are history here, whatever they say.
        if sequence <= history_head {
            continue;
        }
        let pushed = match (taken.entry, taken.kill, taken.id) {
            (Entry::Live, Some(kill), _) => Some((kill, taken.system_count)),
            // A kill held as history until the live feed brought it (announced once).
            (Entry::Live, None, Some(id)) => late(store, id).await,
            _ => None,
        };
        if let Some((kill, system_count)) = pushed {
            registry.do_send(KillStored {
                kill,
                system_count,
                receipt: None,
            });
        }
    }
    Ok(())
}

/// A kill this instance holds, with its system's count, to push late.
async fn late(store: &Store, id: KillmailId) -> Option<(Arc<StoredKill>, usize)> {
    let kill = store.get(id).await.ok().flatten()?;
    let count = store.count(kill.facts.system_id).await.unwrap_or_default();
    Some((kill, count))
}
