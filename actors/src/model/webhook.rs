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

/// A subscription as cluster mode shares it between instances (one JSON record per id): the
/// same fields the journal saves.
#[derive(serde::Serialize, serde::Deserialize)]
struct Record {
    id: String,
    subscriber_id: String,
    callback_url: String,
    secret: Option<String>,
    system_ids: Vec<u64>,
    character_ids: Vec<u64>,
    rules: serde_json::Value,
    format: String,
    created_at: String,
}

impl WebhookSubscription {
    /// The subscription as a shared record.
    pub fn to_record(&self) -> Vec<u8> {
        let record = Record {
            id: self.id.clone(),
            subscriber_id: self.subscriber_id.clone(),
            callback_url: self.callback_url.clone(),
            secret: self.secret.clone(),
            system_ids: self.filter.systems.iter().map(|s| s.get()).collect(),
            character_ids: self.filter.characters.iter().map(|c| c.get()).collect(),
            rules: serde_json::to_value(&self.filter.rules).unwrap_or_default(),
            format: self.format.name().to_owned(),
            created_at: self.created_at.clone(),
        };
        // A record of strings, numbers and rules (which serialize) always serializes.
        serde_json::to_vec(&record).unwrap_or_default()
    }

    /// A subscription read back from a shared record; `None` when it is not one.
    pub fn from_record(bytes: &[u8]) -> Option<Self> {
        let record: Record = serde_json::from_slice(bytes).ok()?;
        let unbounded = super::FilterLimits {
            max_rules: usize::MAX,
            max_values_per_rule: usize::MAX,
        };
        let rules = super::filter::rules_from_json(Some(&record.rules), 1, &unbounded).ok()?;
        let filter = Filter {
            systems: record
                .system_ids
                .into_iter()
                .filter_map(super::SystemId::new)
                .collect(),
            characters: record
                .character_ids
                .into_iter()
                .filter_map(super::CharacterId::new)
                .collect(),
            ..Filter::of_rules(rules)
        };
        Some(Self {
            id: record.id,
            subscriber_id: record.subscriber_id,
            callback_url: record.callback_url,
            secret: record.secret,
            filter,
            format: WebhookFormat::named(&record.format)?,
            created_at: record.created_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FilterLimits, SystemId};

    #[test]
    fn a_subscription_reads_back_from_its_shared_record_unchanged() {
        let rule = serde_json::json!([{"ship_groups": [30], "role": "victim", "name": "titans"}]);
        let limits = FilterLimits {
            max_rules: 10,
            max_values_per_rule: 10,
        };
        let rules = crate::model::filter::rules_from_json(Some(&rule), 1, &limits).expect("a rule");
        let mut filter = Filter::of_rules(rules);
        filter
            .systems
            .insert(SystemId::new(30000142).expect("an id"));
        let subscription = WebhookSubscription {
            id: "abc".into(),
            subscriber_id: "bot".into(),
            callback_url: "https://example.org/hook".into(),
            secret: Some("s3cret".into()),
            filter,
            format: WebhookFormat::Discord,
            created_at: "2026-11-30T00:00:00Z".into(),
        };

        let back = WebhookSubscription::from_record(&subscription.to_record()).expect("reads");

        assert_eq!(back.to_record(), subscription.to_record());
        assert_eq!(back.format, WebhookFormat::Discord);
        assert_eq!(back.filter.rules.len(), 1);
        assert!(WebhookSubscription::from_record(b"{}").is_none());
    }
}
