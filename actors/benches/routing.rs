//! Routing one stored kill to its subscribers (`Routes::matching`).
//!
//! Workload: 10 000 system subscriptions (one system each, spread over 5 000 systems, so 2 per
//! system) and 50 000 character subscriptions (one character each); the kill has a victim and 20
//! attackers. Two cases: the kill matches its system's 2 subscribers and 3 of its characters, and
//! the kill matches nothing. Run with `cargo bench -p actors --bench routing`.

use actors::model::{CharacterId, KillFacts, Killmail, SystemId};
use actors::registry::{Filter, Routes};
use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use std::hint::black_box;

const SYSTEM_SUBSCRIBERS: u64 = 10_000;
const CHARACTER_SUBSCRIBERS: u64 = 50_000;
const FIRST_SYSTEM: u64 = 30_000_001;
const FIRST_CHARACTER: u64 = 2_112_000_000;

fn routes() -> Routes {
    let mut routes = Routes::default();
    for n in 0..SYSTEM_SUBSCRIBERS {
        let filter = Filter {
            systems: SystemId::new(FIRST_SYSTEM + n % 5_000)
                .into_iter()
                .collect(),
            ..Filter::default()
        };
        routes.add(n, &filter);
    }
    for n in 0..CHARACTER_SUBSCRIBERS {
        let filter = Filter {
            characters: CharacterId::new(FIRST_CHARACTER + n).into_iter().collect(),
            ..Filter::default()
        };
        routes.add(SYSTEM_SUBSCRIBERS + n, &filter);
    }
    routes
}

/// A kill in `system` whose victim and attackers are `first_character..first_character + 21`,
/// with `tracked` of them among the subscribed characters.
fn kill(system: u64, tracked: u64) -> KillFacts {
    let untracked = FIRST_CHARACTER + CHARACTER_SUBSCRIBERS + 1_000;
    let character = |n: u64| {
        if n < tracked {
            FIRST_CHARACTER + n * 97
        } else {
            untracked + n
        }
    };
    let attackers: Vec<_> = (1..=20)
        .map(|n| json!({"character_id": character(n), "corporation_id": 98000001, "final_blow": n == 1}))
        .collect();
    let km: Killmail = serde_json::from_value(json!({
        "killmail_id": 131000001, "kill_time": "2026-11-26T10:11:12Z", "system_id": system,
        "victim": {"character_id": character(0), "ship_type_id": 670},
        "attackers": attackers
    }))
    .expect("a killmail");
    KillFacts::of(&km)
}

fn routing(c: &mut Criterion) {
    let routes = routes();
    let mut group = c.benchmark_group("route one kill (20 attackers, 60 000 subscriptions)");
    let mut out = Vec::new();

    let hit = kill(FIRST_SYSTEM + 7, 3);
    routes.matching(&hit, &mut out);
    assert_eq!(out.len(), 2 + 3, "2 system and 3 character subscribers");
    group.bench_function("5 matches", |b| {
        b.iter(|| {
            routes.matching(black_box(&hit), &mut out);
            black_box(out.len())
        })
    });

    let miss = kill(FIRST_SYSTEM + 9_999, 0);
    routes.matching(&miss, &mut out);
    assert!(out.is_empty());
    group.bench_function("no match", |b| {
        b.iter(|| {
            routes.matching(black_box(&miss), &mut out);
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, routing);
criterion_main!(benches);
