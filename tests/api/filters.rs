//! Filter rules (issue 14) on every channel, checked against the simulated world's truth: the
//! kills the simulator published (their ESI killmail and zkb block) and CCP's static data read
//! here from the shipped CSV, never against what the service itself answers.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use actix_web::http::StatusCode;
use serde_json::{json, Value};
use wanderer_kills::simulator::route;
use wanderer_kills::simulator::world::{CHARACTER_BASE, SHIPS};
use wanderer_kills::simulator::SimConfig;

use crate::helpers::{listed_of_type, spawn_app_with, wait_for, TestApp};
use crate::socket::Socket;
use crate::sse::Stream;
use crate::webhooks::{post_json, subscribe, Receiver};

/// Kills published per run.
const KILLS: usize = 40;

/// A system as the static data describes it: constellation, region, security.
struct Place {
    constellation: u64,
    region: u64,
    security: f64,
}

/// The static data, read from the shipped CSV by this test (not by the service).
fn places() -> HashMap<u64, Place> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/priv/data/systems.csv");
    let text = std::fs::read_to_string(path).expect("the shipped systems.csv");
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let place = Place {
                constellation: f.get(2)?.parse().ok()?,
                region: f.get(3)?.parse().ok()?,
                security: f.get(4)?.parse().ok()?,
            };
            Some((f[0].parse().ok()?, place))
        })
        .collect()
}

/// One published kill as the world tells it.
struct Truth<'a> {
    esi: &'a Value,
    zkb: &'a Value,
    place: &'a Place,
}

impl Truth<'_> {
    fn system(&self) -> u64 {
        self.esi["solar_system_id"].as_u64().expect("a system")
    }

    fn space(&self) -> &'static str {
        let (id, sec) = (self.system(), self.place.security);
        match () {
            _ if id >= 32_000_000 => "abyssal",
            _ if (31_000_000..32_000_000).contains(&id) => "wspace",
            _ if self.place.region == 10_000_070 => "pochven",
            _ if sec >= 0.45 => "highsec",
            _ if sec > 0.0 => "lowsec",
            _ => "nullsec",
        }
    }

    /// The parties a role names.
    fn parties(&self, role: &str) -> Vec<&Value> {
        let attackers = self.esi["attackers"].as_array().expect("attackers");
        match role {
            "victim" => vec![&self.esi["victim"]],
            "attacker" => attackers.iter().collect(),
            "final_blow" => attackers
                .iter()
                .filter(|a| a["final_blow"] == true)
                .collect(),
            _ => std::iter::once(&self.esi["victim"])
                .chain(attackers)
                .collect(),
        }
    }

    fn someone(&self, role: &str, key: &str, ids: &[u64]) -> bool {
        self.parties(role)
            .iter()
            .any(|p| p[key].as_u64().is_some_and(|id| ids.contains(&id)))
    }

    fn flies_group(&self, role: &str, groups: &[u64]) -> bool {
        self.parties(role).iter().any(|p| {
            let ship = p["ship_type_id"].as_u64();
            SHIPS
                .iter()
                .any(|s| Some(s.0) == ship && groups.contains(&s.1))
        })
    }

    fn value(&self) -> f64 {
        self.zkb["totalValue"].as_f64().unwrap_or(0.0)
    }

    fn attackers(&self) -> usize {
        self.esi["attackers"].as_array().map_or(0, Vec::len)
    }

    fn label(&self, label: &str) -> bool {
        let listed = self.zkb["labels"]
            .as_array()
            .is_some_and(|l| l.iter().any(|x| x == label));
        listed || self.zkb[label] == true
    }
}

type Predicate = Box<dyn Fn(&Truth) -> bool>;

/// One rule in both forms, with the world's answer.
struct Case {
    name: &'static str,
    url: String,
    json: Value,
    truth: Predicate,
}

fn case(
    name: &'static str,
    url: &str,
    json: Value,
    truth: impl Fn(&Truth) -> bool + 'static,
) -> Case {
    let mut json = json;
    json["name"] = json!(name);
    Case {
        name,
        url: format!("{url};name:{name}"),
        json,
        truth: Box::new(truth),
    }
}

