//! The writer thread: owns the connection after boot and commits whatever queued up since its
//! last transaction in one go (group commit); expired kills and names are deleted every minute.
//!
//! Learned names only spare ESI calls after a restart, and they arrive just before the kill
//! they were fetched for is stored. Written alone, they made that kill wait behind their
//! commit (now and then for milliseconds). So names wait up to [`COMPANY_WAIT`] for the next
//! write and go in its transaction.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection};

use super::{checkpoint, Command, JournalError};
use crate::model::KillTime;

/// Commands applied in one transaction at most.
const MAX_BATCH: usize = 1024;
/// How often expired kills are deleted on disk.
const GC_EVERY: Duration = Duration::from_secs(60);
/// The longest learned names wait for another write to share its transaction.
const COMPANY_WAIT: Duration = Duration::from_millis(20);

/// The writer thread: waits for a command, takes everything else queued, commits it at once.
pub(super) fn run(
    mut conn: Connection,
    rx: mpsc::Receiver<Command>,
    retention_secs: i64,
    log_limit: checkpoint::LogLimit,
) {
    let mut last_gc = Instant::now();
    loop {
        let first = match rx.recv_timeout(GC_EVERY) {
            Ok(command) => Some(command),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let batch = gather(&rx, first);
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
        log_limit.start_over_if_past(&conn);
    }
    log::info!("journal writer stopped");
}

/// `first` and everything queued behind it, up to [`MAX_BATCH`]. A batch of names alone first
/// waits up to [`COMPANY_WAIT`] for another write, which then joins it.
fn gather(rx: &mpsc::Receiver<Command>, first: Option<Command>) -> Vec<Command> {
    let mut batch: Vec<Command> = first.into_iter().collect();
    let take_queued = |batch: &mut Vec<Command>| {
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(command) => batch.push(command),
                Err(_) => break,
            }
        }
    };
    take_queued(&mut batch);
    let waited = Instant::now();
    while !batch.is_empty() && batch.iter().all(|c| matches!(c, Command::Names(_))) {
        match rx.recv_timeout(COMPANY_WAIT.saturating_sub(waited.elapsed())) {
            Ok(command) => {
                batch.push(command);
                take_queued(&mut batch);
            }
            Err(_) => break,
        }
    }
    batch
}

/// Applies `batch` (and the expiry, when due) in one transaction. `BEGIN` and `COMMIT` are kept
/// prepared like every other statement here: at live rates each kill is a transaction of its own,
/// and parsing the two again on every commit cost about as much as preparing the insert.
fn commit(conn: &mut Connection, batch: &[Command], gc: Option<KillTime>) -> rusqlite::Result<()> {
    conn.prepare_cached("BEGIN")?.execute([])?;
    let applied =
        apply(conn, batch, gc).and_then(|()| conn.prepare_cached("COMMIT")?.execute([]).map(drop));
    // A failed batch leaves nothing behind: its kills are written again whole. (SQLite ends the
    // transaction itself on some errors, a full disk among them.)
    if applied.is_err() && !conn.is_autocommit() {
        if let Err(e) = conn.execute_batch("ROLLBACK") {
            log::error!("store rollback failed error={e}");
        }
    }
    applied
}

/// The statements of `batch`, inside the transaction [`commit`] opened.
fn apply(tx: &Connection, batch: &[Command], gc: Option<KillTime>) -> rusqlite::Result<()> {
    for command in batch {
        match command {
            Command::Append(kill, _) | Command::Update(kill) => {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO kills (offset, killmail_id, kill_time, json) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (offset) DO UPDATE SET json = excluded.json",
                )?;
                kill.read_json(|json| {
                    insert.execute(params![
                        kill.offset as i64,
                        kill.facts.killmail_id.get() as i64,
                        kill.facts.kill_time.unix(),
                        json
                    ])
                })?;
            }
            Command::Cursor(sequence) => set_meta(tx, "r2z2_cursor", &sequence.to_string())?,
            Command::QueueId(id) => set_meta(tx, "redisq_queue_id", id)?,
            Command::AddWebhook(s) => {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO webhooks
                     (id, subscriber_id, callback_url, secret, system_ids, character_ids, created_at,
                      filters, format)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )?
                .execute(params![
                    s.id,
                    s.subscriber_id,
                    s.callback_url,
                    s.secret,
                    join(s.filter.systems.iter()),
                    join(s.filter.characters.iter()),
                    s.created_at,
                    serde_json::to_string(&s.filter.rules).ok(),
                    s.format.name()
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
            Command::SaveRelayQueue(q) => {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO relay_queues (id, cursor, last_poll, ttl_secs)
                     VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![
                    q.id,
                    q.cursor as i64,
                    q.last_poll,
                    q.ttl_secs as i64
                ])?;
            }
            Command::DropRelayQueues(ids) => {
                let mut delete = tx.prepare_cached("DELETE FROM relay_queues WHERE id = ?1")?;
                for id in ids {
                    delete.execute([id])?;
                }
            }
            Command::Flush(_) => {}
        }
    }
    if let Some(cutoff) = gc {
        tx.execute(
            "DELETE FROM names WHERE expires < ?1",
            [KillTime::now().unix()],
        )?;
        let gone = expire_kills(tx, cutoff)?;
        if gone > 0 {
            log::debug!("store expired kills on disk count={gone}");
        }
    }
    Ok(())
}

