//! One WebSocket connection speaking Phoenix channels (SPEC §8). The only file (with its route)
//! that knows `actix-web-actors`, so the transport can be swapped without touching the engine.
//!
//! The session decodes frames, answers heartbeats and pings, runs the `killmails:lobby` channel
//! (join, duplicate join = replace, leave, (un)subscribe, status), registers its filter with the
//! registry, preloads stored kills, and turns the registry's pushes into `killmail_update` and
//! `kill_count_update` frames — each kill at most once per connection. It closes itself after
//! `WS_IDLE_TIMEOUT_MS` without any inbound frame; it never pings the client.

use std::cell::RefCell;
use std::collections::{BTreeSet, VecDeque};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ::actors::model::ids::IdSet;
use ::actors::model::{now_iso, CharacterId, KillTime, KillmailId, SystemId};
use ::actors::model::{write_json_array, StoredKill};
use ::actors::registry::{
    Channel, Filter, Push, Registry, SetFilter, Subscribe, SubscriberKey, Unsubscribe,
};
use ::actors::stats::Stats;
use ::actors::store::Store;
use actix::prelude::*;
use actix_web_actors::ws;
use bytestring::ByteString;
use serde_json::{json, Value};
use tokio::sync::watch;

use super::lobby::{self, Preload, TOPIC};
use super::protocol::{self, Inbound, Vsn};

/// Kill ids remembered per connection to keep "each kill once" across preload and live pushes.
const REMEMBERED_KILLS: usize = 4_096;
/// At most this many missed kills are replayed on a resume (`since_offset`).
const MAX_RESUMED: usize = 10_000;
/// The client name when neither the connect params nor the join say one.
pub const ANONYMOUS: &str = "anonymous";

/// The limits and timers of every session.
#[derive(Clone, Debug)]
pub struct SessionSettings {
    pub idle_timeout: Duration,
    pub quiet_keepalive: Duration,
    pub max_channels: usize,
    /// Kills queued for a session before the registry counts it as full (see the registry).
    pub max_queued_kills: usize,
}

/// The joined lobby channel.
struct Joined {
    join_ref: Value,
    systems: BTreeSet<SystemId>,
    characters: BTreeSet<CharacterId>,
    preload: Preload,
}

pub struct Session {
    vsn: Vsn,
    /// The client's name from the connect params, for logs and the subscriptions listing.
    client: String,
    registry: Addr<Registry>,
    store: Store,
    stats: Arc<Stats>,
    settings: SessionSettings,
    /// Live sessions, shown by `/websocket/status`.
    connections: Arc<AtomicUsize>,
    subscription_id: String,
    connected_at: String,
    /// Any inbound frame (text, binary, ping, pong) refreshes it.
    last_seen: Instant,
    /// The last push to the client; the quiet keepalive counts from it.
    last_push: Instant,
    lobby: Option<Joined>,
    key: Option<SubscriberKey>,
    sent: RecentIds,
    shutdown: watch::Receiver<bool>,
}

impl Session {
    pub fn new(
        vsn: Vsn,
        client: String,
        engine: &::actors::Engine,
        settings: SessionSettings,
        connections: Arc<AtomicUsize>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let now = Instant::now();
        Self {
            vsn,
            client,
            registry: engine.registry.clone(),
            store: engine.store.clone(),
            stats: Arc::clone(&engine.stats),
            settings,
            connections,
            subscription_id: crate::web::middleware::random_id(),
            connected_at: now_iso(),
            last_seen: now,
            last_push: now,
            lobby: None,
            key: None,
            sent: RecentIds::default(),
            shutdown,
        }
    }

    fn push(&mut self, ctx: &mut ws::WebsocketContext<Self>, event: &str, payload: &[u8]) {
        let join_ref = self
            .lobby
            .as_ref()
            .map_or(Value::Null, |l| l.join_ref.clone());
        let frame = protocol::push_raw(self.vsn, &join_ref, TOPIC, event, payload);
        self.last_push = Instant::now();
        ctx.text(frame);
    }

    /// Sends a close frame with `reason` and stops.
    fn close(&self, ctx: &mut ws::WebsocketContext<Self>, reason: String) {
        ctx.close(Some(ws::CloseReason {
            code: ws::CloseCode::Away,
            description: Some(reason),
        }));
        ctx.stop();
    }

