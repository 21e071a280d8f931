//! The per-kill pipeline with warm caches: parse an R2Z2 object → validate → fill names → store
//! (serializing the canonical JSON once) → the routing input (system and every character). Then
//! the stored JSON's memory form: packing a kill's JSON, and expanding it back (what a REST list
//! pays for each kill it sends).
//!
//! Workload: 1 000 distinct kills per batch, each with 20 attackers (20 characters from 5
//! corporations and 2 alliances) and 30 items, about 6.3 KB of upstream JSON, kill times inside the
//! retention window; every name already cached. Run with `cargo bench -p actors --bench pipeline`.

use std::time::Instant;

use actors::enricher::names::{CacheLimits, NameCache, Org, TypeInfo};
use actors::model::packed::PackedJson;
use actors::model::recent_runs::RecentRuns;
use actors::model::{CharacterId, KillTime, R2z2Entry, R2z2Object, SystemId};
use actors::model::{NameKind, StoredKill};
use actors::store::{Insert, Shard, ShardLimits};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use serde_json::{json, Value};

const KILLS: u64 = 1_000;
const SYSTEMS: [u64; 4] = [30000142, 30002187, 31000005, 30045349];

/// One upstream object per kill, as R2Z2 serves them.
fn objects() -> Vec<Vec<u8>> {
    let now = KillTime::now();
    (0..KILLS)
        .map(|n| {
            let id = 131_000_000 + n;
            let attackers: Vec<Value> = (0..20)
                .map(|a| {
                    json!({
                        "character_id": 2_112_000_000 + (n * 7 + a) % 400,
                        "corporation_id": 98_000_000 + a % 5,
                        "alliance_id": 99_000_000 + a % 2,
                        "ship_type_id": 17918 + a % 3,
                        "weapon_type_id": 2488,
                        "damage_done": 100 + a,
                        "final_blow": a == 0,
                        "security_status": -1.3
                    })
                })
                .collect();
            let items: Vec<Value> = (0..30)
                .map(|i| json!({"item_type_id": 2048 + i, "flag": 5 + i % 20, "singleton": 0, "quantity_destroyed": 1}))
                .collect();
            let object = json!({
                "killmail_id": id,
                "hash": format!("{id:040x}"),
                "esi": {
                    "killmail_id": id,
                    "killmail_time": now.minus_secs((n % 3600) as i64).to_string(),
                    "solar_system_id": SYSTEMS[(n % 4) as usize],
                    "victim": {
                        "character_id": 2_112_000_000 + n % 400,
                        "corporation_id": 98_000_010,
                        "alliance_id": 99_000_010,
                        "ship_type_id": 670,
                        "damage_taken": 2847,
                        "position": {"x": 1.0, "y": 2.0, "z": 3.0},
                        "items": items
                    },
                    "attackers": attackers
                },
                "zkb": {"locationID": 50000001, "hash": format!("{id:040x}"), "fittedValue": 1.5e8,
                        "droppedValue": 1.0e7, "destroyedValue": 1.4e8, "totalValue": 1.52e8,
                        "points": 15, "npc": false, "solo": false, "awox": false, "labels": ["pvp"]},
                "uploaded_at": 1_800_000_000u64,
                "sequence_id": 96_000_000 + n
            });
            serde_json::to_vec(&object).expect("serializes")
        })
        .collect()
}

/// A cache that knows every id the objects name.
fn warm_cache(objects: &[Vec<u8>]) -> NameCache {
    let mut cache = NameCache::new(CacheLimits::default());
    let now = std::time::Instant::now();
    for bytes in objects {
        let Some(mut km) = parse(bytes) else { continue };
        let (missing, _) = cache.fill(&mut km, now);
        for (kind, id) in missing.0 {
            let org = || Org {
                name: format!("Org {id}"),
                ticker: format!("T{}", id % 1000),
            };
            match kind {
                NameKind::Character => cache.put_character(id, format!("Pilot {id}"), now),
                NameKind::Corporation => cache.put_corporation(id, org(), now),
                NameKind::Alliance => cache.put_alliance(id, org(), now),
                NameKind::Type => cache.put_type(
                    id,
                    TypeInfo {
                        name: format!("Ship {id}"),
                        group_id: actors::model::GroupId::new(25),
                    },
                    now,
                ),
                NameKind::System => cache.put_system(id, format!("System {id}"), now),
            }
        }
    }
    cache
}