/// The pilot forced onto every fifth kill as its victim, and an alliance and a corporation to
/// follow.
const PILOT: u64 = CHARACTER_BASE + 7;
const ALLIANCE: u64 = 99_000_003;

fn cases(corporation: u64) -> Vec<Case> {
    vec![
        case(
            "forge",
            "region:10000002",
            json!({"regions": [10000002]}),
            |t| t.place.region == 10000002,
        ),
        case(
            "tama-constellation",
            "constellation:20000412",
            json!({"constellations": [20000412]}),
            |t| t.place.constellation == 20000412,
        ),
        case(
            "amarr",
            "system:30002187",
            json!({"systems": [30002187]}),
            |t| t.system() == 30002187,
        ),
        case(
            "lowsec",
            "space:lowsec",
            json!({"space": ["lowsec"]}),
            |t| t.space() == "lowsec",
        ),
        case(
            "null-or-w",
            "space:nullsec,wspace",
            json!({"space": ["nullsec", "wspace"]}),
            |t| matches!(t.space(), "nullsec" | "wspace"),
        ),
        case(
            "pilot-lost",
            "character:2112000007;role:victim",
            json!({"characters": [PILOT], "role": "victim"}),
            |t| t.someone("victim", "character_id", &[PILOT]),
        ),
        case(
            "alliance-lost",
            "alliance:99000003;role:victim",
            json!({"alliances": [ALLIANCE], "role": "victim"}),
            |t| t.someone("victim", "alliance_id", &[ALLIANCE]),
        ),
        case(
            "alliance-killed",
            "alliance:99000003;role:attacker;!label:solo",
            json!({"alliances": [ALLIANCE], "role": "attacker", "exclude_labels": ["solo"]}),
            |t| t.someone("attacker", "alliance_id", &[ALLIANCE]) && !t.label("solo"),
        ),
        case(
            "corp",
            &format!("corporation:{corporation}"),
            json!({"corporations": [corporation]}),
            move |t| t.someone("any", "corporation_id", &[corporation]),
        ),
        case(
            "final-blow-frigate",
            "ship_group:25;role:final_blow",
            json!({"ship_groups": [25], "role": "final_blow"}),
            |t| t.flies_group("final_blow", &[25]),
        ),
        case(
            "pods",
            "ship_type:670;ship_role:victim",
            json!({"ship_types": [670], "ship_role": "victim"}),
            |t| t.esi["victim"]["ship_type_id"] == 670,
        ),
        case("rich", "value>=1.5e8", json!({"min_value": 1.5e8}), |t| {
            t.value() >= 1.5e8
        }),
        case(
            "cheap-solo",
            "value<=1e8;attackers<=1",
            json!({"max_value": 1e8, "max_attackers": 1}),
            |t| t.value() <= 1e8 && t.attackers() <= 1,
        ),
        case("solo", "label:solo", json!({"labels": ["solo"]}), |t| {
            t.label("solo")
        }),
        case(
            "gangs",
            "!label:npc;attackers>=5",
            json!({"exclude_labels": ["npc"], "min_attackers": 5}),
            |t| !t.label("npc") && t.attackers() >= 5,
        ),
        case(
            "highsec-small-losses",
            "space:highsec;ship_group:25,26;role:victim;value>=5e7",
            json!({"space": ["highsec"], "ship_groups": [25, 26], "role": "victim", "min_value": 5e7}),
            |t| t.space() == "highsec" && t.flies_group("victim", &[25, 26]) && t.value() >= 5e7,
        ),
    ]
}

/// Killmail ids of `kills` (JSON killmails).
fn ids(kills: &[Value]) -> BTreeSet<u64> {
    kills
        .iter()
        .filter_map(|k| k["killmail_id"].as_u64())
        .collect()
}

async fn app() -> TestApp {
    spawn_app_with(SimConfig::default(), |s| {
        s.sse.max_connections_per_ip = 100;
        s.engine.webhooks.retry_base_ms = 50;
    })
    .await
}

