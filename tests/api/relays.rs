//! The RedisQ and R2Z2 relays (issue 15), driven the way bots drive zKillboard's feeds (poll
//! loops; `null` or 404 = wait; 429 = back off), and by this service's own feed clients pointed
//! at another instance.

use std::time::Duration;

use actix_web::http::StatusCode;
use actors::config::FeedSource;
use serde_json::Value;
use wanderer_kills::simulator::SimConfig;

use crate::helpers::{spawn_app_with, wait_for, TestApp};

const JITA: u64 = 30000142;
const AMARR: u64 = 30002187;

/// Polls a RedisQ queue until it answers `{"package": null}`; the packages it gave, in order.
async fn drain(app: &TestApp, query: &str) -> Vec<Value> {
    let mut packages = Vec::new();
    loop {
        let reply = app.get(&format!("/listen.php?{query}&ttw=1")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        let package = reply.json()["package"].clone();
        if package.is_null() {
            return packages;
        }
        packages.push(package);
    }
}

fn kill_ids(packages: &[Value]) -> Vec<u64> {
    packages
        .iter()
        .map(|p| p["killID"].as_u64().expect("a killID"))
        .collect()
}

/// Waits until every one of `ids` is stored and on the relays (the settled head).
async fn wait_relayed(app: &TestApp, ids: &[u64]) {
    wait_for(
        Duration::from_secs(10),
        "the kills on the relays",
        || async {
            let reply = app.get("/api/v1/kills?limit=1000").await;
            let stored: Vec<u64> = reply.json()["data"]["kills"]
                .as_array()
                .map(|kills| {
                    kills
                        .iter()
                        .filter_map(|k| k["killmail_id"].as_u64())
                        .collect()
                })
                .unwrap_or_default();
            let head = app.get("/ephemeral/sequence.json").await.json()["sequence"].as_u64();
            let count = stored.len() as u64;
            (ids.iter().all(|id| stored.contains(id)) && head >= Some(count)).then_some(())
        },
    )
    .await;
}

/// Publishes kills alternately in Jita and Amarr; the Jita ones, in order.
async fn publish_jita_and_amarr(app: &TestApp, jita: usize) -> Vec<u64> {
    let mut all = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..jita {
        let kill = app.publish_in(JITA, 1);
        ids.extend(&kill);
        all.extend(kill);
        all.extend(app.publish_in(AMARR, 1));
    }
    wait_relayed(app, &all).await;
    ids
}

#[actix_web::test]
async fn a_redisq_bot_gets_each_matching_kill_once_in_order_and_keeps_its_queue_across_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let at = dir.path().to_owned();
    let mut first = spawn_app_with(SimConfig::default(), |s| {
        s.engine.storage.data_dir = at.clone()
    })
    .await;
    first.wait_following().await;
    let queue = "queueID=bot-1&filter=system:30000142";

    // A new queue starts now: kills stored before its first poll are not handed over.
    let before = first.publish_in(JITA, 1);
    wait_relayed(&first, &before).await;
    assert!(drain(&first, queue).await.is_empty());

    let jita = publish_jita_and_amarr(&first, 3).await;
    let packages = drain(&first, queue).await;
    assert_eq!(
        kill_ids(&packages),
        jita,
        "every Jita kill once, in order, no Amarr kill"
    );

    // The shape RedisQ bots parse, with the completed killmail beside it.
    let p = &packages[0];
    assert!(p["killmail"]["killmail_time"].is_string() && p["killmail"]["solar_system_id"] == JITA);
    assert!(
        p["killmail"]["victim"].get("character_name").is_none(),
        "ESI's own shape"
    );
    assert!(p["zkb"]["hash"].is_string() && p["zkb"]["href"].is_string());
    assert_eq!(
        p["zkb"]["attackerCount"].as_u64(),
        p["killmail"]["attackers"]
            .as_array()
            .map(|a| a.len() as u64)
    );
    assert_eq!(p["completed"]["solar_system_name"], "Jita");
    assert_eq!(p["completed"]["killmail_id"], p["killID"]);

    // One poll per queue at a time; a queue needs a name.
    let waiting = first.get("/listen.php?queueID=bot-1&ttw=3");
    let parallel = async {
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        first.get("/listen.php?queueID=bot-1&ttw=1").await
    };
    let (held, refused) = futures_util::future::join(waiting, parallel).await;
    assert_eq!(held.status, StatusCode::OK);
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        refused.text()
    );
    assert_eq!(refused.header("retry-after"), Some("1"));
    let missing = first.get("/listen.php?ttw=1").await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(missing.json()["error"]
        .as_str()
        .is_some_and(|m| m.contains("queueID is required")));

    // Kills stored while the bot is away, then a restart: the queue resumes where it was.
    let missed = publish_jita_and_amarr(&first, 2).await;
    first.shutdown();
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    let at = dir.path().to_owned();
    let second = spawn_app_with(SimConfig::default(), |s| s.engine.storage.data_dir = at).await;
    assert_eq!(
        kill_ids(&drain(&second, queue).await),
        missed,
        "nothing lost, nothing twice"
    );
    second.wait_following().await;
    // The second simulator starts its story over: its first 11 kills are the ones already
    // stored (duplicates, not stored again); the 12th is new.
    let published = second.publish_in(JITA, 12);
    let new = &published[11..];
    wait_relayed(&second, new).await;
    assert_eq!(kill_ids(&drain(&second, queue).await), new);
}

