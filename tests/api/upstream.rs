//! The engine's upstream clients against the simulator: what each answer becomes, what they send,
//! and how they pace themselves.

use std::time::{Duration, Instant};

use actors::config::UpstreamSettings;
use actors::model::{R2z2Entry, SystemId};
use actors::upstream::r2z2::R2z2Client;
use actors::upstream::redisq::RedisqClient;
use actors::upstream::zkb::ZkbClient;
use actors::upstream::FetchError;
use wanderer_kills::app::install_crypto_provider;
use wanderer_kills::simulator::{route, Faults, SimConfig, SimHandle, Simulator};

const USER_AGENT: &str = "wanderer-kills-tests/1.0 (ops@example.org)";

fn upstream() -> UpstreamSettings {
    install_crypto_provider();
    UpstreamSettings {
        user_agent: USER_AGENT.to_owned(),
        connect_timeout_ms: 2000,
        request_timeout_ms: 5000,
    }
}

fn sim(config: SimConfig) -> SimHandle {
    Simulator::start(config).expect("simulator starts")
}

#[actix_web::test]
async fn r2z2_objects_are_not_yet_until_published_then_kills() {
    let sim = sim(SimConfig::default());
    let client = R2z2Client::new(&sim.r2z2_base_url(), &upstream());
    let unpublished = wanderer_kills::simulator::FIRST_SEQUENCE;

    let before = client.object(unpublished).await;
    let published = sim.publish();
    let head = client.head().await;
    let after = client
        .object(unpublished)
        .await
        .expect("published")
        .classify();

    assert_eq!(before.err(), Some(FetchError::NotYet));
    assert_eq!(head, Ok(unpublished));
    let R2z2Entry::Kill(kill) = after else {
        panic!("a kill")
    };
    assert_eq!(kill.killmail_id.get(), published.kill.killmail_id);
    assert_eq!(
        sim.last_header(route::R2Z2_OBJECT, "user-agent").as_deref(),
        Some(USER_AGENT)
    );
}

#[actix_web::test]
async fn r2z2_failures_are_told_apart_from_not_yet() {
    let sim = sim(SimConfig::default());
    let client = R2z2Client::new(&sim.r2z2_base_url(), &upstream());
    let seq = sim.publish().sequence.expect("on the feed");

    sim.set_faults(Faults {
        r2z2_unavailable_rate: 1.0,
        ..Faults::default()
    });
    let unavailable = client.object(seq).await.expect_err("503");
    sim.set_faults(Faults {
        r2z2_rate_limit_rate: 1.0,
        ..Faults::default()
    });
    let limited = client.object(seq).await.expect_err("429");
    sim.set_faults(Faults {
        r2z2_garbage_rate: 1.0,
        ..Faults::default()
    });
    let mut garbage = Vec::new();
    for _ in 0..24 {
        garbage.push(client.object(seq).await.map(|o| o.classify()));
    }

    assert_eq!(unavailable, FetchError::Status { status: 503 });
    assert!(unavailable.is_transient());
    assert_eq!(
        limited,
        FetchError::RateLimited {
            status: 429,
            retry_after: Some(Duration::from_secs(1))
        }
    );
    // `[]`, `null`, `{}` or an object with garbage for the kill must not pass for placeholders
    // either: skipping them would lose the kill.
    assert!(
        garbage
            .iter()
            .all(|g| matches!(g, Err(FetchError::Malformed(_)))),
        "every garbage body is reported as malformed: {garbage:?}"
    );
}

#[actix_web::test]
async fn a_placeholder_object_reads_as_a_placeholder() {
    let sim = sim(SimConfig::default());
    let client = R2z2Client::new(&sim.r2z2_base_url(), &upstream());
    let seq = sim.publish_placeholder();

    let object = client.object(seq).await.expect("served");

    assert_eq!(object.classify(), R2z2Entry::Placeholder);
}

#[actix_web::test]
async fn r2z2_calls_are_spaced_to_at_most_ten_per_second() {
    let sim = sim(SimConfig::default());
    let client = R2z2Client::new(&sim.r2z2_base_url(), &upstream());

    let started = Instant::now();
    for seq in 0..11 {
        let _ = client.object(seq).await;
    }

    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "11 calls took {:?}",
        started.elapsed()
    );
    assert_eq!(sim.requests(route::R2Z2_OBJECT), 11);
}

#[actix_web::test]
async fn an_unreachable_upstream_is_a_transport_error() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let client = R2z2Client::new(&format!("http://{closed}/ephemeral"), &upstream());

    let error = client.head().await.expect_err("nothing listens");

    assert!(matches!(error, FetchError::Transport(_)), "{error:?}");
    assert!(error.is_transient());
}