fn parse(bytes: &[u8]) -> Option<actors::model::Killmail> {
    let object: R2z2Object = serde_json::from_slice(bytes).ok()?;
    let R2z2Entry::Kill(kill) = object.classify() else {
        return None;
    };
    kill.esi?.into_killmail(Some(kill.zkb)).ok()
}

/// The routing input: the system and every character, what the registry's indexes are probed with.
fn routing_input(km: &actors::model::Killmail) -> (SystemId, Vec<CharacterId>) {
    (km.system_id, km.character_ids().collect())
}

fn pipeline(c: &mut Criterion) {
    let objects = objects();
    let mean = objects.iter().map(Vec::len).sum::<usize>() / objects.len();
    eprintln!(
        "workload: {} objects, {mean} bytes each on average",
        objects.len()
    );
    let mut cache = warm_cache(&objects);
    let limits = ShardLimits {
        max_per_system: 1_000,
        retention_secs: 48 * 3600,
    };

    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(KILLS));
    group.bench_function("parse_enrich_store_route", |b| {
        b.iter_batched_ref(
            || Shard::new(limits),
            |shard| {
                let now = KillTime::now();
                let started = Instant::now();
                let mut routed = 0;
                for (offset, bytes) in (1..).zip(&objects) {
                    let mut km = parse(bytes).expect("a kill");
                    cache.fill(&mut km, started);
                    let route = routing_input(&km);
                    if let Insert::Stored(stored) = shard.insert(km, now, || offset) {
                        routed += route.1.len() + stored.json_len().min(1);
                    }
                }
                routed
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

fn stored_json(c: &mut Criterion) {
    let objects = objects();
    let mut cache = warm_cache(&objects);
    let started = Instant::now();
    let jsons: Vec<_> = objects
        .iter()
        .filter_map(|bytes| parse(bytes))
        .map(|mut km| {
            cache.fill(&mut km, started);
            StoredKill::json_of(&km)
        })
        .collect();
    let packed: Vec<PackedJson> = jsons.iter().map(|json| PackedJson::pack(json)).collect();
    let json_bytes: usize = jsons.iter().map(|json| json.len()).sum();
    let packed_bytes: usize = packed.iter().map(PackedJson::packed_len).sum();
    eprintln!(
        "stored JSON: {} kills, {} bytes each on average, {} packed",
        jsons.len(),
        json_bytes / jsons.len(),
        packed_bytes / jsons.len()
    );

    let mut group = c.benchmark_group("stored_json");
    group.throughput(Throughput::Elements(jsons.len() as u64));
    group.bench_function("pack", |b| {
        b.iter(|| {
            jsons
                .iter()
                .map(|json| PackedJson::pack(json).packed_len())
                .sum::<usize>()
        });
    });
    let mut out = Vec::with_capacity(json_bytes);
    group.bench_function("expand", |b| b.iter(|| expand_all(&packed, &mut out)));
    // The same kills against a dictionary of their runs, as a shard builds one.
    let mut recent = RecentRuns::default();
    group.bench_function("note runs", |b| {
        b.iter(|| {
            for json in &jsons {
                recent.note(json);
            }
        });
    });
    let dictionary = recent.dictionary();
    let with_runs: Vec<PackedJson> = jsons
        .iter()
        .map(|json| PackedJson::pack_with(json, &dictionary))
        .collect();
    eprintln!(
        "against recent runs: {} packed bytes per kill",
        with_runs.iter().map(PackedJson::packed_len).sum::<usize>() / jsons.len()
    );
    group.bench_function("pack, recent runs", |b| {
        b.iter(|| {
            jsons
                .iter()
                .map(|json| PackedJson::pack_with(json, &dictionary).packed_len())
                .sum::<usize>()
        });
    });
    group.bench_function("expand, recent runs", |b| {
        b.iter(|| expand_all(&with_runs, &mut out))
    });
    group.finish();
}

/// Expands every kill into `out`, as a list read does.
fn expand_all(kills: &[PackedJson], out: &mut Vec<u8>) -> usize {
    out.clear();
    for kill in kills {
        kill.unpack_into(out);
    }
    out.len()
}

criterion_group!(benches, pipeline, stored_json);
criterion_main!(benches);
