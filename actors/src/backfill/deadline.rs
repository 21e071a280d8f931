//! What a caller of the backfill waits for, and for how long: at most the backfill deadline
//! (`zkb.backfill_deadline_ms`). After it the caller answers from the store; the backfill itself
//! goes on and stores what it finds.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::{Backfill, BackfillSystem, FetchKillmail};
use crate::model::{KillmailId, StoredKill, SystemId};
use crate::upstream::http::FetchError;

/// Why a killmail could not be found upstream in time.
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error(transparent)]
    Upstream(#[from] FetchError),
    /// The store did not answer: broken, not "not found".
    #[error("the store did not answer: {0}")]
    Store(String),
    #[error("the backfill did not answer: {0}")]
    Stopped(#[from] MailboxError),
    #[error("upstream did not answer in time")]
    Deadline,
}

/// The backfill as callers use it: each question bounded by the deadline.
#[derive(Clone)]
pub struct Backfiller {
    addr: Addr<Backfill>,
    deadline: Duration,
}

impl Backfiller {
    pub fn new(addr: Addr<Backfill>, deadline: Duration) -> Self {
        Self { addr, deadline }
    }

    /// Loads the system's history from zKillboard unless it is current. `true` when upstream
    /// was asked and answered in time; `false` when the store already had it, upstream failed,
    /// or the deadline passed (the caller then answers from the store).
    pub async fn system(&self, system: SystemId, past: Duration) -> bool {
        let asked = self.addr.send(BackfillSystem { system, past });
        match actix::clock::timeout(self.deadline, asked).await {
            Ok(Ok(Ok(fetched))) => fetched,
            Ok(Ok(Err(_)) | Err(_)) => false,
            Err(_) => {
                log::info!(
                    "backfill past its deadline, answering from the store system_id={system}"
                );
                false
            }
        }
    }

    /// A killmail that is not stored, from zKillboard and ESI; `Ok(None)` when zKillboard does
    /// not know it.
    pub async fn killmail(&self, id: KillmailId) -> Result<Option<Arc<StoredKill>>, BackfillError> {
        let asked = self.addr.send(FetchKillmail(id));
        match actix::clock::timeout(self.deadline, asked).await {
            Ok(answer) => answer?,
            Err(_) => Err(BackfillError::Deadline),
        }
    }
}
