//! Webhook delivery (SPEC §7).
//!
//! The [`Webhooks`] actor owns the webhook subscriptions. Each subscription gets its own
//! [`Endpoint`] actor, registered with the subscription registry like any other subscriber, so a
//! kill is routed to it by the same indexes as a WebSocket client. An endpoint queues the kills it
//! is given and POSTs them one delivery at a time, in order: a failing or slow endpoint only
//! delays its own queue. Kills of one system that queued up behind a slow delivery leave
//! together in one POST (`max_batch`), never adding a wait of their own.
//!
//! A delivery is retried on a network error, a timeout, a 5xx or a 429 (honouring
//! `Retry-After`), with exponential backoff and jitter, up to `max_attempts`; any other answer
//! ends it (2xx delivered, other 4xx failed). It keeps its delivery id and its exact body across
//! attempts, so a receiver can use the id to ignore a repeat, and the signature stays valid.

mod delivery;
mod endpoint;
pub mod formats;
pub mod request;
pub mod shared;
pub mod target;

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use actix::prelude::*;

use crate::config::{UpstreamSettings, WebhookSettings};
use crate::model::ids::random_token;
use crate::model::{now_iso, Filter, WebhookSubscription};
use crate::registry::{Channel, Registry, Subscribe, SubscriberKey, Unsubscribe};
use crate::stats::Stats;
use crate::store::journal::Journal;
use crate::store::Store;
use crate::upstream::http::Http;

pub use delivery::{header, USER_AGENT};
use endpoint::{Endpoint, Resume, StopEndpoint};
use request::WebhookRequest;
use shared::WebhookBook;
use target::check_url;

/// Create a subscription from a checked request and start delivering to it: the target policy
/// is applied, the id and creation time given. Answers the new subscription's id.
#[derive(Message)]
#[rtype(result = "Result<String, WebhookRefused>")]
pub struct CreateWebhook(pub WebhookRequest);

/// Why a webhook subscription was not created; the message is the caller's to read.
#[derive(Debug, thiserror::Error)]
pub enum WebhookRefused {
    /// The request is not acceptable (the target policy).
    #[error("{0}")]
    Request(String),
    /// Cluster mode: the shared book could not save it now.
    #[error("the subscription could not be saved: {0}")]
    Unsaved(String),
}

/// Remove every subscription of a subscriber; answers how many there were.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct RemoveSubscriber(pub String);

/// Subscriptions and undelivered kills read back from disk at boot.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Restore {
    pub subscriptions: Vec<WebhookSubscription>,
    /// Per subscription id, the offsets of kills not yet delivered.
    pub pending: HashMap<String, Vec<u64>>,
}

/// Every subscription, oldest first.
#[derive(Message)]
#[rtype(result = "Vec<WebhookSubscription>")]
pub struct ListWebhooks;

struct Running {
    subscription: WebhookSubscription,
    endpoint: Addr<Endpoint>,
    key: Option<SubscriberKey>,
}

pub struct Webhooks {
    settings: Rc<WebhookSettings>,
    registry: Addr<Registry>,
    store: Store,
    journal: Journal,
    stats: Arc<Stats>,
    http: Rc<Http>,
    running: HashMap<String, Running>,
    /// Cluster mode: the book every instance shares.
    book: Option<Rc<dyn WebhookBook>>,
}

impl Webhooks {
    pub fn new(
        settings: WebhookSettings,
        upstream: &UpstreamSettings,
        registry: Addr<Registry>,
        store: Store,
        journal: Journal,
        stats: Arc<Stats>,
    ) -> Self {
        Self {
            settings: Rc::new(settings),
            registry,
            store,
            journal,
            stats,
            // One connection per endpoint at a time, never waiting on another endpoint's slot.
            http: Rc::new(Http::for_webhooks(upstream)),
            running: HashMap::new(),
            book: None,
        }
    }

    /// Cluster mode: subscriptions are saved in `book`, and come back through [`shared::Mirror`].
    pub fn sharing(mut self, book: Rc<dyn WebhookBook>) -> Self {
        self.book = Some(book);
        self
    }
}

impl Actor for Webhooks {
    type Context = Context<Self>;
}

impl Webhooks {
    /// Starts delivering to `subscription` and registers it for routing.
    fn run(
        &mut self,
        subscription: WebhookSubscription,
        ctx: &mut Context<Self>,
    ) -> Addr<Endpoint> {
        let endpoint = Endpoint::new(
            &subscription,
            Rc::clone(&self.http),
            Rc::clone(&self.settings),
            self.journal.clone(),
            Arc::clone(&self.stats),
        )
        .start();
        let subscribe = Subscribe {
            key: None,
            recipient: endpoint.clone().recipient(),
            group: None,
            filter: subscription.filter.clone(),
            channel: Channel::Webhook,
            subscription_id: subscription.id.clone(),
            subscriber: subscription.subscriber_id.clone(),
            callback_url: Some(subscription.callback_url.clone()),
            format: Some(subscription.format.name()),
            created_at: Some(subscription.created_at.clone()),
        };
        let id = subscription.id.clone();
        self.running.insert(
            id.clone(),
            Running {
                subscription,
                endpoint: endpoint.clone(),
                key: None,
            },
        );
        // Waits for the key before the next message, so a removal always finds it.
        ctx.wait(
            self.registry
                .send(subscribe)
                .into_actor(self)
                .map(move |key, this, _| match (key, this.running.get_mut(&id)) {
                    (Ok(key), Some(running)) => running.key = Some(key),
                    (Err(e), _) => log::error!("webhook not registered id={id} error={e}"),
                    (Ok(_), None) => {}
                }),
        );
        endpoint
    }
}

