//! The database's tables and their versions: created on first start, upgraded in place.

use std::path::Path;

use rusqlite::Connection;

/// The schema this version writes; a newer one is refused.
pub const VERSION: i64 = 4;

pub enum Prepare {
    Sql(rusqlite::Error),
    Newer(i64),
}

impl From<rusqlite::Error> for Prepare {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sql(e)
    }
}

pub fn prepare(conn: &Connection, path: &Path) -> Result<(), Prepare> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > VERSION {
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
    if version < 3 {
        // A webhook's filter rules, as the JSON list its creator sent (ids renumbered).
        conn.execute_batch(
            "ALTER TABLE webhooks ADD COLUMN filters TEXT;
             PRAGMA user_version = 3;",
        )?;
    }
    if version < 4 {
        // The RedisQ relay's queues (where each reader is in the offset log), and the body
        // format of each webhook.
        conn.execute_batch(
            "CREATE TABLE relay_queues (
                 id TEXT PRIMARY KEY,
                 cursor INTEGER NOT NULL,
                 last_poll INTEGER NOT NULL,
                 ttl_secs INTEGER NOT NULL
             ) WITHOUT ROWID;
             ALTER TABLE webhooks ADD COLUMN format TEXT;
             PRAGMA user_version = 4;",
        )?;
    }
    Ok(())
}