/// Deletes the kills older than `cutoff`; answers how many.
///
/// The highest offset ever given is the highest in the table, except once the newest kills
/// have expired: it is written to `meta` here, before the delete, and not on every commit (a
/// page fewer in each kill's transaction). Boot takes the higher of the two.
pub(super) fn expire_kills(conn: &Connection, cutoff: KillTime) -> rusqlite::Result<usize> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value)
         SELECT 'last_offset', max(offset) FROM kills WHERE true HAVING max(offset) IS NOT NULL
         ON CONFLICT (key) DO UPDATE SET
             value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
    )?
    .execute([])?;
    conn.prepare_cached("DELETE FROM kills WHERE kill_time < ?1")?
        .execute([cutoff.unix()])
}

fn set_meta(tx: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, value])?;
    Ok(())
}

fn join<T: ToString>(ids: impl Iterator<Item = T>) -> String {
    ids.map(|i| i.to_string()).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::super::checkpoint::tests::kill;
    use super::super::schema;
    use super::*;

    #[test]
    fn a_batch_that_fails_leaves_nothing_behind_and_the_next_one_commits() {
        // Arrange: a store whose pending-deliveries table is gone, so that statement fails
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("journal.db");
        let mut conn = Connection::open(&path).expect("opens");
        assert!(
            schema::prepare(&conn, &path).is_ok(),
            "the schema is created"
        );
        conn.execute_batch("DROP TABLE webhook_pending")
            .expect("dropped");

        // Act: a kill, then a statement that fails, in one batch; then a kill alone
        let failed = commit(
            &mut conn,
            &[
                Command::Update(kill(1)),
                Command::PendingAdd("hook".into(), 1),
            ],
            None,
        );
        let next = commit(&mut conn, &[Command::Update(kill(2))], None);

        // Assert: the failed batch's kill is not on disk; the next batch is
        assert!(failed.is_err());
        next.expect("the next batch commits");
        let ids: Vec<i64> = conn
            .prepare("SELECT killmail_id FROM kills")
            .expect("prepared")
            .query_map([], |row| row.get(0))
            .expect("read")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(ids, vec![2]);
    }

    fn names() -> Command {
        Command::Names(vec![crate::model::NameRecord {
            kind: crate::model::NameKind::Character,
            id: 90_000_001,
            name: "A Pilot".into(),
            ticker: None,
            group_id: None,
            ttl_secs: 3600,
        }])
    }

    #[test]
    fn learned_names_wait_for_the_kill_behind_them_and_go_in_its_transaction() {
        // Arrange: names, then a moment later the kill they were fetched for
        let (tx, rx) = mpsc::channel();
        tx.send(names()).expect("sent");
        let (done, _outcome) = tokio::sync::oneshot::channel();
        let later = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(2));
            tx.send(Command::Append(kill(1), done)).expect("sent");
        });

        // Act
        let first = rx.recv().ok();
        let batch = gather(&rx, first);
        later.join().expect("the sender ends");

        // Assert: one batch, so one transaction, and the kill does not wait behind the names
        assert_eq!(batch.len(), 2);
        assert!(matches!(batch[0], Command::Names(_)));
        assert!(matches!(batch[1], Command::Append(..)));
    }

    #[test]
    fn learned_names_with_no_write_behind_them_are_written_alone() {
        let (tx, rx) = mpsc::channel();
        tx.send(names()).expect("sent");

        let first = rx.recv().ok();
        let batch = gather(&rx, first);

        assert_eq!(batch.len(), 1);
        assert!(matches!(batch[0], Command::Names(_)));
        drop(tx);
    }
}