/// Publishes the run's kills (every fifth lost by [`PILOT`]) and waits until all are stored;
/// answers each kill's expected rules (by case name).
async fn publish(app: &TestApp, cases: &[Case]) -> HashMap<&'static str, BTreeSet<u64>> {
    for i in 0..KILLS {
        app.sim.publish_with(|k| {
            if i % 5 == 0 {
                k.set_victim_character(PILOT);
            }
        });
    }
    wait_for(Duration::from_secs(20), "every kill stored", || async {
        let reply = app.get("/api/v1/kills?limit=1000").await;
        let n = reply.json()["data"]["kills"].as_array().map_or(0, Vec::len);
        (n >= KILLS).then_some(())
    })
    .await;
    let places = places();
    let published = app.sim.published();
    let mut expected = HashMap::new();
    for case in cases {
        let matching: BTreeSet<u64> = published
            .iter()
            .filter(|p| {
                let system = p.kill.system_id();
                let place = places
                    .get(&system)
                    .expect("every simulated system is in the data");
                (case.truth)(&Truth {
                    esi: &p.kill.esi,
                    zkb: &p.kill.zkb,
                    place,
                })
            })
            .map(|p| p.kill.killmail_id)
            .collect();
        assert!(
            !matching.is_empty() && matching.len() < KILLS,
            "case {} must match some kills but not all: {}",
            case.name,
            matching.len()
        );
        expected.insert(case.name, matching);
    }
    expected
}

/// The corporation of a pilot of the world, to follow.
fn some_corporation(app: &TestApp) -> u64 {
    app.sim
        .world()
        .character(CHARACTER_BASE + 11)
        .expect("a pilot")
        .corporation_id
}

