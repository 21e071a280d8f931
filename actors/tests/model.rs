//! The killmail model against real-shaped upstream JSON: golden wire shape, and properties showing
//! that nothing ESI or zKillboard sent is lost between input and output, and that garbage never
//! makes a killmail unreadable.

use actors::model::{EsiKillmail, Killmail, R2z2Entry, R2z2Object, RedisqResponse};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

const R2Z2_OBJECT: &str = include_str!("fixtures/r2z2_object.json");
const GOLDEN: &str = include_str!("fixtures/killmail.golden.json");

fn canonical_from_r2z2(text: &str) -> Killmail {
    let object: R2z2Object = serde_json::from_str(text).expect("the fixture parses");
    let R2z2Entry::Kill(kill) = object.classify() else {
        panic!("the fixture is a kill, not a placeholder")
    };
    kill.esi
        .expect("R2Z2 embeds the killmail")
        .into_killmail(Some(kill.zkb))
        .expect("valid")
}

/// The names the enricher would add, so the golden file shows the complete shape.
fn enrich_like_the_golden(km: &mut Killmail) {
    km.solar_system_name = Some("Jita".into());
    let v = &mut km.victim;
    v.character_name = Some("Some Pilot".into());
    v.corporation_name = Some("Corp".into());
    v.corporation_ticker = Some("CORP".into());
    v.alliance_name = Some("Alliance".into());
    v.alliance_ticker = Some("ALLY".into());
    v.ship_name = Some("Capsule".into());
    v.ship_group_id = actors::model::GroupId::new(29);
    let a = &mut km.attackers[0];
    a.character_name = Some("Attacker".into());
    a.corporation_name = Some("Attacker Corp".into());
    a.corporation_ticker = Some("ACRP".into());
    a.alliance_name = Some("Attacker Alliance".into());
    a.alliance_ticker = Some("AALLY".into());
    a.ship_name = Some("Rattlesnake".into());
}

#[test]
fn an_enriched_r2z2_kill_serializes_to_the_golden_wire_shape() {
    let mut km = canonical_from_r2z2(R2Z2_OBJECT);
    enrich_like_the_golden(&mut km);

    let actual = serde_json::to_value(&km).expect("serializes");

    let golden: Value = serde_json::from_str(GOLDEN).expect("golden file is JSON");
    assert_eq!(
        actual,
        golden,
        "\nactual: {}",
        serde_json::to_string_pretty(&actual).unwrap_or_default()
    );
}

#[test]
fn the_wire_uses_the_key_names_existing_clients_read() {
    let km = canonical_from_r2z2(R2Z2_OBJECT);

    let out = serde_json::to_value(&km).expect("serializes");

    for key in [
        "kill_time",
        "system_id",
        "solar_system_id",
        "attacker_count",
        "zkb",
    ] {
        assert!(out.get(key).is_some(), "missing top-level {key}");
    }
    assert!(out.get("killmail_time").is_none() && out.get("killID").is_none());
    let zkb = &out["zkb"];
    for key in [
        "locationID",
        "totalValue",
        "droppedValue",
        "destroyedValue",
        "fittedValue",
        "npc",
        "solo",
        "awox",
    ] {
        assert!(zkb.get(key).is_some(), "missing zkb.{key}");
    }
    assert!(zkb.get("total_value").is_none(), "zkb keys stay camelCase");
}

#[test]
fn a_kill_without_names_has_no_name_keys_and_no_nulls() {
    let km = canonical_from_r2z2(R2Z2_OBJECT);

    let text = serde_json::to_string(&km).expect("serializes");

    assert!(!text.contains("null"));
    assert!(
        !text.contains("_name") && !text.contains("_ticker"),
        "{text}"
    );
}

#[test]
fn a_redisq_package_with_an_embedded_killmail_gives_the_same_kill_as_r2z2() {
    let r2z2: Value = serde_json::from_str(R2Z2_OBJECT).expect("json");
    let package = json!({"package": {"killID": r2z2["killmail_id"], "zkb": r2z2["zkb"], "killmail": r2z2["esi"]}});
    let response: RedisqResponse = serde_json::from_value(package).expect("parses");

    let kill = response
        .package
        .and_then(|p| p.into_feed_kill())
        .expect("a kill");
    let km = kill
        .esi
        .expect("embedded")
        .into_killmail(Some(kill.zkb))
        .expect("valid");

    assert_eq!(km, canonical_from_r2z2(R2Z2_OBJECT));
}

// ---------------------------------------------------------------------------------------------
// Properties

