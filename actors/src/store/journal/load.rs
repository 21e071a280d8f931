//! Reading the database back at boot: kills (parsed and packed on every core), the feed
//! cursor, webhook subscriptions with their undelivered kills, and the names still good.

use std::collections::HashMap;
use std::sync::mpsc::{self, SyncSender};
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension};

use crate::model::filter::rules_from_json;
use crate::model::packed::shared_dictionary;
use crate::model::recent_runs::{self, RecentRuns};
use crate::model::{
    CharacterId, Dictionary, Filter, FilterLimits, KillTime, NameKind, NameRecord, RelayQueue,
    Rule, StoredKill, SystemId, WebhookFormat, WebhookSubscription,
};

/// The filter rules saved with a webhook (written by this service, so they read; a list
/// that does not is logged and dropped rather than stopping the boot).
fn saved_rules(text: Option<String>) -> Vec<Rule> {
    let Some(text) = text else {
        return Vec::new();
    };
    let unbounded = FilterLimits {
        max_rules: usize::MAX,
        max_values_per_rule: usize::MAX,
    };
    let read = serde_json::from_str::<serde_json::Value>(&text)
        .map_err(|e| e.to_string())
        .and_then(|v| rules_from_json(Some(&v), 1, &unbounded).map_err(|e| e.to_string()));
    read.unwrap_or_else(|e| {
        log::error!("webhook filters not read, dropped error={e}");
        Vec::new()
    })
}

/// Everything read back at boot.
#[derive(Default)]
pub struct Loaded {
    /// Kills inside the retention window, in offset order.
    pub kills: Vec<StoredKill>,
    /// What `kills` were packed against when it is not the shared dictionary: the runs of the
    /// newest of them. The shards pack the next kills against it too.
    pub dictionary: Option<Arc<Dictionary>>,
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
    /// The RedisQ relay's queues.
    pub relay_queues: Vec<RelayQueue>,
    /// Rows that could not be read back and were skipped.
    pub unreadable: usize,
    /// The database file existed with no bytes at all (a warning was logged).
    pub started_from_empty_file: bool,
}