    fn handle_frame(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        let frame = match protocol::decode(self.vsn, text) {
            Ok(frame) => frame,
            Err(e) => {
                log::debug!("ws frame ignored client={} error={e}", self.client);
                return;
            }
        };
        match (frame.topic.as_str(), frame.event.as_str()) {
            ("phoenix", "heartbeat") => {
                let reply = protocol::reply_ok(self.vsn, &frame, json!({}));
                ctx.text(reply);
            }
            (TOPIC, "phx_join") => self.join(frame, ctx),
            (_, "phx_join") => self.unmatched(&frame, ctx),
            (TOPIC, _) if self.lobby.is_some() => {
                let current = self.lobby.as_ref().map(|l| &l.join_ref);
                if !frame.join_ref.is_null() && Some(&frame.join_ref) != current {
                    log::debug!("stale join_ref ignored client={}", self.client);
                    return;
                }
                self.lobby_event(frame, ctx);
            }
            _ => self.unmatched(&frame, ctx),
        }
    }

    fn unmatched(&mut self, frame: &Inbound, ctx: &mut ws::WebsocketContext<Self>) {
        let reply = protocol::reply_error(self.vsn, frame, "unmatched topic");
        ctx.text(reply);
    }

    fn join(&mut self, frame: Inbound, ctx: &mut ws::WebsocketContext<Self>) {
        let join = match lobby::parse_join(&frame.payload) {
            Ok(join) => join,
            Err(invalid) => {
                let reply = protocol::reply_error(self.vsn, &frame, &invalid.reason());
                ctx.text(reply);
                return;
            }
        };
        // The map names itself in the join payload rather than in the connect params.
        if self.client == ANONYMOUS {
            if let Some(name) = frame
                .payload
                .get("client_identifier")
                .and_then(Value::as_str)
            {
                self.client = name.chars().take(64).collect();
            }
        }
        // A second join on the joined topic replaces the first: the old join is closed, and
        // only what is new to this socket is preloaded.
        let (old_systems, old_characters) = match self.lobby.take() {
            Some(old) => {
                let close = protocol::push_raw(self.vsn, &old.join_ref, TOPIC, "phx_close", b"{}");
                ctx.text(close);
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
        let filter = Filter {
            systems: join.systems.clone(),
            characters: join.characters.clone(),
            ..Filter::default()
        };
        self.register(filter, ctx);
        let reply = lobby::join_reply(&self.subscription_id, &join.systems, &join.characters);
        let reply = protocol::reply_ok(self.vsn, &frame, reply);
        ctx.text(reply);
        let has_ids = !join.systems.is_empty() || !join.characters.is_empty();
        self.lobby = Some(Joined {
            join_ref: frame.join_ref,
            systems: join.systems,
            characters: join.characters,
            preload: join.preload,
        });
        let preload = join.preload.enabled && has_ids;
        let resume = join.since_offset.filter(|_| has_ids);
        if preload || resume.is_some() {
            self.catch_up(new_systems, new_characters, resume, preload, ctx);
        }
    }

    fn register(&mut self, filter: Filter, ctx: &mut ws::WebsocketContext<Self>) {
        let subscribe = Subscribe {
            key: self.key,
            recipient: ctx.address().recipient(),
            filter,
            channel: Channel::Websocket,
            subscription_id: self.subscription_id.clone(),
            subscriber: self.client.clone(),
            callback_url: None,
        };
        self.registry
            .send(subscribe)
            .into_actor(self)
            .map(|key, this, _| match key {
                Ok(key) => this.key = Some(key),
                Err(e) => log::error!("registry unavailable client={} error={e}", this.client),
            })
            .wait(ctx);
    }

    fn refilter(&mut self) {
        if let (Some(key), Some(lobby)) = (self.key, &self.lobby) {
            self.registry.do_send(SetFilter {
                key,
                filter: Filter {
                    systems: lobby.systems.clone(),
                    characters: lobby.characters.clone(),
                    ..Filter::default()
                },
            });
        }
    }

    fn lobby_event(&mut self, frame: Inbound, ctx: &mut ws::WebsocketContext<Self>) {
        if frame.event == "phx_leave" {
            let reply = protocol::reply_ok(self.vsn, &frame, json!({}));
            ctx.text(reply);
            let close = protocol::push_raw(self.vsn, &frame.join_ref, TOPIC, "phx_close", b"{}");
            ctx.text(close);
            self.lobby = None;
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
                    "connected_at": self.connected_at,
                    "user_id": self.client,
                })),
                After::Nothing,
            ),
            event => change(lobby, event, &frame.payload),
        };
        let reply = match outcome {
            Ok(response) => protocol::reply_ok(self.vsn, &frame, response),
            Err(reason) => protocol::reply_error(self.vsn, &frame, &reason),
        };
        ctx.text(reply);
        match after {
            After::Nothing => {}
            After::Refilter => self.refilter(),
            After::Preload(systems, characters) => {
                self.refilter();
                if self.lobby.as_ref().is_some_and(|l| l.preload.enabled) {
                    self.catch_up(systems, characters, None, false, ctx);
                }
            }
        }
    }

    /// Resume, then preload. With `resume`, the kills the lobby's filter matches that were stored
    /// after that offset go first, in offset order (`preload: false`: they are the live kills
    /// the client missed). With `join_preload`, stored kills of `systems` (one push per system)
    /// and of `characters` follow, then `preload_complete`; without it (a later subscribe), only
    /// the preload pushes. A kill already sent on this connection is never sent again.
    fn catch_up(
        &mut self,
        systems: BTreeSet<SystemId>,
        characters: BTreeSet<CharacterId>,
        resume: Option<u64>,
        join_preload: bool,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let Some(lobby) = &self.lobby else {
            return;
        };
        let options = lobby.preload;
        let preload = options.enabled;
        let complete = join_preload;
        let filter = Filter {
            systems: lobby.systems.clone(),
            characters: lobby.characters.clone(),
            ..Filter::default()
        };
        let store = self.store.clone();
        let since =
            KillTime::now().minus_secs(i64::try_from(options.since_hours * 3600).unwrap_or(0));
        let systems_processed = systems.len();
        let work = async move {
            let missed = match resume {
                Some(after) => store
                    .replay(filter, after, store.retention_start(), MAX_RESUMED)
                    .await
                    .unwrap_or_default(),
                None => Vec::new(),
            };
            let mut batches: Vec<(SystemId, Vec<Arc<StoredKill>>)> = Vec::new();
            if !preload {
                return (missed, batches);
            }
            for system in systems {
                let kills = store
                    .system_kills(system, since, options.limit_per_system)
                    .await
                    .unwrap_or_default();
                batches.push((system, kills));
            }
            for character in characters {
                let kills = store
                    .character_kills(character, since, options.limit_per_system)
                    .await
                    .unwrap_or_default();
                for kill in kills {
                    let system = kill.facts.system_id;
                    match batches.iter_mut().find(|(s, _)| *s == system) {
                        Some((_, list)) => list.push(kill),
                        None => batches.push((system, vec![kill])),
                    }
                }
            }
            (missed, batches)
        };
        work.into_actor(self)
            .map(move |(missed, batches), this, ctx| {
                // Missed kills in offset order, one push per run of the same system.
                let missed: Vec<Arc<StoredKill>> = missed
                    .into_iter()
                    .filter(|k| this.sent.insert(k.facts.killmail_id))
                    .collect();
                for run in missed.chunk_by(|a, b| a.facts.system_id == b.facts.system_id) {
                    let payload = killmail_update(run[0].facts.system_id, run, false);
                    this.push(ctx, "killmail_update", &payload);
                }
                let mut total = 0;
                for (system, kills) in batches {
                    let fresh: Vec<Arc<StoredKill>> = kills
                        .into_iter()
                        .filter(|k| this.sent.insert(k.facts.killmail_id))
                        .collect();
                    if fresh.is_empty() {
                        continue;
                    }
                    total += fresh.len();
                    let payload = killmail_update(system, &fresh, true);
                    this.push(ctx, "killmail_update", &payload);
                }
                if complete {
                    let done = json!({"total_kills": total, "systems_processed": systems_processed, "errors": []});
                    this.push(ctx, "preload_complete", done.to_string().as_bytes());
                }
            })
            .spawn(ctx);
    }

    fn deliver(
        &mut self,
        kill: Arc<StoredKill>,
        system_count: usize,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let Some(lobby) = &self.lobby else {
            return;
        };
        let counts = lobby.systems.contains(&kill.facts.system_id);
        let join_ref = lobby.join_ref.clone();
        let payloads = LivePayloads::of(&kill, system_count);
        if self.sent.insert(kill.facts.killmail_id) {
            let frame = payloads.frame(self.vsn, &join_ref, Live::Update);
            self.last_push = Instant::now();
            ctx.text(frame);
            self.stats
                .delivery_websocket_seconds
                .observe(kill.stored_at.elapsed());
        }
        if counts {
            let frame = payloads.frame(self.vsn, &join_ref, Live::Count);
            ctx.text(frame);
        }
    }

    /// Closes idle sockets and sends the quiet keepalive.
    fn tick(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        if self.last_seen.elapsed() >= self.settings.idle_timeout {
            log::info!("ws idle timeout client={}", self.client);
            self.close(ctx, "idle timeout".to_owned());
            return;
        }
        let quiet_system = self
            .lobby
            .as_ref()
            .and_then(|l| l.systems.iter().next().copied());
        if let Some(system) = quiet_system {
            if self.last_push.elapsed() >= self.settings.quiet_keepalive {
                let payload = killmail_update(system, &[], false);
                self.push(ctx, "killmail_update", &payload);
            }
        }
    }
}

