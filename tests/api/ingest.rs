//! Ingest, end to end: kills published on the simulated zKillboard become readable over REST,
//! enriched, exactly once, whatever the upstreams do.

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use actors::config::FeedSource;
use serde_json::Value;
use wanderer_kills::simulator::{route, Faults, Published, SimConfig};

use crate::helpers::{spawn_app, spawn_app_with, wait_for};

fn ids(kills: &[Value]) -> Vec<u64> {
    kills
        .iter()
        .filter_map(|k| k["killmail_id"].as_u64())
        .collect()
}

fn esi_ids(p: &Published, field: &str) -> Vec<u64> {
    let esi = &p.kill.esi;
    std::iter::once(&esi["victim"])
        .chain(esi["attackers"].as_array().into_iter().flatten())
        .filter_map(|who| who[field].as_u64())
        .collect()
}

#[actix_web::test]
async fn published_kills_become_readable_over_rest_fully_enriched_within_a_second() {
    // Arrange
    let app = spawn_app().await;
    app.wait_following().await;
    let world = app.sim.world();

    // Act
    let published = app.sim.publish_with(|k| k.set_system(30000142));
    let published_at = Instant::now();
    // Names come with the first copy; tickers follow into the stored copy moments later.
    let has_tickers = |kill: &Value| {
        std::iter::once(&kill["victim"])
            .chain(kill["attackers"].as_array().into_iter().flatten())
            .all(|who| who.get("corporation_id").is_none() || who["corporation_ticker"].is_string())
    };
    let kills = wait_for(
        Duration::from_secs(5),
        "the kill with its tickers",
        || async {
            let kills = app.cached(30000142).await;
            kills.first().is_some_and(has_tickers).then_some(kills)
        },
    )
    .await;
    let took = published_at.elapsed();

    // Assert
    assert!(took < Duration::from_secs(1), "stored after {took:?}");
    let kill = &kills[0];
    assert_eq!(kill["killmail_id"], published.kill.killmail_id);
    assert_eq!(kill["system_id"], 30000142);
    assert_eq!(kill["solar_system_id"], 30000142);
    assert_eq!(kill["solar_system_name"], "Jita");
    let esi = &published.kill.esi;
    for (who, source) in std::iter::once((&kill["victim"], &esi["victim"])).chain(
        kill["attackers"]
            .as_array()
            .expect("attackers")
            .iter()
            .zip(esi["attackers"].as_array().expect("esi attackers")),
    ) {
        if let Some(id) = source["character_id"].as_u64() {
            let character = world.character(id).expect("a world character");
            assert_eq!(who["character_name"], character.name.as_str());
        }
        if let Some(id) = source["corporation_id"].as_u64() {
            let corp = world.corporation(id).expect("a world corporation");
            assert_eq!(who["corporation_name"], corp.name.as_str());
            assert_eq!(who["corporation_ticker"], corp.ticker.as_str());
        }
        if let Some(id) = source["alliance_id"].as_u64() {
            let alliance = world.alliance(id).expect("a world alliance");
            assert_eq!(who["alliance_ticker"], alliance.ticker.as_str());
        }
        if let Some(id) = source["ship_type_id"].as_u64() {
            let (name, _) = world.inventory_type(id).expect("a world type");
            assert_eq!(who["ship_name"], name);
        }
    }
    let ship = esi["victim"]["ship_type_id"].as_u64().expect("victim ship");
    let (_, group) = world.inventory_type(ship).expect("a world type");
    assert_eq!(kill["victim"]["ship_group_id"], group);
    assert_eq!(kill["zkb"]["hash"], published.kill.hash.as_str());
    assert_eq!(
        app.status().await["summary"]["killmails_stored"],
        1,
        "/status counts the stored kill"
    );
}