#[actix_web::test]
async fn each_rule_gets_exactly_its_kills_over_rest_sse_and_webhooks_with_its_name() {
    let app = app().await;
    app.wait_following().await;
    let cases = cases(some_corporation(&app));
    let mut streams = Vec::new();
    let mut receivers = Vec::new();
    for case in &cases {
        let path = format!("/api/v1/kills/stream?filter={}", urlencode(&case.url));
        streams.push(Stream::open(&app, &path, &[]).await);
        let receiver = Receiver::start(|_| (200, None, Duration::ZERO));
        subscribe(
            &app,
            json!({"subscriber_id": case.name, "callback_url": receiver.url, "filters": [case.json]}),
        )
        .await;
        receivers.push(receiver);
    }

    let expected = publish(&app, &cases).await;

    for (case, (stream, receiver)) in cases.iter().zip(streams.iter_mut().zip(&receivers)) {
        let want = &expected[case.name];
        // REST: the store, newest first, each kill naming the rule.
        let reply = app
            .get(&format!(
                "/api/v1/kills?limit=1000&filter={}",
                urlencode(&case.url)
            ))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        let kills = reply.json()["data"]["kills"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(&ids(&kills), want, "REST {}", case.name);
        let times: Vec<&str> = kills
            .iter()
            .filter_map(|k| k["kill_time"].as_str())
            .collect();
        assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
        assert!(kills
            .iter()
            .all(|k| k["matched_filters"] == json!([case.name])));
        // SSE: live kills, each once, with the rule's name.
        let mut got = Vec::new();
        while got.len() < want.len() {
            got.push(stream.event().await.json());
        }
        assert_eq!(&ids(&got), want, "SSE {}", case.name);
        assert_eq!(
            got.len(),
            want.len(),
            "SSE {} sends each kill once",
            case.name
        );
        assert!(got
            .iter()
            .all(|k| k["matched_filters"] == json!([case.name])));
        // Webhooks: every matching kill delivered, named.
        let delivered = wait_for(Duration::from_secs(10), "webhook deliveries", || async {
            let d = receiver.delivered();
            (d.len() >= want.len()).then_some(d)
        })
        .await;
        assert_eq!(
            &delivered.iter().copied().collect::<BTreeSet<_>>(),
            want,
            "webhook {}",
            case.name
        );
        assert_eq!(
            delivered.len(),
            want.len(),
            "webhook {} delivers each kill once",
            case.name
        );
        let bodies = receiver.received();
        let named = bodies
            .iter()
            .flat_map(|r| r.json()["kills"].as_array().cloned().unwrap_or_default())
            .all(|k| k["matched_filters"] == json!([case.name]));
        assert!(named, "webhook kills carry the rule's name");
    }
    // Not one system or ship was asked of ESI: the static data answers.
    assert_eq!(app.sim.requests(route::ESI_SYSTEM), 0);
    assert_eq!(app.sim.requests(route::ESI_TYPE), 0);
    // Listings show the rules back.
    let listed = app.get("/api/v1/subscriptions").await.json();
    let webhooks = listed_of_type(&listed, "webhook");
    assert_eq!(webhooks.len(), cases.len());
    let stats = app.get("/api/v1/subscriptions/stats").await.json();
    assert_eq!(
        stats["data"]["total_filters"],
        cases.len() * 2,
        "a webhook and a stream each"
    );
    assert_eq!(
        stats["data"]["unanchored_filters"], 8,
        "the value, attacker and label rules, twice"
    );
    assert!(webhooks
        .iter()
        .all(|w| w["filters"][0]["id"] == 1 && w["filters"][0]["name"].is_string()));
}

#[actix_web::test]
async fn websocket_rules_route_live_preload_and_resume_by_the_world_s_truth() {
    let app = app().await;
    app.wait_following().await;
    let cases = cases(some_corporation(&app));
    let mut sockets = Vec::new();
    for case in &cases {
        let mut socket = Socket::connect(&app, "vsn=2.0.0").await;
        socket
            .send(json!(["1", "1", "killmails:lobby", "phx_join",
                         {"filters": [case.json], "preload": {"enabled": false}}]))
            .await;
        let reply = socket.next().await;
        assert_eq!(reply[4]["status"], "ok", "{reply}");
        assert_eq!(reply[4]["response"]["filters"][0]["id"], 1);
        sockets.push(socket);
    }

    let expected = publish(&app, &cases).await;

    for (case, socket) in cases.iter().zip(sockets.iter_mut()) {
        let want = &expected[case.name];
        let mut got = Vec::new();
        while got.len() < want.len() {
            let (push, _) = socket.until_event("killmail_update", true).await;
            got.extend(push[4]["killmails"].as_array().cloned().unwrap_or_default());
        }
        assert_eq!(&ids(&got), want, "WebSocket live {}", case.name);
        assert_eq!(got.len(), want.len(), "each kill once");
    }

    // A new client with the same rules gets the stored matches as its preload, and a client
    // resuming from offset 0 gets them as missed kills.
    for case in cases.iter().take(6) {
        let want = &expected[case.name];
        let mut fresh = Socket::connect(&app, "vsn=2.0.0").await;
        fresh
            .send(json!(["1", "1", "killmails:lobby", "phx_join",
                         {"filters": [case.json], "preload": {"limit_per_system": 200, "since_hours": 24}}]))
            .await;
        let (_, pushes) = fresh.until_event("preload_complete", true).await;
        let preloaded: Vec<Value> = pushes
            .iter()
            .filter(|p| p[3] == "killmail_update")
            .flat_map(|p| p[4]["killmails"].as_array().cloned().unwrap_or_default())
            .collect();
        assert_eq!(&ids(&preloaded), want, "preload {}", case.name);
        assert_eq!(preloaded.len(), want.len());

        let mut resumed = Socket::connect(&app, "vsn=2.0.0").await;
        resumed
            .send(json!(["1", "1", "killmails:lobby", "phx_join",
                         {"filters": [case.json], "since_offset": 0, "preload": {"enabled": false}}]))
            .await;
        let mut missed = Vec::new();
        while missed.len() < want.len() {
            let (push, _) = resumed.until_event("killmail_update", true).await;
            assert_eq!(
                push[4]["preload"], false,
                "resumed kills are missed live kills"
            );
            missed.extend(push[4]["killmails"].as_array().cloned().unwrap_or_default());
        }
        assert_eq!(&ids(&missed), want, "resume {}", case.name);
    }
}

#[actix_web::test]
async fn rules_change_over_a_connection_and_a_kill_matched_many_ways_arrives_once() {
    let app = app().await;
    app.wait_following().await;
    let mut socket = Socket::connect(&app, "vsn=2.0.0").await;
    socket
        .send(json!(["1", "1", "killmails:lobby", "phx_join", {"systems": [30002813]}]))
        .await;
    socket.until_event("phx_reply", true).await;
    // Tama by its system, its constellation, its region and its class: four ways, one kill.
    let rules = json!([{"systems": [30002813]}, {"constellations": [20000412]},
                       {"regions": [10000033]}, {"space": ["lowsec"], "name": "low"}]);
    socket
        .send(json!(["1", "2", "killmails:lobby", "subscribe_filters", {"filters": rules}]))
        .await;
    let (reply, _) = socket.until_event("phx_reply", true).await;
    assert_eq!(
        reply[4]["response"]["added"],
        json!([1, 2, 3, 4]),
        "{reply}"
    );

    let published = app.publish_in(30002813, 3);
    let mut got = Vec::new();
    while got.len() < 3 {
        let (push, _) = socket.until_event("killmail_update", true).await;
        got.extend(push[4]["killmails"].as_array().cloned().unwrap_or_default());
    }
    assert_eq!(ids(&got), published.iter().copied().collect());
    assert_eq!(
        got.len(),
        3,
        "each kill once though five subscriptions match it"
    );
    assert_eq!(got[0]["space"], "lowsec");
    assert_eq!(got[0]["region_name"], "The Citadel");

    socket
        .send(json!(["1", "3", "killmails:lobby", "get_status", {}]))
        .await;
    let (status, _) = socket.until_event("phx_reply", true).await;
    assert_eq!(
        status[4]["response"]["filters"].as_array().map(Vec::len),
        Some(4)
    );

    // Leaving the system and every rule but a high-sec one: Tama's kills stop.
    socket
        .send(json!(["1", "4", "killmails:lobby", "unsubscribe_systems", {"systems": [30002813]}]))
        .await;
    socket.until_event("phx_reply", true).await;
    socket
        .send(json!(["1", "5", "killmails:lobby", "set_filters", {"filters": [{"space": ["highsec"]}]}]))
        .await;
    let (reply, _) = socket.until_event("phx_reply", true).await;
    assert_eq!(
        reply[4]["response"]["filters"][0]["space"],
        json!(["highsec"])
    );
    app.publish_in(30002813, 1);
    let jita = app.publish_in(30000142, 1);
    let next = loop {
        let (push, _) = socket.until_event("killmail_update", true).await;
        let kills = push[4]["killmails"].as_array().cloned().unwrap_or_default();
        if !kills.is_empty() {
            break kills;
        }
    };
    assert_eq!(
        ids(&next),
        jita.into_iter().collect(),
        "Tama's kill did not come"
    );
    socket
        .send(json!(["1", "6", "killmails:lobby", "unsubscribe_filters", {"ids": [5]}]))
        .await;
    let (reply, _) = socket.until_event("phx_reply", true).await;
    assert_eq!(reply[4]["response"]["filters"], json!([]), "{reply}");
}

#[actix_web::test]
async fn a_bad_rule_is_refused_on_every_channel_naming_the_condition_and_the_value() {
    let app = app().await;
    let bad = "region:10000002;ship_group:30,abc";
    let message = r#"filter 1: ship_groups: "abc" is not a ship group id"#;

    let reply = app
        .get(&format!("/api/v1/kills?filter={}", urlencode(bad)))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["code"], "INVALID_FILTER", "{}", reply.text());
    assert_eq!(reply.json()["error"], message);

    let reply = app
        .get(&format!(
            "/api/v1/kills/stream?filter={}",
            urlencode("space:hisec")
        ))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply
            .text()
            .contains(r#"space: \"hisec\" is not a space class"#),
        "{}",
        reply.text()
    );

    let reply = post_json(
        &app,
        "/api/v1/subscriptions",
        json!({"subscriber_id": "bot", "callback_url": "http://127.0.0.1:9/hook",
               "filters": [{"regions": [10000002]}, {"min_value": -5}]}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.json()["error"]["message"],
        "filter 2: min_value: -5 is not an ISK value (a number, 0 or more)"
    );

    let mut socket = Socket::connect(&app, "vsn=2.0.0").await;
    socket
        .send(
            json!(["1", "1", "killmails:lobby", "phx_join", {"filters": [{"regions": ["forge"]}]}]),
        )
        .await;
    let reply = socket.next().await;
    assert_eq!(reply[4]["status"], "error");
    assert_eq!(
        reply[4]["response"]["reason"],
        r#"[validation:invalid_filters] filter 1: regions: "forge" is not a region id"#
    );
}

/// Percent-encodes a query value (the rule texts hold `:`, `;`, `,`, `>`, `=`, `!`).
fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