/// What a lobby event leaves to do once its reply is sent.
enum After {
    Nothing,
    Refilter,
    /// The filter grew: tell the registry, then preload what is new.
    Preload(BTreeSet<SystemId>, BTreeSet<CharacterId>),
}

impl After {
    fn grown(systems: BTreeSet<SystemId>, characters: BTreeSet<CharacterId>) -> Self {
        if systems.is_empty() && characters.is_empty() {
            Self::Nothing
        } else {
            Self::Preload(systems, characters)
        }
    }

    fn shrunk(changed: bool) -> Self {
        if changed {
            Self::Refilter
        } else {
            Self::Nothing
        }
    }
}

/// Applies a (un)subscribe event to the channel's sets; an unknown event is an error reply.
fn change(lobby: &mut Joined, event: &str, payload: &Value) -> (Result<Value, String>, After) {
    let (systems_key, characters_key) = ("subscribed_systems", "subscribed_characters");
    let result = match event {
        "subscribe_systems" => lobby::systems(payload.get("systems")).map(|asked| {
            let (reply, new) = lobby::subscribe(&mut lobby.systems, &asked, systems_key, "systems");
            (reply, After::grown(new, BTreeSet::new()))
        }),
        "unsubscribe_systems" => lobby::systems(payload.get("systems")).map(|asked| {
            let (reply, changed) =
                lobby::unsubscribe(&mut lobby.systems, &asked, systems_key, "systems");
            (reply, After::shrunk(changed))
        }),
        "subscribe_characters" => lobby::characters(payload.get("character_ids")).map(|asked| {
            let (reply, new) =
                lobby::subscribe(&mut lobby.characters, &asked, characters_key, "characters");
            (reply, After::grown(BTreeSet::new(), new))
        }),
        "unsubscribe_characters" => lobby::characters(payload.get("character_ids")).map(|asked| {
            let (reply, changed) =
                lobby::unsubscribe(&mut lobby.characters, &asked, characters_key, "characters");
            (reply, After::shrunk(changed))
        }),
        other => return (Err(format!("unknown event: {other}")), After::Nothing),
    };
    match result {
        Ok((reply, after)) => (Ok(reply), after),
        Err(invalid) => (Err(invalid.reason()), After::Nothing),
    }
}