#[actix_web::test]
async fn with_esi_failing_and_r2z2_unreliable_every_kill_is_stored_exactly_once() {
    // Arrange
    let app = spawn_app().await;
    app.wait_following().await;
    app.sim.set_faults(Faults {
        esi_error_rate: 0.3,
        r2z2_unavailable_rate: 0.2,
        r2z2_garbage_rate: 0.2,
        r2z2_rate_limit_rate: 0.05,
        ..Faults::default()
    });
    let systems = [30000142, 30002187, 31000005];

    // Act
    let mut published = Vec::new();
    for i in 0..24 {
        let system = systems[i % systems.len()];
        published.push(app.sim.publish_with(|k| k.set_system(system)));
    }
    // The same kill offered twice by the feed must still be stored once.
    let again = published[0].kill.clone();
    app.sim.publish_with(move |k| *k = again);

    // Assert
    let mut stored = Vec::new();
    for system in systems {
        stored.extend(app.wait_stored(system, 8, Duration::from_secs(60)).await);
    }
    let stored_ids = ids(&stored);
    let unique: HashSet<u64> = stored_ids.iter().copied().collect();
    assert_eq!(stored_ids.len(), unique.len(), "a kill is stored twice");
    let expected: HashSet<u64> = published.iter().map(|p| p.kill.killmail_id).collect();
    assert_eq!(unique, expected);
    let status = wait_for(Duration::from_secs(10), "the repeat to be seen", || async {
        let status = app.status().await;
        let duplicates = status["metrics"]["processing"]["duplicates"].as_u64();
        (duplicates >= Some(1)).then_some(status)
    })
    .await;
    assert_eq!(status["metrics"]["processing"]["kills_stored"], 24);
    assert!(
        status["metrics"]["processing"]["feed_errors"].as_u64() > Some(0),
        "the faults were really injected: {status}"
    );
}

#[actix_web::test]
async fn placeholders_are_skipped_and_a_republished_kill_updates_its_zkb_without_a_second_copy() {
    // Arrange
    let app = spawn_app().await;
    app.wait_following().await;
    let first = app.sim.publish_with(|k| k.set_system(30002187));
    app.sim.publish_placeholder();
    app.sim.publish_with(|k| k.set_system(30002187));
    app.wait_stored(30002187, 2, Duration::from_secs(5)).await;

    // Act
    app.sim
        .republish(first.kill.killmail_id, |zkb| {
            zkb["totalValue"] = 987654321.0.into()
        })
        .expect("republished");

    // Assert
    let kills = wait_for(Duration::from_secs(5), "the revalued kill", || async {
        let kills = app.cached(30002187).await;
        let revalued = kills.iter().any(|k| {
            k["killmail_id"] == first.kill.killmail_id && k["zkb"]["totalValue"] == 987654321.0
        });
        revalued.then_some(kills)
    })
    .await;
    assert_eq!(kills.len(), 2, "the update is not a new kill");
    let status = app.status().await;
    assert_eq!(status["metrics"]["parser_stats"]["placeholders"], 1);
    assert_eq!(status["metrics"]["processing"]["kills_updated"], 1);
    assert_eq!(status["metrics"]["processing"]["kills_stored"], 2);
}

#[actix_web::test]
async fn a_sequence_that_never_appears_is_skipped_once_the_head_has_moved_past_it() {
    // Arrange
    let app = spawn_app().await;
    app.wait_following().await;

    // Act
    app.sim.skip_sequence();
    let after = app.sim.publish_with(|k| k.set_system(30000144));

    // Assert (the test settings skip after 2 s)
    let kills = app.wait_stored(30000144, 1, Duration::from_secs(10)).await;
    assert_eq!(ids(&kills), vec![after.kill.killmail_id]);
    let status = app.status().await;
    assert_eq!(status["metrics"]["processing"]["skipped_sequences"], 1);
}

#[actix_web::test]
async fn kills_older_than_the_retention_window_are_neither_stored_nor_counted_as_stored() {
    // Arrange
    let app = spawn_app().await;
    app.wait_following().await;
    let now = wanderer_kills::simulator::unix_now();

    // Act
    app.sim.publish_with(|k| {
        k.set_system(30000142);
        k.set_age(now, 3 * 24 * 3600);
    });
    let fresh = app.sim.publish_with(|k| k.set_system(30000142));

    // Assert
    let kills = app.wait_stored(30000142, 1, Duration::from_secs(5)).await;
    assert_eq!(ids(&kills), vec![fresh.kill.killmail_id]);
    let status = app.status().await;
    assert_eq!(status["metrics"]["processing"]["too_old"], 1);
}

