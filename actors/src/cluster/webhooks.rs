//! Cluster mode's webhooks. Subscriptions live in a KV bucket: any instance saves and deletes
//! them there, and every instance mirrors the bucket into its running endpoints. Kills reach
//! them through one durable consumer the instances share, so each kill goes to one instance,
//! which routes it to its endpoints and acknowledges it only when every endpoint is done with it
//! (delivered, or given up). An instance that dies before that leaves the kill unacknowledged,
//! and the consumer hands it to another instance.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use async_nats::jetstream::kv::{self, Operation};
use async_nats::jetstream::stream::Stream;
use async_nats::jetstream::AckKind;
use bytes::Bytes;
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;

use super::log::read_entry;
use super::status::ClusterStatus;
use crate::model::WebhookSubscription;
use crate::registry::{KillStored, Receipt, Registry};
use crate::store::shared::Entry;
use crate::store::Store;
use crate::webhooks::shared::{Mirror, WebhookBook};
use crate::webhooks::Webhooks;

/// The shared consumer's name on the kill stream.
pub const CONSUMER: &str = "webhooks";
/// How long a kill handed to an instance stays its own without a sign of progress.
const ACK_WAIT: Duration = Duration::from_secs(30);
/// How often an instance still delivering a kill says so.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// Kills handed out and not yet acknowledged, across the cluster.
const MAX_UNACKNOWLEDGED: i64 = 10_000;
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The shared book of subscriptions: a KV bucket, one record per subscription id.
pub struct KvBook(pub kv::Store);

impl WebhookBook for KvBook {
    fn save(
        &self,
        subscription: &WebhookSubscription,
    ) -> LocalBoxFuture<'static, Result<(), String>> {
        let (book, id) = (self.0.clone(), subscription.id.clone());
        let record = Bytes::from(subscription.to_record());
        Box::pin(async move {
            book.put(id, record)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }

    fn forget(&self, id: &str) {
        let (book, id) = (self.0.clone(), id.to_owned());
        actix::spawn(async move {
            if let Err(e) = book.delete(&id).await {
                log::warn!(
                    "webhook subscription not removed from the shared book id={id} error={e}"
                );
            }
        });
    }
}

/// Mirrors the book into `webhooks` for as long as the process runs.
pub async fn mirror(book: kv::Store, webhooks: Addr<Webhooks>, status: Arc<ClusterStatus>) {
    loop {
        match watch(&book, &webhooks, &status).await {
            Ok(()) => log::warn!("shared webhook book watch ended, watching again"),
            Err(e) => log::warn!("shared webhook book unreadable, trying again error={e}"),
        }
        actix::clock::sleep(RETRY_AFTER).await;
    }
}

async fn watch(
    book: &kv::Store,
    webhooks: &Addr<Webhooks>,
    status: &ClusterStatus,
) -> Result<(), async_nats::Error> {
    let held = book.status().await?.info.state.messages;
    if held == 0 {
        status.set_webhooks_loaded();
    }
    let mut changes = book.watch_all_from_revision(1).await?;
    while let Some(change) = changes.next().await {
        let change = change?;
        let mirrored = match change.operation {
            Operation::Put => match WebhookSubscription::from_record(&change.value) {
                Some(subscription) => Mirror::Saved(subscription),
                None => {
                    log::warn!(
                        "shared webhook record unreadable, skipped key={}",
                        change.key
                    );
                    continue;
                }
            },
            Operation::Delete | Operation::Purge => Mirror::Forgotten(change.key.clone()),
        };
        webhooks.do_send(mirrored);
        if change.delta == 0 {
            status.set_webhooks_loaded();
        }
    }
    Ok(())
}

/// Takes this instance's share of the kills for webhooks, for as long as the process runs.
pub async fn deliver(stream: Stream, store: Store, routes: Addr<Registry>) {
    loop {
        if let Err(e) = take_share(&stream, &store, &routes).await {
            log::warn!("shared webhook consumer stopped, trying again error={e}");
        }
        actix::clock::sleep(RETRY_AFTER).await;
    }
}

async fn take_share(
    stream: &Stream,
    store: &Store,
    routes: &Addr<Registry>,
) -> Result<(), async_nats::Error> {
    let consumer = stream
        .get_or_create_consumer(
            CONSUMER,
            pull::Config {
                durable_name: Some(CONSUMER.into()),
                deliver_policy: DeliverPolicy::New,
                ack_policy: AckPolicy::Explicit,
                ack_wait: ACK_WAIT,
                max_ack_pending: MAX_UNACKNOWLEDGED,
                ..Default::default()
            },
        )
        .await?;
    let mut messages = consumer.messages().await?;
    while let Some(message) = messages.next().await {
        let message = message?;
        let (sequence, entry) = read_entry(&message)?;
        let live = entry == Entry::Live;
        let kill = match live {
            true => taken(store, sequence, &message.payload).await,
            false => None,
        };
        let Some(kill) = kill else {
            message.ack().await?;
            continue;
        };
        let system_count = store.count(kill.facts.system_id).await.unwrap_or_default();
        let (receipt, handled) = Receipt::new();
        routes.do_send(KillStored {
            kill,
            system_count,
            receipt: Some(receipt),
        });
        actix::spawn(async move {
            let mut handled = std::pin::pin!(handled);
            loop {
                match actix::clock::timeout(PROGRESS_EVERY, &mut handled).await {
                    Ok(_) => break,
                    Err(_) => {
                        let _ = message.ack_with(AckKind::Progress).await;
                    }
                }
            }
            if let Err(e) = message.ack().await {
                log::warn!("webhook kill not acknowledged sequence={sequence} error={e}");
            }
        });
    }
    Ok(())
}

/// The kill of the live entry at `sequence`, once this instance's own reading of the log has
/// reached it: stored at that offset, or (a kill held as history, announced live when the feed
/// brought it) stored earlier under its id.
async fn taken(
    store: &Store,
    sequence: u64,
    payload: &[u8],
) -> Option<Arc<crate::model::StoredKill>> {
    let mut settled = store.watch_settled();
    settled.wait_for(|head| *head >= sequence).await.ok()?;
    if let Some(kill) = store.at_offset(sequence).await.ok().flatten() {
        return Some(kill);
    }
    let id = crate::model::KillFacts::from_json(payload)?.killmail_id;
    store.get(id).await.ok().flatten()
}
