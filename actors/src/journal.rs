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

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use tokio::sync::oneshot;

use crate::model::{CharacterId, Filter, KillTime, SystemId};
use crate::names::{Kind, NameRecord};
use crate::store::StoredKill;
use crate::webhooks::WebhookSubscription;

/// The database file in the data dir.
pub const FILE_NAME: &str = "wanderer-kills.db";
const SCHEMA_VERSION: i64 = 2;
/// Commands applied in one transaction at most.
const MAX_BATCH: usize = 1024;
/// How often expired kills are deleted on disk.
const GC_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(
        "the store {path} is damaged or unreadable ({reason}); move it aside to start with an empty store, or restore a backup"
    )]
    Damaged { path: PathBuf, reason: String },
    #[error("the store {path} was written by a newer version (schema {found}, this one reads {SCHEMA_VERSION})")]
    Newer { path: PathBuf, found: i64 },
    #[error("the store could not write: {0}")]
    Write(String),
}

/// Everything read back at boot.
#[derive(Default)]
pub struct Loaded {
    /// Kills inside the retention window, in offset order.
    pub kills: Vec<StoredKill>,
    /// The highest offset ever given (kills may have expired since).
    pub last_offset: u64,
    /// The last R2Z2 sequence whose kills are all stored.
    pub r2z2_cursor: Option<u64>,
    pub redisq_queue_id: Option<String>,
    pub webhooks: Vec<WebhookSubscription>,
    /// Per webhook subscription id: the offsets of kills not yet delivered.
    pub pending: HashMap<String, Vec<u64>>,
    /// ESI names still good, with the time they have left.
    pub names: Vec<NameRecord>,
    /// Rows that could not be read back and were skipped.
    pub unreadable: usize,
}

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
        prepare(&conn, &path).map_err(|e| match e {
            Prepare::Sql(e) => damaged(e),
            Prepare::Newer(found) => JournalError::Newer {
                path: path.clone(),
                found,
            },
        })?;
        let cutoff = KillTime::now().minus_secs(retention_secs);
        conn.execute("DELETE FROM kills WHERE kill_time < ?1", [cutoff.unix()])
            .map_err(damaged)?;
        let loaded = load(&conn).map_err(damaged)?;
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
            .spawn(move || write_loop(conn, rx, retention_secs))
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

enum Prepare {
    Sql(rusqlite::Error),
    Newer(i64),
}

impl From<rusqlite::Error> for Prepare {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sql(e)
    }
}

fn prepare(conn: &Connection, path: &Path) -> Result<(), Prepare> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(Prepare::Newer(version));
    }
    if version == 0 {
        log::info!("store created path={}", path.display());
        conn.execute_batch(
            "CREATE TABLE kills (
                 offset INTEGER PRIMARY KEY,
                 killmail_id INTEGER NOT NULL UNIQUE,
                 kill_time INTEGER NOT NULL,
                 json BLOB NOT NULL
             );
             CREATE INDEX kills_by_time ON kills (kill_time);
             CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE webhooks (
                 id TEXT PRIMARY KEY,
                 subscriber_id TEXT NOT NULL,
                 callback_url TEXT NOT NULL,
                 secret TEXT,
                 system_ids TEXT NOT NULL,
                 character_ids TEXT NOT NULL,
                 created_at TEXT NOT NULL
             );
             CREATE TABLE webhook_pending (
                 subscription_id TEXT NOT NULL,
                 offset INTEGER NOT NULL,
                 PRIMARY KEY (subscription_id, offset)
             ) WITHOUT ROWID;
             PRAGMA user_version = 1;",
        )?;
    }
    if version < 2 {
        conn.execute_batch(
            "CREATE TABLE names (
                 kind INTEGER NOT NULL,
                 id INTEGER NOT NULL,
                 name TEXT NOT NULL,
                 ticker TEXT,
                 group_id INTEGER,
                 expires INTEGER NOT NULL,
                 PRIMARY KEY (kind, id)
             ) WITHOUT ROWID;
             PRAGMA user_version = 2;",
        )?;
    }
    Ok(())
}

