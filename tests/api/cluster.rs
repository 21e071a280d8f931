//! Cluster mode with the real binary and the real NATS server on 127.0.0.1:4222 (`make nats`
//! starts one when none runs): several instances share one kill log. Each test has its own
//! cluster name, so its stream and buckets are its own, and deletes them when done.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::durability::{collect_events, http_post, json_body, published, wait_until};
use crate::process::{http_get, port_in, sim_port, Running};
use crate::socket::Socket;

const NATS: &str = "127.0.0.1:4222";
const ALL_SPACE: &str =
    r#"{"space": ["highsec", "lowsec", "nullsec", "wspace", "abyssal", "pochven"]}"#;

/// One request to the NATS server over its text protocol; answers the reply's payload.
fn nats_request(subject: &str, payload: &str) -> String {
    let stream = TcpStream::connect(NATS).unwrap_or_else(|e| {
        panic!("cluster tests need a NATS server with JetStream on {NATS} (make nats): {e}")
    });
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut writer = stream;
    let mut line = String::new();
    reader.read_line(&mut line).expect("INFO");
    write!(
        writer,
        "CONNECT {{\"verbose\":false}}\r\nSUB _INBOX.t 1\r\nPUB {subject} _INBOX.t {}\r\n{payload}\r\n",
        payload.len()
    )
    .expect("writes");
    loop {
        line.clear();
        reader.read_line(&mut line).expect("a reply");
        if line.starts_with("PING") {
            writer.write_all(b"PONG\r\n").expect("pong");
        } else if let Some(header) = line.strip_prefix("MSG ") {
            let size: usize = header
                .split_whitespace()
                .last()
                .and_then(|n| n.parse().ok())
                .expect("a size");
            let mut body = vec![0; size];
            reader.read_exact(&mut body).expect("the payload");
            return String::from_utf8_lossy(&body).into_owned();
        }
    }
}

/// A cluster name of its own, whose stream and buckets are deleted when it is dropped.
struct ClusterName(String);

impl ClusterName {
    fn new(test: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let name = format!("t{test}{}x{nanos}", std::process::id());
        let info = nats_request("$JS.API.INFO", "");
        assert!(
            !info.contains("\"error\""),
            "JetStream is not enabled: {info}"
        );
        Self(name)
    }
}

impl Drop for ClusterName {
    fn drop(&mut self) {
        let name = &self.0;
        for stream in [
            format!("{name}_KILLMAILS"),
            format!("KV_{name}_leader"),
            format!("KV_{name}_state"),
            format!("KV_{name}_webhooks"),
            format!("KV_{name}_relay"),
        ] {
            nats_request(&format!("$JS.API.STREAM.DELETE.{stream}"), "");
        }
    }
}

/// One instance of the cluster: the real binary on its own data directory.
struct Member {
    process: Running,
    port: u16,
    _data: tempfile::TempDir,
}

impl Member {
    fn start(cluster: &ClusterName, sim_port: u16) -> Self {
        Self::start_on(cluster, sim_port, NATS, 3000)
    }

    /// A member reaching NATS at `nats` (`host:port`), with a feed lease of `lease_ms`.
    fn start_on(cluster: &ClusterName, sim_port: u16, nats: &str, lease_ms: u64) -> Self {
        let data = tempfile::tempdir().expect("a data dir");
        let base = format!("http://127.0.0.1:{sim_port}");
        let env = [
            ("KILL_FEED", "r2z2".to_owned()),
            ("R2Z2_BASE_URL", format!("{base}/ephemeral")),
            ("ZKB_BASE_URL", format!("{base}/api")),
            ("ESI_BASE_URL", base.clone()),
            ("NATS_URL", format!("nats://{nats}")),
            ("CLUSTER_NAME", cluster.0.clone()),
            ("NATS_SUBJECT_PREFIX", format!("{}.killmails", cluster.0)),
            ("CLUSTER_LEASE_MS", lease_ms.to_string()),
        ];
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let process = Running::start_in(&[], &env, data.path());
        let port = port_in(&process.line_with("listening address="));
        Self {
            process,
            port,
            _data: data,
        }
    }

    fn cluster(&self) -> Value {
        json_body(&http_get(self.port, "/health"))["cluster"].clone()
    }