/// `{"system_id", "killmails": [...], "timestamp", "preload"}` with the stored JSON of each kill.
/// `{"system_id", "killmails", "timestamp", "preload"}`, plus `"offset"`: the largest store
/// offset among the kills, which a client passes back as the join's `since_offset` to resume.
fn killmail_update(system: SystemId, kills: &[Arc<StoredKill>], preload: bool) -> Vec<u8> {
    let mut out = format!("{{\"system_id\":{system},\"killmails\":").into_bytes();
    write_json_array(&mut out, kills);
    out.extend_from_slice(
        format!(",\"timestamp\":\"{}\",\"preload\":{preload}", now_iso()).as_bytes(),
    );
    if let Some(offset) = kills.iter().map(|k| k.offset).max() {
        out.extend_from_slice(format!(",\"offset\":{offset}").as_bytes());
    }
    out.push(b'}');
    out
}

/// The payloads of a live kill's two events, the same for every session, and their encoded
/// frames per serializer and join ref (most sessions of a client app share both), so a frame is
/// encoded once per worker thread and each session only hands a shared buffer to its socket.
struct LivePayloads {
    killmail_id: KillmailId,
    update: Vec<u8>,
    count: Vec<u8>,
    frames: RefCell<Vec<(Vsn, String, Live, ByteString)>>,
}

/// The two events a live kill sends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Live {
    Update,
    Count,
}

thread_local! {
    /// The latest live kill's payloads, built once per worker thread and shared by all the
    /// sessions on it (a kill reaches every matching session back to back).
    static LIVE: RefCell<Option<Rc<LivePayloads>>> = const { RefCell::new(None) };
}