#[actix_web::test]
async fn redisq_waits_ttw_for_nothing_then_delivers_the_next_kill() {
    let sim = sim(SimConfig::default());
    let client = RedisqClient::new(&sim.redisq_url(), "wk test/1", 1, &upstream());

    let nothing = client.listen().await;
    let published = sim.publish();
    let kill = client.listen().await.expect("answered").expect("a kill");

    assert_eq!(nothing, Ok(None));
    assert_eq!(kill.killmail_id.get(), published.kill.killmail_id);
    assert_eq!(kill.hash, published.kill.hash);
    assert!(
        kill.esi.is_none(),
        "this endpoint does not embed the killmail"
    );
}

#[actix_web::test]
async fn redisq_follows_redirects_and_uses_an_embedded_killmail() {
    let sim = sim(SimConfig {
        redisq_redirects: true,
        redisq_embeds_killmail: true,
        ..SimConfig::default()
    });
    let client = RedisqClient::new(&sim.redisq_url(), "q", 1, &upstream());
    assert_eq!(client.listen().await, Ok(None));
    let published = sim.publish();

    let kill = client.listen().await.expect("answered").expect("a kill");

    let km = kill
        .esi
        .expect("embedded")
        .into_killmail(Some(kill.zkb))
        .expect("valid");
    assert_eq!(km.killmail_id.get(), published.kill.killmail_id);
}

#[actix_web::test]
async fn zkb_lists_a_systems_history_with_whole_hours_and_finds_kills_by_id() {
    let sim = sim(SimConfig::default());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let old = sim.add_history(|k| {
        k.set_system(30002187);
        k.set_age(now, 3600);
    });
    let client = ZkbClient::new(&sim.zkb_base_url(), Duration::ZERO, &upstream());
    let amarr = SystemId::new(30002187).expect("id");

    let listed = client
        .system_kills(amarr, Duration::from_secs(5400))
        .await
        .expect("listed");
    let by_id = client
        .kill(actors::model::KillmailId::new(old.kill.killmail_id).expect("id"))
        .await;
    let unknown = client
        .kill(actors::model::KillmailId::new(1).expect("id"))
        .await;

    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].killmail_id.get(), listed[0].hash.as_str()),
        (old.kill.killmail_id, old.kill.hash.as_str())
    );
    assert_eq!(
        sim.requests_to("/api/systemID/30002187/pastSeconds/7200"),
        1,
        "5400 s rounds up to 2 h"
    );
    assert_eq!(
        by_id.expect("answered").map(|r| r.killmail_id.get()),
        Some(old.kill.killmail_id)
    );
    assert_eq!(unknown, Ok(None));
}

#[actix_web::test]
async fn zkb_calls_are_paced() {
    let sim = sim(SimConfig::default());
    let client = ZkbClient::new(&sim.zkb_base_url(), Duration::from_millis(200), &upstream());
    let jita = SystemId::new(30000142).expect("id");

    let started = Instant::now();
    for _ in 0..4 {
        client
            .system_kills(jita, Duration::from_secs(3600))
            .await
            .expect("listed");
    }

    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
}

#[actix_web::test]
async fn zkb_server_errors_are_transient_failures() {
    let sim = sim(SimConfig::default());
    sim.set_faults(Faults {
        zkb_error_rate: 1.0,
        ..Faults::default()
    });
    let client = ZkbClient::new(&sim.zkb_base_url(), Duration::ZERO, &upstream());

    let error = client
        .system_kills(
            SystemId::new(30000142).expect("id"),
            Duration::from_secs(3600),
        )
        .await
        .expect_err("502");

    assert_eq!(error, FetchError::Status { status: 502 });
    assert!(error.is_transient());
}

// ------------------------------------------------------------------------------------------
// ESI

fn esi(sim: &SimHandle, max_retries: u32) -> actors::upstream::esi::EsiClient {
    let settings = actors::config::EsiSettings {
        base_url: format!("{}/latest", sim.esi_base_url()),
        compatibility_date: "2025-08-26".to_owned(),
        max_retries,
    };
    actors::upstream::esi::EsiClient::new(&settings, &upstream())
}

