//! The upstream simulator serves SPEC §1's routes as the real hosts do, deterministically, with
//! consistent names, injectable faults and request counts.

use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actors::model::{EsiKillmail, R2z2Entry, R2z2Object, RedisqResponse, SequenceFile};
use serde_json::{json, Value};
use wanderer_kills::simulator::{route, Faults, SimConfig, Simulator, FIRST_SEQUENCE};

use crate::helpers::{client, fetch, fetch_json};

fn start(config: SimConfig) -> wanderer_kills::simulator::SimHandle {
    Simulator::start(config).expect("simulator starts")
}

#[actix_web::test]
async fn one_seed_publishes_the_same_kills_and_another_seed_different_ones() {
    let (a, b, c) = (
        start(SimConfig::default()),
        start(SimConfig::default()),
        start(SimConfig {
            seed: 99,
            ..SimConfig::default()
        }),
    );

    let strip_time = |mut v: Value| {
        v["killmail_time"] = Value::Null;
        v
    };
    let ka: Vec<Value> = (0..5).map(|_| strip_time(a.publish().kill.esi)).collect();
    let kb: Vec<Value> = (0..5).map(|_| strip_time(b.publish().kill.esi)).collect();
    let kc: Vec<Value> = (0..5).map(|_| strip_time(c.publish().kill.esi)).collect();

    assert_eq!(ka, kb);
    assert_ne!(ka, kc);
}

#[actix_web::test]
async fn an_r2z2_sequence_is_404_until_published_then_the_full_object() {
    let sim = start(SimConfig::default());
    let http = client();
    let next = FIRST_SEQUENCE;

    let (before, _) = fetch(&http, &format!("{}/{next}.json", sim.r2z2_base_url())).await;
    let published = sim.publish();
    let (after, body) = fetch_json(&http, &format!("{}/{next}.json", sim.r2z2_base_url())).await;
    let (_, head) = fetch_json(&http, &format!("{}/sequence.json", sim.r2z2_base_url())).await;

    assert_eq!(before, StatusCode::NOT_FOUND);
    assert_eq!(after, StatusCode::OK);
    assert_eq!(published.sequence, Some(next));
    assert_eq!(body["sequence_id"], next);
    assert_eq!(body["killmail_id"], published.kill.killmail_id);
    assert_eq!(body["hash"], published.kill.hash.as_str());
    assert_eq!(body["esi"], published.kill.esi);
    assert!(body["uploaded_at"].as_i64().is_some());
    let head: SequenceFile = serde_json::from_value(head).expect("sequence file");
    assert_eq!(head.head(), Some(next));
    let object: R2z2Object = serde_json::from_value(body).expect("object");
    let R2z2Entry::Kill(kill) = object.classify() else {
        panic!("a kill")
    };
    assert!(
        kill.esi
            .expect("embedded")
            .into_killmail(Some(kill.zkb))
            .is_ok(),
        "a valid killmail"
    );
}

#[actix_web::test]
async fn placeholders_gaps_updates_and_a_lagging_head_are_served_like_r2z2() {
    let sim = start(SimConfig::default());
    let http = client();
    let base = sim.r2z2_base_url();

    let first = sim.publish();
    let placeholder = sim.publish_placeholder();
    let gap = sim.skip_sequence();
    let later = sim.publish();
    let update = sim
        .republish(first.kill.killmail_id, |zkb| zkb["totalValue"] = json!(1.0))
        .expect("on the feed");
    sim.set_head_lag(2);

    let (_, p) = fetch_json(&http, &format!("{base}/{placeholder}.json")).await;
    let (gap_status, _) = fetch(&http, &format!("{base}/{gap}.json")).await;
    let (later_status, _) = fetch(
        &http,
        &format!("{base}/{}.json", later.sequence.expect("seq")),
    )
    .await;
    let (_, u) = fetch_json(&http, &format!("{base}/{update}.json")).await;
    let (_, head) = fetch_json(&http, &format!("{base}/sequence.json")).await;

    assert_eq!(
        (&p["killmail_id"], &p["hash"], &p["esi"]),
        (&Value::Null, &Value::Null, &Value::Null)
    );
    assert_eq!(
        gap_status,
        StatusCode::NOT_FOUND,
        "a skipped sequence stays missing"
    );
    assert_eq!(later_status, StatusCode::OK, "while a later one exists");
    assert_eq!(u["sequence_updated"], first.sequence.expect("seq"));
    assert_eq!(u["killmail_id"], first.kill.killmail_id);
    assert_eq!(u["zkb"]["totalValue"], 1.0);
    assert_eq!(head["sequence"], update - 2);
}