    fn ready(&self) -> bool {
        let answer = http_get(self.port, "/health/ready");
        answer.split_whitespace().nth(1) == Some("200")
    }

    fn is_leader(&self) -> bool {
        self.cluster()["role"] == "leader"
    }
}

fn wait_ready(members: &[&Member]) {
    wait_until(Duration::from_secs(20), "every instance ready", || {
        members.iter().all(|m| m.ready())
    });
}

/// Two instances of a new cluster following a simulator that publishes every `rate_ms` (0: on
/// demand), both ready. Dropped in field order: the instances first, the stream and buckets last.
struct Pair {
    members: [Member; 2],
    _sim: Running,
    sim_port: u16,
    _cluster: ClusterName,
}

impl Pair {
    fn start(test: &str, rate_ms: u64) -> Self {
        let cluster = ClusterName::new(test);
        let sim = Running::start(
            &["simulate", "--port", "0", "--rate-ms", &rate_ms.to_string()],
            &[],
        );
        let sim_port = sim_port(&sim);
        let members = [
            Member::start(&cluster, sim_port),
            Member::start(&cluster, sim_port),
        ];
        wait_ready(&[&members[0], &members[1]]);
        Self {
            members,
            _sim: sim,
            sim_port,
            _cluster: cluster,
        }
    }
}

/// Creates a webhook for every kill through the instance on `via`, and waits until every member
/// lists it.
fn subscribe_everywhere(via: u16, members: &[&Member], hook_port: u16) {
    let created = http_post(
        via,
        "/api/v1/subscriptions",
        &format!(
            r#"{{"subscriber_id":"bot","callback_url":"http://127.0.0.1:{hook_port}/hook","filters":[{ALL_SPACE}]}}"#
        ),
    );
    assert_eq!(created.split_whitespace().nth(1), Some("201"), "{created}");
    for member in members {
        wait_until(
            Duration::from_secs(10),
            "the webhook on every instance",
            || {
                let listed = json_body(&http_get(member.port, "/api/v1/subscriptions"));
                crate::helpers::listed_of_type(&listed, "webhook").len() == 1
            },
        );
    }
}

/// A webhook receiver on loopback: answers 200 and keeps every kill of every body.
fn receiver() -> (u16, Arc<Mutex<Vec<u64>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let port = listener.local_addr().expect("an address").port();
    let kills: Arc<Mutex<Vec<u64>>> = Arc::default();
    let seen = Arc::clone(&kills);
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let seen = Arc::clone(&seen);
            std::thread::spawn(move || serve_hook(stream, &seen));
        }
    });
    (port, kills)
}

