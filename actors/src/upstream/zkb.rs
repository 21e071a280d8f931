//! zKillboard's API, used for backfill: kills of a system over a past window, or one kill by id.
//! Answers are `[{killmail_id, zkb}]`; the killmail itself then comes from ESI by hash.

use std::time::Duration;

use serde::Deserialize;

use super::http::{FetchError, Http, Pacer};
use crate::config::UpstreamSettings;
use crate::model::{lenient, KillmailId, SystemId, Zkb};

/// zKillboard's largest `pastSeconds`.
pub const MAX_PAST_SECONDS: u64 = 604_800;

/// A kill zKillboard knows: enough to fetch it from ESI.
#[derive(Clone, Debug, PartialEq)]
pub struct ZkbRef {
    pub killmail_id: KillmailId,
    pub hash: String,
    pub zkb: Zkb,
}

#[derive(Deserialize)]
struct RawRef {
    #[serde(default, deserialize_with = "lenient::id_opt")]
    killmail_id: Option<KillmailId>,
    #[serde(default, deserialize_with = "lenient::object_opt")]
    zkb: Option<Zkb>,
}

pub struct ZkbClient {
    http: Http,
    base: String,
    pacer: Pacer,
}

impl ZkbClient {
    /// `min_interval` spaces calls (zKillboard asks for at most one per second).
    pub fn new(base: &str, min_interval: Duration, upstream: &UpstreamSettings) -> Self {
        Self {
            http: Http::new(upstream),
            base: base.trim_end_matches('/').to_owned(),
            pacer: Pacer::new(min_interval),
        }
    }

    /// Kills of `system` within the last `past` (rounded up to whole hours, at most 7 days), newest
    /// first. zKillboard hides kills younger than five minutes.
    pub async fn system_kills(
        &self,
        system: SystemId,
        past: Duration,
    ) -> Result<Vec<ZkbRef>, FetchError> {
        let seconds = past
            .as_secs()
            .div_ceil(3600)
            .max(1)
            .saturating_mul(3600)
            .min(MAX_PAST_SECONDS);
        self.refs(&format!(
            "{}/systemID/{system}/pastSeconds/{seconds}/",
            self.base
        ))
        .await
    }

    /// One kill by id; `None` when zKillboard does not know it.
    pub async fn kill(&self, id: KillmailId) -> Result<Option<ZkbRef>, FetchError> {
        Ok(self
            .refs(&format!("{}/killID/{id}/", self.base))
            .await?
            .into_iter()
            .find(|r| r.killmail_id == id))
    }

    async fn refs(&self, url: &str) -> Result<Vec<ZkbRef>, FetchError> {
        self.pacer.wait().await;
        let answer = self.http.get(url, None, &[]).await?;
        if !answer.status.is_success() {
            return Err(answer.error());
        }
        let raw: Vec<RawRef> = answer.json()?;
        Ok(raw
            .into_iter()
            .filter_map(|r| {
                let zkb = r.zkb?;
                Some(ZkbRef {
                    killmail_id: r.killmail_id?,
                    hash: zkb.hash.clone()?,
                    zkb,
                })
            })
            .collect())
    }
}
