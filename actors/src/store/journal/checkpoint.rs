//! Checkpoints the write-ahead log on a thread of its own.
//!
//! SQLite's default checkpoints from the connection that commits, once the log passes 1 000
//! pages (about every 1 000 kills). That commit then copies 4 MB into the database file and
//! syncs it before it answers, so one kill in about a thousand waited tens of milliseconds for
//! its turn on disk. The writer's connection checkpoints never; this thread does, every second,
//! in passive mode: it copies what is committed and never blocks the writer.
//!
//! The log starts over only when a write finds it fully copied. Under a steady stream of
//! commits (a catch-up, a burst) the passive checkpoint never leaves it so, and the log grew by
//! every commit's pages: 50 000 kills stored in 20 s left a 940 MB file. So past
//! [`LOG_LIMIT`], the writer itself copies what is left and starts the log over
//! ([`LogLimit::start_over_if_past`]); its next write cuts the file back to the limit.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

/// How often the log is copied into the database.
const EVERY: Duration = Duration::from_secs(1);

/// The log's size past which the writer starts it over (some 3 000 kills' commits).
pub const LOG_LIMIT: u64 = 64 * 1024 * 1024;

/// Turns automatic checkpoints off on the writer's connection, and has it cut the log file
/// back to `log_limit` bytes whenever it starts the log over.
pub fn hand_over(writer: &Connection, log_limit: u64) -> rusqlite::Result<()> {
    writer.pragma_update(None, "wal_autocheckpoint", 0)?;
    let limit = i64::try_from(log_limit).unwrap_or(i64::MAX);
    writer.pragma_update(None, "journal_size_limit", limit)
}

/// The writer's side of the log: its file, and the size past which the writer starts it over.
pub struct LogLimit {
    file: PathBuf,
    bytes: u64,
}

impl LogLimit {
    /// The limit for the log of the database at `database`.
    pub fn new(database: &Path, bytes: u64) -> Self {
        let mut file = database.as_os_str().to_owned();
        file.push("-wal");
        Self {
            file: file.into(),
            bytes,
        }
    }

    /// Run by the writer between two transactions: when the log file is past the limit,
    /// copies what the passive checkpoints have not (about a second of writes) and has the
    /// next write start the log over. Only a burst of writes gets there; the writes behind
    /// wait for it. While the checkpoint thread is copying, SQLite refuses at once, and the
    /// writer tries again after its next commit: the log passes the limit by what is written
    /// meanwhile.
    pub fn start_over_if_past(&self, writer: &Connection) {
        let size = std::fs::metadata(&self.file).map_or(0, |m| m.len());
        if size > self.bytes {
            start_over(writer, size);
        }
    }
}

/// Copies the rest of the log and has the next write start it over (`size`: for the log line).
fn start_over(writer: &Connection, size: u64) {
    let started = Instant::now();
    match writer.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| r.get::<_, i64>(0)) {
        Ok(0) => log::info!(
            "store log started over log_bytes={size} took_ms={}",
            started.elapsed().as_millis()
        ),
        // The checkpoint thread is copying (or a reader is behind): the next commit tries again.
        Ok(_) => log::debug!("store log not started over yet, busy log_bytes={size}"),
        Err(e) => log::warn!("store log not started over error={e}"),
    }
}

/// Starts the checkpoint thread on the database at `path`; it stops when `stop`'s sender is
/// dropped (the writer thread holds it).
pub fn start(path: &Path, stop: mpsc::Receiver<()>) -> std::io::Result<()> {
    let path = path.to_owned();
    std::thread::Builder::new()
        .name("journal-checkpoint".into())
        .spawn(move || {
            let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let conn = match Connection::open_with_flags(&path, flags) {
                Ok(conn) => conn,
                Err(e) => {
                    log::error!("store checkpoints stopped, cannot open the store error={e}");
                    return;
                }
            };
            while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(EVERY) {
                let passive = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                if let Err(e) = passive {
                    log::warn!("store checkpoint failed error={e}");
                }
            }
        })
        .map(|_| ())
}

#[cfg(test)]
pub(super) mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::super::{Journal, FILE_NAME};
    use crate::model::{CharacterId, KillTime, Killmail, KillmailId, StoredKill, SystemId};

    /// A killmail with its id only, in Jita, now.
    pub(in crate::store::journal) fn bare(id: u64) -> Killmail {
        Killmail::bare(
            KillmailId::new(id).expect("non-zero"),
            KillTime::now(),
            SystemId::new(30000142).expect("non-zero"),
        )
    }

    /// A small stored kill (about 1 KB of JSON), for the journal's tests.
    pub(in crate::store::journal) fn kill(id: u64) -> Arc<StoredKill> {
        let km = Killmail {
            solar_system_name: Some("Jita".repeat(200)),
            victim: crate::model::Victim {
                character_id: CharacterId::new(90_000_000 + id),
                ..Default::default()
            },
            ..bare(id)
        };
        Arc::new(StoredKill::new(id, &km))
    }

    #[test]
    fn committed_kills_reach_the_database_file_without_waiting_for_a_thousand_pages() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (journal, _) = Journal::open(dir.path(), 3600).expect("creates");
        let file = dir.path().join(FILE_NAME);
        let size = || std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        let before = size();

        // 50 kills of about 1 KB: some 50 pages of log, far under SQLite's 1 000-page default.
        actix::System::new().block_on(async {
            for id in 1..=50 {
                journal.append(&kill(id)).await.expect("committed");
            }
        });

        let started = Instant::now();
        while size() < before + 40 * 1024 && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            size() >= before + 40 * 1024,
            "the database file stayed at {} bytes ({} before)",
            size(),
            before
        );
    }
}