fn serve_hook(stream: TcpStream, seen: &Mutex<Vec<u64>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut writer = stream;
    loop {
        let mut length = 0;
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(n) = lower.strip_prefix("content-length:") {
                length = n.trim().parse().unwrap_or(0);
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let body: Value = serde_json::from_slice(&body).unwrap_or_default();
        let ids = crate::durability::ids(body["kills"].as_array().map_or(&[][..], |k| k));
        seen.lock().unwrap().extend(ids);
        let answer = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// `ids` from the first kill of `expected` that `got` holds, to the end of `expected`: each
/// must be in `got` exactly once. Answers the ones checked.
fn exactly_once(who: &str, got: &[u64], expected: &[u64]) -> usize {
    let mut counts: HashMap<u64, usize> = HashMap::new();
    for id in got {
        *counts.entry(*id).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{who} got kills more than once: {twice:?}"
    );
    let start = expected
        .iter()
        .position(|id| counts.contains_key(id))
        .unwrap_or_else(|| panic!("{who} got none of the published kills"));
    let missing: Vec<_> = expected[start..]
        .iter()
        .filter(|id| !counts.contains_key(id))
        .collect();
    assert!(missing.is_empty(), "{who} missed {missing:?}");
    expected.len() - start
}

#[test]
fn killing_the_leader_loses_no_kill_and_repeats_none_for_clients_and_webhooks() {
    // Arrange: three instances, a kill every 200 ms, stream clients on each instance and one
    // webhook created through the first instance
    let cluster = ClusterName::new("failover");
    let sim = Running::start(&["simulate", "--port", "0", "--rate-ms", "200"], &[]);
    let sim_port = sim_port(&sim);
    let members: Vec<Member> = (0..3).map(|_| Member::start(&cluster, sim_port)).collect();
    wait_ready(&members.iter().collect::<Vec<_>>());
    wait_until(Duration::from_secs(15), "a leader", || {
        members.iter().filter(|m| m.is_leader()).count() == 1
    });
    let (hook_port, hooked) = receiver();
    subscribe_everywhere(
        members[0].port,
        &members.iter().collect::<Vec<_>>(),
        hook_port,
    );
    let streams: Vec<_> = members
        .iter()
        .map(|m| collect_events(m.port, "/api/v1/kills/stream", ""))
        .collect();
    wait_until(Duration::from_secs(20), "kills on every stream", || {
        streams.iter().all(|s| s.lock().unwrap().len() >= 5)
    });

    // Act: kill -9 the leader while kills flow
    let leader = members
        .iter()
        .position(|m| m.is_leader())
        .expect("a leader");
    let mut members = members;
    let mut gone = members.remove(leader);
    gone.process.signal("KILL");
    let killed_at = Instant::now();
    gone.process.wait(Duration::from_secs(5));
    let surviving: Vec<_> = streams
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != leader)
        .map(|(_, s)| Arc::clone(s))
        .collect();

    // Assert: another instance takes the feed within 15 s
    wait_until(Duration::from_secs(15), "a new leader", || {
        members.iter().any(|m| m.is_leader())
    });
    let failover = killed_at.elapsed();
    assert!(failover < Duration::from_secs(15), "took {failover:?}");
    let new_leader = members.iter().find(|m| m.is_leader()).expect("a leader");
    assert!(new_leader.cluster()["leads"].as_u64() >= Some(1));
    let follower = members.iter().find(|m| !m.is_leader()).expect("a follower");
    let metric = |m: &Member, line: &str| http_get(m.port, "/metrics").lines().any(|l| l == line);
    assert!(metric(new_leader, "wanderer_kills_cluster_leader 1"));
    assert!(metric(follower, "wanderer_kills_cluster_leader 0"));
    assert!(metric(follower, "wanderer_kills_cluster_nats_connected 1"));

    // ... and every kill published up to a point after the failover reaches each surviving
    // client and the webhook receiver exactly once
    let before = surviving[0].lock().unwrap().len();
    wait_until(Duration::from_secs(20), "kills from the new leader", || {
        surviving[0].lock().unwrap().len() >= before + 10
    });
    let expected = published(sim_port);
    let cutoff: HashSet<u64> = expected.iter().copied().collect();
    let last = *expected.last().expect("published kills");
    wait_until(
        Duration::from_secs(20),
        "the last published kill delivered",
        || {
            surviving
                .iter()
                .all(|s| crate::durability::ids(&s.lock().unwrap()).contains(&last))
                && hooked.lock().unwrap().contains(&last)
        },
    );
    std::thread::sleep(Duration::from_millis(500));
    drop(sim);
    for (i, stream) in surviving.iter().enumerate() {
        let got = crate::durability::ids(&stream.lock().unwrap());
        let got: Vec<u64> = got.into_iter().filter(|id| cutoff.contains(id)).collect();
        let checked = exactly_once(&format!("stream client {i}"), &got, &expected);
        assert!(checked >= 20, "only {checked} kills checked");
    }
    let hooks: Vec<u64> = hooked
        .lock()
        .unwrap()
        .iter()
        .copied()
        .filter(|id| cutoff.contains(id))
        .collect();
    exactly_once("the webhook receiver", &hooks, &expected);
}

/// The kills of the `killmail_update` pushes a socket gets within `wait`, with their offsets.
async fn pushed(ws: &mut Socket, wait: Duration) -> Vec<(u64, u64)> {
    let mut kills = Vec::new();
    let deadline = Instant::now() + wait;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Some(awc::ws::Frame::Text(bytes)) = ws.frame(left).await else {
            continue;
        };
        let frame: Value = serde_json::from_slice(&bytes).expect("JSON");
        if frame[3] != "killmail_update" {
            continue;
        }
        let offset = frame[4]["offset"].as_u64().expect("an offset");
        for kill in frame[4]["killmails"].as_array().expect("kills") {
            kills.push((offset, kill["killmail_id"].as_u64().expect("an id")));
        }
    }
    kills
}

async fn join(port: u16, since_offset: Option<u64>) -> Socket {
    let mut ws = Socket::connect_to(port, "vsn=2.0.0").await;
    let filters: Value = serde_json::from_str(ALL_SPACE).expect("a rule");
    let mut payload = json!({"systems": [], "filters": [filters], "preload": {"enabled": false}});
    if let Some(offset) = since_offset {
        payload["since_offset"] = json!(offset);
    }
    ws.send(json!([1, 1, "killmails:lobby", "phx_join", payload]))
        .await;
    let (reply, _) = ws.until_event("phx_reply", true).await;
    assert_eq!(reply[4]["status"], "ok", "{reply}");
    ws
}

#[test]
fn a_client_moved_to_another_instance_resumes_exactly_and_a_late_instance_serves_history() {
    // Arrange: two instances; a client on the first that stays, and one that leaves
    let cluster = ClusterName::new("move");
    let sim = Running::start(&["simulate", "--port", "0", "--rate-ms", "150"], &[]);
    let sim_port = sim_port(&sim);
    let (first, second) = (
        Member::start(&cluster, sim_port),
        Member::start(&cluster, sim_port),
    );
    wait_ready(&[&first, &second]);
    actix_web::rt::System::new().block_on(async {
        let mut staying = join(first.port, None).await;
        let mut leaving = join(first.port, None).await;
        let seen = pushed(&mut leaving, Duration::from_secs(3)).await;
        let (last_offset, _) = *seen.last().expect("kills before leaving");
        drop(leaving);

        // Act: kills go by while it is away; it comes back to the other instance
        actix_web::rt::time::sleep(Duration::from_secs(2)).await;
        let mut moved = join(second.port, Some(last_offset)).await;
        let resumed = pushed(&mut moved, Duration::from_secs(3)).await;
        let stayed = pushed(&mut staying, Duration::from_millis(500)).await;

        // Assert: exactly the kills after its offset, with the offsets the first instance gave
        let upto = resumed.last().expect("resumed kills").0;
        let expected: Vec<(u64, u64)> = stayed
            .iter()
            .copied()
            .filter(|(offset, _)| *offset > last_offset && *offset <= upto)
            .collect();
        let mut got: Vec<(u64, u64)> = resumed.clone();
        got.sort_unstable();
        let unique: HashSet<_> = got.iter().map(|(_, id)| *id).collect();
        assert_eq!(unique.len(), got.len(), "a kill twice: {got:?}");
        assert!(expected.len() >= 10, "too few kills went by: {expected:?}");
        assert_eq!(got, expected);

        // ... and an instance started now catches up and serves the same history and offsets
        let late = Member::start(&cluster, sim_port);
        wait_ready(&[&late]);
        let mut on_late = join(late.port, Some(last_offset)).await;
        let from_late = pushed(&mut on_late, Duration::from_secs(2)).await;
        let from_late: Vec<_> = from_late.into_iter().filter(|(o, _)| *o <= upto).collect();
        assert_eq!(from_late, expected);
        let history = |port: u16| -> HashSet<u64> {
            let listed = json_body(&http_get(port, "/api/v1/kills?limit=500"));
            crate::durability::ids(listed["data"]["kills"].as_array().expect("kills"))
                .into_iter()
                .collect()
        };
        let early: HashSet<u64> = history(first.port);
        let caught_up = history(late.port);
        assert!(
            early.iter().filter(|id| !caught_up.contains(id)).count() <= 2,
            "the late instance misses history"
        );
    });
}

/// A TCP relay to the NATS server that the test can cut and mend.
struct NatsLink {
    port: u16,
    cut: Arc<std::sync::atomic::AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl NatsLink {
    fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        let port = listener.local_addr().expect("an address").port();
        let cut: Arc<std::sync::atomic::AtomicBool> = Arc::default();
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (is_cut, streams) = (Arc::clone(&cut), Arc::clone(&open));
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                if is_cut.load(std::sync::atomic::Ordering::SeqCst) {
                    continue;
                }
                let Ok(server) = TcpStream::connect(NATS) else {
                    continue;
                };
                let mut held = streams.lock().unwrap();
                for (from, to) in [(&client, &server), (&server, &client)] {
                    let (mut from, mut to) = (
                        from.try_clone().expect("clone"),
                        to.try_clone().expect("clone"),
                    );
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
                held.extend([client, server]);
            }
        });
        Self { port, cut, open }
    }

    fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }

    fn mend(&self) {
        self.cut.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

fn status_of(answer: &str) -> Option<&str> {
    answer.split_whitespace().nth(1)
}

#[test]
fn an_instance_that_loses_nats_is_degraded_keeps_serving_and_is_ready_again_when_it_is_back() {
    // Arrange: one instance reaching NATS through a link the test controls, holding kills
    let cluster = ClusterName::new("lost");
    let sim = Running::start(&["simulate", "--port", "0", "--rate-ms", "100"], &[]);
    let sim_port = sim_port(&sim);
    let link = NatsLink::start();
    let member = Member::start_on(
        &cluster,
        sim_port,
        &format!("127.0.0.1:{}", link.port),
        3000,
    );
    let port = member.port;
    wait_ready(&[&member]);
    let kills = || {
        let listed = json_body(&http_get(port, "/api/v1/kills?limit=100"));
        crate::durability::ids(listed["data"]["kills"].as_array().expect("kills"))
    };
    wait_until(Duration::from_secs(10), "kills stored", || {
        kills().len() >= 3
    });

    // Act: NATS goes away
    link.cut();

    // Assert: degraded, not ready, alive, and still serving what it holds
    wait_until(Duration::from_secs(10), "the lost connection seen", || {
        member.cluster()["nats"] == "disconnected"
    });
    let health = http_get(port, "/health");
    assert_eq!(status_of(&health), Some("200"), "{health}");
    assert_eq!(json_body(&health)["status"], "degraded", "{health}");
    let ready = http_get(port, "/health/ready");
    assert_eq!(status_of(&ready), Some("503"), "{ready}");
    assert_eq!(status_of(&http_get(port, "/health/live")), Some("200"));
    assert!(kills().len() >= 3, "stored kills still served");

    // ... and ready again once NATS is back, taking kills again
    link.mend();
    wait_until(Duration::from_secs(20), "ready again", || member.ready());
    let before = kills().len();
    wait_until(
        Duration::from_secs(15),
        "new kills after the return",
        || kills().len() > before,
    );
    drop(sim);
}

#[test]
fn an_unreachable_nats_stops_startup_with_a_clear_message() {
    let output = std::process::Command::new(crate::process::BINARY)
        .env_clear()
        .env("APP_ENVIRONMENT", "test")
        .env("KILL_FEED", "off")
        .env("DATA_DIR", tempfile::tempdir().expect("a dir").path())
        .env("NATS_URL", "nats://127.0.0.1:9")
        .output()
        .expect("runs");

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot connect to NATS at nats://127.0.0.1:9"),
        "{stderr}"
    );
}

