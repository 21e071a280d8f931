//! The subscription registry: who wants which kills. Holds every live subscriber (WebSocket
//! sessions now; SSE streams and webhooks use the same path) in two indexes, by system and by
//! character, and routes each stored kill to the matching subscribers exactly once.
//!
//! Routing is computed once per kill from the indexes — O(matching subscribers), never a scan of
//! all of them — and matches with OR semantics: the kill's system is subscribed, or its victim or
//! any attacker is (SPEC §8.4). Recipients are held only as `Recipient<Push>`, so there is no type
//! cycle with the sessions. Fan-out uses `try_send`: a full mailbox never stalls the others; a
//! subscriber whose mailbox stays full is told to close and dropped. Subscribers that share an
//! inbox ([`group`]) get one message per kill for all of them.

use std::sync::Arc;

use actix::prelude::*;
use serde::Serialize;

use crate::model::ids::IdMap;
pub use crate::model::Filter;
use crate::model::{CharacterId, Rule, StoredKill, SystemId};

mod follow;
pub mod group;
mod index;
pub mod receipt;
mod rule_index;
pub mod seen;

pub use follow::{
    catch_up, follow, CatchUp, CaughtUp, HistoryError, Preload, Registration, Resume,
};
use group::Fanout;
pub use group::{Group, GroupPush};
pub use index::Routes;
pub use receipt::Receipt;
pub use seen::SeenKills;

/// Pushes refused in a row (full mailbox) before a subscriber is disconnected.
pub const MAX_FULL_IN_A_ROW: u32 = 64;

/// A registry-assigned handle for one subscriber.
pub type SubscriberKey = u64;

/// What a subscriber receives.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub enum Push {
    /// A stored kill that matches; `system_count` is the system's absolute stored count.
    Kill {
        kill: Arc<StoredKill>,
        system_count: usize,
        /// Held until the subscriber is done with the kill (cluster mode's webhooks).
        receipt: Option<Receipt>,
    },
    /// The subscriber must close (it fell too far behind); the reason goes to the client.
    Close(String),
}

/// Which delivery channel a subscriber is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Websocket,
    Sse,
    Webhook,
}

/// A subscriber as the subscriptions listing shows it.
#[derive(Clone, Debug, Serialize)]
pub struct SubscriptionView {
    pub id: String,
    pub subscriber_id: String,
    #[serde(rename = "type")]
    pub channel: Channel,
    pub system_ids: Vec<SystemId>,
    pub character_ids: Vec<CharacterId>,
    /// The subscription's filter rules (JSON form).
    pub filters: Vec<Arc<Rule>>,
    pub callback_url: Option<String>,
    /// A webhook's body format.
    pub format: Option<&'static str>,
    pub created_at: String,
    pub updated_at: String,
}

/// Add a subscriber, or replace the filter of an existing one (same key).
#[derive(Message)]
#[rtype(result = "SubscriberKey")]
pub struct Subscribe {
    /// `Some` to replace the filter of a subscriber already registered.
    pub key: Option<SubscriberKey>,
    pub recipient: Recipient<Push>,
    /// Kills go to this group instead of to `recipient` (which still hears `Push::Close`).
    pub group: Option<Group>,
    pub filter: Filter,
    pub channel: Channel,
    /// The subscription id clients see.
    pub subscription_id: String,
    /// Who subscribed (client identifier, subscriber id).
    pub subscriber: String,
    /// Where a webhook subscription delivers, and in which format.
    pub callback_url: Option<String>,
    pub format: Option<&'static str>,
    /// When the subscription was really created, for one restored from disk; `None` = now.
    pub created_at: Option<String>,
}

/// Change the filter of a registered subscriber.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetFilter {
    pub key: SubscriberKey,
    pub filter: Filter,
}

/// A kill was stored and may be delivered: sent by the enricher once per stored live kill,
/// after the store.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct KillStored {
    pub kill: Arc<StoredKill>,
    /// The system's stored kills within the retention window, this one included.
    pub system_count: usize,
    /// Goes with the kill to every subscriber it reaches.
    pub receipt: Option<Receipt>,
}

/// Remove a subscriber (disconnect, leave).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unsubscribe(pub SubscriberKey);

/// Counts for status routes.
#[derive(Message)]
#[rtype(result = "RegistryStats")]
pub struct GetStats;

#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct RegistryStats {
    pub websocket_subscribers: usize,
    pub sse_subscribers: usize,
    pub webhook_subscribers: usize,
    /// Distinct systems and characters followed by anyone.
    pub systems: usize,
    pub characters: usize,
    /// Filter rules, and those checked for every kill (no anchor).
    pub rules: usize,
    pub unanchored_rules: usize,
    /// Kills pushed (one per recipient), and pushes refused by a full mailbox.
    pub pushed: u64,
    pub dropped_full: u64,
    /// An estimate of the bytes the routing indexes and subscriber records take.
    pub index_bytes: usize,
}

/// Every subscriber, for the subscriptions listing.
#[derive(Message)]
#[rtype(result = "Vec<SubscriptionView>")]
pub struct ListSubscriptions;

struct Subscriber {
    recipient: Recipient<Push>,
    group: Option<Group>,
    filter: Filter,
    channel: Channel,
    subscription_id: String,
    subscriber: String,
    callback_url: Option<String>,
    format: Option<&'static str>,
    created_at: String,
    updated_at: String,
    full_in_a_row: u32,
}

#[derive(Default)]
pub struct Registry {
    subscribers: IdMap<SubscriberKey, Subscriber>,
    routes: Routes,
    next_key: SubscriberKey,
    /// Reused for every kill's routing, so routing allocates nothing in the steady state.
    scratch: Vec<SubscriberKey>,
    fanout: Fanout,
    pushed: u64,
    dropped_full: u64,
}

