use serde_json::json;

use super::*;
use crate::model::Killmail;

/// A low-sec kill in Tama: a Rifter (frigate, group 25) lost to two attackers, the final blow
/// from a Sabre (interdictor, group 541); worth 12 M, labelled pvp and solo... not solo: 2.
fn tama() -> KillFacts {
    let km: Killmail = serde_json::from_value(json!({
        "killmail_id": 1, "kill_time": "2026-11-26T10:11:12Z", "system_id": 30002813,
        "constellation_id": 20000412, "region_id": 10000033, "security_status": 0.2826,
        "victim": {"character_id": 90000001, "corporation_id": 98000001, "alliance_id": 99000001,
                   "ship_type_id": 587, "ship_group_id": 25},
        "attackers": [
            {"character_id": 90000002, "corporation_id": 98000002, "alliance_id": 99000002,
             "ship_type_id": 22456, "ship_group_id": 541, "final_blow": true},
            {"character_id": 90000003, "corporation_id": 98000003,
             "ship_type_id": 587, "ship_group_id": 25}
        ],
        "zkb": {"totalValue": 12.0e6, "labels": ["pvp", "loc:lowsec"], "npc": false}
    }))
    .expect("a killmail");
    KillFacts::of(&km)
}

fn json_rule(v: serde_json::Value) -> Rule {
    rule_from_json(&v, &FilterLimits::default()).expect("a valid rule")
}

fn url_rule(text: &str) -> Rule {
    rule_from_url(text, &FilterLimits::default()).expect("a valid rule")
}

#[test]
fn each_condition_alone_matches_or_not_by_the_kill_s_facts() {
    let kill = tama();
    let cases = [
        ("", true),
        ("system:30002813", true),
        ("system:30000142", false),
        ("constellation:20000412", true),
        ("region:10000033", true),
        ("region:10000002", false),
        ("space:lowsec", true),
        ("space:highsec,nullsec", false),
        ("character:90000003", true),
        ("character:90000003;role:victim", false),
        ("character:90000002;role:final_blow", true),
        ("corporation:98000001;role:victim", true),
        ("corporation:98000001;role:attacker", false),
        ("alliance:99000002;role:attacker", true),
        ("alliance:99000002;role:victim", false),
        ("ship_type:22456", true),
        ("ship_type:22456;ship_role:victim", false),
        ("ship_group:25;ship_role:victim", true),
        ("ship_group:541;role:final_blow", true),
        ("ship_group:541;role:victim", false),
        ("ship_group:541;role:victim;ship_role:any", true),
        ("value>=1e7", true),
        ("value>=1.3e7", false),
        ("value<=1e7", false),
        ("attackers<=1", false),
        ("attackers>=2;attackers<=2", true),
        ("label:pvp", true),
        ("label:pvp,solo", false),
        ("!label:npc", true),
        ("!label:loc:lowsec", false),
    ];
    for (text, expected) in cases {
        assert_eq!(url_rule(text).admits(&kill), expected, "{text:?}");
    }
}

#[test]
fn conditions_combine_with_and_and_lists_with_any_of() {
    let kill = tama();
    assert!(url_rule("region:10000002,10000033;ship_group:30,25;role:victim").admits(&kill));
    assert!(!url_rule("region:10000033;ship_group:30;role:victim").admits(&kill));
    let filter = Filter::of_rules(vec![
        json_rule(json!({"regions": [10000002]})),
        json_rule(json!({"name": "big", "min_value": 1e6})),
        json_rule(json!({"name": "solo", "labels": ["solo"]})),
    ]);
    assert!(filter.admits(&kill), "the second rule matches");
    assert_eq!(filter.matched_names(&kill), ["big"]);
}

#[test]
fn the_json_and_url_forms_read_the_same_rule() {
    let from_json = json_rule(json!({
        "regions": [10000002], "ship_groups": [659, 30], "role": "victim",
        "min_value": 1e9, "max_attackers": 1, "labels": ["Solo"], "exclude_labels": ["npc"],
        "space": ["lowsec"], "alliances": [99005338], "name": "caps"
    }));
    let from_url = url_rule(
        "region:10000002;ship_group:30,659;role:victim;value>=1e9;attackers<=1;label:solo;\
         !label:npc;space:lowsec;alliance:99005338;name:caps",
    );
    assert_eq!(from_json, from_url);
    assert_eq!(
        from_json
            .ship_groups
            .iter()
            .map(|g| g.get())
            .collect::<Vec<_>>(),
        [30, 659]
    );
}