impl Webhooks {
    /// Applies the target policy and gives the subscription its id and creation time.
    fn admit(&self, request: WebhookRequest) -> Result<WebhookSubscription, WebhookRefused> {
        if !self.settings.allow_private_targets {
            if let Err(refused) = check_url(&request.callback_url) {
                log::info!("webhook subscription refused target={refused}");
                return Err(WebhookRefused::Request(
                    "callback_url must not point to a loopback or private address".into(),
                ));
            }
        }
        Ok(WebhookSubscription {
            id: random_token(),
            subscriber_id: request.subscriber_id,
            callback_url: request.callback_url,
            secret: request.secret,
            filter: request.filter,
            format: request.format,
            created_at: now_iso(),
        })
    }

    /// Saves a new subscription here and starts delivering to it.
    fn keep(&mut self, subscription: WebhookSubscription, ctx: &mut Context<Self>) -> String {
        let id = subscription.id.clone();
        log::info!(
            "webhook subscription created id={id} subscriber={} url={}",
            subscription.subscriber_id,
            subscription.callback_url
        );
        self.journal.add_webhook(&subscription);
        self.run(subscription, ctx);
        id
    }

    /// Stops delivering to a subscription and forgets it here.
    fn stop(&mut self, id: &str) {
        if let Some(running) = self.running.remove(id) {
            self.journal.remove_webhook(id);
            if let Some(key) = running.key {
                self.registry.do_send(Unsubscribe(key));
            }
            running.endpoint.do_send(StopEndpoint);
        }
    }
}

impl Handler<CreateWebhook> for Webhooks {
    type Result = ResponseActFuture<Self, Result<String, WebhookRefused>>;

    fn handle(
        &mut self,
        CreateWebhook(request): CreateWebhook,
        ctx: &mut Context<Self>,
    ) -> Self::Result {
        let subscription = match self.admit(request) {
            Ok(subscription) => subscription,
            Err(refused) => return Box::pin(fut::ready(Err(refused))),
        };
        let Some(book) = self.book.clone() else {
            let id = self.keep(subscription, ctx);
            return Box::pin(fut::ready(Ok(id)));
        };
        let saved = book.save(&subscription);
        Box::pin(saved.into_actor(self).map(move |saved, this, ctx| {
            saved.map_err(WebhookRefused::Unsaved)?;
            if this.running.contains_key(&subscription.id) {
                return Ok(subscription.id);
            }
            Ok(this.keep(subscription, ctx))
        }))
    }
}

impl Handler<Restore> for Webhooks {
    type Result = ();

    fn handle(&mut self, restore: Restore, ctx: &mut Context<Self>) {
        let mut pending = restore.pending;
        for subscription in restore.subscriptions {
            let offsets = pending.remove(&subscription.id).unwrap_or_default();
            let endpoint = self.run(subscription, ctx);
            if offsets.is_empty() {
                continue;
            }
            // The kills still to deliver, read back from the store in their original order.
            let store = self.store.clone();
            actix::spawn(async move {
                let first = offsets.first().copied().unwrap_or(1);
                let wanted: std::collections::HashSet<u64> = offsets.iter().copied().collect();
                let since = store.retention_start();
                match store
                    .replay(Filter::everything(), first - 1, since, usize::MAX)
                    .await
                {
                    Ok(kills) => {
                        let kills: Vec<_> = kills
                            .into_iter()
                            .filter(|k| wanted.contains(&k.offset))
                            .collect();
                        log::info!("webhook deliveries resumed count={}", kills.len());
                        endpoint.do_send(Resume(kills));
                    }
                    Err(e) => log::error!("webhook deliveries not resumed error={e}"),
                }
            });
        }
    }
}

impl Handler<RemoveSubscriber> for Webhooks {
    type Result = usize;

    fn handle(
        &mut self,
        RemoveSubscriber(subscriber): RemoveSubscriber,
        _: &mut Context<Self>,
    ) -> usize {
        let ids: Vec<String> = self
            .running
            .iter()
            .filter(|(_, r)| r.subscription.subscriber_id == subscriber)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &ids {
            if let Some(book) = &self.book {
                book.forget(id);
            }
            self.stop(id);
        }
        ids.len()
    }
}

impl Handler<ListWebhooks> for Webhooks {
    type Result = MessageResult<ListWebhooks>;

    fn handle(&mut self, _: ListWebhooks, _: &mut Context<Self>) -> Self::Result {
        let mut list: Vec<WebhookSubscription> = self
            .running
            .values()
            .map(|r| r.subscription.clone())
            .collect();
        list.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        MessageResult(list)
    }
}