#[actix_web::test]
async fn every_id_on_a_kill_resolves_to_the_same_name_on_every_esi_route() {
    let sim = start(SimConfig::default());
    let http = client();
    let kill = sim.publish().kill;
    let esi: EsiKillmail = serde_json::from_value(kill.esi.clone()).expect("ESI shape");
    let km = esi.into_killmail(None).expect("valid");
    let victim = km.victim.character_id.expect("victim pilot").get();
    let corp = km.victim.corporation_id.expect("victim corp").get();
    let ship = km.victim.ship_type_id.expect("ship").get();
    let system = km.system_id.get();
    let base = sim.esi_base_url();

    let mut names_request = http
        .post(format!("{base}/universe/names/"))
        .send_json(&json!([victim, corp, ship, system]))
        .await
        .expect("names");
    let names: Vec<Value> = names_request.json().await.expect("json");
    let name_of = |id: u64| {
        names
            .iter()
            .find(|n| n["id"] == id)
            .map(|n| n["name"].clone())
            .expect("resolved")
    };
    let (_, character) = fetch_json(&http, &format!("{base}/characters/{victim}/")).await;
    let (_, corporation) = fetch_json(&http, &format!("{base}/latest/corporations/{corp}/")).await;
    let (_, ship_type) = fetch_json(&http, &format!("{base}/universe/types/{ship}/")).await;
    let (_, solar_system) =
        fetch_json(&http, &format!("{base}/latest/universe/systems/{system}/")).await;
    let (status, killmail) = fetch_json(
        &http,
        &format!(
            "{base}/latest/killmails/{}/{}/",
            kill.killmail_id, kill.hash
        ),
    )
    .await;

    assert_eq!(names_request.status(), StatusCode::OK);
    assert_eq!(character["name"], name_of(victim));
    assert_eq!(character["corporation_id"], corp);
    assert_eq!(corporation["name"], name_of(corp));
    assert!(corporation["ticker"]
        .as_str()
        .is_some_and(|t| (2..=5).contains(&t.len())));
    assert_eq!(ship_type["name"], name_of(ship));
    assert!(ship_type["group_id"].as_u64().is_some());
    assert_eq!(solar_system["name"], name_of(system));
    assert_eq!((status, killmail), (StatusCode::OK, kill.esi));
}

#[actix_web::test]
async fn esi_refuses_what_real_esi_refuses() {
    let sim = start(SimConfig::default());
    let http = client();
    let kill = sim.publish().kill;
    let base = sim.esi_base_url();

    let (wrong_hash, _) = fetch(
        &http,
        &format!("{base}/killmails/{}/{}/", kill.killmail_id, "0".repeat(40)),
    )
    .await;
    let (unknown_character, _) = fetch(&http, &format!("{base}/characters/5/")).await;
    let mut batch = http
        .post(format!("{base}/universe/names/"))
        .send_json(&json!([kill.esi["victim"]["ship_type_id"], 5]))
        .await
        .expect("answered");
    let batch_body: Value = batch.json().await.expect("json");

    assert_eq!(wrong_hash, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown_character, StatusCode::NOT_FOUND);
    assert_eq!(
        batch.status(),
        StatusCode::NOT_FOUND,
        "one unknown id fails the whole batch"
    );
    assert_eq!(
        batch_body["error"],
        "Ensure all IDs are valid before resolving."
    );
    assert_eq!(
        batch
            .headers()
            .get("x-esi-error-limit-remain")
            .and_then(|v| v.to_str().ok()),
        Some("97"),
        "three errors so far: 422, 404 and the batch's 404"
    );
}