async fn redisq_delivers(sim: SimConfig, esi_killmail_calls: u64) {
    // Arrange
    let app = spawn_app_with(sim, |s| s.engine.feed.source = FeedSource::Redisq).await;
    wait_for(Duration::from_secs(5), "the first RedisQ poll", || async {
        (app.sim.requests(route::REDISQ_LISTEN) > 0).then_some(())
    })
    .await;

    // Act
    let published: Vec<Published> = (0..3)
        .map(|_| app.sim.publish_with(|k| k.set_system(30045349)))
        .collect();

    // Assert
    let kills = app.wait_stored(30045349, 3, Duration::from_secs(10)).await;
    let stored: BTreeSet<u64> = ids(&kills).into_iter().collect();
    let expected: BTreeSet<u64> = published.iter().map(|p| p.kill.killmail_id).collect();
    assert_eq!(stored, expected);
    assert!(kills.iter().all(|k| k["victim"]["ship_name"].is_string()));
    assert_eq!(app.sim.requests(route::ESI_KILLMAIL), esi_killmail_calls);
}

#[actix_web::test]
async fn redisq_without_embedded_killmails_fetches_each_from_the_configured_esi() {
    redisq_delivers(SimConfig::default(), 3).await;
}

#[actix_web::test]
async fn redisq_with_embedded_killmails_and_a_redirect_needs_no_esi_killmail_call() {
    let sim = SimConfig {
        redisq_embeds_killmail: true,
        redisq_redirects: true,
        ..SimConfig::default()
    };
    redisq_delivers(sim, 0).await;
}

#[actix_web::test]
async fn esi_is_asked_at_most_once_per_id_however_many_kills_name_it() {
    // Arrange
    let app = spawn_app().await;
    app.wait_following().await;

    // Act
    let published: Vec<Published> = (0..12)
        .map(|_| app.sim.publish_with(|k| k.set_system(30000142)))
        .collect();
    app.wait_stored(30000142, 12, Duration::from_secs(10)).await;

    // Assert
    let mut checked = 0;
    for (field, path) in [
        ("corporation_id", "/corporations"),
        ("alliance_id", "/alliances"),
        ("ship_type_id", "/universe/types"),
    ] {
        let unique: BTreeSet<u64> = published.iter().flat_map(|p| esi_ids(p, field)).collect();
        for id in unique {
            let calls = app.sim.requests_to(&format!("{path}/{id}"));
            assert!(calls <= 1, "{path}/{id} asked {calls} times");
            checked += 1;
        }
    }
    assert!(checked > 12, "the kills name many ids ({checked})");
    // System names come from the shipped static data: ESI is never asked for one.
    assert_eq!(app.sim.requests_to("/universe/systems/30000142"), 0);
    assert!(app
        .cached(30000142)
        .await
        .iter()
        .all(|k| k["solar_system_name"] == "Jita"));
    let characters: BTreeSet<u64> = published
        .iter()
        .flat_map(|p| esi_ids(p, "character_id"))
        .collect();
    let names_calls = app.sim.requests(route::ESI_NAMES);
    assert!(
        names_calls <= 12 && names_calls < characters.len() as u64,
        "{names_calls} name calls for {} characters",
        characters.len()
    );
}

#[actix_web::test]
async fn an_idle_feed_does_not_busy_poll() {
    // Arrange
    let app = spawn_app().await;
    app.wait_following().await;
    let before = app.sim.total_requests();

    // Act
    actix_web::rt::time::sleep(Duration::from_secs(2)).await;

    // Assert: the test settings wait 200 ms after a 404, so about 10 polls in 2 s.
    let polls = app.sim.total_requests() - before;
    assert!(
        (5..=16).contains(&polls),
        "{polls} requests in 2 s while idle"
    );
    assert_eq!(app.sim.requests(route::ESI_NAMES), 0);
}