pub fn load(conn: &Connection) -> rusqlite::Result<Loaded> {
    let mut loaded = Loaded::default();
    let meta = |key: &str| -> rusqlite::Result<Option<String>> {
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
    };
    // The table's highest offset, or the one kept when the newest kills expired.
    let highest: Option<i64> = conn.query_row("SELECT max(offset) FROM kills", [], |r| r.get(0))?;
    loaded.last_offset = meta("last_offset")?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
        .max(highest.map_or(0, |h| h as u64));
    loaded.r2z2_cursor = meta("r2z2_cursor")?.and_then(|v| v.parse().ok());
    loaded.redisq_queue_id = meta("redisq_queue_id")?;

    loaded.dictionary = restored_dictionary(conn)?.map(Arc::new);
    let dictionary = loaded.dictionary.as_deref().unwrap_or(shared_dictionary());
    loaded.kills = read_kills(conn, dictionary, &mut loaded.unreadable)?;

    let mut rows = conn.prepare(
        "SELECT id, subscriber_id, callback_url, secret, system_ids, character_ids, created_at,
                filters, format
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
                    ..Filter::of_rules(saved_rules(r.get(7)?))
                },
                created_at: r.get(6)?,
                format: r
                    .get::<_, Option<String>>(8)?
                    .and_then(|f| WebhookFormat::named(&f))
                    .unwrap_or_default(),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;

    let mut rows = conn.prepare("SELECT id, cursor, last_poll, ttl_secs FROM relay_queues")?;
    loaded.relay_queues = rows
        .query_map([], |r| {
            Ok(RelayQueue {
                id: r.get(0)?,
                cursor: r.get::<_, i64>(1)?.max(0) as u64,
                last_poll: r.get(2)?,
                ttl_secs: r.get::<_, i64>(3)?.max(0) as u64,
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
                    kind: NameKind::Character,
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
                NameKind::from_code(code).map(|kind| Ok(NameRecord { kind, ..record }))
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

/// Rows handed to a parsing thread at once.
const BATCH: usize = 256;
/// Batches queued for each parsing thread.
const QUEUED: usize = 2;

/// A batch of rows as read (offset, JSON), numbered in offset order, with the room for the
/// kills parsed from them. That room is made here, on the reading thread: made by a parser, it
/// was freed among the kills that parser made (which live on), and the holes it left kept the
/// process 7 MB larger per 50 000 kills read back (PERFORMANCE, "Restarts").
struct Rows {
    n: usize,
    rows: Vec<(u64, Vec<u8>)>,
    kills: Vec<Option<StoredKill>>,
}

impl Rows {
    fn new(n: usize) -> Self {
        Self {
            n,
            rows: Vec::with_capacity(BATCH),
            kills: Vec::with_capacity(BATCH),
        }
    }
}

/// Reads the rows into batches and hands them to the parsers in turn, counting rows in `read`.
fn hand_out(
    rows: &mut rusqlite::Rows<'_>,
    parsers: &[&SyncSender<Rows>],
    read: &mut usize,
) -> rusqlite::Result<()> {
    let mut batch = Rows::new(0);
    while let Some(row) = rows.next()? {
        batch.rows.push((row.get::<_, i64>(0)? as u64, row.get(1)?));
        *read += 1;
        if batch.rows.len() == BATCH {
            let n = batch.n;
            let full = std::mem::replace(&mut batch, Rows::new(n + 1));
            let _ = parsers[n % parsers.len()].send(full);
        }
    }
    if !batch.rows.is_empty() {
        let _ = parsers[batch.n % parsers.len()].send(batch);
    }
    Ok(())
}

/// The dictionary of the runs of the newest kills, as a shard builds from the kills it packs:
/// kills read back and packed against the shared dictionary alone held a third more memory
/// than before the restart (PERFORMANCE). `None` when no run repeats.
fn restored_dictionary(conn: &Connection) -> rusqlite::Result<Option<Dictionary>> {
    let mut statement = conn.prepare("SELECT json FROM kills ORDER BY offset DESC LIMIT ?1")?;
    let mut rows = statement.query([recent_runs::COUNTED as i64])?;
    let mut runs = RecentRuns::default();
    while let Some(row) = rows.next()? {
        if let Ok(json) = row.get_ref(0)?.as_bytes() {
            runs.note(json);
        }
    }
    Ok(runs.repeated())
}

/// Reads the kills back in offset order, packed against `dictionary`. Other cores parse and
/// pack them while the rows are read (the boot time is mostly this), so only the batches in
/// flight are ever held as read: about 2 MB per core for 3 KB kills, not every kill's JSON.
fn read_kills(
    conn: &Connection,
    dictionary: &Dictionary,
    unreadable: &mut usize,
) -> rusqlite::Result<Vec<StoredKill>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut statement = conn.prepare("SELECT offset, json FROM kills ORDER BY offset")?;
    let mut rows = statement.query([])?;
    let (done, parsed) = mpsc::channel::<(usize, Vec<Option<StoredKill>>)>();
    let mut read = 0;
    let outcome = std::thread::scope(|scope| {
        let parsers: Vec<_> = (0..threads)
            .map(|_| {
                let (batches, incoming) = mpsc::sync_channel::<Rows>(QUEUED);
                let done = done.clone();
                let parser = scope.spawn(move || {
                    for Rows { n, rows, mut kills } in incoming {
                        kills.extend(rows.iter().map(|(offset, json)| {
                            StoredKill::with_json_packed(*offset, json, dictionary)
                        }));
                        if done.send((n, kills)).is_err() {
                            return;
                        }
                    }
                });
                (batches, parser)
            })
            .collect();
        let senders: Vec<_> = parsers.iter().map(|(batches, _)| batches).collect();
        let outcome = hand_out(&mut rows, &senders, &mut read);
        for (batches, parser) in parsers {
            drop(batches);
            // A parser that died (only on a bug) lost its batches: counted unreadable below.
            let _ = parser.join();
        }
        outcome
    });
    outcome?;
    drop(done);
    let mut batches: Vec<_> = parsed.into_iter().collect();
    batches.sort_unstable_by_key(|(n, _)| *n);
    let kills: Vec<StoredKill> = batches.into_iter().flat_map(|(_, k)| k).flatten().collect();
    *unreadable += read - kills.len();
    Ok(kills)
}

fn ids(text: &str) -> impl Iterator<Item = u64> + '_ {
    text.split(',').filter_map(|s| s.trim().parse().ok())
}
