//! Server-Sent Events (SPEC §5): `/api/v1/kills/stream` and `/api/v1/kills/stream/enhanced`.
//!
//! A stream registers with the subscription registry like any subscriber, through a small
//! forwarding actor whose queue is a bounded channel the response body reads. History (stored
//! kills within `preload_days`, or after the `Last-Event-ID` offset on the enhanced stream) is
//! read from the store after registering, so a kill stored in between is neither lost nor sent
//! twice. The body ends when the client goes away (which frees its connection slot and its
//! registration at once), when it falls `max_queued_kills` behind, or when the service stops.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ::actors::model::{now_iso, CharacterId, Filter, KillTime, KillmailId, SystemId};
use ::actors::model::{write_json_array, StoredKill};
use ::actors::registry::{Channel, Push, Registry, Subscribe, SubscriberKey, Unsubscribe};
use actix::prelude::{Actor, ActorContext, Addr, Context, Handler};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

use super::errors::ApiError;
use super::middleware::random_id;
use super::{json, AppState};

/// At most this many ids in `system_ids` and in `character_ids`.
const MAX_IDS: usize = 100;
/// `preload_days` above this is capped.
const MAX_PRELOAD_DAYS: u64 = 90;
/// Kills per `batch` event of the enhanced stream.
const BATCH: usize = 50;
/// At most this many stored kills replayed into one stream (history or resume).
const MAX_REPLAY: usize = 10_000;

/// The SSE settings and the connection slots every stream takes one of.
pub struct SseState {
    pub keepalive: Duration,
    pub heartbeat: Duration,
    pub max_queued_kills: usize,
    slots: Slots,
}

impl SseState {
    pub fn new(
        keepalive: Duration,
        heartbeat: Duration,
        max_queued_kills: usize,
        max_connections: usize,
        max_per_ip: usize,
    ) -> Self {
        Self {
            keepalive,
            heartbeat,
            max_queued_kills,
            slots: Slots {
                inner: Arc::new(Mutex::new(SlotCounts::default())),
                max_total: max_connections,
                max_per_ip,
            },
        }
    }

    /// Open streams.
    pub fn connections(&self) -> usize {
        self.slots.lock().total
    }
}

struct Slots {
    inner: Arc<Mutex<SlotCounts>>,
    max_total: usize,
    max_per_ip: usize,
}

#[derive(Default)]
struct SlotCounts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

impl Slots {
    fn lock(&self) -> std::sync::MutexGuard<'_, SlotCounts> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn acquire(&self, ip: IpAddr) -> Option<Slot> {
        let mut counts = self.lock();
        let of_ip = counts.per_ip.get(&ip).copied().unwrap_or(0);
        if counts.total >= self.max_total || of_ip >= self.max_per_ip {
            return None;
        }
        counts.total += 1;
        counts.per_ip.insert(ip, of_ip + 1);
        Some(Slot {
            counts: Arc::clone(&self.inner),
            ip,
        })
    }
}

/// One taken connection slot, given back on drop.
struct Slot {
    counts: Arc<Mutex<SlotCounts>>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.per_ip.remove(&self.ip);
            }
        }
    }
}

/// The validated query of both streams.
#[derive(Debug, PartialEq)]
struct StreamQuery {
    systems: Vec<SystemId>,
    characters: Vec<CharacterId>,
    min_value: Option<f64>,
    preload_days: u64,
}

impl StreamQuery {
    fn parse(query: &HashMap<String, String>) -> Result<Self, String> {
        let systems = id_list(query, "system_ids", SystemId::new)?;
        let characters = id_list(query, "character_ids", CharacterId::new)?;
        let min_value = match query.get("min_value").map(|v| v.trim()) {
            None | Some("") => None,
            Some(text) => {
                let value: f64 = text
                    .parse()
                    .ok()
                    .filter(|v: &f64| v.is_finite())
                    .ok_or_else(|| format!("Invalid min_value: '{text}' is not a valid number"))?;
                if value < 0.0 {
                    return Err(format!("min_value must be non-negative, got {value:?}"));
                }
                Some(value)
            }
        };
        let preload_days = match query.get("preload_days").map(|v| v.trim()) {
            None | Some("") => 0,
            Some(text) => text
                .parse::<u64>()
                .map_err(|_| format!("Invalid preload_days: '{text}' is not a valid integer"))?
                .min(MAX_PRELOAD_DAYS),
        };
        Ok(Self {
            systems,
            characters,
            min_value,
            preload_days,
        })
    }

