//! Who follows the feed: the instance holding the lease, a key in a KV bucket whose entries
//! live `lease` long. The holder renews it several times per lifetime; the others try to create
//! it, which succeeds only once it lapsed (its holder died) or was given up (a clean stop). A
//! holder that cannot renew stops following at once. Only a caught-up instance competes, so
//! the new leader already holds every kill the old one stored.
//!
//! The R2Z2 cursor lives in a second bucket: the leader saves it as it moves, and a new leader
//! resumes after it.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use async_nats::jetstream::kv;
use bytes::Bytes;

use super::status::ClusterStatus;
use crate::feed::{Feed, Follow, Lead, SaveCursor};

const LEASE_KEY: &str = "leader";
/// How often an instance without the lease tries to take it: a lease given up at a clean stop
/// is taken within this, whatever the lease's lifetime.
const CANDIDATE_EVERY: Duration = Duration::from_secs(1);
const CURSOR_KEY: &str = "r2z2_cursor";

/// Competes for the lease for as long as the process runs.
pub async fn run(
    leases: kv::Store,
    state: kv::Store,
    lease: Duration,
    feed: Addr<Feed>,
    status: Arc<ClusterStatus>,
) {
    let renew_every = (lease / 4).max(Duration::from_millis(100));
    let me = Bytes::from(status.instance.clone());
    let mut held: Option<u64> = None;
    loop {
        held = match held {
            Some(revision) => match leases.update(LEASE_KEY, me.clone(), revision).await {
                Ok(revision) => Some(revision),
                Err(e) => {
                    log::warn!("feed lease lost instance={} error={e}", status.instance);
                    feed.do_send(Follow);
                    status.set_leader(false);
                    None
                }
            },
            None if status.caught_up() => match leases.create(LEASE_KEY, me.clone()).await {
                Ok(revision) => {
                    let after = saved_cursor(&state).await;
                    log::info!(
                        "feed lease taken, this instance follows the feed instance={} r2z2_after={after:?}",
                        status.instance
                    );
                    status.set_leader(true);
                    feed.do_send(Lead { r2z2_after: after });
                    Some(revision)
                }
                Err(_) => None,
            },
            None => None,
        };
        let wait = match held {
            Some(_) => renew_every,
            None => CANDIDATE_EVERY.min(renew_every),
        };
        actix::clock::sleep(wait).await;
    }
}

/// Gives the lease up (clean stop), so another instance takes the feed at once.
pub async fn resign(leases: &kv::Store, status: &ClusterStatus) {
    if status.is_leader() {
        status.set_leader(false);
        if let Err(e) = leases.delete(LEASE_KEY).await {
            log::warn!("feed lease not given up error={e}");
        }
    }
}

async fn saved_cursor(state: &kv::Store) -> Option<u64> {
    let saved = state.get(CURSOR_KEY).await.ok().flatten()?;
    std::str::from_utf8(&saved).ok()?.parse().ok()
}

/// Saves the R2Z2 cursor where the next leader reads it.
pub fn cursor_saver(state: kv::Store) -> SaveCursor {
    Arc::new(move |cursor: u64| {
        let state = state.clone();
        actix::spawn(async move {
            let value = Bytes::from(cursor.to_string());
            if let Err(e) = state.put(CURSOR_KEY, value).await {
                log::warn!("feed cursor not shared cursor={cursor} error={e}");
            }
        });
    })
}
