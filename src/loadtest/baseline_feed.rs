//! The forwarder's own feed (`loadtest --baseline-feed`): the work the service must do before a
//! kill can go out, done the least way. It long-polls the simulator's RedisQ as the service does,
//! commits each kill's JSON to SQLite in a transaction of its own (WAL, `synchronous=NORMAL`,
//! as the service's journal), and only then hands the kill's frame to the connections. No
//! enrichment, no index, no store in memory: the figure that the service's single-kill latency
//! compares with like for like.

use std::path::{Path, PathBuf};
use std::time::Duration;

use actix_web::rt::time::sleep;
use rusqlite::Connection;
use serde_json::Value;

/// Where the forwarder takes its kills from and keeps them.
pub struct Feed {
    /// The simulator's RedisQ (`.../listen.php`).
    pub redisq_url: String,
    /// The SQLite file each kill is committed to.
    pub database: PathBuf,
}

/// Follows the feed until the process ends, calling `forward(system, killmail_id)` for each kill
/// once it is committed.
pub async fn follow(feed: Feed, forward: impl Fn(u64, u64)) -> anyhow::Result<()> {
    let db = open(&feed.database)?;
    let http = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let url = format!("{}?queueID=baseline&ttw=10", feed.redisq_url);
    loop {
        let body = match http.get(&url).send().await {
            Ok(mut answer) => answer.body().limit(1 << 20).await.ok(),
            Err(_) => None,
        };
        let Some(body) = body else {
            sleep(Duration::from_millis(100)).await;
            continue;
        };
        let Some((id, system)) = kill_of(&body) else {
            continue;
        };
        let Ok(key) = i64::try_from(id) else {
            continue;
        };
        db.execute(
            "INSERT OR REPLACE INTO kills (id, json) VALUES (?1, ?2)",
            (key, &body[..]),
        )?;
        forward(system, id);
    }
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let db = Connection::open(path)?;
    db.pragma_update(None, "journal_mode", "WAL")?;
    db.pragma_update(None, "synchronous", "NORMAL")?;
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS kills (id INTEGER PRIMARY KEY, json BLOB NOT NULL)",
    )?;
    Ok(db)
}

/// The kill id and system of a RedisQ answer; `None` for an empty one.
fn kill_of(body: &[u8]) -> Option<(u64, u64)> {
    let answer: Value = serde_json::from_slice(body).ok()?;
    let package = answer.get("package")?;
    Some((
        package.get("killID")?.as_u64()?,
        package.pointer("/killmail/solar_system_id")?.as_u64()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redisq_answer_names_its_kill_and_system_and_an_empty_one_nothing() {
        let kill = br#"{"package":{"killID":7,"killmail":{"solar_system_id":30000142},"zkb":{}}}"#;
        assert_eq!(kill_of(kill), Some((7, 30000142)));
        assert_eq!(kill_of(br#"{"package":null}"#), None);
        assert_eq!(kill_of(b"not json"), None);
    }
}
