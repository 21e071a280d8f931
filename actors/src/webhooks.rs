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

use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use bytes::Bytes;
use rand::Rng;
use ring::hmac;

use crate::config::{UpstreamSettings, WebhookSettings};
use crate::model::ids::random_token;
use crate::model::{now_iso, write_json_array, Filter, StoredKill, WebhookSubscription};
use crate::registry::{Channel, Push, Registry, Subscribe, SubscriberKey, Unsubscribe};
use crate::stats::Stats;
use crate::store::journal::Journal;
use crate::store::Store;
use crate::upstream::http::{FetchError, Http};

/// Header names of a delivery.
pub mod header {
    /// Stable across the attempts of one delivery.
    pub const DELIVERY: &str = "x-wanderer-delivery";
    pub const EVENT: &str = "x-wanderer-event";
    /// 1 for the first attempt.
    pub const ATTEMPT: &str = "x-wanderer-attempt";
    /// `sha256=<hex HMAC-SHA256 of the body with the subscription's secret>`, when it has one.
    pub const SIGNATURE: &str = "x-wanderer-signature";
}

/// What a delivery calls itself in `User-Agent`.
pub const USER_AGENT: &str = concat!(
    "WandererKills/1.0 (wanderer-kills/",
    env!("CARGO_PKG_VERSION"),
    ")"
);

