//! The on-disk store: boot time with 100 000 stored kills, and the durable ingest rate.
//!
//! Workload: 100 000 kills spread over 2 000 systems, kill times inside the retention window,
//! names filled, zkb block. Two mixes: *heavy* (every kill 20 attackers and 30 items, 9.4 KB of
//! canonical JSON) and *typical* (1 to 40 attackers, 11.5 on average, and 5 to 44 items). Boot = `Journal::open` (read every row, parse the JSON on every core) plus putting
//! each kill back into its in-memory shard. Ingest = appends awaited in batches of 1 000, as the
//! enricher's concurrent kills arrive (the writer commits what queued up in one transaction).
//! A third case appends kills one at a time, each awaited, as they come at live rates.
//! Run with `cargo bench -p actors --bench durability` (`-- "one at a time"` for that one).

use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::model::StoredKill;
use actors::model::{KillTime, Killmail};
use actors::store::journal::Journal;
use actors::store::{rebuild, Shard, ShardLimits};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::{json, Value};

const STORED: u64 = 100_000;
const RETENTION: i64 = 48 * 3600;

/// Attackers and items of kill `n` in each mix.
#[derive(Clone, Copy)]
enum Mix {
    Heavy,
    Typical,
}

impl Mix {
    fn shape(self, n: u64) -> (u64, u64) {
        match self {
            Self::Heavy => (20, 30),
            Self::Typical => ([1, 2, 3, 5, 8, 13, 20, 40][(n % 8) as usize], 5 + n % 40),
        }
    }
}

fn killmail(n: u64, now: KillTime, mix: Mix) -> Killmail {
    let (attacker_count, item_count) = mix.shape(n);
    let attackers: Vec<Value> = (0..attacker_count)
        .map(|a| {
            json!({"character_id": 2_112_000_000 + (n * 7 + a) % 4000, "character_name": format!("Pilot {a}"),
                   "corporation_id": 98_000_000 + a % 5, "corporation_name": "Corp", "corporation_ticker": "CORP",
                   "alliance_id": 99_000_000 + a % 2, "alliance_name": "Alliance", "alliance_ticker": "ALLY",
                   "ship_type_id": 17918 + a % 3, "ship_name": "Rattlesnake", "weapon_type_id": 2488,
                   "damage_done": 100 + a, "final_blow": a == 0, "security_status": -1.3})
        })
        .collect();
    let items: Vec<Value> = (0..item_count)
        .map(|i| json!({"item_type_id": 2048 + i, "flag": 5 + i % 20, "singleton": 0, "quantity_destroyed": 1}))
        .collect();
    serde_json::from_value(json!({
        "killmail_id": 131_000_000 + n,
        "kill_time": now.minus_secs((n % 86_400) as i64).to_string(),
        "system_id": 30_000_001 + n % 2_000,
        "solar_system_name": "Jita",
        "victim": {"character_id": 2_112_000_000 + n % 400, "character_name": "Victim",
                   "corporation_id": 98_000_010, "ship_type_id": 670, "ship_name": "Capsule",
                   "damage_taken": 2847, "position": {"x": 1.0, "y": 2.0, "z": 3.0}, "items": items},
        "attackers": attackers,
        "zkb": {"locationID": 50000001, "hash": format!("{n:040x}"), "totalValue": 1.52e8,
                "points": 15, "npc": false, "solo": false, "awox": false, "labels": ["pvp"]}
    }))
    .expect("a killmail")
}

fn append_all(journal: &Journal, kills: Vec<Arc<StoredKill>>) {
    actix::System::new().block_on(async {
        for batch in kills.chunks(1_000) {
            let appends = batch.iter().map(|k| journal.append(k));
            for result in futures_util::future::join_all(appends).await {
                result.expect("appended");
            }
        }
    });
}

fn boot(dir: &std::path::Path) -> usize {
    let (_journal, loaded) = Journal::open(dir, RETENTION).expect("opens");
    let limits = ShardLimits {
        max_per_system: 1_000,
        retention_secs: RETENTION,
    };
    let shards = rebuild(limits, loaded.kills, loaded.dictionary);
    let held = shards.iter().map(Shard::len).sum();
    // Dropping 100 000 kills is not part of a boot: do it off the clock's thread.
    std::thread::spawn(move || drop(shards));
    held
}

/// A database of 100 000 kills of `mix`, written through the journal.
fn filled(mix: Mix, now: KillTime) -> (tempfile::TempDir, Journal) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (journal, _) = Journal::open(dir.path(), RETENTION).expect("opens");
    let kills: Vec<Arc<StoredKill>> = (1..=STORED)
        .map(|n| Arc::new(StoredKill::new(n, &killmail(n, now, mix))))
        .collect();
    let bytes: usize = kills.iter().map(|k| k.json_len()).sum();
    let started = Instant::now();
    append_all(&journal, kills);
    let elapsed = started.elapsed();
    println!(
        "durable ingest: {STORED} kills ({:.0} MB of JSON, {:.1} KB each) in {:.2} s = {:.0} kills/s",
        bytes as f64 / 1e6,
        bytes as f64 / STORED as f64 / 1e3,
        elapsed.as_secs_f64(),
        STORED as f64 / elapsed.as_secs_f64()
    );
    actix::System::new().block_on(journal.flush());
    (dir, journal)
}

fn durability(c: &mut Criterion) {
    let now = KillTime::now();
    let mut group = c.benchmark_group("store");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(30));
    for (name, mix) in [("typical", Mix::Typical), ("heavy", Mix::Heavy)] {
        let (dir, _journal) = filled(mix, now);
        group.bench_function(format!("boot with 100 000 stored kills ({name})"), |b| {
            b.iter(|| assert_eq!(boot(dir.path()), STORED as usize))
        });
    }
    let (_dir, journal) = filled(Mix::Heavy, now);

    let mut next = STORED;
    group.throughput(Throughput::Elements(1_000));
    group.bench_function("append 1 000 kills durably", |b| {
        b.iter_batched(
            || {
                let batch: Vec<Arc<StoredKill>> = (next + 1..=next + 1_000)
                    .map(|n| Arc::new(StoredKill::new(n, &killmail(n, now, Mix::Heavy))))
                    .collect();
                next += 1_000;
                batch
            },
            |batch| append_all(&journal, batch),
            criterion::BatchSize::PerIteration,
        )
    });
    group.finish();
}

/// A kill at live rates: each one appended and awaited on its own, so each is one transaction
/// (what a single kill pays before it is routed).
fn one_at_a_time(c: &mut Criterion) {
    let now = KillTime::now();
    let dir = tempfile::tempdir().expect("a temp dir");
    let (journal, _) = Journal::open(dir.path(), RETENTION).expect("opens");
    let mut next = 0;
    let mut group = c.benchmark_group("store");
    group.throughput(Throughput::Elements(100));
    group.bench_function("append 100 kills one at a time", |b| {
        b.iter_batched(
            || {
                let batch: Vec<Arc<StoredKill>> = (next + 1..=next + 100)
                    .map(|n| Arc::new(StoredKill::new(n, &killmail(n, now, Mix::Typical))))
                    .collect();
                next += 100;
                batch
            },
            |batch| {
                actix::System::new().block_on(async {
                    for kill in &batch {
                        journal.append(kill).await.expect("appended");
                    }
                })
            },
            criterion::BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, one_at_a_time, durability);
criterion_main!(benches);
