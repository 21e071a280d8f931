//! Cluster mode's webhook subscriptions: kept in a book every instance shares (a KV bucket), so
//! any instance can create, list and delete them. Each instance mirrors the book into its own
//! running endpoints; the kills themselves reach one instance each (see `cluster/`).

use actix::prelude::*;
use futures_util::future::LocalBoxFuture;

use super::Webhooks;
use crate::model::WebhookSubscription;

/// The shared book of subscriptions.
pub trait WebhookBook {
    /// Saves a subscription; answers once every instance can read it.
    fn save(
        &self,
        subscription: &WebhookSubscription,
    ) -> LocalBoxFuture<'static, Result<(), String>>;
    /// Removes a subscription from the book.
    fn forget(&self, id: &str);
}

/// A change of the shared book, as every instance sees it.
#[derive(Message)]
#[rtype(result = "()")]
pub enum Mirror {
    Saved(WebhookSubscription),
    Forgotten(String),
}

impl Handler<Mirror> for Webhooks {
    type Result = ();

    fn handle(&mut self, change: Mirror, ctx: &mut Context<Self>) {
        match change {
            Mirror::Saved(subscription) if !self.running.contains_key(&subscription.id) => {
                log::info!(
                    "webhook subscription mirrored id={} subscriber={}",
                    subscription.id,
                    subscription.subscriber_id
                );
                self.run(subscription, ctx);
            }
            Mirror::Saved(_) => {}
            Mirror::Forgotten(id) => self.stop(&id),
        }
    }
}
