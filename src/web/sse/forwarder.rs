//! The registry's subscriber for one stream: hands each push to the response body through a
//! bounded channel, and the guard that removes the stream from the registry when the body goes.

use ::actors::registry::{Push, Registry, SubscriberKey, Unsubscribe};
use actix::prelude::{Actor, ActorContext, Addr, Context, Handler};
use tokio::sync::mpsc;

/// Forwards pushes to one stream's body.
pub struct Forwarder {
    pub tx: mpsc::Sender<Push>,
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
pub struct Registration {
    pub registry: Addr<Registry>,
    pub key: SubscriberKey,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.do_send(Unsubscribe(self.key));
    }
}
