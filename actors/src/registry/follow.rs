//! Subscribing with history, one operation for every channel that has it (WebSocket, SSE).
//!
//! The order is the rule: the subscriber is registered (or its filter changed) first, and only
//! then is the store read. A kill stored in between therefore reaches the subscriber both from
//! history and live, never neither; the subscriber's [`super::SeenKills`] drops the second copy.
//! A store that fails to answer is reported part by part, never passed off as "no kills".

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use actix::prelude::*;

use super::{Registry, SetFilter, Subscribe, SubscriberKey};
use crate::model::{CharacterId, Filter, KillTime, Rule, StoredKill, SystemId};
use crate::store::{Store, StoreError};

/// Kills stored after an offset the subscriber already has (a reconnecting client).
#[derive(Clone, Copy, Debug)]
pub struct Resume {
    /// The last offset the subscriber received.
    pub after: u64,
    /// Only kills at or after this kill time (`None`: the whole retention window).
    pub since: Option<KillTime>,
    /// At most this many, the oldest first: a client resumes again from the last one.
    pub limit: usize,
}

/// Stored kills of some systems, characters and rules, newest first per system.
#[derive(Clone, Debug)]
pub struct Preload {
    pub systems: BTreeSet<SystemId>,
    pub characters: BTreeSet<CharacterId>,
    /// Kills any of these rules matches, at most `limit_per_system` per system.
    pub rules: Vec<Arc<Rule>>,
    pub since: KillTime,
    pub limit_per_system: usize,
}

/// What a subscriber asks to see of what was stored before it subscribed.
#[derive(Clone, Debug, Default)]
pub struct CatchUp {
    /// What the subscriber follows; a resume replays what it admits.
    pub filter: Filter,
    pub resume: Option<Resume>,
    pub preload: Option<Preload>,
}

/// A part of the history the store could not give.
#[derive(Debug, thiserror::Error)]
#[error("{part}: {error}")]
pub struct HistoryError {
    /// Which part: `resume`, `system <id>`, `character <id>`.
    pub part: String,
    pub error: StoreError,
}

/// The history read for one subscriber.
#[derive(Debug, Default)]
pub struct CaughtUp {
    /// Resumed kills in offset order.
    pub missed: Vec<Arc<StoredKill>>,
    /// Preloaded kills, grouped by system (systems asked first, in order; then the systems of
    /// the characters' kills).
    pub batches: Vec<(SystemId, Vec<Arc<StoredKill>>)>,
    /// What could not be read; the rest is still there.
    pub errors: Vec<HistoryError>,
}

/// How the subscriber is registered before its history is read.
pub enum Registration {
    /// A new subscriber (or a replaced filter under an existing key).
    New(Subscribe),
    /// A registered subscriber whose filter changes.
    Change(SetFilter),
}

impl From<Subscribe> for Registration {
    fn from(subscribe: Subscribe) -> Self {
        Self::New(subscribe)
    }
}

impl From<SetFilter> for Registration {
    fn from(change: SetFilter) -> Self {
        Self::Change(change)
    }
}

/// Registers, then reads the history `ask` names. Answers the subscriber's key.
pub async fn follow(
    registry: &Addr<Registry>,
    store: &Store,
    registration: impl Into<Registration>,
    ask: CatchUp,
) -> Result<(SubscriberKey, CaughtUp), MailboxError> {
    let key = match registration.into() {
        Registration::New(subscribe) => registry.send(subscribe).await?,
        Registration::Change(change) => {
            let key = change.key;
            registry.send(change).await?;
            key
        }
    };
    Ok((key, catch_up(store, ask).await))
}

/// Reads the history `ask` names from the store.
pub async fn catch_up(store: &Store, ask: CatchUp) -> CaughtUp {
    let mut out = CaughtUp::default();
    let failed = |part: String, error: StoreError| {
        log::error!("history not read part={part} error={error}");
        HistoryError { part, error }
    };
    if let Some(resume) = ask.resume {
        let since = resume.since.unwrap_or_else(|| store.retention_start());
        match store
            .replay(ask.filter, resume.after, since, resume.limit)
            .await
        {
            Ok(kills) => out.missed = kills,
            Err(e) => out.errors.push(failed("resume".into(), e)),
        }
    }
    let Some(preload) = ask.preload else {
        return out;
    };
    for system in preload.systems {
        match store
            .system_kills(system, preload.since, preload.limit_per_system)
            .await
        {
            Ok(kills) => out.batches.push((system, kills)),
            Err(e) => out.errors.push(failed(format!("system {system}"), e)),
        }
    }
    for character in preload.characters {
        match store
            .character_kills(character, preload.since, preload.limit_per_system)
            .await
        {
            Ok(kills) => out.add_to_batches(kills),
            Err(e) => out.errors.push(failed(format!("character {character}"), e)),
        }
    }
    if !preload.rules.is_empty() {
        let rules = Filter {
            rules: preload.rules,
            ..Filter::default()
        };
        match store.replay(rules, 0, preload.since, usize::MAX).await {
            Ok(mut kills) => {
                kills.sort_unstable_by_key(|k| std::cmp::Reverse((k.facts.kill_time, k.offset)));
                let mut per_system: HashMap<SystemId, usize> = HashMap::new();
                kills.retain(|k| {
                    let n = per_system.entry(k.facts.system_id).or_default();
                    *n += 1;
                    *n <= preload.limit_per_system
                });
                out.add_to_batches(kills);
            }
            Err(e) => out.errors.push(failed("filters".into(), e)),
        }
    }
    out
}

impl CaughtUp {
    /// Adds kills to the preload batch of their system (a new batch for a new system).
    fn add_to_batches(&mut self, kills: Vec<Arc<StoredKill>>) {
        for kill in kills {
            let system = kill.facts.system_id;
            match self.batches.iter_mut().find(|(s, _)| *s == system) {
                Some((_, list)) => list.push(kill),
                None => self.batches.push((system, vec![kill])),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::journal::Journal;

    #[actix::test]
    async fn a_store_that_does_not_answer_is_reported_part_by_part_not_as_no_kills() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (journal, _) = Journal::open(dir.path(), 3600).expect("opens");
        let store = Store::unanswering(journal, Arc::default());
        let ask = CatchUp {
            filter: Filter::everything(),
            resume: Some(Resume {
                after: 0,
                since: None,
                limit: 10,
            }),
            preload: Some(Preload {
                systems: SystemId::new(30000142).into_iter().collect(),
                characters: CharacterId::new(90000001).into_iter().collect(),
                rules: vec![Arc::new(Rule::default())],
                since: KillTime::now().minus_secs(3600),
                limit_per_system: 5,
            }),
        };

        let caught = catch_up(&store, ask).await;

        let parts: Vec<&str> = caught.errors.iter().map(|e| e.part.as_str()).collect();
        assert_eq!(
            parts,
            ["resume", "system 30000142", "character 90000001", "filters"]
        );
        assert!(caught.missed.is_empty() && caught.batches.is_empty());
    }
}
