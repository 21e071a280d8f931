//! The on-disk store (SPEC §6): one SQLite database in WAL mode, `DATA_DIR/wanderer-kills.db`.
//!
//! It holds every stored kill with its offset, the feed cursor, the RedisQ queue id, webhook
//! subscriptions and their pending deliveries, and the names ESI answered (with their expiry). [`Journal::open`] reads it all back at boot;
//! after that one writer thread owns the connection and commits whatever queued up since its last
//! transaction in one go (group commit), so writes are batched off the actors' threads. A kill
//! is acknowledged to its caller only once its transaction has committed.
//!
//! Durability: `synchronous=NORMAL` in WAL mode survives a crash of the process (`kill -9`) with
//! every committed transaction. An operating-system crash may lose the last commits, but the
//! cursor is in the same log, so it rolls back with the kills and the feed fetches them again.

mod load;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

use crate::model::{KillTime, NameRecord, StoredKill, WebhookSubscription};

pub use load::Loaded;

/// The database file in the data dir.
pub const FILE_NAME: &str = "wanderer-kills.db";

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(
        "the store {path} is damaged or unreadable ({reason}); move it aside to start with an empty store, or restore a backup"
    )]
    Damaged { path: PathBuf, reason: String },
    #[error(
        "the store {path} was written by a newer version (schema {found}, this one reads {})",
        schema::VERSION
    )]
    Newer { path: PathBuf, found: i64 },
    #[error("the store could not write: {0}")]
    Write(String),
}

/// What the handle asks of the writer thread.
enum Command {
    Append(Arc<StoredKill>, oneshot::Sender<Result<(), JournalError>>),
    Update(Arc<StoredKill>),
    Cursor(u64),
    QueueId(String),
    AddWebhook(WebhookSubscription),
    RemoveWebhook(String),
    PendingAdd(String, u64),
    PendingRemove(String, Vec<u64>),
    Names(Vec<NameRecord>),
    /// Answers once everything sent before it is committed.
    Flush(oneshot::Sender<()>),
}

/// The handle to the writer. Cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct Journal {
    tx: mpsc::Sender<Command>,
}

impl Journal {
    /// Opens (creating on first start) the database in `dir`, reads it back, and starts the
    /// writer. Kills older than `retention_secs` are left out and deleted.
    pub fn open(dir: &Path, retention_secs: i64) -> Result<(Self, Loaded), JournalError> {
        let path = dir.join(FILE_NAME);
        let damaged = |e: rusqlite::Error| JournalError::Damaged {
            path: path.clone(),
            reason: e.to_string(),
        };
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        )
        .map_err(damaged)?;
        schema::prepare(&conn, &path).map_err(|e| match e {
            schema::Prepare::Sql(e) => damaged(e),
            schema::Prepare::Newer(found) => JournalError::Newer {
                path: path.clone(),
                found,
            },
        })?;
        let cutoff = KillTime::now().minus_secs(retention_secs);
        conn.execute("DELETE FROM kills WHERE kill_time < ?1", [cutoff.unix()])
            .map_err(damaged)?;
        let loaded = load::load(&conn).map_err(damaged)?;
        if loaded.unreadable > 0 {
            log::warn!(
                "store recovered what it could: {} unreadable kill rows skipped path={}",
                loaded.unreadable,
                path.display()
            );
        }
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("journal".into())
            .spawn(move || writer::run(conn, rx, retention_secs))
            .map_err(|e| JournalError::Write(e.to_string()))?;
        Ok((Self { tx }, loaded))
    }

    /// Makes a stored kill durable; answers when its transaction has committed.
    pub async fn append(&self, kill: &Arc<StoredKill>) -> Result<(), JournalError> {
        let (done, committed) = oneshot::channel();
        self.send(Command::Append(Arc::clone(kill), done));
        committed
            .await
            .unwrap_or_else(|_| Err(JournalError::Write("the writer stopped".into())))
    }

    /// Replaces the stored copy of a kill (late names, a zkb refresh).
    pub fn update(&self, kill: &Arc<StoredKill>) {
        self.send(Command::Update(Arc::clone(kill)));
    }

    pub fn save_cursor(&self, sequence: u64) {
        self.send(Command::Cursor(sequence));
    }

    pub fn save_queue_id(&self, id: &str) {
        self.send(Command::QueueId(id.to_owned()));
    }

    pub fn add_webhook(&self, subscription: &WebhookSubscription) {
        self.send(Command::AddWebhook(subscription.clone()));
    }

    pub fn remove_webhook(&self, id: &str) {
        self.send(Command::RemoveWebhook(id.to_owned()));
    }

    pub fn pending_add(&self, subscription: &str, offset: u64) {
        self.send(Command::PendingAdd(subscription.to_owned(), offset));
    }

    pub fn pending_remove(&self, subscription: &str, offsets: Vec<u64>) {
        self.send(Command::PendingRemove(subscription.to_owned(), offsets));
    }

    /// Saves names ESI answered, so a restart does not ask again.
    pub fn save_names(&self, names: Vec<NameRecord>) {
        if !names.is_empty() {
            self.send(Command::Names(names));
        }
    }

    /// Waits until everything sent so far is committed.
    pub async fn flush(&self) {
        let (done, flushed) = oneshot::channel();
        self.send(Command::Flush(done));
        let _ = flushed.await;
    }

    fn send(&self, command: Command) {
        if self.tx.send(command).is_err() {
            log::error!("journal writer stopped; a write was lost");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NameKind;

    fn record(kind: NameKind, id: u64, ttl_secs: u64) -> NameRecord {
        NameRecord {
            kind,
            id,
            name: format!("name {id}"),
            ticker: (kind == NameKind::Corporation).then(|| "TICK".to_owned()),
            group_id: (kind == NameKind::Type).then_some(25),
            ttl_secs,
        }
    }

    #[test]
    fn names_come_back_after_a_restart_with_the_time_they_have_left() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (journal, loaded) = Journal::open(dir.path(), 3600).expect("opens");
        assert!(loaded.names.is_empty());

        journal.save_names(vec![
            record(NameKind::Character, 2112000001, 86_400),
            record(NameKind::Corporation, 98000001, 86_400),
            record(NameKind::Type, 670, 604_800),
            record(NameKind::System, 30000142, 0),
        ]);
        actix::System::new().block_on(journal.flush());
        let (_, loaded) = Journal::open(dir.path(), 3600).expect("opens again");

        let mut names = loaded.names;
        names.sort_by_key(|n| n.id);
        let ids: Vec<u64> = names.iter().map(|n| n.id).collect();
        assert_eq!(
            ids,
            vec![670, 98000001, 2112000001],
            "the expired one is left out"
        );
        assert_eq!(names[0].group_id, Some(25));
        assert_eq!(names[0].kind, NameKind::Type);
        assert_eq!(names[1].ticker.as_deref(), Some("TICK"));
        assert_eq!(names[2].kind, NameKind::Character);
        assert!((86_390..=86_400).contains(&names[2].ttl_secs));
    }
}
