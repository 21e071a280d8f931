//! Webhook subscriptions (SPEC §4.2, §7) against the real app, the simulator and webhook
//! receivers on loopback.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::http::{Method, StatusCode};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};
use wanderer_kills::simulator::SimConfig;

use crate::helpers::wait_for;
use crate::helpers::{spawn_app_with, Reply, TestApp};

/// One request a receiver got, and what it answered.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    at: Instant,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    answered: u16,
}

impl Received {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    pub(crate) fn kill_ids(&self) -> Vec<u64> {
        self.json()["kills"]
            .as_array()
            .expect("kills")
            .iter()
            .map(|k| k["killmail_id"].as_u64().expect("an id"))
            .collect()
    }
}

/// What a receiver answers to its n-th request (0-based): status, `Retry-After`, delay.
type Behaviour = Arc<dyn Fn(usize) -> (u16, Option<u64>, Duration) + Send + Sync>;

/// A webhook endpoint on loopback that records every request.
pub(crate) struct Receiver {
    pub(crate) url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub(crate) fn start(
        behaviour: impl Fn(usize) -> (u16, Option<u64>, Duration) + Send + Sync + 'static,
    ) -> Self {
        Self::serve(behaviour, None)
    }

    /// Answers every request with `status` and `Location: <location>`.
    pub(crate) fn redirecting(status: u16, location: &str) -> Self {
        Self::serve(
            move |_| (status, None, Duration::ZERO),
            Some(location.to_owned()),
        )
    }

    pub(crate) fn serve(
        behaviour: impl Fn(usize) -> (u16, Option<u64>, Duration) + Send + Sync + 'static,
        location: Option<String>,
    ) -> Self {
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let behaviour: Behaviour = Arc::new(behaviour);
        let log = received.clone();
        let server = HttpServer::new(move || {
            let (log, behaviour, location) = (log.clone(), behaviour.clone(), location.clone());
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let (log, behaviour, location) = (log.clone(), behaviour.clone(), location.clone());
                async move {
                    let n = log.lock().unwrap().len();
                    let (status, retry_after, delay) = behaviour(n);
                    let headers = req
                        .headers()
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                        .collect();
                    log.lock().unwrap().push(Received {
                        at: Instant::now(),
                        headers,
                        body: body.to_vec(),
                        answered: status,
                    });
                    actix_web::rt::time::sleep(delay).await;
                    let mut answer = HttpResponse::build(StatusCode::from_u16(status).unwrap());
                    if let Some(secs) = retry_after {
                        answer.insert_header(("retry-after", secs.to_string()));
                    }
                    if let Some(location) = location {
                        answer.insert_header(("location", location));
                    }
                    answer.finish()
                }
            }))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .expect("binds");
        let port = server.addrs()[0].port();
        actix_web::rt::spawn(server.run());
        Self {
            url: format!("http://127.0.0.1:{port}/hooks/kills"),
            received,
        }
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Kill ids of the requests answered 2xx, in order.
    pub(crate) fn delivered(&self) -> Vec<u64> {
        self.received()
            .iter()
            .filter(|r| r.answered < 300)
            .flat_map(Received::kill_ids)
            .collect()
    }
}

async fn app() -> TestApp {
    spawn_app_with(SimConfig::default(), |s| {
        s.engine.webhooks.retry_base_ms = 50;
    })
    .await
}

pub(crate) async fn post_json(app: &TestApp, path: &str, body: Value) -> Reply {
    let body = body.to_string();
    app.request(
        Method::POST,
        path,
        &[("content-type", "application/json")],
        Some(body.as_bytes()),
    )
    .await
}

