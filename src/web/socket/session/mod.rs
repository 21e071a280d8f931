//! One WebSocket connection speaking Phoenix channels (SPEC §8). The only file (with its route)
//! that knows `actix-web-actors`, so the transport can be swapped without touching the engine.
//!
//! The session decodes frames, answers heartbeats and pings, runs the `killmails:lobby` channel
//! (join, duplicate join = replace, leave, (un)subscribe, status), registers its filter with the
//! registry as a member of its worker's hub (which queues the live `killmail_update` and
//! `kill_count_update` frames: see [`crate::web::socket::live`]), and preloads stored kills —
//! each kill at most once per connection. It closes itself after
//! `WS_IDLE_TIMEOUT_MS` without any inbound frame; it never pings the client.

use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ::actors::model::{now_iso, CharacterId, FilterLimits, SystemId};
use ::actors::registry::{
    follow, CatchUp, Channel, Registration, Registry, Resume, SetFilter, Subscribe, SubscriberKey,
    Unsubscribe,
};
use ::actors::store::Store;
use actix::prelude::*;
use actix_web_actors::ws;
use serde_json::{json, Value};
use tokio::sync::watch;

mod outbox;
mod transport;

use crate::web::slots::Slot;
use crate::web::socket::frames::history_pushes;
use crate::web::socket::hub::Membership;
use crate::web::socket::live::{Live, Target};
use crate::web::socket::lobby::{self, change, After, Joined, TOPIC};
use crate::web::socket::metered::Drain;
use crate::web::socket::outlet::Outlet;
use crate::web::socket::protocol::{self, Inbound, Vsn};
use outbox::Outbox;

/// At most this many missed kills are replayed on a resume (`since_offset`).
const MAX_RESUMED: usize = 10_000;
/// The client name when neither the connect params nor the join say one.
pub const ANONYMOUS: &str = "anonymous";

/// The client's name from its connect params (`client_identifier`, `client_id`, `identifier`).
pub fn client_name(params: &std::collections::HashMap<String, String>) -> String {
    ["client_identifier", "client_id", "identifier"]
        .iter()
        .find_map(|k| params.get(*k))
        .filter(|c| !c.is_empty())
        .map_or_else(|| ANONYMOUS.to_owned(), |c| c.chars().take(64).collect())
}

/// The limits and timers of every session.
#[derive(Clone, Debug)]
pub struct SessionSettings {
    pub idle_timeout: Duration,
    pub quiet_keepalive: Duration,
    pub max_channels: usize,
    /// Live kills that may wait behind the session's history before it is cut (see
    /// [`crate::web::socket::live`]); also the mailbox of the session's own messages.
    pub max_queued_kills: usize,
    /// Bytes of frames a connection may hold unread (see [`outbox`]).
    pub max_queued_bytes: u64,
    /// A connection with history waiting that drains nothing for this long is cut.
    pub stall_timeout: Duration,
}

/// What ties a session to its connection.
pub struct Link {
    /// The connection's slot, given back when the session ends.
    pub slot: Slot,
    /// What the connection has drained.
    pub drain: Drain,
}

pub struct Session {
    vsn: Vsn,
    registry: Addr<Registry>,
    store: Store,
    settings: SessionSettings,
    subscription_id: String,
    connected_at: String,
    /// Any inbound frame (text, binary, ping, pong) refreshes it.
    last_seen: Instant,
    lobby: Option<Joined>,
    key: Option<SubscriberKey>,
    /// Shared with the connection's writer and its worker's hub (live kills).
    live: Rc<Live>,
    /// The session's place in its worker's hub.
    membership: Membership,
    shutdown: watch::Receiver<bool>,
    outbox: Outbox,
    /// Bounds on the channel's filter rules.
    filter_limits: FilterLimits,
    /// This connection's slot: given back when the session ends.
    _slot: Slot,
}

impl Session {
    pub fn new(
        vsn: Vsn,
        client: String,
        link: Link,
        engine: &::actors::Engine,
        settings: SessionSettings,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let now = Instant::now();
        let live = Rc::new(Live::new(
            Outlet::new(link.drain),
            std::sync::Arc::clone(&engine.stats),
            settings.max_queued_bytes,
            settings.max_queued_kills,
            client,
        ));
        Self {
            vsn,
            registry: engine.registry.clone(),
            store: engine.store.clone(),
            settings,
            subscription_id: crate::web::middleware::random_id(),
            connected_at: now_iso(),
            last_seen: now,
            lobby: None,
            key: None,
            membership: Membership::join(&live),
            live,
            shutdown,
            outbox: Outbox::default(),
            filter_limits: engine.filter_limits,
            _slot: link.slot,
        }
    }

