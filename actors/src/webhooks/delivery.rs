//! What one webhook delivery sends: its headers, its body (the stored JSON of each kill, not
//! serialized again), its signature, and the wait before the next attempt.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use ring::hmac;

use crate::config::WebhookSettings;
use crate::model::{now_iso, write_json_array_with, Filter, StoredKill};
use crate::upstream::http::Answer;

/// Header names of a delivery.
pub mod header {
    /// Stable across the attempts of one delivery.
    pub const DELIVERY: &str = "x-wanderer-delivery";
    pub const EVENT: &str = "x-wanderer-event";
    /// 1 for the first attempt.
    pub const ATTEMPT: &str = "x-wanderer-attempt";
    /// `sha256=<hex HMAC-SHA256 of the body with the subscription's secret>`, when it has one.
    pub const SIGNATURE: &str = "x-wanderer-signature";
}

/// What a delivery calls itself in `User-Agent`.
pub const USER_AGENT: &str = concat!(
    "WandererKills/1.0 (wanderer-kills/",
    env!("CARGO_PKG_VERSION"),
    ")"
);

/// `retry_base_ms × 2^(attempt-1)`, times a jitter factor in 0.5..1.5.
pub fn backoff(settings: &WebhookSettings, attempt: u32) -> Duration {
    let base = Duration::from_millis(settings.retry_base_ms);
    let doubled = base.saturating_mul(1 << attempt.saturating_sub(1).min(16));
    doubled.mul_f64(rand::rng().random_range(0.5..1.5))
}

/// `{"type":"killmail_update","system_id":..,"kills":[..],"timestamp":".."}`, from the stored
/// JSON of each kill, with the names of the subscription's rules it matched.
pub fn payload(system: u64, kills: &[Arc<StoredKill>], filter: &Filter) -> Vec<u8> {
    let mut out =
        format!(r#"{{"type":"killmail_update","system_id":{system},"kills":"#).into_bytes();
    write_json_array_with(&mut out, kills, |k, out| {
        k.write_json_matched(&filter.matched_names(&k.facts), out)
    });
    out.extend_from_slice(format!(r#","timestamp":"{}"}}"#, now_iso()).as_bytes());
    out
}

/// How long a receiver asked to be left alone, the longest of what it said: `Retry-After`
/// (seconds, whole or not), Discord's `X-RateLimit-Reset-After` and its JSON `retry_after`.
pub fn asked_wait(answer: &Answer) -> Option<Duration> {
    let header = |name: &str| {
        answer
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    let body = serde_json::from_slice::<serde_json::Value>(&answer.body)
        .ok()
        .and_then(|v| v.get("retry_after").and_then(serde_json::Value::as_f64));
    [
        header("retry-after"),
        header("x-ratelimit-reset-after"),
        body,
    ]
    .into_iter()
    .flatten()
    .filter(|s| s.is_finite() && *s >= 0.0)
    .map(|s| Duration::from_secs_f64(s.min(3_600.0)))
    .max()
}

/// `sha256=<hex HMAC-SHA256 of the body>`.
pub fn signature(key: &hmac::Key, body: &[u8]) -> String {
    format!("sha256={}", hex(hmac::sign(key, body).as_ref()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> WebhookSettings {
        WebhookSettings {
            allow_private_targets: false,
            timeout_ms: 10_000,
            max_attempts: 6,
            retry_base_ms: 1_000,
            retry_max_ms: 60_000,
            max_queued: 10,
            max_batch: 10,
        }
    }

    fn answer(headers: &[(&'static str, &'static str)], body: &str) -> Answer {
        let mut map = awc::http::header::HeaderMap::new();
        for (name, value) in headers {
            map.insert(
                awc::http::header::HeaderName::from_static(name),
                awc::http::header::HeaderValue::from_static(value),
            );
        }
        Answer {
            status: awc::http::StatusCode::TOO_MANY_REQUESTS,
            headers: map,
            body: bytes::Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn a_receiver_s_wait_is_read_from_discord_s_headers_and_body_and_the_longest_wins() {
        let discord = answer(
            &[("retry-after", "1"), ("x-ratelimit-reset-after", "1.5")],
            r#"{"message": "You are being rate limited.", "retry_after": 0.75, "global": false}"#,
        );
        assert_eq!(asked_wait(&discord), Some(Duration::from_millis(1500)));
        let body_only = answer(&[], r#"{"retry_after": 0.25}"#);
        assert_eq!(asked_wait(&body_only), Some(Duration::from_millis(250)));
        assert_eq!(
            asked_wait(&answer(&[("retry-after", "soon")], "<html>")),
            None
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_around_the_base() {
        let s = settings();
        for attempt in 1..=5u32 {
            let wait = backoff(&s, attempt);
            let centre = 1_000u64 << (attempt - 1);
            assert!(
                wait >= Duration::from_millis(centre / 2)
                    && wait < Duration::from_millis(centre * 3 / 2),
                "attempt {attempt}: {wait:?}"
            );
        }
    }

    #[test]
    fn the_signature_is_the_hex_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"Jefe");
        let tag = hmac::sign(&key, b"what do ya want for nothing?");

        assert_eq!(
            hex(tag.as_ref()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