    /// No system and no character: every kill (still subject to `min_value`).
    fn filter(&self) -> Filter {
        Filter {
            systems: self.systems.iter().copied().collect(),
            characters: self.characters.iter().copied().collect(),
            all: self.systems.is_empty() && self.characters.is_empty(),
            min_value: self.min_value,
        }
    }

    fn describe(&self) -> Value {
        json!({
            "system_ids": self.systems,
            "character_ids": self.characters,
            "min_value": self.min_value,
            "preload_days": self.preload_days,
        })
    }
}

/// A comma-separated id list: each element an integer id, at most [`MAX_IDS`].
fn id_list<T>(
    query: &HashMap<String, String>,
    key: &str,
    id: impl Fn(u64) -> Option<T>,
) -> Result<Vec<T>, String> {
    let Some(text) = query.get(key) else {
        return Ok(Vec::new());
    };
    let items: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if items.len() > MAX_IDS {
        return Err(format!("Too many {key} specified (max {MAX_IDS})"));
    }
    items
        .iter()
        .map(|item| {
            item.parse()
                .ok()
                .and_then(&id)
                .ok_or_else(|| format!("Invalid {key}: '{item}' is not a valid integer"))
        })
        .collect()
}

fn validation_error(message: String) -> HttpResponse {
    json(
        StatusCode::BAD_REQUEST,
        &json!({"error": {"domain": "validation", "type": "invalid_format", "message": message,
                          "details": null, "retryable": false}}),
    )
}

fn connection_limit() -> HttpResponse {
    json(
        StatusCode::SERVICE_UNAVAILABLE,
        &json!({"error": {"type": "connection_limit_reached",
                          "message": "Too many active SSE connections"}}),
    )
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Plain,
    Enhanced,
}

/// `GET /api/v1/kills/stream`
pub async fn stream(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    open(req, state, Mode::Plain).await
}

/// `GET /api/v1/kills/stream/enhanced`
pub async fn enhanced(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    open(req, state, Mode::Enhanced).await
}

async fn open(
    req: HttpRequest,
    state: web::Data<AppState>,
    mode: Mode,
) -> Result<HttpResponse, ApiError> {
    let params = web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    let query = match StreamQuery::parse(&params) {
        Ok(query) => query,
        Err(message) => return Ok(validation_error(message)),
    };
    let ip = super::limits::peer_ip(req.peer_addr());
    let Some(slot) = state.sse.slots.acquire(ip) else {
        log::warn!("sse connection refused, limit reached ip={ip}");
        return Ok(connection_limit());
    };
    let resume_after = (mode == Mode::Enhanced)
        .then(|| req.headers().get("last-event-id"))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());

    // Register first, then read history: a kill stored in between arrives live and is skipped
    // there if history already had it.
    let (tx, rx) = mpsc::channel(state.sse.max_queued_kills.max(1));
    let forwarder = Forwarder { tx }.start();
    let filter = query.filter();
    let key = state
        .engine
        .registry
        .send(Subscribe {
            key: None,
            recipient: forwarder.recipient(),
            filter: filter.clone(),
            channel: Channel::Sse,
            subscription_id: random_id(),
            subscriber: format!("sse:{ip}"),
            callback_url: None,
        })
        .await?;
    let registration = Registration {
        registry: state.engine.registry.clone(),
        key,
    };

    let store = &state.engine.store;
    let history = match (mode, resume_after) {
        (Mode::Enhanced, Some(after)) => {
            store
                .replay(filter, after, store.retention_start(), MAX_REPLAY)
                .await?
        }
        (_, _) if query.preload_days > 0 => {
            let since = KillTime::now().minus_secs(query.preload_days as i64 * 86_400);
            store.replay(filter, 0, since, MAX_REPLAY).await?
        }
        _ => Vec::new(),
    };
    log::info!(
        "sse stream opened ip={ip} enhanced={} history={} resume_after={resume_after:?}",
        mode == Mode::Enhanced,
        history.len()
    );

    let mut body = Body {
        mode,
        pending: VecDeque::new(),
        sent: history.iter().map(|k| k.facts.killmail_id).collect(),
        rx,
        stats: Arc::clone(&state.engine.stats),
        idle: state.sse.keepalive,
        heartbeat: state.sse.heartbeat,
        quiet_until: Instant::now() + period(mode, &state.sse),
        shutdown: state.shutdown.clone(),
        ended: false,
        _slot: slot,
        _registration: registration,
    };
    body.opening(&query, &history, resume_after.is_some());
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(body.into_stream()))
}