/// Floats with few decimals: they survive text round-trips exactly, as ESI's values do.
fn decimal() -> impl Strategy<Value = f64> {
    (-1_000_000_000i64..1_000_000_000, 0u32..4).prop_map(|(n, k)| n as f64 / 10f64.powi(k as i32))
}

fn id() -> impl Strategy<Value = u64> {
    1u64..3_000_000_000
}

/// Builds a JSON object from optional fields: absent options are absent keys, as in ESI.
fn object(fields: Vec<(&str, Option<Value>)>) -> Value {
    Value::Object(
        fields
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
            .collect::<Map<_, _>>(),
    )
}

fn nested_item() -> impl Strategy<Value = Value> {
    (
        id(),
        proptest::option::of(0u64..200),
        0u64..3,
        proptest::option::of(1u64..1000),
        proptest::option::of(1u64..1000),
    )
        .prop_map(|(t, flag, s, d, r)| {
            object(vec![
                ("item_type_id", Some(json!(t))),
                ("flag", flag.map(Value::from)),
                ("singleton", Some(json!(s))),
                ("quantity_destroyed", d.map(Value::from)),
                ("quantity_dropped", r.map(Value::from)),
            ])
        })
}

fn item() -> impl Strategy<Value = Value> {
    (
        nested_item(),
        proptest::option::of(prop::collection::vec(nested_item(), 0..4)),
    )
        .prop_map(|(mut item, inner)| {
            if let Some(inner) = inner {
                item["items"] = Value::Array(inner);
            }
            item
        })
}

fn attacker() -> impl Strategy<Value = Value> {
    let ids = (
        proptest::option::of(id()),
        proptest::option::of(id()),
        proptest::option::of(id()),
        proptest::option::of(id()),
    );
    let rest = (
        proptest::option::of(id()),
        proptest::option::of(id()),
        proptest::option::of(0u64..100_000),
        any::<bool>(),
        proptest::option::of(decimal()),
    );
    (ids, rest).prop_map(|((ch, co, al, fa), (ship, weapon, dmg, fb, sec))| {
        object(vec![
            ("character_id", ch.map(Value::from)),
            ("corporation_id", co.map(Value::from)),
            ("alliance_id", al.map(Value::from)),
            ("faction_id", fa.map(Value::from)),
            ("ship_type_id", ship.map(Value::from)),
            ("weapon_type_id", weapon.map(Value::from)),
            ("damage_done", dmg.map(Value::from)),
            ("final_blow", Some(json!(fb))),
            ("security_status", sec.map(Value::from)),
        ])
    })
}

fn victim() -> impl Strategy<Value = Value> {
    let ids = (
        proptest::option::of(id()),
        proptest::option::of(id()),
        proptest::option::of(id()),
        proptest::option::of(id()),
        id(),
    );
    let rest = (
        proptest::option::of(0u64..1_000_000),
        proptest::option::of((decimal(), decimal(), decimal())),
        proptest::option::of(prop::collection::vec(item(), 0..6)),
    );
    (ids, rest).prop_map(|((ch, co, al, fa, ship), (dmg, pos, items))| {
        object(vec![
            ("character_id", ch.map(Value::from)),
            ("corporation_id", co.map(Value::from)),
            ("alliance_id", al.map(Value::from)),
            ("faction_id", fa.map(Value::from)),
            ("ship_type_id", Some(json!(ship))),
            ("damage_taken", dmg.map(Value::from)),
            (
                "position",
                pos.map(|(x, y, z)| json!({"x": x, "y": y, "z": z})),
            ),
            ("items", items.map(Value::Array)),
        ])
    })
}

fn esi_killmail() -> impl Strategy<Value = Value> {
    (
        id(),
        1_600_000_000i64..2_000_000_000,
        30_000_001u64..33_000_000,
        proptest::option::of(id()),
        proptest::option::of(id()),
        victim(),
        prop::collection::vec(attacker(), 0..25),
    )
        .prop_map(|(kid, secs, system, moon, war, victim, attackers)| {
            let time = actors::model::KillTime::from_unix(secs).to_string();
            object(vec![
                ("killmail_id", Some(json!(kid))),
                ("killmail_time", Some(json!(time))),
                ("solar_system_id", Some(json!(system))),
                ("moon_id", moon.map(Value::from)),
                ("war_id", war.map(Value::from)),
                ("victim", Some(victim)),
                ("attackers", Some(Value::Array(attackers))),
            ])
        })
}

