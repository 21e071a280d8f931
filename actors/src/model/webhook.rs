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
    /// How each delivery's body is written.
    pub format: WebhookFormat,
    pub created_at: String,
}

/// The body a webhook receives: the service's JSON, or a chat message its receiver posts as is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WebhookFormat {
    /// `{"type": "killmail_update", "system_id", "kills", "timestamp"}`.
    #[default]
    Json,
    /// A Discord webhook message: up to 10 embeds, one per kill.
    Discord,
    /// A Slack incoming-webhook message: `text` and blocks.
    Slack,
}

impl WebhookFormat {
    pub const NAMES: &'static str = "json, discord, slack";

    pub fn named(name: &str) -> Option<Self> {
        match name {
            "json" => Some(Self::Json),
            "discord" => Some(Self::Discord),
            "slack" => Some(Self::Slack),
            _ => None,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Discord => "discord",
            Self::Slack => "slack",
        }
    }
}