fn load(conn: &Connection) -> rusqlite::Result<Loaded> {
    let mut loaded = Loaded::default();
    let meta = |key: &str| -> rusqlite::Result<Option<String>> {
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
    };
    loaded.last_offset = meta("last_offset")?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    loaded.r2z2_cursor = meta("r2z2_cursor")?.and_then(|v| v.parse().ok());
    loaded.redisq_queue_id = meta("redisq_queue_id")?;

    let mut rows = conn.prepare("SELECT offset, json FROM kills ORDER BY offset")?;
    let raw: Vec<(u64, Vec<u8>)> = rows
        .query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    loaded.kills = parse_kills(raw, &mut loaded.unreadable);
    if let Some(last) = loaded.kills.last() {
        loaded.last_offset = loaded.last_offset.max(last.offset);
    }

    let mut rows = conn.prepare(
        "SELECT id, subscriber_id, callback_url, secret, system_ids, character_ids, created_at
         FROM webhooks ORDER BY created_at, id",
    )?;
    loaded.webhooks = rows
        .query_map([], |r| {
            let systems: String = r.get(4)?;
            let characters: String = r.get(5)?;
            Ok(WebhookSubscription {
                id: r.get(0)?,
                subscriber_id: r.get(1)?,
                callback_url: r.get(2)?,
                secret: r.get(3)?,
                filter: Filter {
                    systems: ids(&systems).filter_map(SystemId::new).collect(),
                    characters: ids(&characters).filter_map(CharacterId::new).collect(),
                    ..Filter::default()
                },
                created_at: r.get(6)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;

    let now = KillTime::now().unix();
    let mut rows = conn.prepare(
        "SELECT kind, id, name, ticker, group_id, expires FROM names WHERE expires > ?1",
    )?;
    loaded.names = rows
        .query_map([now], |r| {
            let expires: i64 = r.get(5)?;
            Ok((
                r.get::<_, i64>(0)?,
                NameRecord {
                    kind: Kind::Character,
                    id: r.get::<_, i64>(1)? as u64,
                    name: r.get(2)?,
                    ticker: r.get(3)?,
                    group_id: r.get::<_, Option<i64>>(4)?.map(|g| g as u64),
                    ttl_secs: (expires - now).max(0) as u64,
                },
            ))
        })?
        .filter_map(|row| match row {
            Ok((code, record)) => {
                Kind::from_code(code).map(|kind| Ok(NameRecord { kind, ..record }))
            }
            Err(e) => Some(Err(e)),
        })
        .collect::<rusqlite::Result<_>>()?;

    let mut rows =
        conn.prepare("SELECT subscription_id, offset FROM webhook_pending ORDER BY offset")?;
    for row in rows.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
    })? {
        let (id, offset) = row?;
        loaded.pending.entry(id).or_default().push(offset);
    }
    Ok(loaded)
}

/// Parses the stored JSON back into kills, on every core (the boot time is mostly this).
fn parse_kills(mut raw: Vec<(u64, Vec<u8>)>, unreadable: &mut usize) -> Vec<StoredKill> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = raw.len().div_ceil(threads).max(1);
    let parsed: Vec<Vec<Option<StoredKill>>> = std::thread::scope(|scope| {
        let workers: Vec<_> = raw
            .chunks_mut(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter_mut()
                        .map(|(offset, json)| StoredKill::with_json(*offset, std::mem::take(json)))
                        .collect()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_default())
            .collect()
    });
    let mut kills = Vec::with_capacity(raw.len());
    for kill in parsed.into_iter().flatten() {
        match kill {
            Some(kill) => kills.push(kill),
            None => *unreadable += 1,
        }
    }
    kills
}

fn ids(text: &str) -> impl Iterator<Item = u64> + '_ {
    text.split(',').filter_map(|s| s.trim().parse().ok())
}

fn join<T: ToString>(ids: impl Iterator<Item = T>) -> String {
    ids.map(|i| i.to_string()).collect::<Vec<_>>().join(",")
}

/// The writer thread: waits for a command, takes everything else queued, commits it at once.
fn write_loop(mut conn: Connection, rx: mpsc::Receiver<Command>, retention_secs: i64) {
    let mut last_gc = Instant::now();
    loop {
        let first = match rx.recv_timeout(GC_EVERY) {
            Ok(command) => Some(command),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let mut batch: Vec<Command> = first.into_iter().collect();
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(command) => batch.push(command),
                Err(_) => break,
            }
        }
        let gc = (last_gc.elapsed() >= GC_EVERY).then(|| {
            last_gc = Instant::now();
            KillTime::now().minus_secs(retention_secs)
        });
        let result = commit(&mut conn, &batch, gc).map_err(|e| e.to_string());
        if let Err(e) = &result {
            log::error!("store write failed commands={} error={e}", batch.len());
        }
        for command in batch {
            match command {
                Command::Append(_, done) => {
                    let _ = done.send(result.clone().map_err(JournalError::Write));
                }
                Command::Flush(done) => {
                    let _ = done.send(());
                }
                _ => {}
            }
        }
    }
    log::info!("journal writer stopped");
}