fn zkb() -> impl Strategy<Value = Value> {
    (
        (
            proptest::option::of(id()),
            "[0-9a-f]{40}",
            proptest::option::of(decimal()),
            proptest::option::of(decimal()),
        ),
        (
            proptest::option::of(decimal()),
            proptest::option::of(decimal()),
            proptest::option::of(0u64..10_000),
        ),
        (
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            proptest::option::of(prop::collection::vec("[a-z:]{1,12}", 0..5)),
        ),
    )
        .prop_map(
            |(
                (loc, hash, fitted, dropped),
                (destroyed, total, points),
                (npc, solo, awox, labels),
            )| {
                object(vec![
                    ("locationID", loc.map(Value::from)),
                    ("hash", Some(json!(hash))),
                    ("fittedValue", fitted.map(Value::from)),
                    ("droppedValue", dropped.map(Value::from)),
                    ("destroyedValue", destroyed.map(Value::from)),
                    ("totalValue", total.map(Value::from)),
                    ("points", points.map(Value::from)),
                    ("npc", Some(json!(npc))),
                    ("solo", Some(json!(solo))),
                    ("awox", Some(json!(awox))),
                    ("labels", labels.map(|l| json!(l))),
                ])
            },
        )
}

/// Maps the canonical output back to ESI's shape by undoing the documented renames and removing
/// what the service adds; what remains must be exactly what ESI sent.
fn back_to_esi(mut out: Value) -> Value {
    const ADDED: [&str; 7] = [
        "character_name",
        "corporation_name",
        "corporation_ticker",
        "alliance_name",
        "alliance_ticker",
        "ship_name",
        "ship_group_id",
    ];
    let top = out.as_object_mut().expect("object");
    let time = top.remove("kill_time").expect("kill_time");
    top.insert("killmail_time".into(), time);
    let system = top.remove("system_id").expect("system_id");
    assert_eq!(
        top.get("solar_system_id"),
        Some(&system),
        "both system keys carry the same id"
    );
    let added = [
        "attacker_count",
        "zkb",
        "solar_system_name",
        "constellation_id",
        "region_id",
        "region_name",
        "security_status",
        "space",
    ];
    for key in added {
        top.remove(key);
    }
    let strip = |person: &mut Value| {
        for key in ADDED {
            person.as_object_mut().expect("object").remove(key);
        }
    };
    strip(top.get_mut("victim").expect("victim"));
    top.get_mut("attackers")
        .expect("attackers")
        .as_array_mut()
        .expect("list")
        .iter_mut()
        .for_each(strip);
    out
}

/// Any JSON value at all, to stand in for upstream garbage.
fn garbage() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        decimal().prop_map(Value::from),
        ".{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn nothing_esi_sent_is_lost_between_input_and_output(esi in esi_killmail(), zkb in zkb()) {
        let km = serde_json::from_value::<EsiKillmail>(esi.clone())
            .expect("parses")
            .into_killmail(serde_json::from_value(zkb.clone()).expect("zkb parses"))
            .expect("valid");

        let out = serde_json::to_value(&km).expect("serializes");

        prop_assert_eq!(&out["zkb"], &zkb);
        prop_assert_eq!(out["attacker_count"].as_u64(), Some(esi["attackers"].as_array().map_or(0, Vec::len) as u64));
        prop_assert_eq!(back_to_esi(out), esi.clone());
        // The relays write it back in ESI's shape: exactly what ESI sent.
        prop_assert_eq!(km.to_esi(), esi);
    }

    #[test]
    fn the_canonical_json_reads_back_into_an_equal_killmail(esi in esi_killmail(), zkb in zkb()) {
        let km = serde_json::from_value::<EsiKillmail>(esi).expect("parses")
            .into_killmail(serde_json::from_value(zkb).expect("zkb parses")).expect("valid");

        let again: Killmail = serde_json::from_slice(&serde_json::to_vec(&km).expect("ser")).expect("de");

        prop_assert_eq!(again, km);
    }

    #[test]
    fn garbage_in_any_field_never_makes_a_killmail_unreadable(
        esi in esi_killmail(),
        path in prop::sample::select(vec![
            "/moon_id", "/victim", "/victim/character_id", "/victim/items", "/victim/position",
            "/attackers", "/victim/damage_taken", "/victim/items/0", "/attackers/0", "/attackers/0/final_blow",
        ]),
        junk in garbage(),
    ) {
        let mut esi = esi;
        if let Some(slot) = esi.pointer_mut(path) {
            *slot = junk;
        }

        let parsed = serde_json::from_value::<EsiKillmail>(esi.clone());

        prop_assert!(parsed.is_ok(), "{:?}", parsed.err());
        let text = serde_json::to_string(&esi).expect("ser");
        let wrapped = format!(r#"{{"esi":{text},"zkb":{text}}}"#);
        prop_assert!(serde_json::from_str::<R2z2Object>(&wrapped).is_ok());
    }
}