#[test]
fn a_bad_rule_is_refused_naming_the_condition_and_the_value() {
    let limits = FilterLimits::default();
    let refused = |v: serde_json::Value| {
        rules_from_json(Some(&json!([{}, v])), 1, &limits)
            .expect_err("refused")
            .to_string()
    };
    assert_eq!(
        refused(json!({"regions": ["abc"]})),
        r#"filter 2: regions: "abc" is not a region id"#
    );
    assert_eq!(
        refused(json!({"regions": [30000142]})),
        "filter 2: regions: 30000142 is not a region id"
    );
    assert_eq!(
        refused(json!({"regoins": [1]})),
        r#"filter 2: unknown condition "regoins""#
    );
    assert!(refused(json!({"space": ["hisec"]})).contains(r#"space: "hisec" is not a space class"#));
    assert!(refused(json!({"role": "killer"})).contains(r#"role: "killer" is not a role"#));
    assert!(refused(json!({"min_value": -1})).contains("min_value: -1 is not an ISK value"));
    assert!(refused(json!({"labels": ["a b"]})).contains(r#"labels: "a b" is not a label"#));
    assert!(refused(json!("x")).contains("must be an object"));
    assert_eq!(
        refused(json!({"labels": "solo"})),
        r#"filter 2: labels: "solo" is not a list"#
    );
    let url = |t: &str| rule_from_url(t, &limits).expect_err("refused");
    assert_eq!(
        url("region:forge"),
        r#"regions: "forge" is not a region id"#
    );
    assert_eq!(
        url("value>=lots"),
        r#"min_value: "lots" is not an ISK value (a number, 0 or more)"#
    );
    assert_eq!(url("regionz:1"), r#"unknown condition "regionz""#);
    assert!(url("10000002").contains("is not a condition"));
}

#[test]
fn numbers_in_the_url_form_may_have_leading_zeros() {
    let kill = tama();
    assert!(url_rule("attackers>=000;attackers<=002").admits(&kill));
    assert!(!url_rule("attackers<=000").admits(&kill));
    assert_eq!(url_rule("region:+0010000033").regions.len(), 1);
    assert!(rule_from_url("attackers<=-1", &FilterLimits::default()).is_err());
}

#[test]
fn a_rule_with_crossed_bounds_is_kept_and_matches_nothing() {
    let kill = tama();
    assert!(!json_rule(json!({"min_value": 5e6, "max_value": 1e6})).admits(&kill));
    assert!(!json_rule(json!({"min_attackers": 3, "max_attackers": 1})).admits(&kill));
    assert!(!json_rule(json!({"labels": ["pvp"], "exclude_labels": ["pvp"]})).admits(&kill));
}

#[test]
fn limits_on_rules_and_values_are_settings() {
    let limits = FilterLimits {
        max_rules: 2,
        max_values_per_rule: 3,
    };
    let three = json!([{}, {}, {}]);
    assert_eq!(
        rules_from_json(Some(&three), 1, &limits)
            .expect_err("3 > 2")
            .to_string(),
        "too many filters: 3 (max: 2 per subscription)"
    );
    let many = json!([{"systems": [30000001, 30000002], "regions": [10000001, 10000002]}]);
    let err = rules_from_json(Some(&many), 1, &limits)
        .expect_err("4 > 3")
        .to_string();
    assert!(
        err.contains("too many ids and values: 4 (max: 3 per filter)"),
        "{err}"
    );
    let rules = rules_from_json(Some(&json!([{}, {"name": "x"}])), 7, &limits).expect("valid");
    assert_eq!(rules.iter().map(|r| r.id).collect::<Vec<_>>(), [7, 8]);
}

#[test]
fn an_unknown_value_counts_as_zero_and_an_unknown_place_matches_no_place_condition() {
    let km: Killmail = serde_json::from_value(json!({
        "killmail_id": 2, "kill_time": "2026-11-26T10:11:12Z", "system_id": 30999999,
        "victim": {"ship_type_id": 670}, "attackers": []
    }))
    .expect("a killmail");
    let kill = KillFacts::of(&km);
    assert!(url_rule("value<=0").admits(&kill));
    assert!(!url_rule("value>=1").admits(&kill));
    assert!(!url_rule("region:10000002").admits(&kill));
    assert!(!url_rule("space:nullsec").admits(&kill));
    assert!(url_rule("attackers<=0").admits(&kill));
}