/// The loop R2Z2 bots run, from `sequence` on: the next sequence until 404, which means "wait".
/// The kills it got and how many placeholders it skipped; the next sequence to ask for.
async fn walk(app: &TestApp, mut sequence: u64, filter: &str) -> (Vec<u64>, usize, u64) {
    let (mut kills, mut placeholders) = (Vec::new(), 0);
    loop {
        let reply = app
            .get(&format!("/ephemeral/{sequence}.json?{filter}"))
            .await;
        if reply.status == StatusCode::NOT_FOUND {
            return (kills, placeholders, sequence);
        }
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        let object = reply.json();
        assert_eq!(object["sequence_id"], sequence);
        if object["killmail_id"].is_null() {
            assert!(
                object["esi"].is_null() && object["hash"].is_null(),
                "R2Z2's placeholder"
            );
            placeholders += 1;
        } else {
            assert_eq!(object["esi"]["solar_system_id"], JITA);
            assert!(
                object["esi"]["victim"].get("ship_name").is_none(),
                "ESI's own shape"
            );
            assert_eq!(object["completed"]["region_name"], "The Forge");
            assert_eq!(object["hash"], object["zkb"]["hash"]);
            assert!(object["uploaded_at"].is_u64());
            kills.push(object["killmail_id"].as_u64().expect("an id"));
        }
        sequence += 1;
    }
}

#[actix_web::test]
async fn an_r2z2_bot_walks_the_sequences_with_placeholders_for_what_its_filter_leaves_out() {
    let dir = tempfile::tempdir().expect("temp dir");
    let at = dir.path().to_owned();
    let mut first = spawn_app_with(SimConfig::default(), |s| s.engine.storage.data_dir = at).await;
    first.wait_following().await;
    let head = first.get("/ephemeral/sequence.json").await.json()["sequence"]
        .as_u64()
        .expect("a sequence");
    let jita = publish_jita_and_amarr(&first, 3).await;

    let (kills, placeholders, next) = walk(&first, head + 1, "filter=system:30000142").await;
    assert_eq!(kills, jita);
    assert_eq!(placeholders, 3, "the Amarr kills");
    let head = first.get("/ephemeral/sequence.json").await.json()["sequence"].as_u64();
    assert_eq!(head, Some(next - 1), "404 starts right past the head");

    // The service restarts; the bot goes on from its own counter and misses nothing.
    first.shutdown();
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    let at = dir.path().to_owned();
    let second = spawn_app_with(SimConfig::default(), |s| s.engine.storage.data_dir = at).await;
    second.wait_following().await;
    // The new simulator starts its story over: its first 6 kills are stored already.
    let published = second.publish_in(JITA, 8);
    wait_relayed(&second, &published).await;
    let (kills, placeholders, _) = walk(&second, next, "filter=system:30000142").await;
    assert_eq!(
        kills,
        published[6..],
        "the two new kills, at the sequences after the old ones"
    );
    assert_eq!(placeholders, 0);
}

#[actix_web::test]
async fn the_relays_are_rate_limited_per_address_with_retry_after() {
    let app = spawn_app_with(SimConfig::default(), |s| s.server.rate_limit_per_minute = 3).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(app.get("/ephemeral/sequence.json").await);
    }
    assert!(statuses[..3].iter().all(|r| r.status == StatusCode::OK));
    assert_eq!(statuses[3].status, StatusCode::TOO_MANY_REQUESTS);
    assert!(statuses[3].header("retry-after").is_some());
}

/// A second instance whose feed is the first instance's relay.
async fn follower(source: FeedSource, url: String) -> TestApp {
    spawn_app_with(SimConfig::default(), move |s| {
        s.engine.feed.source = source;
        match source {
            FeedSource::R2z2 => s.engine.feed.r2z2_base_url = url,
            _ => s.engine.feed.redisq_url = url,
        }
    })
    .await
}

#[actix_web::test]
async fn this_service_s_own_feed_clients_follow_another_instance_through_either_relay() {
    let origin = spawn_app_with(SimConfig::default(), |_| {}).await;
    origin.wait_following().await;
    let r2z2 = follower(FeedSource::R2z2, format!("{}/ephemeral", origin.address)).await;
    let redisq = follower(FeedSource::Redisq, format!("{}/listen.php", origin.address)).await;
    // Give the RedisQ follower's queue time to exist before kills arrive.
    actix_web::rt::time::sleep(Duration::from_millis(1500)).await;

    let published = origin.publish_in(JITA, 4);

    for follower in [&r2z2, &redisq] {
        let kills = follower.wait_stored(JITA, 4, Duration::from_secs(20)).await;
        let mut ids: Vec<u64> = kills
            .iter()
            .filter_map(|k| k["killmail_id"].as_u64())
            .collect();
        ids.sort_unstable();
        assert_eq!(ids, published);
        assert!(kills
            .iter()
            .all(|k| k["victim"]["character_name"].is_string()));
    }
}