/// The registry's subscriber for one stream: hands each push to the response body.
struct Forwarder {
    tx: mpsc::Sender<Push>,
}

impl Actor for Forwarder {
    type Context = Context<Self>;
}

impl Handler<Push> for Forwarder {
    type Result = ();

    fn handle(&mut self, push: Push, ctx: &mut Context<Self>) {
        match self.tx.try_send(push) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                // Dropping the sender ends the body once it has read what is queued.
                log::warn!("sse client too slow, closing");
                ctx.stop();
            }
            Err(mpsc::error::TrySendError::Closed(_)) => ctx.stop(),
        }
    }
}

/// Removes the stream from the registry when the body is dropped.
struct Registration {
    registry: Addr<Registry>,
    key: SubscriberKey,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.do_send(Unsubscribe(self.key));
    }
}

/// The response body's state.
struct Body {
    mode: Mode,
    pending: VecDeque<web::Bytes>,
    /// Kill ids sent from history: their live copies are skipped.
    sent: HashSet<KillmailId>,
    rx: mpsc::Receiver<Push>,
    stats: Arc<::actors::stats::Stats>,
    idle: Duration,
    heartbeat: Duration,
    /// When the next `: ping` (after silence) or `heartbeat` (periodic) is due.
    quiet_until: Instant,
    shutdown: watch::Receiver<bool>,
    ended: bool,
    _slot: Slot,
    _registration: Registration,
}

enum Wake {
    Push(Option<Push>),
    Quiet,
    Shutdown,
}

impl Body {
    /// What goes out before any live kill.
    fn opening(&mut self, query: &StreamQuery, history: &[Arc<StoredKill>], resumed: bool) {
        match self.mode {
            Mode::Plain => {
                self.pending
                    .push_back(web::Bytes::from_static(b"retry: 2000\n\n"));
                for kill in history {
                    self.pending.push_back(data_event(kill));
                }
            }
            Mode::Enhanced => {
                let connected = json!({"status": "connected", "filters": query.describe(),
                                       "timestamp": now_iso()});
                self.pending
                    .push_back(named("connected", None, connected.to_string().as_bytes()));
                if resumed {
                    for kill in history {
                        self.pending.push_back(killmail_event(kill));
                    }
                } else if query.preload_days > 0 {
                    let total_batches = history.len().div_ceil(BATCH);
                    for (n, batch) in history.chunks(BATCH).enumerate() {
                        let mut data = b"{\"kills\":".to_vec();
                        write_json_array(&mut data, batch);
                        data.extend_from_slice(
                            format!(
                                ",\"count\":{},\"batch_number\":{},\"total_batches\":{total_batches}}}",
                                batch.len(),
                                n + 1
                            )
                            .as_bytes(),
                        );
                        let last = batch.last().map(|k| k.offset);
                        self.pending.push_back(named("batch", last, &data));
                    }
                }
                if resumed || query.preload_days > 0 {
                    let transition = json!({"status": "historical_complete",
                                            "total_historical": history.len(),
                                            "timestamp": now_iso()});
                    self.pending.push_back(named(
                        "transition",
                        None,
                        transition.to_string().as_bytes(),
                    ));
                }
            }
        }
    }

    fn into_stream(self) -> impl futures_util::Stream<Item = Result<web::Bytes, actix_web::Error>> {
        futures_util::stream::unfold(self, |mut body| async move {
            let chunk = body.next_chunk().await?;
            Some((Ok(chunk), body))
        })
    }

    async fn next_chunk(&mut self) -> Option<web::Bytes> {
        loop {
            if let Some(chunk) = self.pending.pop_front() {
                return Some(chunk);
            }
            if self.ended {
                return None;
            }
            let wake = tokio::select! {
                push = self.rx.recv() => Wake::Push(push),
                () = actix_web::rt::time::sleep_until(self.quiet_until.into()) => Wake::Quiet,
                _ = self.shutdown.wait_for(|stopping| *stopping) => Wake::Shutdown,
            };
            match wake {
                Wake::Push(Some(Push::Kill { kill, .. })) => {
                    if !self.sent.remove(&kill.facts.killmail_id) {
                        self.stats
                            .delivery_sse_seconds
                            .observe(kill.stored_at.elapsed());
                        self.pending.push_back(match self.mode {
                            Mode::Plain => {
                                self.quiet_until = Instant::now() + self.idle;
                                data_event(&kill)
                            }
                            Mode::Enhanced => killmail_event(&kill),
                        });
                    }
                }
                Wake::Push(Some(Push::Close(reason))) => self.end(&reason),
                Wake::Push(None) => self.end("too slow to keep up with kills"),
                Wake::Quiet => {
                    let (chunk, period) = match self.mode {
                        Mode::Plain => (web::Bytes::from_static(b": ping\n\n"), self.idle),
                        Mode::Enhanced => {
                            let beat = json!({"timestamp": now_iso(), "mode": "live"});
                            let chunk = named("heartbeat", None, beat.to_string().as_bytes());
                            (chunk, self.heartbeat)
                        }
                    };
                    self.quiet_until = Instant::now() + period;
                    self.pending.push_back(chunk);
                }
                Wake::Shutdown => self.end("server shutting down"),
            }
        }
    }

