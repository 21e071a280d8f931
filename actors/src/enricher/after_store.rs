//! What reaches a kill after it is stored: names that came after the deadline and tickers that
//! follow the names, written into the stored copy; and the live delivery of a kill a backfill
//! stored before the live feed brought it.

use std::sync::Arc;

use super::Pipeline;
use crate::model::{KillmailId, SystemId};
use crate::registry::KillStored;

impl Pipeline {
    /// Delivers live a kill a backfill stored before the live feed brought it.
    pub(super) async fn deliver_late(&self, id: KillmailId) {
        if self.store.is_shared() {
            // Whichever instance backfilled it: every instance pushes it from the log.
            return self.store.announce_live(id).await;
        }
        let Ok(Some(stored)) = self.store.get(id).await else {
            return;
        };
        let system_count = self
            .store
            .count(stored.facts.system_id)
            .await
            .unwrap_or_default();
        for recipient in &self.delivery {
            recipient.do_send(KillStored {
                kill: Arc::clone(&stored),
                system_count,
                receipt: None,
            });
        }
    }

    /// Fills the names that arrived after the deadline into the stored copy.
    pub(super) async fn complete_later(&self, system: SystemId, id: KillmailId) {
        let Ok(Some(stored)) = self.store.get_in(system, id).await else {
            return;
        };
        let Some(original) = stored.killmail() else {
            return;
        };
        let mut filled = original.clone();
        self.resolver.fill(&mut filled);
        if filled == original {
            return;
        }
        let result = self
            .store
            .update(system, id, move |km| {
                // A zkb refresh may have landed meanwhile; keep it.
                let zkb = km.zkb.take();
                *km = filled;
                km.zkb = zkb;
            })
            .await;
        if let Err(e) = result {
            log::warn!("late names not stored killmail_id={id} error={e}");
        }
    }
}
