//! The session's transport: its life as an actor (timers, shutdown, connection count), the
//! WebSocket messages it reads, the pushes the registry sends it, and how it closes.

use std::time::{Duration, Instant};

use ::actors::registry::{Push, Unsubscribe};
use actix::prelude::*;
use actix_web_actors::ws;
use awc::ws::Message;

use super::Session;

/// The shortest wait between two wake-ups of a session's deadline timer.
const MIN_TICK: Duration = Duration::from_millis(20);
use crate::web::socket::frames::killmail_update;

impl Session {
    /// Sends a close frame with `reason` and stops.
    fn close(&self, ctx: &mut ws::WebsocketContext<Self>, reason: String) {
        self.close_with(
            ctx,
            Some(ws::CloseReason {
                code: ws::CloseCode::Away,
                description: Some(reason),
            }),
        );
    }

    /// Queues a close frame after everything written so far, and stops: nothing follows it.
    fn close_with(&self, ctx: &mut ws::WebsocketContext<Self>, reason: Option<ws::CloseReason>) {
        *self.live.target.borrow_mut() = None;
        self.live.outlet.message(Message::Close(reason));
        ctx.stop();
    }

    /// Wakes the session at its next deadline only: when it would be idle too long, or (joined)
    /// when its quiet keepalive is due. An idle client that sends its heartbeat costs one wake-up
    /// per heartbeat period or so, not one per second: 10 000 idle connections stay cheap.
    fn schedule_tick(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        let now = Instant::now();
        let idle_at = self.last_seen + self.settings.idle_timeout;
        let quiet_at = match self.lobby {
            Some(_) => self.live.last_push.get() + self.settings.quiet_keepalive,
            None => now + self.settings.quiet_keepalive,
        };
        let wait = idle_at
            .min(quiet_at)
            .saturating_duration_since(now)
            .max(MIN_TICK);
        ctx.run_later(wait, |this, ctx| {
            this.tick(ctx);
            this.schedule_tick(ctx);
        });
    }

    /// Closes idle sockets and sends the quiet keepalive.
    fn tick(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        if self.last_seen.elapsed() >= self.settings.idle_timeout {
            log::info!("ws idle timeout client={}", self.client());
            self.close(ctx, "idle timeout".to_owned());
            return;
        }
        let quiet_system = self
            .lobby
            .as_ref()
            .and_then(|l| l.systems.iter().next().copied());
        if let Some(system) = quiet_system {
            if self.live.last_push.get().elapsed() >= self.settings.quiet_keepalive {
                let payload = killmail_update(system, &[], false);
                self.push("killmail_update", &payload);
            }
        }
    }
}

impl Actor for Session {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.settings.max_queued_kills);
        self.schedule_tick(ctx);
        let mut shutdown = self.shutdown.clone();
        let stopping = async move { shutdown.wait_for(|stopping| *stopping).await.is_ok() };
        ctx.spawn(
            fut::wrap_future(stopping).map(|stopping, this: &mut Self, ctx| {
                if stopping {
                    this.close(ctx, "server shutting down".to_owned());
                }
            }),
        );
        // Its own task: a session whose client does not read is not polled, timers included.
        let (drain, stall, client) = (
            self.live.outlet.drain().clone(),
            self.settings.stall_timeout,
            self.client().clone(),
        );
        actix_web::rt::spawn(async move {
            if drain.watch(stall).await {
                log::warn!(
                    "ws client not reading, connection cut client={client} stall_ms={}",
                    stall.as_millis()
                );
            }
        });
        log::debug!("ws connected client={} vsn={:?}", self.client(), self.vsn);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        *self.live.target.borrow_mut() = None;
        self.live.outlet.drain().end();
        if let Some(key) = self.key.take() {
            self.registry.do_send(Unsubscribe(key));
        }
        log::debug!("ws disconnected client={}", self.client());
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for Session {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        self.last_seen = Instant::now();
        match msg {
            Ok(ws::Message::Text(text)) => self.handle_frame(&text, ctx),
            Ok(ws::Message::Ping(bytes)) => self.live.outlet.message(Message::Pong(bytes)),
            Ok(ws::Message::Close(reason)) => self.close_with(ctx, reason),
            Ok(ws::Message::Pong(_) | ws::Message::Binary(_) | ws::Message::Nop) => {}
            Ok(ws::Message::Continuation(_)) => {
                log::debug!("ws continuation frame ignored client={}", self.client());
            }
            Err(e) => {
                log::info!("ws protocol error client={} error={e}", self.client());
                let code = match e {
                    ws::ProtocolError::Overflow => ws::CloseCode::Size,
                    _ => ws::CloseCode::Protocol,
                };
                let reason = ws::CloseReason {
                    code,
                    description: Some(e.to_string()),
                };
                self.close_with(ctx, Some(reason));
            }
        }
    }
}

impl Handler<Push> for Session {
    type Result = ();

    fn handle(&mut self, push: Push, ctx: &mut Self::Context) {
        match push {
            Push::Kill {
                kill, system_count, ..
            } => self.live.deliver(&kill, system_count),
            Push::Close(reason) => self.close(ctx, reason),
        }
    }
}
