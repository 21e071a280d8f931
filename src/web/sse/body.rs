//! One stream's response body: what goes out before any live kill (history, batches,
//! transition), then live kills as they come, keep-alives after silence, and an end with a reason.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ::actors::model::{now_iso, write_json_array_with, Filter, StoredKill};
use ::actors::registry::seen::REMEMBERED_KILLS;
use ::actors::registry::{Push, SeenKills};
use actix_web::web;
use serde_json::json;
use tokio::sync::{mpsc, watch};

use super::events::{data_event, killmail_event, named};
use super::forwarder::Registration;
use super::query::StreamQuery;
use super::SseState;
use crate::web::slots::Slot;
use crate::web::AppState;

/// Kills per `batch` event of the enhanced stream.
const BATCH: usize = 50;

/// The plain stream (unnamed `data:` events) or the enhanced one (named events with ids).
#[derive(Clone, Copy, PartialEq)]
pub enum Mode {
    Plain,
    Enhanced,
}

/// The response body's state.
pub struct Body {
    mode: Mode,
    pending: VecDeque<web::Bytes>,
    /// Kill ids sent: a live copy of a history kill is skipped.
    sent: SeenKills,
    rx: mpsc::Receiver<Push>,
    stats: Arc<::actors::stats::Stats>,
    idle: Duration,
    heartbeat: Duration,
    /// When the next `: ping` (after silence) or `heartbeat` (periodic) is due.
    quiet_until: Instant,
    shutdown: watch::Receiver<bool>,
    ended: bool,
    /// What the stream follows: the names of its rules a kill matched go with the kill.
    filter: Arc<Filter>,
    _slot: Slot,
    _registration: Registration,
}

enum Wake {
    Push(Option<Push>),
    Quiet,
    Shutdown,
}

impl Body {
    pub fn new(
        mode: Mode,
        state: &AppState,
        rx: mpsc::Receiver<Push>,
        filter: Arc<Filter>,
        (slot, registration): (Slot, Registration),
    ) -> Self {
        Self {
            mode,
            pending: VecDeque::new(),
            sent: SeenKills::default(),
            rx,
            stats: Arc::clone(&state.engine.stats),
            idle: state.sse.keepalive,
            heartbeat: state.sse.heartbeat,
            quiet_until: Instant::now() + period(mode, &state.sse),
            shutdown: state.shutdown.clone(),
            ended: false,
            filter,
            _slot: slot,
            _registration: registration,
        }
    }

    /// What goes out before any live kill.
    pub fn opening(&mut self, query: &StreamQuery, history: &[Arc<StoredKill>], resumed: bool) {
        self.sent = SeenKills::with_capacity(REMEMBERED_KILLS + history.len());
        for kill in history {
            self.sent.first_time(kill.facts.killmail_id);
        }
        match self.mode {
            Mode::Plain => {
                self.pending
                    .push_back(web::Bytes::from_static(b"retry: 2000\n\n"));
                for kill in history {
                    let matched = self.filter.matched_names(&kill.facts);
                    self.pending.push_back(data_event(kill, &matched));
                }
            }
            Mode::Enhanced => {
                let connected = json!({"status": "connected", "filters": query.describe(),
                                       "timestamp": now_iso()});
                self.pending
                    .push_back(named("connected", None, connected.to_string().as_bytes()));
                if resumed {
                    for kill in history {
                        let matched = self.filter.matched_names(&kill.facts);
                        self.pending.push_back(killmail_event(kill, &matched));
                    }
                } else if query.preload_days > 0 {
                    let total_batches = history.len().div_ceil(BATCH);
                    for (n, batch) in history.chunks(BATCH).enumerate() {
                        let mut data = b"{\"kills\":".to_vec();
                        let filter = &self.filter;
                        write_json_array_with(&mut data, batch, |k, out| {
                            k.write_json_matched(&filter.matched_names(&k.facts), out)
                        });
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

    pub fn into_stream(
        self,
    ) -> impl futures_util::Stream<Item = Result<web::Bytes, actix_web::Error>> {
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
                    if self.sent.first_time(kill.facts.killmail_id) {
                        self.stats
                            .delivery_sse_seconds
                            .observe(kill.stored_at.elapsed());
                        let matched = self.filter.matched_names(&kill.facts);
                        self.pending.push_back(match self.mode {
                            Mode::Plain => {
                                self.quiet_until = Instant::now() + self.idle;
                                data_event(&kill, &matched)
                            }
                            Mode::Enhanced => killmail_event(&kill, &matched),
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