    /// What the connection's writer shares with the session: the outlet it takes frames from.
    pub fn live(&self) -> Rc<Live> {
        Rc::clone(&self.live)
    }

    /// The client's name (connect params, else the join), for logs and the subscriptions listing.
    fn client(&self) -> std::cell::Ref<'_, String> {
        self.live.client.borrow()
    }

    /// Queues a text frame for the client.
    fn text(&self, frame: String) {
        self.live.outlet.text(frame);
    }

    fn push(&mut self, event: &str, payload: &[u8]) {
        let join_ref = self
            .lobby
            .as_ref()
            .map_or(Value::Null, |l| l.join_ref.clone());
        let frame = protocol::push_raw(self.vsn, &join_ref, TOPIC, event, payload);
        self.live.last_push.set(Instant::now());
        self.text(frame);
    }

    /// Tells the hub where live kills go now: the joined channel, or nowhere.
    fn retarget(&self) {
        let target = self.lobby.as_ref().map(|lobby| Target {
            vsn: self.vsn,
            join_ref: lobby.join_ref.clone(),
            join_key: lobby.join_key.clone(),
            systems: lobby.systems.clone(),
        });
        *self.live.target.borrow_mut() = target;
    }

    fn handle_frame(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        let frame = match protocol::decode(self.vsn, text) {
            Ok(frame) => frame,
            Err(e) => {
                log::debug!("ws frame ignored client={} error={e}", self.client());
                return;
            }
        };
        match (frame.topic.as_str(), frame.event.as_str()) {
            ("phoenix", "heartbeat") => {
                let reply = protocol::reply_ok(self.vsn, &frame, json!({}));
                self.text(reply);
            }
            (TOPIC, "phx_join") => self.join(frame, ctx),
            (_, "phx_join") => self.unmatched(&frame),
            (TOPIC, _) if self.lobby.is_some() => {
                let current = self.lobby.as_ref().map(|l| &l.join_ref);
                if !frame.join_ref.is_null() && Some(&frame.join_ref) != current {
                    log::debug!("stale join_ref ignored client={}", self.client());
                    return;
                }
                self.lobby_event(frame, ctx);
            }
            _ => self.unmatched(&frame),
        }
    }

    fn unmatched(&mut self, frame: &Inbound) {
        let reply = protocol::reply_error(self.vsn, frame, "unmatched topic");
        self.text(reply);
    }

    fn join(&mut self, frame: Inbound, ctx: &mut ws::WebsocketContext<Self>) {
        let join = match lobby::parse_join(&frame.payload, &self.filter_limits) {
            Ok(join) => join,
            Err(invalid) => {
                let reply = protocol::reply_error(self.vsn, &frame, &invalid.reason());
                self.text(reply);
                return;
            }
        };
        // The map names itself in the join payload rather than in the connect params.
        if *self.client() == ANONYMOUS {
            if let Some(name) = frame
                .payload
                .get("client_identifier")
                .and_then(Value::as_str)
            {
                self.live.client.replace(name.chars().take(64).collect());
            }
        }
        // A second join on the joined topic replaces the first: the old join is closed, and
        // only what is new to this socket is preloaded.
        let (old_systems, old_characters) = match self.lobby.take() {
            Some(old) => {
                let close = protocol::push_raw(self.vsn, &old.join_ref, TOPIC, "phx_close", b"{}");
                self.text(close);
                (old.systems, old.characters)
            }
            None => (BTreeSet::new(), BTreeSet::new()),
        };
        let new_systems: BTreeSet<SystemId> =
            join.systems.difference(&old_systems).copied().collect();
        let new_characters: BTreeSet<CharacterId> = join
            .characters
            .difference(&old_characters)
            .copied()
            .collect();
        let reply = lobby::join_reply(&self.subscription_id, &join);
        let reply = protocol::reply_ok(self.vsn, &frame, reply);
        self.text(reply);
        let joined = Joined {
            join_key: frame.join_ref.to_string().into(),
            join_ref: frame.join_ref,
            systems: join.systems,
            characters: join.characters,
            rules: join.rules,
            preload: join.preload,
        };
        let has_ids = joined.follows_any();
        let preload = join.preload.enabled && has_ids;
        let ask = CatchUp {
            filter: joined.filter(),
            resume: join.since_offset.filter(|_| has_ids).map(|after| Resume {
                after,
                since: None,
                limit: MAX_RESUMED,
            }),
            preload: preload
                .then(|| joined.preload_of(new_systems, new_characters, joined.rules.clone())),
        };
        let subscribe = Subscribe {
            key: self.key,
            recipient: ctx.address().recipient(),
            group: Some(self.membership.group()),
            filter: ask.filter.clone(),
            channel: Channel::Websocket,
            subscription_id: self.subscription_id.clone(),
            subscriber: self.client().clone(),
            callback_url: None,
            format: None,
            created_at: None,
        };
        self.lobby = Some(joined);
        self.retarget();
        self.follow(subscribe.into(), ask, preload, ctx);
    }

    fn lobby_event(&mut self, frame: Inbound, ctx: &mut ws::WebsocketContext<Self>) {
        if frame.event == "phx_leave" {
            let reply = protocol::reply_ok(self.vsn, &frame, json!({}));
            self.text(reply);
            let close = protocol::push_raw(self.vsn, &frame.join_ref, TOPIC, "phx_close", b"{}");
            self.text(close);
            self.lobby = None;
            self.retarget();
            if let Some(key) = self.key.take() {
                self.registry.do_send(Unsubscribe(key));
            }
            return;
        }
        let Some(lobby) = self.lobby.as_mut() else {
            return;
        };
        let (outcome, after) = match frame.event.as_str() {
            "get_status" => (
                Ok(json!({
                    "subscription_id": self.subscription_id,
                    "subscribed_systems": lobby.systems,
                    "subscribed_characters": lobby.characters,
                    "filters": lobby.rules,
                    "connected_at": self.connected_at,
                    "user_id": *self.client(),
                })),
                After::Nothing,
            ),
            event => change(lobby, event, &frame.payload, &self.filter_limits),
        };
        let reply = match outcome {
            Ok(response) => protocol::reply_ok(self.vsn, &frame, response),
            Err(reason) => protocol::reply_error(self.vsn, &frame, &reason),
        };
        self.text(reply);
        self.retarget();
        let (Some(key), Some(lobby)) = (self.key, &self.lobby) else {
            return;
        };
        let filter = lobby.filter();
        let change = SetFilter {
            key,
            filter: filter.clone(),
        };
        match after {
            After::Nothing => {}
            After::Refilter => self.registry.do_send(change),
            After::Preload(systems, characters) => {
                let preload = lobby.preload.enabled;
                let ask = CatchUp {
                    filter,
                    resume: None,
                    preload: preload.then(|| lobby.preload_of(systems, characters, Vec::new())),
                };
                self.follow(change.into(), ask, false, ctx);
            }
            After::PreloadRules(rules) => {
                let preload = lobby.preload.enabled && !rules.is_empty();
                let ask = CatchUp {
                    filter,
                    resume: None,
                    preload: preload
                        .then(|| lobby.preload_of(BTreeSet::new(), BTreeSet::new(), rules)),
                };
                self.follow(change.into(), ask, false, ctx);
            }
        }
    }

    /// Registers (or changes the filter), then sends the history `ask` names: resumed kills
    /// first, in offset order, one push per run of the same system (`preload: false`: they are
    /// the live kills the client missed), then one preload push per system. With `complete`,
    /// `preload_complete` follows, listing what the store could not give. A kill already sent on
    /// this connection is never sent again. Frames wait until this is done, so live kills follow
    /// the history.
    fn follow(
        &mut self,
        registration: Registration,
        ask: CatchUp,
        complete: bool,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        // Live kills wait behind what this reads, in order.
        self.live.behind.set(true);
        let (registry, store) = (self.registry.clone(), self.store.clone());
        let systems_processed = ask.preload.as_ref().map_or(0, |p| p.systems.len());
        let work = async move { follow(&registry, &store, registration, ask).await };
        work.into_actor(self)
            .map(move |followed, this, ctx| {
                let caught = match followed {
                    Ok((key, caught)) => {
                        this.key = Some(key);
                        caught
                    }
                    Err(e) => {
                        log::error!("registry unavailable client={} error={e}", this.client());
                        this.pump(ctx);
                        return;
                    }
                };
                let errors: Vec<String> = caught.errors.iter().map(ToString::to_string).collect();
                let complete = complete.then_some((systems_processed, errors));
                this.queue_history(history_pushes(caught), complete, ctx);
            })
            .wait(ctx);
    }
}