#[actix_web::test]
async fn a_system_asked_for_over_rest_is_backfilled_once_from_zkillboard() {
    // Arrange
    let app = spawn_app_with(SimConfig::default(), |s| {
        s.engine.feed.source = FeedSource::Off;
    })
    .await;
    let now = wanderer_kills::simulator::unix_now();
    let history: Vec<Published> = [3600, 5 * 3600, 30 * 3600]
        .into_iter()
        .map(|age| {
            app.sim.add_history(|k| {
                k.set_system(30002659);
                k.set_age(now, age);
            })
        })
        .collect();

    // Act
    let first = app.get("/api/v1/kills/system/30002659?since_hours=2").await;
    let wider = app
        .get("/api/v1/kills/system/30002659?since_hours=48&limit=2")
        .await;
    let again = app
        .get("/api/v1/kills/system/30002659?since_hours=48")
        .await;

    // Assert
    assert_eq!(first.status, 200, "{}", first.text());
    let body = first.json();
    assert_eq!(body["data"]["cached"], false);
    assert_eq!(
        ids(body["data"]["kills"].as_array().expect("kills")),
        vec![history[0].kill.killmail_id],
        "since_hours filters"
    );
    assert!(body["data"]["kills"][0]["victim"]["ship_name"].is_string());
    assert!(body["timestamp"].is_string() && body["data"]["timestamp"].is_string());

    let wider = wider.json();
    assert_eq!(
        ids(wider["data"]["kills"].as_array().expect("kills")),
        vec![history[0].kill.killmail_id, history[1].kill.killmail_id],
        "newest first, limit applies"
    );
    let again = again.json();
    assert_eq!(again["data"]["cached"], true);
    assert_eq!(again["data"]["kills"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        app.sim.requests(route::ZKB_SYSTEM),
        2,
        "the wider window asked once more, the repeat did not"
    );
    let count = app.get("/api/v1/kills/count/30002659").await.json();
    assert_eq!(count["data"]["count"], 3);
    assert_eq!(count["data"]["system_id"], 30002659);
}

#[actix_web::test]
async fn an_empty_system_or_a_failing_zkillboard_still_answers_200_with_what_is_stored() {
    // Arrange
    let app = spawn_app_with(SimConfig::default(), |s| {
        s.engine.feed.source = FeedSource::Off;
    })
    .await;

    // Act
    let empty = app.get("/api/v1/kills/system/30000001").await;
    app.sim.set_faults(Faults {
        zkb_error_rate: 1.0,
        ..Faults::default()
    });
    let failing = app.get("/api/v1/kills/system/30000002").await;

    // Assert
    for reply in [empty, failing] {
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(
            reply.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        assert_eq!(reply.json()["data"]["kills"], serde_json::json!([]));
    }
    let failing = app.get("/api/v1/kills/system/30000002").await.json();
    assert_eq!(failing["data"]["cached"], true);
}

#[actix_web::test]
async fn a_slow_zkillboard_is_cut_off_at_the_backfill_deadline() {
    // Arrange: zKillboard answers only after the (shortened) deadline.
    let app = spawn_app_with(SimConfig::default(), |s| {
        s.engine.feed.source = FeedSource::Off;
        s.engine.zkb.backfill_deadline_ms = 300;
    })
    .await;
    app.sim.set_faults(Faults {
        esi_latency_ms: 1500,
        ..Faults::default()
    });
    let now = wanderer_kills::simulator::unix_now();
    app.sim.add_history(|k| {
        k.set_system(30002659);
        k.set_age(now, 3600);
    });

    // Act
    let started = Instant::now();
    let reply = app.get("/api/v1/kills/system/30002659").await;

    // Assert
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["data"]["cached"], true);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    // The backfill goes on behind the answer and lands in the store.
    app.wait_stored(30002659, 1, Duration::from_secs(10)).await;
}

#[actix_web::test]
async fn many_systems_are_answered_at_once_with_string_keys_for_every_requested_system() {
    // Arrange
    let app = spawn_app_with(SimConfig::default(), |s| {
        s.engine.feed.source = FeedSource::Off;
    })
    .await;
    let now = wanderer_kills::simulator::unix_now();
    let kill = app.sim.add_history(|k| {
        k.set_system(30002659);
        k.set_age(now, 3600);
    });

    // Act
    let reply = app
        .request(
            actix_web::http::Method::POST,
            "/api/v1/kills/systems",
            &[("content-type", "application/json")],
            Some(br#"{"system_ids": [30002659, 30000003], "since_hours": 24, "limit": 10}"#),
        )
        .await;

    // Assert
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    let by_system = &body["data"]["systems_kills"];
    assert_eq!(
        ids(by_system["30002659"].as_array().expect("a list")),
        vec![kill.kill.killmail_id]
    );
    assert_eq!(by_system["30000003"], serde_json::json!([]));
    assert!(body["timestamp"].is_string());
}

#[actix_web::test]
async fn a_killmail_is_served_from_the_store_or_fetched_by_id_and_unknown_ones_are_404() {
    // Arrange
    let app = spawn_app().await;
    app.wait_following().await;
    let live = app.sim.publish_with(|k| k.set_system(30000142));
    app.wait_stored(30000142, 1, Duration::from_secs(5)).await;
    let now = wanderer_kills::simulator::unix_now();
    let old = app.sim.add_history(|k| k.set_age(now, 7200));

    // Act
    let stored = app
        .get(&format!("/api/v1/killmail/{}", live.kill.killmail_id))
        .await;
    let fetched = app
        .get(&format!("/api/v1/killmail/{}", old.kill.killmail_id))
        .await;
    let unknown = app.get("/api/v1/killmail/999").await;

    // Assert
    assert_eq!(stored.status, 200);
    assert_eq!(stored.json()["data"]["killmail_id"], live.kill.killmail_id);
    assert_eq!(fetched.status, 200, "{}", fetched.text());
    let fetched = fetched.json();
    assert_eq!(fetched["data"]["killmail_id"], old.kill.killmail_id);
    assert!(fetched["data"]["victim"]["ship_name"].is_string());
    assert_eq!(unknown.status, 404);
    let unknown = unknown.json();
    assert_eq!(unknown["error"], "Killmail not found");
    assert_eq!(unknown["code"], "NOT_FOUND");
}

#[actix_web::test]
async fn invalid_ids_and_parameters_get_the_documented_400s() {
    // Arrange
    let app = spawn_app_with(SimConfig::default(), |s| {
        s.engine.feed.source = FeedSource::Off;
    })
    .await;

    // Act + Assert
    for path in [
        "/api/v1/kills/system/abc",
        "/api/v1/kills/system/0",
        "/api/v1/kills/system/-5",
        "/api/v1/kills/system/1.5",
        "/api/v1/kills/system/30000142?limit=0",
        "/api/v1/kills/system/30000142?limit=1001",
        "/api/v1/kills/system/30000142?since_hours=x",
        "/api/v1/kills/cached/abc",
        "/api/v1/kills/count/abc",
    ] {
        let reply = app.get(path).await;
        assert_eq!(reply.status, 400, "{path}");
        let body = reply.json();
        assert_eq!(body["code"], "INVALID_SYSTEM_ID", "{path}");
        assert_eq!(body["error"], "Invalid system ID format", "{path}");
        assert_eq!(body["details"], Value::Null, "{path}");
    }
    let reply = app.get("/api/v1/killmail/12x").await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["code"], "INVALID_KILLMAIL_ID");
    assert_eq!(reply.json()["error"], "Invalid killmail ID format");

    let post = |body: &'static str| {
        app.request(
            actix_web::http::Method::POST,
            "/api/v1/kills/systems",
            &[("content-type", "application/json")],
            Some(body.as_bytes()),
        )
    };
    assert_eq!(
        post(r#"{"system_ids": []}"#).await.json()["code"],
        "INVALID_SYSTEM_IDS"
    );
    assert_eq!(
        post(r#"{"system_ids": ["a"]}"#).await.json()["code"],
        "INVALID_SYSTEM_IDS"
    );
    assert_eq!(
        post(r#"{"system_ids": [1], "limit": 5000}"#).await.json()["code"],
        "INVALID_PARAMETERS"
    );
    let malformed = post(r#"{"system_ids": [1"#).await;
    assert_eq!(malformed.status, 400);
    assert_eq!(
        malformed.json(),
        serde_json::json!({"error": "Bad Request", "status": "400"})
    );
}

#[actix_web::test]
async fn after_a_restart_the_feed_head_is_known_again_and_keeps_up_with_the_cursor() {
    // Arrange: kills read, then a restart on the same data (the cursor is resumed)
    let data = tempfile::tempdir().expect("a data dir");
    let dir = data.path().to_owned();
    let on_disk = move |s: &mut wanderer_kills::Settings| s.engine.storage.data_dir = dir.clone();
    let mut first = spawn_app_with(SimConfig::default(), on_disk.clone()).await;
    first.wait_following().await;
    first.publish_in(30000142, 2);
    first
        .wait_stored(30000142, 2, Duration::from_secs(10))
        .await;
    first.shutdown();

    // Act
    let second = spawn_app_with(SimConfig::default(), on_disk).await;
    second.wait_following().await;

    // Assert
    let processing = &second.status().await["metrics"]["processing"];
    let head = processing["feed_head"].as_i64().expect("a head");
    assert!(head > 0, "the head is read on resume: {processing}");
    second.publish_in(30000142, 3);
    wait_for(
        Duration::from_secs(10),
        "the head to follow the cursor",
        || async {
            let processing = second.status().await["metrics"]["processing"].clone();
            let (head, cursor) = (
                processing["feed_head"].as_i64(),
                processing["feed_cursor"].as_i64(),
            );
            (head.is_some() && cursor.is_some() && head >= cursor.map(|c| c - 1) && head > Some(0))
                .then_some(())
        },
    )
    .await;
}