impl LivePayloads {
    fn of(kill: &Arc<StoredKill>, system_count: usize) -> Rc<Self> {
        let id = kill.facts.killmail_id;
        LIVE.with_borrow_mut(|latest| match latest {
            Some(payloads) if payloads.killmail_id == id => payloads.clone(),
            _ => {
                let system = kill.facts.system_id;
                let count =
                    json!({"system_id": system, "count": system_count, "timestamp": now_iso()});
                let payloads = Rc::new(Self {
                    killmail_id: id,
                    update: killmail_update(system, std::slice::from_ref(kill), false),
                    count: count.to_string().into_bytes(),
                    frames: RefCell::new(Vec::new()),
                });
                *latest = Some(payloads.clone());
                payloads
            }
        })
    }
}

impl LivePayloads {
    /// The encoded frame of `event` for a session speaking `vsn` joined with `join_ref`.
    fn frame(&self, vsn: Vsn, join_ref: &Value, event: Live) -> ByteString {
        let join = join_ref.to_string();
        let mut frames = self.frames.borrow_mut();
        if let Some((.., frame)) = frames
            .iter()
            .find(|(v, j, e, _)| *v == vsn && *j == join && *e == event)
        {
            return frame.clone();
        }
        let (name, payload) = match event {
            Live::Update => ("killmail_update", &self.update),
            Live::Count => ("kill_count_update", &self.count),
        };
        let frame = ByteString::from(protocol::push_raw(vsn, join_ref, TOPIC, name, payload));
        // Bounded: a burst of distinct join refs on one thread only re-encodes.
        if frames.len() < 64 {
            frames.push((vsn, join, event, frame.clone()));
        }
        frame
    }
}

/// The most recent kill ids sent on one connection, bounded.
#[derive(Default)]
struct RecentIds {
    order: VecDeque<KillmailId>,
    set: IdSet<KillmailId>,
}

impl RecentIds {
    /// `true` when `id` was not sent yet (and is now remembered).
    fn insert(&mut self, id: KillmailId) -> bool {
        if !self.set.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > REMEMBERED_KILLS {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }
}

impl Actor for Session {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.settings.max_queued_kills);
        self.connections.fetch_add(1, Ordering::Relaxed);
        let every = (self
            .settings
            .idle_timeout
            .min(self.settings.quiet_keepalive)
            / 4)
        .clamp(Duration::from_millis(20), Duration::from_secs(1));
        ctx.run_interval(every, |this, ctx| this.tick(ctx));
        let mut shutdown = self.shutdown.clone();
        let stopping = async move { shutdown.wait_for(|stopping| *stopping).await.is_ok() };
        ctx.spawn(
            fut::wrap_future(stopping).map(|stopping, this: &mut Self, ctx| {
                if stopping {
                    this.close(ctx, "server shutting down".to_owned());
                }
            }),
        );
        log::debug!("ws connected client={} vsn={:?}", self.client, self.vsn);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.connections.fetch_sub(1, Ordering::Relaxed);
        if let Some(key) = self.key.take() {
            self.registry.do_send(Unsubscribe(key));
        }
        log::debug!("ws disconnected client={}", self.client);
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for Session {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        self.last_seen = Instant::now();
        match msg {
            Ok(ws::Message::Text(text)) => self.handle_frame(&text, ctx),
            Ok(ws::Message::Ping(bytes)) => ctx.pong(&bytes),
            Ok(ws::Message::Close(reason)) => {
                ctx.close(reason);
                ctx.stop();
            }
            Ok(ws::Message::Pong(_) | ws::Message::Binary(_) | ws::Message::Nop) => {}
            Ok(ws::Message::Continuation(_)) => {
                log::debug!("ws continuation frame ignored client={}", self.client);
            }
            Err(e) => {
                log::info!("ws protocol error client={} error={e}", self.client);
                let code = match e {
                    ws::ProtocolError::Overflow => ws::CloseCode::Size,
                    _ => ws::CloseCode::Protocol,
                };
                ctx.close(Some(ws::CloseReason {
                    code,
                    description: Some(e.to_string()),
                }));
                ctx.stop();
            }
        }
    }
}

impl Handler<Push> for Session {
    type Result = ();

    fn handle(&mut self, push: Push, ctx: &mut Self::Context) {
        match push {
            Push::Kill { kill, system_count } => self.deliver(kill, system_count, ctx),
            Push::Close(reason) => self.close(ctx, reason),
        }
    }
}