pub(crate) async fn subscribe(app: &TestApp, body: Value) -> String {
    let reply = post_json(app, "/api/v1/subscriptions", body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    reply.json()["data"]["subscription_id"]
        .as_str()
        .expect("an id")
        .to_owned()
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::sign(&key, body)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[actix_web::test]
async fn a_receiver_that_fails_at_first_gets_every_matching_kill_exactly_once_signed() {
    // Arrange: the receiver answers 429 (Retry-After: 1), then 503, then 200 from then on.
    let app = app().await;
    app.wait_following().await;
    let receiver = Receiver::start(|n| match n {
        0 => (429, Some(1), Duration::ZERO),
        1 => (503, None, Duration::ZERO),
        _ => (200, None, Duration::ZERO),
    });
    subscribe(
        &app,
        json!({"subscriber_id": "bot", "callback_url": receiver.url,
               "system_ids": [30000142], "character_ids": [2119000001u64], "secret": "s3cret"}),
    )
    .await;

    // Act: three matching kills (two by system, one by character) and one that does not match
    let mut expected = vec![
        app.sim
            .publish_with(|k| k.set_system(30000142))
            .kill
            .killmail_id,
    ];
    app.sim.publish_with(|k| k.set_system(30002187));
    expected.push(
        app.sim
            .publish_with(|k| {
                k.set_system(31000005);
                k.set_victim_character(2119000001);
            })
            .kill
            .killmail_id,
    );
    expected.push(
        app.sim
            .publish_with(|k| k.set_system(30000142))
            .kill
            .killmail_id,
    );

    // Assert: each matching kill delivered once, in order
    let delivered = wait_for(Duration::from_secs(10), "every kill delivered", || async {
        let delivered = receiver.delivered();
        (delivered.len() >= expected.len()).then_some(delivered)
    })
    .await;
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.delivered(), delivered, "nothing delivered twice");
    assert_eq!(delivered, expected);

    let received = receiver.received();
    assert!(received[0].json()["kills"][0]["victim"]["character_name"].is_string());
    // The first delivery's three attempts share one delivery id; Retry-After was honoured.
    let first_id = received[0]
        .header("x-wanderer-delivery")
        .expect("delivery id");
    assert_eq!(received[1].header("x-wanderer-delivery"), Some(first_id));
    assert_eq!(received[2].header("x-wanderer-delivery"), Some(first_id));
    assert_eq!(received[2].header("x-wanderer-attempt"), Some("3"));
    assert!(received[1].at - received[0].at >= Duration::from_millis(950));
    for request in received.iter() {
        let body = request.json();
        assert_eq!(body["type"], "killmail_update");
        assert_eq!(body["system_id"], body["kills"][0]["system_id"]);
        assert!(body["timestamp"].is_string());
        assert!(body["kills"][0]["victim"].is_object());
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert!(request
            .header("user-agent")
            .is_some_and(|ua| ua.starts_with("WandererKills/1.0")));
        let signature = format!("sha256={}", hmac_hex("s3cret", &request.body));
        assert_eq!(
            request.header("x-wanderer-signature"),
            Some(signature.as_str())
        );
    }
    let stats = app.get("/api/v1/subscriptions/stats").await.json();
    assert_eq!(stats["data"]["webhook_deliveries"]["kills_delivered"], 3);
    assert_eq!(stats["data"]["webhook_deliveries"]["retries"], 2);
}

#[actix_web::test]
async fn a_slow_receiver_does_not_delay_another() {
    // Arrange: one receiver takes 4 s to answer, the other answers at once.
    let app = app().await;
    app.wait_following().await;
    let slow = Receiver::start(|_| (200, None, Duration::from_secs(4)));
    let fast = Receiver::start(|_| (204, None, Duration::ZERO));
    for (who, receiver) in [("slow", &slow), ("fast", &fast)] {
        subscribe(
            &app,
            json!({"subscriber_id": who, "callback_url": receiver.url, "system_ids": [30000142]}),
        )
        .await;
    }

    // Act
    let first = app
        .sim
        .publish_with(|k| k.set_system(30000142))
        .kill
        .killmail_id;
    let second = app
        .sim
        .publish_with(|k| k.set_system(30000142))
        .kill
        .killmail_id;

    // Assert: the fast one has both while the slow one is still on its first
    let delivered = wait_for(
        Duration::from_secs(3),
        "the fast receiver served",
        || async {
            let delivered = fast.delivered();
            (delivered.len() == 2).then_some(delivered)
        },
    )
    .await;
    assert_eq!(delivered, vec![first, second]);
    assert!(
        slow.received().len() <= 1,
        "the slow receiver is still busy"
    );
}

#[actix_web::test]
async fn subscriptions_are_created_listed_counted_and_deleted_with_the_documented_shapes() {
    let app = app().await;
    let url = "http://127.0.0.1:9/hook";

    // Create: 201, a 22-character id
    let reply = post_json(
        &app,
        "/api/v1/subscriptions",
        json!({"subscriber_id": "bot", "callback_url": url, "system_ids": [30002187, 30000142, 30000142]}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let body = reply.json();
    assert_eq!(body["data"]["message"], "Subscription created successfully");
    let id = body["data"]["subscription_id"].as_str().expect("id");
    assert_eq!(id.len(), 22);

    // Validation errors in the subscriptions envelope
    let reply = post_json(
        &app,
        "/api/v1/subscriptions",
        json!({"subscriber_id": "bot", "callback_url": "mailto:x@y"}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let message = "callback_url must be a valid HTTP/HTTPS URL";
    assert_eq!(
        reply.json(),
        json!({"error": {"message": message, "details": message}})
    );
    let reply = app
        .request(
            Method::POST,
            "/api/v1/subscriptions",
            &[("content-type", "application/json")],
            Some(b"{not json"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.json(),
        json!({"error": "Bad Request", "status": "400"})
    );

    // Listed with its normalised ids and callback, counted in the stats
    let listed = app.get("/api/v1/subscriptions").await.json();
    assert_eq!(listed["data"]["count"], 1);
    let sub = &listed["data"]["subscriptions"][0];
    assert_eq!(sub["id"], id);
    assert_eq!(sub["type"], "webhook");
    assert_eq!(sub["system_ids"], json!([30000142, 30002187]));
    assert_eq!(sub["character_ids"], json!([]));
    assert_eq!(sub["callback_url"], url);
    let stats = app.get("/api/v1/subscriptions/stats").await.json();
    assert_eq!(stats["data"]["total_subscriptions"], 1);
    assert_eq!(stats["data"]["webhook_subscriptions"], 1);
    assert_eq!(stats["data"]["total_systems"], 2);
    assert!(stats["data"]["memory_usage"].as_u64().unwrap() > 0);

    // Delete: always 200, and the subscription is gone
    for _ in 0..2 {
        let reply = app
            .request(Method::DELETE, "/api/v1/subscriptions/bot", &[], None)
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(
            reply.json(),
            json!({"data": {"message": "Successfully unsubscribed", "subscriber_id": "bot"}})
        );
    }
    let listed = app.get("/api/v1/subscriptions").await.json();
    assert_eq!(listed["data"]["count"], 0);
}

#[actix_web::test]
async fn subscriptions_and_undelivered_kills_survive_a_restart() {
    // Arrange: a receiver that is down, a subscription, and a kill it could not take
    let data = tempfile::tempdir().expect("a data dir");
    let up = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = up.clone();
    let receiver = Receiver::start(move |_| {
        let status = if flag.load(std::sync::atomic::Ordering::SeqCst) {
            200
        } else {
            503
        };
        (status, None, Duration::ZERO)
    });
    let dir = data.path().to_owned();
    let on_disk = move |s: &mut wanderer_kills::Settings| {
        s.engine.storage.data_dir = dir.clone();
        // The first attempt only; the next one would come after the restart.
        s.engine.webhooks.retry_base_ms = 60_000;
    };
    let mut first = spawn_app_with(SimConfig::default(), on_disk.clone()).await;
    first.wait_following().await;
    subscribe(
        &first,
        json!({"subscriber_id": "bot", "callback_url": receiver.url, "system_ids": [30000142]}),
    )
    .await;
    let created_at = first.get("/api/v1/subscriptions").await.json()["data"]["subscriptions"][0]
        ["created_at"]
        .clone();
    // A restart a second later must show the same creation time, not the restart's.
    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
    let kill = first
        .sim
        .publish_with(|k| k.set_system(30000142))
        .kill
        .killmail_id;
    wait_for(
        Duration::from_secs(5),
        "the failed first attempt",
        || async { (!receiver.received().is_empty()).then_some(()) },
    )
    .await;
    first.shutdown();

    // Act: the receiver is back, and the service starts again on the same data
    up.store(true, std::sync::atomic::Ordering::SeqCst);
    let second = spawn_app_with(SimConfig::default(), on_disk).await;

    // Assert: the subscription is back and the kill is delivered from the store
    let delivered = wait_for(Duration::from_secs(10), "the resumed delivery", || async {
        let delivered = receiver.delivered();
        (!delivered.is_empty()).then_some(delivered)
    })
    .await;
    assert_eq!(delivered, vec![kill]);
    let listed = second.get("/api/v1/subscriptions").await.json();
    assert_eq!(listed["data"]["subscriptions"][0]["subscriber_id"], "bot");
    assert_eq!(
        listed["data"]["subscriptions"][0]["callback_url"],
        receiver.url
    );
    assert_eq!(listed["data"]["subscriptions"][0]["created_at"], created_at);
}

#[actix_web::test]
async fn a_403_or_a_redirect_ends_the_delivery_at_once_and_a_redirect_is_never_followed() {
    // Arrange: one endpoint answers 403, two redirect (302, 307) to a third that records
    let app = app().await;
    app.wait_following().await;
    let target = Receiver::start(|_| (200, None, Duration::ZERO));
    let forbidden = Receiver::start(|_| (403, None, Duration::ZERO));
    let found = Receiver::redirecting(302, &target.url);
    let temporary = Receiver::redirecting(307, &target.url);
    for (who, receiver) in [("a", &forbidden), ("b", &found), ("c", &temporary)] {
        subscribe(
            &app,
            json!({"subscriber_id": who, "callback_url": receiver.url, "system_ids": [30000142]}),
        )
        .await;
    }

    // Act
    app.publish_in(30000142, 1);

    // Assert: three failed deliveries, one attempt each, and nothing reached the redirect target
    wait_for(
        Duration::from_secs(5),
        "three failed deliveries",
        || async {
            let stats = app.get("/api/v1/subscriptions/stats").await.json();
            (stats["data"]["webhook_deliveries"]["failed"] == 3).then_some(())
        },
    )
    .await;
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    for receiver in [&forbidden, &found, &temporary] {
        assert_eq!(receiver.received().len(), 1, "one attempt, no retry");
    }
    assert!(target.received().is_empty(), "a redirect is not followed");
    let stats = app.get("/api/v1/subscriptions/stats").await.json();
    assert_eq!(stats["data"]["webhook_deliveries"]["retries"], 0);
}

#[actix_web::test]
async fn with_private_targets_disallowed_every_loopback_and_special_use_form_is_refused() {
    let app = spawn_app_with(SimConfig::default(), |s| {
        s.engine.webhooks.allow_private_targets = false;
    })
    .await;

    for url in [
        "http://127.1/",
        "http://0x7f000001/",
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://0/",
        "http://localhost./hook",
        "http://[::ffff:7f00:1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[::127.0.0.1]/",
        "http://[64:ff9b::7f00:1]/",
        "http://100.64.0.1/",
        "http://198.18.0.1/",
        "http://192.0.0.1/",
        "http://224.0.0.1/",
        "http://255.255.255.255/",
    ] {
        let reply = post_json(
            &app,
            "/api/v1/subscriptions",
            json!({"subscriber_id": "x", "callback_url": url, "system_ids": [30000142]}),
        )
        .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{url}");
    }
    let listed = app.get("/api/v1/subscriptions").await.json();
    assert_eq!(listed["data"]["count"], 0);
}

#[actix_web::test]
async fn a_target_stored_while_private_targets_were_allowed_is_not_delivered_to_once_they_are_not()
{
    // Arrange: a loopback webhook created while allowed
    let data = tempfile::tempdir().expect("a data dir");
    let receiver = Receiver::start(|_| (200, None, Duration::ZERO));
    let dir = data.path().to_owned();
    let mut first = spawn_app_with(SimConfig::default(), {
        let dir = dir.clone();
        move |s| s.engine.storage.data_dir = dir
    })
    .await;
    subscribe(
        &first,
        json!({"subscriber_id": "bot", "callback_url": receiver.url, "system_ids": [30000142]}),
    )
    .await;
    first.shutdown();

    // Act: the service starts again on the same data, with private targets disallowed
    let second = spawn_app_with(SimConfig::default(), move |s| {
        s.engine.storage.data_dir = dir;
        s.engine.webhooks.allow_private_targets = false;
    })
    .await;
    second.wait_following().await;
    second.publish_in(30000142, 1);

    // Assert: the delivery is refused on the resolved address, never attempted
    wait_for(Duration::from_secs(5), "the refused delivery", || async {
        let stats = second.get("/api/v1/subscriptions/stats").await.json();
        (stats["data"]["webhook_deliveries"]["failed"] == 1).then_some(())
    })
    .await;
    assert!(receiver.received().is_empty(), "nothing reached loopback");
}