impl Registry {
    fn remove(&mut self, key: SubscriberKey) -> Option<Subscriber> {
        let gone = self.subscribers.remove(&key)?;
        self.routes.remove(key, &gone.filter);
        Some(gone)
    }
}

impl Actor for Registry {
    type Context = Context<Self>;
}

/// The indexes live in the actor value, which a supervisor keeps across restarts.
impl actix::Supervised for Registry {
    fn restarting(&mut self, _: &mut Context<Self>) {
        log::warn!("registry restarting subscribers={}", self.subscribers.len());
    }
}

impl Handler<Subscribe> for Registry {
    type Result = SubscriberKey;

    fn handle(&mut self, msg: Subscribe, _: &mut Context<Self>) -> SubscriberKey {
        let now = crate::model::now_iso();
        let key = match msg.key.filter(|k| self.subscribers.contains_key(k)) {
            Some(key) => key,
            None => {
                self.next_key += 1;
                self.next_key
            }
        };
        let created_at = match (self.remove(key), msg.created_at) {
            (Some(old), _) => old.created_at,
            (None, Some(created_at)) => created_at,
            (None, None) => now.clone(),
        };
        self.routes.add(key, &msg.filter);
        self.subscribers.insert(
            key,
            Subscriber {
                recipient: msg.recipient,
                group: msg.group,
                filter: msg.filter,
                channel: msg.channel,
                subscription_id: msg.subscription_id,
                subscriber: msg.subscriber,
                callback_url: msg.callback_url,
                format: msg.format,
                created_at,
                updated_at: now,
                full_in_a_row: 0,
            },
        );
        key
    }
}

impl Handler<SetFilter> for Registry {
    type Result = ();

    fn handle(&mut self, msg: SetFilter, _: &mut Context<Self>) {
        let Some(sub) = self.subscribers.get_mut(&msg.key) else {
            return;
        };
        let old = std::mem::replace(&mut sub.filter, msg.filter);
        sub.updated_at = crate::model::now_iso();
        self.routes.remove(msg.key, &old);
        self.routes.add(msg.key, &sub.filter);
    }
}

impl Handler<Unsubscribe> for Registry {
    type Result = ();

    fn handle(&mut self, Unsubscribe(key): Unsubscribe, _: &mut Context<Self>) {
        self.remove(key);
    }
}

impl Handler<KillStored> for Registry {
    type Result = ();

    fn handle(&mut self, msg: KillStored, _: &mut Context<Self>) {
        let mut keys = std::mem::take(&mut self.scratch);
        self.routes.matching(&msg.kill.facts, &mut keys);
        let mut gone = Vec::new();
        for key in &keys {
            let Some(sub) = self.subscribers.get_mut(key) else {
                continue;
            };
            if !sub.filter.admits_value(&msg.kill.facts) {
                continue;
            }
            if let Some(group) = &sub.group {
                self.fanout.add(group);
                continue;
            }
            let push = Push::Kill {
                kill: Arc::clone(&msg.kill),
                system_count: msg.system_count,
                receipt: msg.receipt.clone(),
            };
            match sub.recipient.try_send(push) {
                Ok(()) => {
                    sub.full_in_a_row = 0;
                    self.pushed += 1;
                }
                Err(SendError::Full(_)) => {
                    sub.full_in_a_row += 1;
                    self.dropped_full += 1;
                    if sub.full_in_a_row >= MAX_FULL_IN_A_ROW {
                        log::warn!(
                            "subscriber too slow, disconnected subscriber={} channel={:?}",
                            sub.subscriber,
                            sub.channel
                        );
                        sub.recipient
                            .do_send(Push::Close("too slow to keep up with kills".into()));
                        gone.push(*key);
                    }
                }
                Err(SendError::Closed(_)) => gone.push(*key),
            }
        }
        self.pushed += self.fanout.send(&msg.kill, msg.system_count, &msg.receipt);
        for key in gone {
            self.remove(key);
        }
        self.scratch = keys;
    }
}

impl Handler<GetStats> for Registry {
    type Result = MessageResult<GetStats>;

    fn handle(&mut self, _: GetStats, _: &mut Context<Self>) -> Self::Result {
        let mut stats = RegistryStats {
            systems: self.routes.systems(),
            characters: self.routes.characters(),
            rules: self.routes.rules().0,
            unanchored_rules: self.routes.rules().1,
            pushed: self.pushed,
            dropped_full: self.dropped_full,
            index_bytes: self.routes.bytes()
                + self.subscribers.len() * std::mem::size_of::<Subscriber>(),
            ..RegistryStats::default()
        };
        for sub in self.subscribers.values() {
            match sub.channel {
                Channel::Websocket => stats.websocket_subscribers += 1,
                Channel::Sse => stats.sse_subscribers += 1,
                Channel::Webhook => stats.webhook_subscribers += 1,
            }
        }
        MessageResult(stats)
    }
}

impl Handler<ListSubscriptions> for Registry {
    type Result = MessageResult<ListSubscriptions>;

    fn handle(&mut self, _: ListSubscriptions, _: &mut Context<Self>) -> Self::Result {
        let mut list: Vec<SubscriptionView> = self
            .subscribers
            .values()
            .map(|s| SubscriptionView {
                id: s.subscription_id.clone(),
                subscriber_id: s.subscriber.clone(),
                channel: s.channel,
                system_ids: s.filter.systems.iter().copied().collect(),
                character_ids: s.filter.characters.iter().copied().collect(),
                filters: s.filter.rules.clone(),
                callback_url: s.callback_url.clone(),
                format: s.format,
                created_at: s.created_at.clone(),
                updated_at: s.updated_at.clone(),
            })
            .collect();
        list.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        MessageResult(list)
    }
}
