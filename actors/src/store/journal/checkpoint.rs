//! Checkpoints the write-ahead log on a thread of its own.
//!
//! SQLite's default checkpoints from the connection that commits, once the log passes 1 000
//! pages (about every 1 000 kills). That commit then copies 4 MB into the database file and
//! syncs it before it answers, so one kill in about a thousand waited tens of milliseconds for
//! its turn on disk. The writer's connection checkpoints never; this thread does, every second,
//! in passive mode: it copies what is committed and never blocks the writer.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// How often the log is copied into the database.
const EVERY: Duration = Duration::from_secs(1);

/// Turns automatic checkpoints off on the writer's connection.
pub fn hand_over(writer: &Connection) -> rusqlite::Result<()> {
    writer.pragma_update(None, "wal_autocheckpoint", 0)
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

    /// A small stored kill (about 1 KB of JSON), for the journal's tests.
    pub(in crate::store::journal) fn kill(id: u64) -> Arc<StoredKill> {
        let km = Killmail {
            solar_system_name: Some("Jita".repeat(200)),
            victim: crate::model::Victim {
                character_id: CharacterId::new(90_000_000 + id),
                ..Default::default()
            },
            ..Killmail::bare(
                KillmailId::new(id).expect("non-zero"),
                KillTime::now(),
                SystemId::new(30000142).expect("non-zero"),
            )
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