#[actix_web::test]
async fn esi_completes_a_killmail_with_names_tickers_ship_and_system() {
    let sim = sim(SimConfig::default());
    let published = sim.publish().kill;
    let client = esi(&sim, 0);
    let id = actors::model::KillmailId::new(published.killmail_id).expect("id");

    let killmail = client.killmail(id, &published.hash).await.expect("fetched");
    let km = killmail.into_killmail(None).expect("valid");
    let victim = km.victim.character_id.expect("pilot").get();
    let character = client.character(victim).await.expect("character");
    let corporation = client
        .corporation(character.corporation_id.expect("corp").get())
        .await
        .expect("corp");
    let ship = client
        .inventory_type(km.victim.ship_type_id.expect("ship").get())
        .await
        .expect("type");
    let system = client
        .solar_system(km.system_id.get())
        .await
        .expect("system");

    let world = sim.world();
    assert_eq!(Some(character.name), world.name(victim).map(|n| n.0));
    assert!(!corporation.ticker.is_empty());
    assert!(ship.group_id.is_some());
    assert_eq!(
        Some(system.name.as_str()),
        world.system(km.system_id.get()).map(|s| s.0)
    );
    assert_eq!(
        sim.last_header(route::ESI_SYSTEM, "x-compatibility-date")
            .as_deref(),
        Some("2025-08-26")
    );
    assert_eq!(
        sim.last_header(route::ESI_SYSTEM, "user-agent").as_deref(),
        Some(USER_AGENT)
    );
}

#[actix_web::test]
async fn a_wrong_hash_or_unknown_id_is_not_found_or_refused_without_retries() {
    let sim = sim(SimConfig::default());
    let published = sim.publish().kill;
    let client = esi(&sim, 3);
    let id = actors::model::KillmailId::new(published.killmail_id).expect("id");

    let wrong_hash = client.killmail(id, &"0".repeat(40)).await;
    let unknown = client.character(5).await;

    assert_eq!(wrong_hash.err(), Some(FetchError::Status { status: 422 }));
    assert_eq!(unknown.err(), Some(FetchError::NotFound));
    assert_eq!(
        sim.requests(route::ESI_KILLMAIL) + sim.requests(route::ESI_CHARACTER),
        2,
        "no retry of a 4xx"
    );
}

#[actix_web::test]
async fn names_isolate_unknown_ids_by_splitting_the_failed_batch() {
    let sim = sim(SimConfig::default());
    let client = esi(&sim, 0);
    let base = wanderer_kills::simulator::world::CHARACTER_BASE;
    let known: Vec<u64> = (base..base + 6).collect();
    let mut ids = known.clone();
    ids.extend([5, 7]);

    let names = client.names(&ids).await.expect("resolved");

    let mut resolved: Vec<u64> = names.resolved.iter().map(|n| n.id).collect();
    resolved.sort_unstable();
    assert_eq!(resolved, known);
    let mut unknown = names.unknown.clone();
    unknown.sort_unstable();
    assert_eq!(unknown, vec![5, 7]);
    assert!(names.resolved.iter().all(|n| n.category == "character"));
    assert!(
        sim.requests(route::ESI_NAMES) < 2 * ids.len() as u64,
        "bisection, not one call per id"
    );
}

#[actix_web::test]
async fn transient_esi_errors_are_retried_until_they_succeed() {
    let sim = sim(SimConfig {
        seed: 5,
        ..SimConfig::default()
    });
    sim.set_faults(Faults {
        esi_error_rate: 0.3,
        ..Faults::default()
    });
    let client = esi(&sim, 6);

    let mut answered = 0;
    for ship in [670u64, 587, 603, 597, 593, 605, 32880, 16242, 16240, 621] {
        if client.inventory_type(ship).await.is_ok() {
            answered += 1;
        }
    }

    assert_eq!(
        answered, 10,
        "with 30 % errors and 6 retries every lookup succeeds"
    );
    assert!(sim.requests(route::ESI_TYPE) > 10, "some were retried");
}

#[actix_web::test]
async fn esi_stops_before_its_error_budget_is_spent_and_pauses_every_call() {
    let sim = sim(SimConfig::default());
    sim.set_faults(Faults {
        esi_error_rate: 1.0,
        ..Faults::default()
    });
    let client = esi(&sim, 0);

    let mut paused = None;
    for _ in 0..120 {
        match client.inventory_type(670).await {
            Err(FetchError::RateLimited { retry_after, .. }) => {
                paused = retry_after;
                break;
            }
            Err(_) => {}
            Ok(_) => panic!("every call fails"),
        }
    }
    let calls_before_pause = sim.requests(route::ESI_TYPE);
    let other_route = client.solar_system(30000142).await;

    assert!(
        paused.is_some_and(|d| d > Duration::ZERO),
        "paused: {paused:?}"
    );
    assert!(client.paused_until().is_some());
    assert!(
        calls_before_pause <= 100 - u64::from(actors::upstream::esi::ERROR_BUDGET_RESERVE),
        "{calls_before_pause} calls"
    );
    assert!(
        matches!(other_route, Err(FetchError::RateLimited { .. })),
        "the pause covers every route"
    );
    assert_eq!(sim.requests(route::ESI_SYSTEM), 0, "no call while paused");
}