#[test]
fn a_cluster_name_nats_cannot_hold_is_refused_at_startup() {
    let output = std::process::Command::new(crate::process::BINARY)
        .env_clear()
        .env("APP_ENVIRONMENT", "test")
        .env("KILL_FEED", "off")
        .env("DATA_DIR", tempfile::tempdir().expect("a dir").path())
        .env("NATS_URL", format!("nats://{NATS}"))
        .env("CLUSTER_NAME", "kills.prod")
        .output()
        .expect("runs");

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("CLUSTER_NAME=\"kills.prod\""), "{stderr}");
}

#[test]
fn a_redisq_relay_queue_polled_on_alternate_instances_gets_each_kill_once_in_order() {
    // Arrange: two instances, kills flowing
    let pair = Pair::start("relay", 100);
    let members = &pair.members;

    // Act: one reader whose polls alternate between the instances
    let mut polled = Vec::new();
    let mut turn = 0;
    while polled.len() < 20 {
        let port = members[turn % 2].port;
        turn += 1;
        let answer = json_body(&http_get(port, "/listen.php?queueID=reader-1&ttw=2"));
        if let Some(id) = answer["package"]["killID"].as_u64() {
            polled.push(id);
        }
        assert!(turn < 200, "too few kills: {polled:?}");
    }

    // Assert: exactly the kills of the offset log between the first and the last, in order,
    // as the R2Z2 relay of either instance numbers them
    let head = json_body(&http_get(members[1].port, "/ephemeral/sequence.json"))["sequence"]
        .as_u64()
        .expect("a head");
    let by_offset: Vec<u64> = (1..=head)
        .filter_map(|seq| {
            json_body(&http_get(
                members[1].port,
                &format!("/ephemeral/{seq}.json"),
            ))["killmail_id"]
                .as_u64()
        })
        .collect();
    let first = by_offset
        .iter()
        .position(|id| *id == polled[0])
        .expect("the first polled kill in the log");
    assert_eq!(polled, by_offset[first..first + polled.len()].to_vec());
}

