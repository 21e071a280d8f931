//! A webhook subscription request as the API receives it (SPEC §4.2), checked in the documented
//! order: the first failure is the message the caller sees.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::model::filter::rules_from_json;
use crate::model::{CharacterId, Filter, FilterLimits, SystemId, WebhookFormat};

/// System ids one subscription may name.
pub const MAX_SYSTEMS: usize = 100;
/// Character ids one subscription may name.
pub const MAX_CHARACTERS: usize = 1000;

/// A validated webhook subscription request.
#[derive(Debug)]
pub struct WebhookRequest {
    pub subscriber_id: String,
    pub callback_url: String,
    pub secret: Option<String>,
    pub filter: Filter,
    pub format: WebhookFormat,
}

impl WebhookRequest {
    /// Validates in SPEC §4.2's order, then the filter rules; the first failure is the message.
    pub fn parse(body: &Value, limits: &FilterLimits) -> Result<Self, String> {
        let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::trim);
        let subscriber_id = text("subscriber_id")
            .filter(|s| !s.is_empty())
            .ok_or("subscriber_id is required")?;
        let callback_url = match body.get("callback_url") {
            None | Some(Value::Null) => return Err("callback_url is required".into()),
            Some(Value::String(s)) if s.trim().is_empty() => {
                return Err("callback_url is required".into())
            }
            Some(url) => url
                .as_str()
                .map(str::trim)
                .filter(|u| is_http_url(u))
                .ok_or("callback_url must be a valid HTTP/HTTPS URL")?,
        };
        let systems: BTreeSet<SystemId> = ids(body.get("system_ids"))
            .ok_or("system_ids must be an array of positive integers")?;
        let characters: BTreeSet<CharacterId> = ids(body.get("character_ids"))
            .ok_or("character_ids must be an array of positive integers")?;
        let rules = rules_from_json(body.get("filters"), 1, limits).map_err(|e| e.to_string())?;
        if systems.is_empty() && characters.is_empty() && rules.is_empty() {
            return Err("At least one system_id or character_id is required".into());
        }
        if systems.len() > MAX_SYSTEMS {
            return Err(format!(
                "Maximum {MAX_SYSTEMS} system_ids allowed per subscription"
            ));
        }
        if characters.len() > MAX_CHARACTERS {
            return Err(format!(
                "Maximum {MAX_CHARACTERS} character_ids allowed per subscription"
            ));
        }
        let format = match body.get("format") {
            None | Some(Value::Null) => WebhookFormat::default(),
            Some(v) => v
                .as_str()
                .and_then(WebhookFormat::named)
                .ok_or_else(|| format!("format must be one of {}", WebhookFormat::NAMES))?,
        };
        let secret = match body.get("secret") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(_) => return Err("secret must be a non-empty string".into()),
        };
        Ok(Self {
            subscriber_id: subscriber_id.to_owned(),
            callback_url: callback_url.to_owned(),
            secret,
            format,
            filter: Filter {
                systems,
                characters,
                ..Filter::of_rules(rules)
            },
        })
    }
}

/// An absolute `http`/`https` URL whose host is a name (letters, digits, dots, hyphens) or an
/// IP address (IPv6 in brackets).
fn is_http_url(text: &str) -> bool {
    let host_ok = |h: &str| {
        (h.starts_with('[') && h.ends_with(']'))
            || (!h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'))
    };
    text.parse::<awc::http::Uri>().is_ok_and(|uri| {
        matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some_and(host_ok)
    })
}

/// An absent or null list is empty; otherwise every element must be a positive integer id.
/// De-duplicated and sorted by the set.
fn ids<T>(value: Option<&Value>) -> Option<BTreeSet<T>>
where
    T: Ord + TryFrom<u64>,
{
    match value {
        None | Some(Value::Null) => Some(BTreeSet::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_u64().and_then(|n| T::try_from(n).ok()))
            .collect(),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error(body: Value) -> String {
        WebhookRequest::parse(&body, &FilterLimits::default()).expect_err("refused")
    }

    #[test]
    fn validation_follows_the_documented_order() {
        let url = "https://example.com/hook";
        assert_eq!(error(json!({})), "subscriber_id is required");
        assert_eq!(
            error(json!({"subscriber_id": "", "callback_url": url})),
            "subscriber_id is required"
        );
        assert_eq!(
            error(json!({"subscriber_id": "a", "callback_url": null})),
            "callback_url is required"
        );
        for bad in [
            json!("ftp://x/y"),
            json!("not a url"),
            json!("http://"),
            json!("https://hooks.example.org*/x"),
            json!("http://a_b.example/"),
            json!(5),
        ] {
            assert_eq!(
                error(json!({"subscriber_id": "a", "callback_url": bad})),
                "callback_url must be a valid HTTP/HTTPS URL"
            );
        }
        assert_eq!(
            error(json!({"subscriber_id": "a", "callback_url": url, "system_ids": [1, 0]})),
            "system_ids must be an array of positive integers"
        );
        assert_eq!(
            error(json!({"subscriber_id": "a", "callback_url": url, "system_ids": "1"})),
            "system_ids must be an array of positive integers"
        );
        assert_eq!(
            error(
                json!({"subscriber_id": "a", "callback_url": url, "system_ids": "x", "character_ids": "y"})
            ),
            "system_ids must be an array of positive integers",
            "the first failure wins"
        );
        assert_eq!(
            error(json!({"subscriber_id": "a", "callback_url": url, "character_ids": [-3]})),
            "character_ids must be an array of positive integers"
        );
        assert_eq!(
            error(json!({"subscriber_id": "a", "callback_url": url, "system_ids": []})),
            "At least one system_id or character_id is required"
        );
        let many: Vec<u64> = (1..=101).collect();
        assert_eq!(
            error(json!({"subscriber_id": "a", "callback_url": url, "system_ids": many})),
            "Maximum 100 system_ids allowed per subscription"
        );
        let many: Vec<u64> = (1..=1001).collect();
        assert_eq!(
            error(json!({"subscriber_id": "a", "callback_url": url, "character_ids": many})),
            "Maximum 1000 character_ids allowed per subscription"
        );
    }

    #[test]
    fn id_lists_are_deduplicated_and_sorted() {
        let request = WebhookRequest::parse(
            &json!({
                "subscriber_id": "bot", "callback_url": "http://127.0.0.1:9/hook",
                "system_ids": [30002187, 30000142, 30002187], "secret": "s3cret"
            }),
            &FilterLimits::default(),
        )
        .expect("valid");

        let systems: Vec<u64> = request.filter.systems.iter().map(|s| s.get()).collect();
        assert_eq!(systems, vec![30000142, 30002187]);
        assert_eq!(request.secret.as_deref(), Some("s3cret"));
    }
}
