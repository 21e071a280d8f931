//! A webhook subscription as the service keeps it: created through the API, run by the webhook
//! actors, saved by the journal.

use super::Filter;

/// A webhook subscription as created through the API.
#[derive(Clone, Debug)]
pub struct WebhookSubscription {
    pub id: String,
    pub subscriber_id: String,
    pub callback_url: String,
    /// Signs every body when set.
    pub secret: Option<String>,
    pub filter: Filter,
    pub created_at: String,
}