/// Add a subscription and start delivering to it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AddWebhook(pub WebhookSubscription);

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
            http: Rc::new(Http::unpooled(upstream)),
            running: HashMap::new(),
        }
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
        let endpoint = Endpoint {
            id: subscription.id.clone(),
            url: subscription.callback_url.clone(),
            signing_key: subscription
                .secret
                .as_ref()
                .map(|s| hmac::Key::new(hmac::HMAC_SHA256, s.as_bytes())),
            http: Rc::clone(&self.http),
            settings: Rc::clone(&self.settings),
            journal: self.journal.clone(),
            stats: Arc::clone(&self.stats),
            queue: VecDeque::new(),
            in_flight: None,
        }
        .start();
        let subscribe = Subscribe {
            key: None,
            recipient: endpoint.clone().recipient(),
            filter: subscription.filter.clone(),
            channel: Channel::Webhook,
            subscription_id: subscription.id.clone(),
            subscriber: subscription.subscriber_id.clone(),
            callback_url: Some(subscription.callback_url.clone()),
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

impl Handler<AddWebhook> for Webhooks {
    type Result = ();

    fn handle(&mut self, AddWebhook(subscription): AddWebhook, ctx: &mut Context<Self>) {
        self.journal.add_webhook(&subscription);
        self.run(subscription, ctx);
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
            if let Some(running) = self.running.remove(id) {
                self.journal.remove_webhook(id);
                if let Some(key) = running.key {
                    self.registry.do_send(Unsubscribe(key));
                }
                running.endpoint.do_send(StopEndpoint);
            }
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

/// Kills that were pending when the service stopped, queued ahead of new ones.
#[derive(Message)]
#[rtype(result = "()")]
struct Resume(Vec<Arc<StoredKill>>);

/// Stop delivering; what is queued is dropped (the subscription is gone).
#[derive(Message)]
#[rtype(result = "()")]
struct StopEndpoint;

/// One POST, kept across its attempts.
struct Delivery {
    offsets: Vec<u64>,
    /// When the oldest of its kills was stored.
    stored_at: std::time::Instant,
    kills: usize,
    body: Bytes,
    id: String,
    signature: Option<String>,
    attempts: u32,
}

/// Delivers to one callback URL, one delivery at a time.
pub struct Endpoint {
    /// The subscription's id (pending deliveries are saved under it).
    id: String,
    url: String,
    signing_key: Option<hmac::Key>,
    http: Rc<Http>,
    settings: Rc<WebhookSettings>,
    journal: Journal,
    stats: Arc<Stats>,
    queue: VecDeque<Arc<StoredKill>>,
    in_flight: Option<Delivery>,
}

impl Actor for Endpoint {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // The handler only queues, so the mailbox drains as fast as the registry fills it.
        ctx.set_mailbox_capacity(4096);
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        let dropped = self.queue.len() + self.in_flight.as_ref().map_or(0, |d| d.kills);
        self.stats.webhook_queued.add(-(dropped as i64));
    }
}

impl Handler<Push> for Endpoint {
    type Result = ();

    fn handle(&mut self, push: Push, ctx: &mut Context<Self>) {
        // `Close` means "too slow" to the registry; an endpoint's backlog is its own queue.
        let Push::Kill { kill, .. } = push else {
            return;
        };
        if self.queue.len() >= self.settings.max_queued {
            self.stats.webhook_dropped.incr();
            log::warn!(
                "webhook queue full, kill dropped url={} killmail_id={}",
                self.url,
                kill.facts.killmail_id
            );
            return;
        }
        self.journal.pending_add(&self.id, kill.offset);
        self.queue.push_back(kill);
        self.stats.webhook_queued.add(1);
        self.next(ctx);
    }
}

impl Handler<Resume> for Endpoint {
    type Result = ();

    fn handle(&mut self, Resume(kills): Resume, ctx: &mut Context<Self>) {
        self.stats.webhook_queued.add(kills.len() as i64);
        for kill in kills.into_iter().rev() {
            self.queue.push_front(kill);
        }
        self.next(ctx);
    }
}

impl Handler<StopEndpoint> for Endpoint {
    type Result = ();

    fn handle(&mut self, _: StopEndpoint, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Endpoint {
    /// Starts the next delivery when none is in flight.
    fn next(&mut self, ctx: &mut Context<Self>) {
        if self.in_flight.is_some() {
            return;
        }
        let Some(first) = self.queue.pop_front() else {
            return;
        };
        let system = first.facts.system_id;
        let mut kills = vec![first];
        while kills.len() < self.settings.max_batch.max(1)
            && self
                .queue
                .front()
                .is_some_and(|k| k.facts.system_id == system)
        {
            kills.extend(self.queue.pop_front());
        }
        let body = Bytes::from(payload(system.get(), &kills));
        let signature = self
            .signing_key
            .as_ref()
            .map(|key| format!("sha256={}", hex(hmac::sign(key, &body).as_ref())));
        self.in_flight = Some(Delivery {
            offsets: kills.iter().map(|k| k.offset).collect(),
            stored_at: kills[0].stored_at,
            kills: kills.len(),
            body,
            id: random_token(),
            signature,
            attempts: 0,
        });
        self.attempt(ctx);
    }

    fn attempt(&mut self, ctx: &mut Context<Self>) {
        let Some(delivery) = self.in_flight.as_mut() else {
            return;
        };
        delivery.attempts += 1;
        let http = Rc::clone(&self.http);
        let url = self.url.clone();
        let body = delivery.body.clone();
        let attempt = delivery.attempts.to_string();
        let mut headers = vec![
            ("user-agent", USER_AGENT.to_owned()),
            (header::DELIVERY, delivery.id.clone()),
            ("idempotency-key", delivery.id.clone()),
            (header::EVENT, "killmail_update".to_owned()),
            (header::ATTEMPT, attempt),
        ];
        if let Some(signature) = &delivery.signature {
            headers.push((header::SIGNATURE, signature.clone()));
        }
        let timeout = Duration::from_millis(self.settings.timeout_ms);
        let post = async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            http.post_bytes(&url, body, &headers, timeout).await
        };
        ctx.spawn(post.into_actor(self).map(|answer, this, ctx| {
            let outcome = match answer {
                Ok(answer) if answer.status.is_success() => Outcome::Delivered,
                Ok(answer) => match answer.error() {
                    e if e.is_transient() => Outcome::Retry(retry_after(&e), e.to_string()),
                    e => Outcome::Failed(e.to_string()),
                },
                Err(e) => Outcome::Retry(None, e.to_string()),
            };
            this.finished(outcome, ctx);
        }));
    }

    fn finished(&mut self, outcome: Outcome, ctx: &mut Context<Self>) {
        let Some(delivery) = self.in_flight.as_ref() else {
            return;
        };
        let spent = delivery.attempts >= self.settings.max_attempts;
        match outcome {
            Outcome::Delivered => {
                self.stats.webhook_delivered.incr();
                self.stats
                    .delivery_webhook_seconds
                    .observe(delivery.stored_at.elapsed());
                self.stats
                    .webhook_kills_delivered
                    .add(delivery.kills as u64);
            }
            Outcome::Retry(after, why) if !spent => {
                self.stats.webhook_retries.incr();
                let wait = after
                    .unwrap_or_else(|| backoff(&self.settings, delivery.attempts))
                    .min(Duration::from_millis(self.settings.retry_max_ms));
                log::info!(
                    "webhook attempt failed, retrying url={} delivery={} attempt={} wait_ms={} error={why}",
                    self.url,
                    delivery.id,
                    delivery.attempts,
                    wait.as_millis()
                );
                ctx.run_later(wait, |this, ctx| this.attempt(ctx));
                return;
            }
            Outcome::Retry(_, why) | Outcome::Failed(why) => {
                self.stats.webhook_failed.incr();
                log::warn!(
                    "webhook delivery failed url={} delivery={} attempts={} kills={} error={why}",
                    self.url,
                    delivery.id,
                    delivery.attempts,
                    delivery.kills
                );
            }
        }
        self.stats.webhook_queued.add(-(delivery.kills as i64));
        self.journal
            .pending_remove(&self.id, delivery.offsets.clone());
        self.in_flight = None;
        self.next(ctx);
    }
}

enum Outcome {
    Delivered,
    Retry(Option<Duration>, String),
    Failed(String),
}

fn retry_after(e: &FetchError) -> Option<Duration> {
    match e {
        FetchError::RateLimited { retry_after, .. } => *retry_after,
        _ => None,
    }
}

/// `retry_base_ms × 2^(attempt-1)`, times a jitter factor in 0.5..1.5.
fn backoff(settings: &WebhookSettings, attempt: u32) -> Duration {
    let base = Duration::from_millis(settings.retry_base_ms);
    let doubled = base.saturating_mul(1 << attempt.saturating_sub(1).min(16));
    doubled.mul_f64(rand::rng().random_range(0.5..1.5))
}

/// `{"type":"killmail_update","system_id":..,"kills":[..],"timestamp":".."}`, from the stored
/// JSON of each kill.
fn payload(system: u64, kills: &[Arc<StoredKill>]) -> Vec<u8> {
    let mut out =
        format!(r#"{{"type":"killmail_update","system_id":{system},"kills":"#).into_bytes();
    write_json_array(&mut out, kills);
    out.extend_from_slice(format!(r#","timestamp":"{}"}}"#, now_iso()).as_bytes());
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> WebhookSettings {
        WebhookSettings {
            allow_private_targets: false,
            timeout_ms: 10_000,
            max_attempts: 6,
            retry_base_ms: 1_000,
            retry_max_ms: 60_000,
            max_queued: 10,
            max_batch: 10,
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_around_the_base() {
        let s = settings();
        for attempt in 1..=5u32 {
            let wait = backoff(&s, attempt);
            let centre = 1_000u64 << (attempt - 1);
            assert!(
                wait >= Duration::from_millis(centre / 2)
                    && wait < Duration::from_millis(centre * 3 / 2),
                "attempt {attempt}: {wait:?}"
            );
        }
    }

    #[test]
    fn the_signature_is_the_hex_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"Jefe");
        let tag = hmac::sign(&key, b"what do ya want for nothing?");

        assert_eq!(
            hex(tag.as_ref()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