    /// Ends the stream, telling an enhanced client why.
    fn end(&mut self, reason: &str) {
        if self.mode == Mode::Enhanced {
            let error = json!({"type": "stream_closed", "message": reason, "timestamp": now_iso()});
            self.pending
                .push_back(named("error", None, error.to_string().as_bytes()));
        }
        self.ended = true;
    }
}

/// The silence before a `: ping` (plain) or the period of `heartbeat` (enhanced).
fn period(mode: Mode, sse: &SseState) -> Duration {
    match mode {
        Mode::Plain => sse.keepalive,
        Mode::Enhanced => sse.heartbeat,
    }
}

/// `data: <killmail>\n\n`: an unnamed event, what a browser's `onmessage` gets.
fn data_event(kill: &StoredKill) -> web::Bytes {
    let mut out = Vec::with_capacity(kill.json.len() + 8);
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(&kill.json);
    out.extend_from_slice(b"\n\n");
    out.into()
}

fn killmail_event(kill: &StoredKill) -> web::Bytes {
    named("killmail", Some(kill.offset), &kill.json)
}

/// `event: <name>\n[id: <offset>\n]data: <json>\n\n` (the JSON holds no raw newline).
fn named(event: &str, id: Option<u64>, data: &[u8]) -> web::Bytes {
    let mut out = Vec::with_capacity(data.len() + 48);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(event.as_bytes());
    out.push(b'\n');
    if let Some(id) = id {
        out.extend_from_slice(format!("id: {id}\n").as_bytes());
    }
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\n\n");
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<StreamQuery, String> {
        let query = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        StreamQuery::parse(&query)
    }

    #[test]
    fn bad_filters_get_the_documented_messages() {
        assert_eq!(
            parse(&[("system_ids", "30000142,x")]).unwrap_err(),
            "Invalid system_ids: 'x' is not a valid integer"
        );
        assert_eq!(
            parse(&[("character_ids", "-5")]).unwrap_err(),
            "Invalid character_ids: '-5' is not a valid integer"
        );
        assert_eq!(
            parse(&[("min_value", "-100")]).unwrap_err(),
            "min_value must be non-negative, got -100.0"
        );
        assert_eq!(
            parse(&[("min_value", "x")]).unwrap_err(),
            "Invalid min_value: 'x' is not a valid number"
        );
        let many = (1..=101)
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(
            parse(&[("system_ids", &many)]).unwrap_err(),
            "Too many system_ids specified (max 100)"
        );
    }

    #[test]
    fn no_ids_means_every_kill_and_preload_days_is_capped() {
        let query = parse(&[("min_value", "1e9"), ("preload_days", "365")]).expect("valid");

        let filter = query.filter();

        assert!(filter.all);
        assert_eq!(filter.min_value, Some(1e9));
        assert_eq!(query.preload_days, 90);
        let query = parse(&[("system_ids", " 30000142 , 30002187,")]).expect("valid");
        assert!(!query.filter().all);
        assert_eq!(query.systems.len(), 2);
    }

    #[test]
    fn slots_are_capped_per_ip_and_in_total_and_given_back_on_drop() {
        let slots = Slots {
            inner: Arc::default(),
            max_total: 3,
            max_per_ip: 2,
        };
        let (a, b) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));

        let first = slots.acquire(a).expect("free");
        let _second = slots.acquire(a).expect("free");
        assert!(slots.acquire(a).is_none(), "per-IP cap");
        let _third = slots.acquire(b).expect("free");
        assert!(slots.acquire(b).is_none(), "total cap");
        drop(first);
        assert!(slots.acquire(a).is_some(), "a closed stream frees its slot");
    }
}