#[test]
fn a_leader_stopped_cleanly_hands_the_feed_over_at_once_not_when_its_lease_runs_out() {
    // Arrange: two instances whose lease would take a minute to run out
    let cluster = ClusterName::new("handover");
    let sim = Running::start(&["simulate", "--port", "0", "--rate-ms", "200"], &[]);
    let sim_port = sim_port(&sim);
    let mut members = vec![
        Member::start_on(&cluster, sim_port, NATS, 60_000),
        Member::start_on(&cluster, sim_port, NATS, 60_000),
    ];
    wait_ready(&[&members[0], &members[1]]);
    wait_until(Duration::from_secs(20), "a leader", || {
        members.iter().any(|m| m.is_leader())
    });
    let leader = members
        .iter()
        .position(|m| m.is_leader())
        .expect("a leader");

    // Act: SIGTERM the leader
    let mut stopped = members.remove(leader);
    stopped.process.signal("TERM");
    stopped.process.wait(Duration::from_secs(20));

    // Assert: the other instance leads well before a minute
    let handed_over = Instant::now();
    wait_until(
        Duration::from_secs(10),
        "the other instance to lead",
        || members[0].is_leader(),
    );
    assert!(handed_over.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_kill_backfilled_on_one_instance_is_pushed_once_everywhere_when_the_feed_brings_it() {
    // Arrange: two instances, a stream client on each, and a webhook
    let pair = Pair::start("late", 0);
    let (members, sim_port) = (&pair.members, pair.sim_port);
    wait_until(Duration::from_secs(15), "a leader", || {
        members.iter().any(|m| m.is_leader())
    });
    let follower = members.iter().find(|m| !m.is_leader()).expect("a follower");
    let (hook_port, hooked) = receiver();
    subscribe_everywhere(
        follower.port,
        &members.iter().collect::<Vec<_>>(),
        hook_port,
    );
    let streams: Vec<_> = members
        .iter()
        .map(|m| collect_events(m.port, "/api/v1/kills/stream", ""))
        .collect();

    // ... a kill only zKillboard's API knows, backfilled through the follower: history, not news
    let published = json_body(&http_post(
        sim_port,
        "/_simulator/publish?system_id=30000142&history=true&age_s=900",
        "",
    ));
    let id = published["published"][0]["killmail_id"]
        .as_u64()
        .expect("an id");
    http_get(follower.port, "/api/v1/kills/system/30000142");
    for member in members {
        wait_until(
            Duration::from_secs(10),
            "the backfilled kill everywhere",
            || http_get(member.port, "/api/v1/kills/cached/30000142").contains(&id.to_string()),
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    let got = |s: &Arc<Mutex<Vec<Value>>>| {
        crate::durability::ids(&s.lock().unwrap())
            .into_iter()
            .filter(|k| *k == id)
            .count()
    };
    assert!(streams.iter().all(|s| got(s) == 0), "history was pushed");

    // Act: the live feed brings it
    let fed = http_post(sim_port, &format!("/_simulator/feed?killmail_id={id}"), "");
    assert_eq!(fed.split_whitespace().nth(1), Some("200"), "{fed}");

    // Assert: pushed once on each instance, and delivered once to the webhook
    wait_until(Duration::from_secs(15), "the live push everywhere", || {
        streams.iter().all(|s| got(s) == 1) && hooked.lock().unwrap().contains(&id)
    });
    std::thread::sleep(Duration::from_secs(1));
    assert!(streams.iter().all(|s| got(s) == 1), "pushed more than once");
    let hooks = hooked.lock().unwrap().iter().filter(|k| **k == id).count();
    assert_eq!(hooks, 1);
}
