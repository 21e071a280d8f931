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

mod checkpoint;
mod load;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

use crate::model::{KillTime, NameRecord, RelayQueue, StoredKill, WebhookSubscription};

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
    #[error(
        "the store {path} cannot be written: {reason}; check that DATA_DIR is on a filesystem mounted read-write and that the service's user may write the directory and the file (the store itself is not damaged)"
    )]
    ReadOnly { path: PathBuf, reason: String },
    #[error(
        "the store {path} cannot be opened: {reason}; check that DATA_DIR exists, is a directory, and that the service's user may read and write it"
    )]
    CannotOpen { path: PathBuf, reason: String },
    #[error(
        "the disk holding the store {path} is full ({reason}); free some space and start again"
    )]
    DiskFull { path: PathBuf, reason: String },
    #[error("the store could not write: {0}")]
    Write(String),
}

impl JournalError {
    /// Says what really went wrong with the store at `path`: a read-only or unwritable place, a
    /// full disk, a file that cannot be opened, or (only then) a damaged store. Advice to move a
    /// good store aside would lose its kills.
    pub fn diagnose(path: &Path, error: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as Code;
        let (path, reason) = (path.to_owned(), error.to_string());
        match error.sqlite_error_code() {
            Some(
                Code::ReadOnly | Code::PermissionDenied | Code::AuthorizationForStatementDenied,
            ) => Self::ReadOnly { path, reason },
            Some(Code::DiskFull) => Self::DiskFull { path, reason },
            Some(Code::CannotOpen | Code::SystemIoFailure) => Self::CannotOpen { path, reason },
            _ => Self::Damaged { path, reason },
        }
    }
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
    SaveRelayQueue(RelayQueue),
    DropRelayQueues(Vec<String>),
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
        Self::open_with_log_limit(dir, retention_secs, checkpoint::LOG_LIMIT)
    }

    /// [`Journal::open`], its write-ahead log started over past `log_limit` bytes.
    fn open_with_log_limit(
        dir: &Path,
        retention_secs: i64,
        log_limit: u64,
    ) -> Result<(Self, Loaded), JournalError> {
        let path = dir.join(FILE_NAME);
        let empty_file = std::fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() == 0);
        if empty_file {
            log::warn!(
                "the store file is empty (0 bytes), starting with an empty store; if kills were expected, restore a backup path={}",
                path.display()
            );
        }
        let damaged = |e: rusqlite::Error| JournalError::diagnose(&path, e);
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
        writer::expire_kills(&conn, cutoff).map_err(damaged)?;
        let mut loaded = load::load(&conn).map_err(damaged)?;
        loaded.started_from_empty_file = empty_file;
        if loaded.unreadable > 0 {
            log::warn!(
                "store recovered what it could: {} unreadable kill rows skipped path={}",
                loaded.unreadable,
                path.display()
            );
        }
        checkpoint::hand_over(&conn, log_limit).map_err(damaged)?;
        let (stop_checkpoints, checkpoints_stop) = mpsc::channel::<()>();
        checkpoint::start(&path, checkpoints_stop)
            .map_err(|e| JournalError::Write(e.to_string()))?;
        let log_limit = checkpoint::LogLimit::new(&path, log_limit);
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("journal".into())
            .spawn(move || {
                writer::run(conn, rx, retention_secs, log_limit);
                drop(stop_checkpoints);
            })
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

    /// Saves where a RedisQ-relay queue is.
    pub fn save_relay_queue(&self, queue: &RelayQueue) {
        self.send(Command::SaveRelayQueue(queue.clone()));
    }

    /// Forgets RedisQ-relay queues nobody polled within their lifetime.
    pub fn drop_relay_queues(&self, ids: Vec<String>) {
        if !ids.is_empty() {
            self.send(Command::DropRelayQueues(ids));
        }
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
    fn a_read_only_or_full_place_is_not_called_damaged() {
        let path = Path::new("/data/wanderer-kills.db");
        let failure = |code| {
            rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), Some("x".into()))
        };

        let read_only = JournalError::diagnose(path, failure(rusqlite::ffi::SQLITE_READONLY));
        let full = JournalError::diagnose(path, failure(rusqlite::ffi::SQLITE_FULL));
        let cannot_open = JournalError::diagnose(path, failure(rusqlite::ffi::SQLITE_CANTOPEN));
        let corrupt = JournalError::diagnose(path, failure(rusqlite::ffi::SQLITE_NOTADB));

        assert!(
            matches!(read_only, JournalError::ReadOnly { .. }),
            "{read_only}"
        );
        assert!(read_only.to_string().contains("read-write"), "{read_only}");
        assert!(
            !read_only.to_string().contains("move it aside"),
            "{read_only}"
        );
        assert!(matches!(full, JournalError::DiskFull { .. }), "{full}");
        assert!(
            matches!(cannot_open, JournalError::CannotOpen { .. }),
            "{cannot_open}"
        );
        assert!(matches!(corrupt, JournalError::Damaged { .. }), "{corrupt}");
    }

    #[test]
    fn a_data_dir_that_is_a_file_is_reported_as_such() {
        let dir = tempfile::tempdir().expect("temp dir");
        let not_a_dir = dir.path().join("data");
        std::fs::write(&not_a_dir, b"x").expect("a file");

        let error = Journal::open(&not_a_dir, 3600).err().expect("refused");

        assert!(matches!(error, JournalError::CannotOpen { .. }), "{error}");
    }

    #[test]
    fn an_empty_store_file_starts_empty_and_says_so() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join(FILE_NAME), b"").expect("an empty file");

        let (_, loaded) = Journal::open(dir.path(), 3600).expect("opens");

        assert!(loaded.started_from_empty_file);
        assert!(loaded.kills.is_empty());
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

    #[test]
    fn kills_come_back_after_a_restart_packed_in_offset_order_without_the_unreadable_row() {
        // Arrange: more kills than one batch per core, and a row that is not a killmail
        let dir = tempfile::tempdir().expect("temp dir");
        let (journal, _) = Journal::open(dir.path(), 3600).expect("opens");
        let kills: Vec<_> = (1..=700).map(checkpoint::tests::kill).collect();
        actix::System::new().block_on(async {
            for kill in &kills {
                journal.append(kill).await.expect("written");
            }
        });
        let conn = Connection::open(dir.path().join(FILE_NAME)).expect("opens the file");
        conn.execute(
            "UPDATE kills SET json = CAST('not json' AS BLOB) WHERE offset = 350",
            [],
        )
        .expect("spoils a row");
        drop(conn);

        // Act
        let (_, loaded) = Journal::open(dir.path(), 3600).expect("opens again");

        // Assert: every readable kill, in order, held compressed and byte for byte as stored
        let offsets: Vec<u64> = loaded.kills.iter().map(|k| k.offset).collect();
        let expected: Vec<u64> = (1..=700).filter(|o| *o != 350).collect();
        assert_eq!(offsets, expected);
        assert_eq!(loaded.unreadable, 1);
        for kill in &loaded.kills {
            assert!(kill.is_packed(), "kill {} held as read", kill.offset);
            assert!(kill.packed_len() < kill.json_len());
            assert_eq!(kill.json(), kills[kill.offset as usize - 1].json());
        }
    }

    /// Kill `id`, its attackers three of five regular pilots, each with names and a ship.
    fn kill_among_regulars(id: u64) -> Arc<StoredKill> {
        use crate::model::{Attacker, CharacterId, CorporationId, GroupId, Killmail, TypeId};
        let attackers = (0..3)
            .map(|n| {
                let pilot = (id + n) % 5;
                Attacker {
                    character_id: CharacterId::new(2_112_000_000 + pilot),
                    character_name: Some(format!("Regular Pilot Number {pilot}")),
                    corporation_id: CorporationId::new(98_000_000 + pilot),
                    corporation_name: Some(format!("Regular Corporation {pilot}")),
                    corporation_ticker: Some(format!("RC{pilot}")),
                    ship_type_id: TypeId::new(600 + pilot),
                    ship_name: Some(format!("Regular Ship {pilot}")),
                    ship_group_id: GroupId::new(25),
                    ..Attacker::default()
                }
            })
            .collect();
        let km = Killmail {
            attackers,
            ..checkpoint::tests::bare(id)
        };
        Arc::new(StoredKill::new(id, &km))
    }

    #[test]
    fn kills_read_back_are_packed_against_the_parties_of_the_newest_as_the_store_packs_them() {
        // Arrange: 300 kills among five regular pilots, written
        let dir = tempfile::tempdir().expect("temp dir");
        let (journal, _) = Journal::open(dir.path(), 3600).expect("opens");
        actix::System::new().block_on(async {
            for id in 1..=300 {
                journal
                    .append(&kill_among_regulars(id))
                    .await
                    .expect("written");
            }
        });
        drop(journal);

        // Act
        let (_, loaded) = Journal::open(dir.path(), 3600).expect("opens again");

        // Assert: held a fifth smaller or more than against the shared dictionary alone (as
        // before a restart, where the store packs against the runs of its recent kills), and
        // the store goes on packing against the same dictionary
        let held: usize = loaded.kills.iter().map(|k| k.packed_len()).sum();
        let shared: usize = loaded
            .kills
            .iter()
            .map(|k| k.read_json(|json| crate::model::packed::PackedJson::pack(json).packed_len()))
            .sum();
        assert_eq!(loaded.kills.len(), 300);
        assert!(held * 5 < shared * 4, "{held} bytes against {shared}");
        let dictionary = loaded.dictionary.expect("the runs of the newest kills");
        assert!(
            memchr::memmem::find(dictionary.bytes(), b"Regular Pilot Number 3").is_some(),
            "the regulars are in it"
        );
        for kill in &loaded.kills {
            assert_eq!(kill.json(), kill_among_regulars(kill.offset).json());
        }
    }

    #[test]
    fn a_burst_of_kills_does_not_grow_the_log_file_past_its_limit() {
        // Arrange: a 1 MB log limit; each kill's commit writes a few pages of log
        let dir = tempfile::tempdir().expect("temp dir");
        let limit = 1024 * 1024;
        let (journal, _) = Journal::open_with_log_limit(dir.path(), 3600, limit).expect("opens");
        let log = dir.path().join(format!("{FILE_NAME}-wal"));
        let log_size = || std::fs::metadata(&log).map_or(0, |m| m.len());

        // Act: 1 000 kills, one commit after another
        let largest = actix::System::new().block_on(async {
            let mut largest = 0;
            for id in 1..=1000 {
                journal
                    .append(&checkpoint::tests::kill(id))
                    .await
                    .expect("written");
                largest = largest.max(log_size());
            }
            journal.flush().await;
            largest
        });

        // Assert: the log started over near its limit, and every kill is kept
        assert!(largest > limit / 2, "the log only reached {largest} bytes");
        assert!(
            largest < 2 * limit,
            "the log reached {largest} bytes (limit {limit})"
        );
        drop(journal);
        let (_, loaded) = Journal::open(dir.path(), 3600).expect("opens again");
        assert_eq!(loaded.kills.len(), 1000);
    }

    #[test]
    fn offsets_go_on_from_the_highest_ever_given_after_every_kill_expired() {
        // Arrange: three kills two hours old, stored with a one-hour retention
        let dir = tempfile::tempdir().expect("temp dir");
        let (journal, _) = Journal::open(dir.path(), 3600).expect("opens");
        let old = KillTime::now().minus_secs(7200);
        let system = crate::model::SystemId::new(30000142).expect("non-zero");
        let kills: Vec<_> = (1..=3)
            .map(|offset| {
                let id = crate::model::KillmailId::new(100 + offset).expect("non-zero");
                let km = crate::model::Killmail::bare(id, old, system);
                Arc::new(StoredKill::new(offset, &km))
            })
            .collect();
        actix::System::new().block_on(async {
            for kill in &kills {
                journal.append(kill).await.expect("written");
            }
        });

        // Act: a restart drops them as expired
        let (_, loaded) = Journal::open(dir.path(), 3600).expect("opens again");
        let (_, again) = Journal::open(dir.path(), 3600).expect("opens a third time");

        // Assert: the next kill is not given an offset a client has already seen
        assert!(loaded.kills.is_empty(), "expired kills are gone");
        assert_eq!(loaded.last_offset, 3);
        assert_eq!(again.last_offset, 3);
    }

    fn webhook(rules: Vec<crate::model::Rule>) -> WebhookSubscription {
        WebhookSubscription {
            id: "w1".into(),
            subscriber_id: "bot".into(),
            callback_url: "http://127.0.0.1:9/hook".into(),
            secret: None,
            filter: crate::model::Filter::of_rules(rules),
            format: crate::model::WebhookFormat::Discord,
            created_at: "2026-11-30T08:00:00Z".into(),
        }
    }

    #[test]
    fn a_webhook_s_filter_rules_come_back_after_a_restart() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (journal, _) = Journal::open(dir.path(), 3600).expect("opens");
        let rules = crate::model::filter::rules_from_json(
            Some(
                &serde_json::json!([{"regions": [10000002], "ship_groups": [30], "role": "victim",
                                     "name": "titans"}, {"min_value": 1e10}]),
            ),
            1,
            &crate::model::FilterLimits::default(),
        )
        .expect("valid");
        journal.add_webhook(&webhook(rules.clone()));
        actix::System::new().block_on(journal.flush());

        let (_, loaded) = Journal::open(dir.path(), 3600).expect("opens again");

        let back: Vec<crate::model::Rule> = loaded.webhooks[0]
            .filter
            .rules
            .iter()
            .map(|r| (**r).clone())
            .collect();
        assert_eq!(back, rules);
        assert_eq!(
            loaded.webhooks[0].format,
            crate::model::WebhookFormat::Discord
        );
    }

    #[test]
    fn a_store_written_before_filters_existed_opens_with_its_webhooks_unfiltered() {
        let dir = tempfile::tempdir().expect("temp dir");
        drop(Journal::open(dir.path(), 3600).expect("creates"));
        let conn = Connection::open(dir.path().join(FILE_NAME)).expect("opens");
        conn.execute_batch(
            "ALTER TABLE webhooks DROP COLUMN filters;
             ALTER TABLE webhooks DROP COLUMN format;
             DROP TABLE relay_queues;
             INSERT INTO webhooks VALUES ('w1', 'bot', 'http://127.0.0.1:9/h', NULL, '30000142', '', 'x');
             PRAGMA user_version = 2;",
        )
        .expect("the older schema");
        drop(conn);

        let (_, loaded) = Journal::open(dir.path(), 3600).expect("upgrades");

        assert_eq!(loaded.webhooks.len(), 1);
        assert_eq!(loaded.webhooks[0].filter.systems.len(), 1);
        assert!(loaded.webhooks[0].filter.rules.is_empty());
    }
}
