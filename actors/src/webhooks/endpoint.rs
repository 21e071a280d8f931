//! One webhook endpoint: queues the kills routed to its subscription and POSTs them one delivery
//! at a time, in order, retrying a delivery on a network error, a timeout, a 5xx or a 429
//! (honouring `Retry-After`) with backoff and jitter, up to `max_attempts`. Kills of one system
//! that queued up behind a slow delivery leave together in one POST (`max_batch`). Undelivered
//! kills are saved in the journal, so a restart resumes them.

use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use bytes::Bytes;
use ring::hmac;

use super::delivery::{asked_wait, backoff, header, signature, USER_AGENT};
use super::formats;
use super::target::resolve_allowed;
use crate::config::WebhookSettings;
use crate::model::ids::random_token;
use crate::model::{Filter, StoredKill, WebhookFormat, WebhookSubscription};
use crate::registry::{Push, Receipt};
use crate::stats::Stats;
use crate::store::journal::Journal;
use crate::upstream::http::{Answer, Http};

/// Kills that were pending when the service stopped, queued ahead of new ones.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Resume(pub Vec<Arc<StoredKill>>);

/// Stop delivering; what is queued is dropped (the subscription is gone).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopEndpoint;

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
    /// The subscription's filter: the names of its rules a kill matched go with the kill.
    filter: Filter,
    format: WebhookFormat,
    http: Rc<Http>,
    settings: Rc<WebhookSettings>,
    journal: Journal,
    stats: Arc<Stats>,
    queue: VecDeque<Arc<StoredKill>>,
    in_flight: Option<Delivery>,
    /// Receipts of queued and in-flight kills, by offset: dropped once the kill is done with.
    receipts: Vec<(u64, Receipt)>,
}

impl Endpoint {
    pub fn new(
        subscription: &WebhookSubscription,
        http: Rc<Http>,
        settings: Rc<WebhookSettings>,
        journal: Journal,
        stats: Arc<Stats>,
    ) -> Self {
        Self {
            id: subscription.id.clone(),
            url: subscription.callback_url.clone(),
            signing_key: subscription
                .secret
                .as_ref()
                .map(|s| hmac::Key::new(hmac::HMAC_SHA256, s.as_bytes())),
            filter: subscription.filter.clone(),
            format: subscription.format,
            http,
            settings,
            journal,
            stats,
            queue: VecDeque::new(),
            in_flight: None,
            receipts: Vec::new(),
        }
    }
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
        let Push::Kill { kill, receipt, .. } = push else {
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
        if let Some(receipt) = receipt {
            self.receipts.push((kill.offset, receipt));
        }
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
        // The JSON body names one system; a chat message can hold kills of several.
        let mixes = self.format != WebhookFormat::Json;
        while kills.len() < self.settings.max_batch.max(1)
            && self
                .queue
                .front()
                .is_some_and(|k| mixes || k.facts.system_id == system)
        {
            kills.extend(self.queue.pop_front());
        }
        let (body, used) = formats::body(self.format, system, &kills, &self.filter);
        // What the format could not fit waits, first in line, for the next delivery.
        for kill in kills.drain(used.min(kills.len())..).rev() {
            self.queue.push_front(kill);
        }
        let body = Bytes::from(body);
        let signature = self.signing_key.as_ref().map(|key| signature(key, &body));
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
        let guarded = !self.settings.allow_private_targets;
        let post = async move {
            // Checked again on every attempt, on the address the connection will really use.
            let address = match guarded {
                true => match resolve_allowed(&url).await {
                    Ok(address) => Some(address),
                    Err(refused) => return Outcome::Refused(refused.to_string()),
                },
                false => None,
            };
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            match http
                .post_bytes(&url, body, &headers, timeout, address)
                .await
            {
                Ok(answer) => verdict(&answer),
                Err(e) => Outcome::Retry(None, e.to_string()),
            }
        };
        ctx.spawn(post.into_actor(self).map(|outcome, this, ctx| {
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
            Outcome::Refused(why) => {
                self.stats.webhook_failed.incr();
                log::warn!(
                    "webhook delivery refused, target not allowed url={} delivery={} kills={} reason={why}",
                    self.url,
                    delivery.id,
                    delivery.kills
                );
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
        let done = &delivery.offsets;
        self.receipts.retain(|(offset, _)| !done.contains(offset));
        self.in_flight = None;
        self.next(ctx);
    }
}

enum Outcome {
    Delivered,
    Retry(Option<Duration>, String),
    Failed(String),
    /// The target resolved to an address deliveries may not go to.
    Refused(String),
}

/// What an answer means for a delivery (SPEC §7): any 2xx is delivered; a 5xx or a 429 is tried
/// again (after `Retry-After` when given); anything else ends it as failed. A redirect is not
/// followed: it fails, and the log says where it pointed.
fn verdict(answer: &Answer) -> Outcome {
    let status = answer.status;
    if status.is_success() {
        Outcome::Delivered
    } else if status.is_server_error() || status.as_u16() == 429 {
        Outcome::Retry(asked_wait(answer), format!("answered {status}"))
    } else if status.is_redirection() {
        let location = answer
            .headers
            .get("location")
            .and_then(|l| l.to_str().ok())
            .unwrap_or("nowhere");
        Outcome::Failed(format!(
            "answered {status} to {location}; redirects are not followed"
        ))
    } else {
        Outcome::Failed(format!("answered {status}"))
    }
}