#[actix_web::test]
async fn injected_faults_are_served_and_counted() {
    let sim = start(SimConfig::default());
    let http = client();
    let published = sim.publish();
    let object_url = format!(
        "{}/{}.json",
        sim.r2z2_base_url(),
        published.sequence.expect("seq")
    );

    sim.set_faults(Faults {
        r2z2_unavailable_rate: 1.0,
        ..Faults::default()
    });
    let (unavailable, _) = fetch(&http, &object_url).await;
    sim.set_faults(Faults {
        r2z2_garbage_rate: 1.0,
        ..Faults::default()
    });
    let (garbage_status, garbage) = fetch(&http, &object_url).await;
    sim.set_faults(Faults {
        esi_error_rate: 1.0,
        ..Faults::default()
    });
    let (esi_status, _) = fetch(
        &http,
        &format!(
            "{}/characters/{}/",
            sim.esi_base_url(),
            published.kill.esi["victim"]["character_id"]
        ),
    )
    .await;
    sim.set_faults(Faults {
        esi_latency_ms: 300,
        ..Faults::default()
    });
    let started = Instant::now();
    let (slow_status, _) = fetch(
        &http,
        &format!("{}/universe/types/670/", sim.esi_base_url()),
    )
    .await;
    let slow = started.elapsed();
    sim.set_faults(Faults::default());
    let (healed, _) = fetch(&http, &object_url).await;

    assert_eq!(unavailable, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(garbage_status, StatusCode::OK);
    let parsed = serde_json::from_slice::<R2z2Object>(&garbage).map(R2z2Object::classify);
    assert!(
        !matches!(parsed, Ok(R2z2Entry::Kill(_))),
        "garbage is not a kill: {}",
        String::from_utf8_lossy(&garbage)
    );
    assert!(esi_status.is_server_error());
    assert_eq!(slow_status, StatusCode::OK);
    assert!(
        slow >= Duration::from_millis(300),
        "latency is injected ({slow:?})"
    );
    assert_eq!(healed, StatusCode::OK);
    assert_eq!(sim.requests(route::R2Z2_OBJECT), 3);
    assert_eq!(sim.requests(route::ESI_CHARACTER), 1);
    assert_eq!(sim.requests(route::ESI_TYPE), 1);
}

#[actix_web::test]
async fn redisq_holds_an_empty_poll_for_ttw_then_hands_out_each_kill_once_per_queue() {
    let sim = start(SimConfig::default());
    let http = client();
    let url = |queue: &str| format!("{}?queueID={queue}&ttw=1", sim.redisq_url());

    let started = Instant::now();
    let (_, empty) = fetch_json(&http, &url("q1")).await;
    let waited = started.elapsed();
    let published = sim.publish();
    let (_, first) = fetch_json(&http, &url("q1")).await;
    let (_, again) = fetch_json(&http, &url("q1")).await;
    let (_, other_queue_before) = fetch_json(&http, &url("q2")).await;

    assert_eq!(empty, json!({"package": null}));
    assert!(
        waited >= Duration::from_millis(900),
        "the poll was held ({waited:?})"
    );
    let package: RedisqResponse = serde_json::from_value(first.clone()).expect("package");
    let kill = package
        .package
        .and_then(|p| p.into_feed_kill())
        .expect("a kill");
    assert_eq!(kill.killmail_id.get(), published.kill.killmail_id);
    assert_eq!(kill.hash, published.kill.hash);
    assert!(kill.esi.is_none(), "no embedded killmail by default");
    assert!(first["package"]["zkb"]["href"].as_str().is_some());
    assert_eq!(again, json!({"package": null}), "each kill once per queue");
    assert_eq!(
        other_queue_before,
        json!({"package": null}),
        "a new queue starts at now"
    );
}

#[actix_web::test]
async fn redisq_can_embed_the_killmail_and_redirect() {
    let sim = start(SimConfig {
        redisq_embeds_killmail: true,
        redisq_redirects: true,
        ..SimConfig::default()
    });
    let http = client();
    let url = format!("{}?queueID=q&ttw=1", sim.redisq_url());
    let following = awc::Client::builder()
        .timeout(Duration::from_secs(5))
        .finish();
    let _ = fetch(&following, &url).await;
    let published = sim.publish();

    let (redirect, _) = fetch(&http, &url).await;
    let (status, body) = fetch_json(&following, &url).await;

    assert_eq!(redirect, StatusCode::FOUND);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["package"]["killmail"], published.kill.esi);
}

