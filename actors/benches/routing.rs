//! Routing one stored kill to its subscribers (`Routes::matching`).
//!
//! Workload: 10 000 system subscriptions (one system each, spread over 5 000 systems, so 2 per
//! system) and 50 000 character subscriptions (one character each); the kill has a victim and 20
//! attackers. Two cases: the kill matches its system's 2 subscribers and 3 of its characters, and
//! the kill matches nothing.
//!
//! Then the same subscriptions plus 20 000 filter rules with mixed anchors (see [`rules`]): 1 %
//! without an anchor ("everything over 10 B"), the rest on characters, corporations, alliances,
//! systems, constellations, regions, ship types, ship groups and space classes, most with a
//! second condition. The kill (in a real system, with constellation, region and space) has 20
//! attackers from 4 corporations and 2 alliances in 6 ship types.
//!
//! Run with `cargo bench -p actors --bench routing`.

use std::sync::Arc;

use actors::model::{
    AllianceId, CharacterId, ConstellationId, CorporationId, GroupId, KillFacts, Killmail,
    RegionId, Role, Rule, Space, SystemId, TypeId,
};
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

const RULES: u64 = 20_000;
const FIRST_RULE_KEY: u64 = 1_000_000;

/// 20 000 rules, one subscriber each: 200 without an anchor (a value floor of 10 B and up); of
/// the rest, by share: characters 30 %, corporations 20 %, alliances 15 %, systems 10 %,
/// regions with ship groups 8 %, ship types with a value floor 7 %, constellations 5 %, ship
/// groups as victim 4 %, space classes with a label 1 %.
fn rules() -> Vec<Rule> {
    let id = |n: u64| n;
    (0..RULES)
        .map(|n| {
            let mut rule = Rule::default();
            if n < RULES / 100 {
                rule.min_value = Some(10e9 + n as f64 * 1e8);
                return rule;
            }
            let slot = n % 100;
            match slot {
                0..30 => {
                    rule.characters = vec![CharacterId::new(2_100_000_000 + id(n)).expect("id")];
                    rule.role = Role::Victim;
                }
                30..50 => {
                    rule.corporations =
                        vec![CorporationId::new(98_000_000 + n % 4_000).expect("id")]
                }
                50..65 => {
                    rule.alliances = vec![AllianceId::new(99_000_000 + n % 3_000).expect("id")]
                }
                65..75 => rule.systems = vec![SystemId::new(FIRST_SYSTEM + n % 5_000).expect("id")],
                75..83 => {
                    rule.regions = vec![RegionId::new(10_000_001 + n % 100).expect("id")];
                    rule.ship_groups = vec![
                        GroupId::new(30).expect("id"),
                        GroupId::new(659).expect("id"),
                    ];
                }
                83..90 => {
                    rule.ship_types = vec![TypeId::new(500 + n % 400).expect("id")];
                    rule.min_value = Some(1e8);
                }
                90..95 => {
                    rule.constellations =
                        vec![ConstellationId::new(20_000_001 + n % 1_100).expect("id")]
                }
                95..99 => {
                    rule.ship_groups = vec![GroupId::new(20 + n % 45).expect("id")];
                    rule.ship_role = Some(Role::Victim);
                }
                _ => {
                    rule.space = [Space::ALL[(n % 6) as usize]].into_iter().collect();
                    rule.labels = vec!["solo".into()];
                }
            }
            rule
        })
        .collect()
}

/// A kill in a real place with 20 attackers (4 corporations, 2 alliances, 6 ship types in 4
/// groups), worth 250 M: its system's subscribers, and the rules on its corporations,
/// alliances, region and ship types, are candidates.
fn placed_kill(system: u64) -> KillFacts {
    let attackers: Vec<_> = (1..=20u64)
        .map(|n| {
            json!({"character_id": 2_112_500_000 + n, "corporation_id": 98_000_001 + n % 4,
                        "alliance_id": 99_000_001 + n % 2, "ship_type_id": 600 + n % 6,
                        "ship_group_id": 25 + n % 4, "final_blow": n == 1})
        })
        .collect();
    let km: Killmail = serde_json::from_value(json!({
        "killmail_id": 131000002, "kill_time": "2026-11-26T10:11:12Z", "system_id": system,
        "constellation_id": 20_000_020, "region_id": 10_000_002, "security_status": 0.9459,
        "victim": {"character_id": 2_112_400_000u64, "corporation_id": 98_000_500, "ship_type_id": 670,
                   "ship_group_id": 29},
        "attackers": attackers,
        "zkb": {"totalValue": 2.5e8, "labels": ["pvp"]}
    }))
    .expect("a killmail");
    KillFacts::of(&km)
}

fn routing_with_rules(c: &mut Criterion) {
    let mut routes = routes();
    for (n, rule) in rules().into_iter().enumerate() {
        let filter = Filter {
            rules: vec![Arc::new(rule)],
            ..Filter::default()
        };
        routes.add(FIRST_RULE_KEY + n as u64, &filter);
    }
    assert_eq!(routes.rules(), (20_000, 200));
    let mut group = c.benchmark_group(
        "route one kill (20 attackers, 60 000 subscriptions + 20 000 filter rules)",
    );
    let mut out = Vec::new();
    let kill = placed_kill(FIRST_SYSTEM + 7);
    routes.matching(&kill, &mut out);
    assert!(
        !out.is_empty(),
        "the kill's system subscribers and some rules match"
    );
    group.bench_function("placed kill", |b| {
        b.iter(|| {
            routes.matching(black_box(&kill), &mut out);
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, routing, routing_with_rules);
criterion_main!(benches);