fn commit(conn: &mut Connection, batch: &[Command], gc: Option<KillTime>) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    let mut last_offset = None;
    for command in batch {
        match command {
            Command::Append(kill, _) | Command::Update(kill) => {
                tx.prepare_cached(
                    "INSERT INTO kills (offset, killmail_id, kill_time, json) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (offset) DO UPDATE SET json = excluded.json",
                )?
                .execute(params![
                    kill.offset as i64,
                    kill.facts.killmail_id.get() as i64,
                    kill.facts.kill_time.unix(),
                    &kill.json[..]
                ])?;
                last_offset = last_offset.max(Some(kill.offset));
            }
            Command::Cursor(sequence) => set_meta(&tx, "r2z2_cursor", &sequence.to_string())?,
            Command::QueueId(id) => set_meta(&tx, "redisq_queue_id", id)?,
            Command::AddWebhook(s) => {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO webhooks
                     (id, subscriber_id, callback_url, secret, system_ids, character_ids, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![
                    s.id,
                    s.subscriber_id,
                    s.callback_url,
                    s.secret,
                    join(s.filter.systems.iter()),
                    join(s.filter.characters.iter()),
                    s.created_at
                ])?;
            }
            Command::RemoveWebhook(id) => {
                tx.execute("DELETE FROM webhooks WHERE id = ?1", [id])?;
                tx.execute(
                    "DELETE FROM webhook_pending WHERE subscription_id = ?1",
                    [id],
                )?;
            }
            Command::PendingAdd(id, offset) => {
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO webhook_pending (subscription_id, offset) VALUES (?1, ?2)",
                )?
                .execute(params![id, *offset as i64])?;
            }
            Command::PendingRemove(id, offsets) => {
                let mut delete = tx.prepare_cached(
                    "DELETE FROM webhook_pending WHERE subscription_id = ?1 AND offset = ?2",
                )?;
                for offset in offsets {
                    delete.execute(params![id, *offset as i64])?;
                }
            }
            Command::Names(names) => {
                let now = KillTime::now().unix();
                let mut put = tx.prepare_cached(
                    "INSERT OR REPLACE INTO names (kind, id, name, ticker, group_id, expires)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                for n in names {
                    let expires = now.saturating_add(i64::try_from(n.ttl_secs).unwrap_or(i64::MAX));
                    put.execute(params![
                        n.kind.code(),
                        n.id as i64,
                        n.name,
                        n.ticker,
                        n.group_id.map(|g| g as i64),
                        expires
                    ])?;
                }
            }
            Command::Flush(_) => {}
        }
    }
    if let Some(offset) = last_offset {
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('last_offset', ?1)
             ON CONFLICT (key) DO UPDATE SET value = max(CAST(value AS INTEGER), ?1)",
            [offset as i64],
        )?;
    }
    if let Some(cutoff) = gc {
        tx.execute(
            "DELETE FROM names WHERE expires < ?1",
            [KillTime::now().unix()],
        )?;
        let gone = tx.execute("DELETE FROM kills WHERE kill_time < ?1", [cutoff.unix()])?;
        if gone > 0 {
            log::debug!("store expired kills on disk count={gone}");
        }
    }
    tx.commit()
}

fn set_meta(tx: &rusqlite::Transaction<'_>, key: &str, value: &str) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, value])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: Kind, id: u64, ttl_secs: u64) -> NameRecord {
        NameRecord {
            kind,
            id,
            name: format!("name {id}"),
            ticker: (kind == Kind::Corporation).then(|| "TICK".to_owned()),
            group_id: (kind == Kind::Type).then_some(25),
            ttl_secs,
        }
    }

    #[test]
    fn names_come_back_after_a_restart_with_the_time_they_have_left() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (journal, loaded) = Journal::open(dir.path(), 3600).expect("opens");
        assert!(loaded.names.is_empty());

        journal.save_names(vec![
            record(Kind::Character, 2112000001, 86_400),
            record(Kind::Corporation, 98000001, 86_400),
            record(Kind::Type, 670, 604_800),
            record(Kind::System, 30000142, 0),
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
        assert_eq!(names[0].kind, Kind::Type);
        assert_eq!(names[1].ticker.as_deref(), Some("TICK"));
        assert_eq!(names[2].kind, Kind::Character);
        assert!((86_390..=86_400).contains(&names[2].ttl_secs));
    }
}