#[actix_web::test]
async fn the_zkb_api_enforces_its_rules_and_hides_young_kills() {
    let sim = start(SimConfig::default());
    let http = client();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let young = sim.publish_with(|k| k.set_system(30000142));
    let old = sim.add_history(|k| {
        k.set_system(30000142);
        k.set_age(now, 3 * 3600);
    });
    let base = sim.zkb_base_url();

    let (_, listed) = fetch_json(
        &http,
        &format!("{base}/systemID/30000142/pastSeconds/86400/"),
    )
    .await;
    let (bad_seconds, _) =
        fetch(&http, &format!("{base}/systemID/30000142/pastSeconds/100/")).await;
    let (too_far, _) = fetch(
        &http,
        &format!("{base}/systemID/30000142/pastSeconds/608400/"),
    )
    .await;
    let (query, _) = fetch(
        &http,
        &format!("{base}/systemID/30000142/pastSeconds/3600/?page=2"),
    )
    .await;
    let (_, by_id) = fetch_json(&http, &format!("{base}/killID/{}/", old.kill.killmail_id)).await;
    let (_, esi_of_old) = fetch_json(
        &http,
        &format!(
            "{}/killmails/{}/{}/",
            sim.esi_base_url(),
            old.kill.killmail_id,
            old.kill.hash
        ),
    )
    .await;

    assert_eq!(
        listed,
        json!([{"killmail_id": old.kill.killmail_id, "zkb": old.kill.zkb}]),
        "young kill {} hidden",
        young.kill.killmail_id
    );
    assert_eq!(bad_seconds, StatusCode::BAD_REQUEST);
    assert_eq!(too_far, StatusCode::BAD_REQUEST);
    assert_eq!(query, StatusCode::BAD_REQUEST);
    assert_eq!(by_id[0]["zkb"]["hash"], old.kill.hash.as_str());
    assert_eq!(esi_of_old, old.kill.esi, "history kills are on ESI");
    assert_eq!(old.sequence, None, "history kills are not on the feed");
}

#[actix_web::test]
async fn the_simulator_publishes_on_its_own_at_the_configured_rate() {
    let sim = start(SimConfig {
        rate_ms: Some(50),
        ..SimConfig::default()
    });

    actix_web::rt::time::sleep(Duration::from_millis(400)).await;

    assert!(
        sim.published().len() >= 3,
        "published {}",
        sim.published().len()
    );
}

#[actix_web::test]
async fn the_simulator_records_what_clients_send() {
    let sim = start(SimConfig::default());
    let http = client();

    let _ = http
        .get(format!("{}/universe/types/670/", sim.esi_base_url()))
        .insert_header(("user-agent", "probe/1.0"))
        .send()
        .await;

    assert_eq!(
        sim.last_header(route::ESI_TYPE, "User-Agent").as_deref(),
        Some("probe/1.0")
    );
    assert_eq!(sim.requests_to("/universe/types/670"), 1);
}

#[actix_web::test]
async fn the_control_route_publishes_kills_on_demand_in_the_system_asked() {
    // Arrange: a simulator that never publishes by itself
    let sim = start(SimConfig::default());
    let http = client();
    let url = format!(
        "{}/_simulator/publish?system_id=30000142&count=3",
        sim.base_url()
    );

    // Act
    let mut answer = http.post(&url).send().await.expect("answers");
    let body: Value = answer.json().await.expect("JSON");
    let mut refused = http
        .post(format!("{}/_simulator/publish?count=0", sim.base_url()))
        .send()
        .await
        .expect("answers");

    // Assert: three kills in Jita, each on the feed at the sequence given
    assert_eq!(answer.status(), StatusCode::OK);
    let published = body["published"].as_array().expect("a list");
    assert_eq!(published.len(), 3);
    for kill in published {
        assert_eq!(kill["system_id"], 30000142);
        let seq = kill["sequence"].as_u64().expect("a sequence");
        let (status, object) =
            fetch_json(&http, &format!("{}/{seq}.json", sim.r2z2_base_url())).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(object["killmail_id"], kill["killmail_id"]);
    }
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let why: Value = refused.json().await.expect("JSON");
    assert_eq!(why["error"], "count must be 1-1000");
}
