//! R2Z2, zKillboard's feed: `sequence.json` names the published head, `{seq}.json` holds one
//! object (404 until it is published).

use std::time::Duration;

use super::http::{FetchError, Http, Pacer};
use crate::config::UpstreamSettings;
use crate::model::{R2z2Object, SequenceFile};

/// R2Z2 allows 10 requests/s; we stay at that ceiling at most.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

pub struct R2z2Client {
    http: Http,
    /// Base URL without trailing slash, e.g. `https://r2z2.zkillboard.com/ephemeral`.
    base: String,
    pacer: Pacer,
}

impl R2z2Client {
    pub fn new(base: &str, upstream: &UpstreamSettings) -> Self {
        Self {
            http: Http::new(upstream),
            base: base.trim_end_matches('/').to_owned(),
            pacer: Pacer::new(MIN_INTERVAL),
        }
    }

    /// The published head. It can trail the true head, so it is a lower bound.
    pub async fn head(&self) -> Result<u64, FetchError> {
        self.pacer.wait().await;
        let answer = self
            .http
            .get(&format!("{}/sequence.json", self.base), None, &[])
            .await?;
        if !answer.status.is_success() {
            return Err(answer.error());
        }
        answer
            .json::<SequenceFile>()?
            .head()
            .ok_or_else(|| FetchError::Malformed("sequence.json has no sequence".to_owned()))
    }

    /// The object at `sequence`; [`FetchError::NotYet`] while it is not published.
    pub async fn object(&self, sequence: u64) -> Result<R2z2Object, FetchError> {
        self.pacer.wait().await;
        let answer = self
            .http
            .get(&format!("{}/{sequence}.json", self.base), None, &[])
            .await?;
        if !answer.status.is_success() {
            return Err(answer.error_or_missing(FetchError::NotYet));
        }
        R2z2Object::read(&answer.body, sequence).map_err(FetchError::Malformed)
    }
}
