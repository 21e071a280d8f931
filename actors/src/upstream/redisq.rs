//! RedisQ: `listen.php?queueID=&ttw=` long-polls for the queue's next kill.

use std::time::Duration;

use super::http::{FetchError, Http};
use crate::config::UpstreamSettings;
use crate::model::{FeedKill, RedisqResponse};

/// Time allowed beyond `ttw` for the answer to arrive.
const LONG_POLL_MARGIN: Duration = Duration::from_secs(10);

pub struct RedisqClient {
    http: Http,
    /// The full request URL, queue id and ttw included.
    url: String,
    timeout: Duration,
}

impl RedisqClient {
    /// `ttw` is clamped to RedisQ's 1..=10 seconds.
    pub fn new(listen_url: &str, queue_id: &str, ttw: u64, upstream: &UpstreamSettings) -> Self {
        let ttw = ttw.clamp(1, 10);
        let separator = if listen_url.contains('?') { '&' } else { '?' };
        Self {
            http: Http::new(upstream),
            url: format!(
                "{listen_url}{separator}queueID={}&ttw={ttw}",
                percent_encode(queue_id)
            ),
            timeout: Duration::from_secs(ttw) + LONG_POLL_MARGIN,
        }
    }

    /// The queue's next kill, or `None` when nothing arrived within `ttw`. Redirects are followed.
    pub async fn listen(&self) -> Result<Option<FeedKill>, FetchError> {
        let answer = self.http.get(&self.url, Some(self.timeout), &[]).await?;
        if !answer.status.is_success() {
            return Err(answer.error());
        }
        match answer.json::<RedisqResponse>()?.package {
            None => Ok(None),
            Some(package) => package.into_feed_kill().map(Some).ok_or_else(|| {
                FetchError::Malformed("package without killID or zkb.hash".to_owned())
            }),
        }
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn queue_ids_are_percent_encoded() {
        assert_eq!(super::percent_encode("wk-1_a.b~"), "wk-1_a.b~");
        assert_eq!(super::percent_encode("a b&c"), "a%20b%26c");
    }
}
