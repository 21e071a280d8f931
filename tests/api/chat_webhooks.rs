//! Webhooks in chat formats (issue 15): Discord messages with embeds and Slack messages with
//! blocks, checked against the services' documented limits by loopback receivers that rate-limit
//! the way Discord does (429 with a JSON `retry_after` and `X-RateLimit-Reset-After`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::{json, Value};
use wanderer_kills::simulator::SimConfig;

use crate::helpers::{spawn_app_with, wait_for, TestApp};
use crate::webhooks::{post_json, subscribe};

/// A chat service's webhook on loopback: its first answer is Discord's rate-limit answer, the
/// others `204`. Records each body and when it came.
struct Chat {
    url: String,
    got: Arc<Mutex<Vec<(Instant, Value)>>>,
}

impl Chat {
    fn start() -> Self {
        let got: Arc<Mutex<Vec<(Instant, Value)>>> = Arc::default();
        let log = Arc::clone(&got);
        let server = HttpServer::new(move || {
            let log = Arc::clone(&log);
            App::new().default_service(web::to(move |body: web::Bytes| {
                let log = Arc::clone(&log);
                async move {
                    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let mut log = log.lock().unwrap();
                    log.push((Instant::now(), body));
                    if log.len() == 1 {
                        HttpResponse::TooManyRequests()
                            .insert_header(("x-ratelimit-reset-after", "0.6"))
                            .json(json!({"message": "You are being rate limited.",
                                         "retry_after": 0.6, "global": false}))
                    } else {
                        HttpResponse::NoContent().finish()
                    }
                }
            }))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .expect("binds");
        let port = server.addrs()[0].port();
        actix_web::rt::spawn(server.run());
        Self {
            url: format!("http://127.0.0.1:{port}/api/webhooks/1/token"),
            got,
        }
    }

    fn bodies(&self) -> Vec<(Instant, Value)> {
        self.got.lock().unwrap().clone()
    }
}

async fn app() -> TestApp {
    spawn_app_with(SimConfig::default(), |s| {
        s.engine.webhooks.retry_base_ms = 50;
    })
    .await
}

/// Creates a chat webhook for Jita, publishes `n` kills there, and waits for them all.
async fn deliver(
    app: &TestApp,
    chat: &Chat,
    format: &str,
    n: usize,
) -> (Vec<u64>, Vec<(Instant, Value)>) {
    subscribe(
        app,
        json!({"subscriber_id": format, "callback_url": chat.url, "format": format,
               "system_ids": [30000142], "filters": [{"systems": [30000142], "name": "jita"}]}),
    )
    .await;
    app.wait_following().await;
    let published = app.publish_in(30000142, n);
    let bodies = wait_for(Duration::from_secs(20), "every kill delivered", || async {
        let bodies = chat.bodies();
        let kills: usize = bodies.iter().skip(1).map(|(_, b)| kill_count(b)).sum();
        (kills >= n).then_some(bodies)
    })
    .await;
    (published, bodies)
}

/// Kills in one chat message: Discord embeds, or Slack sections.
fn kill_count(body: &Value) -> usize {
    match body.get("embeds") {
        Some(embeds) => embeds.as_array().map_or(0, Vec::len),
        None => body["blocks"]
            .as_array()
            .map_or(0, |b| b.iter().filter(|b| b["type"] == "section").count()),
    }
}

fn chars(v: &Value) -> usize {
    v.as_str().map_or(0, |s| s.chars().count())
}

#[actix_web::test]
async fn discord_gets_embeds_inside_its_limits_and_its_rate_limit_is_honoured() {
    let app = app().await;
    let chat = Chat::start();

    let (published, bodies) = deliver(&app, &chat, "discord", 12).await;

    // The first message was refused with retry_after 0.6 s; it came again after that, not
    // after the 50 ms backoff.
    let waited = bodies[1].0 - bodies[0].0;
    assert!(
        waited >= Duration::from_millis(550),
        "retried after {waited:?}"
    );
    assert_eq!(bodies[0].1, bodies[1].1, "the same message again");
    let mut links = Vec::new();
    for (_, body) in &bodies[1..] {
        let embeds = body["embeds"].as_array().expect("embeds");
        assert!((1..=10).contains(&embeds.len()));
        let mut total = 0;
        for e in embeds {
            assert!(chars(&e["title"]) <= 256 && chars(&e["description"]) <= 4096);
            let title = e["title"].as_str().expect("a title");
            assert!(
                title.contains(" lost a") && title.ends_with("in Jita"),
                "{title}"
            );
            assert!(e["thumbnail"]["url"]
                .as_str()
                .is_some_and(|u| u.starts_with("https://images.evetech.net/types/")));
            assert!(e["timestamp"].is_string());
            let fields = e["fields"].as_array().expect("fields");
            assert!(fields.len() <= 25);
            let field = |name: &str| {
                fields
                    .iter()
                    .find(|f| f["name"] == name)
                    .map(|f| f["value"].clone())
            };
            assert_eq!(field("Region"), Some(json!("The Forge")));
            assert_eq!(field("Rule"), Some(json!("jita")));
            assert!(field("Value").is_some_and(|v| v.as_str().is_some_and(|v| v.ends_with(" ISK"))));
            assert!(field("Final blow").is_some() && field("Attackers").is_some());
            total += chars(&e["title"])
                + chars(&e["description"])
                + chars(&e["footer"]["text"])
                + fields
                    .iter()
                    .map(|f| chars(&f["name"]) + chars(&f["value"]))
                    .sum::<usize>();
            links.push(e["url"].as_str().expect("a link").to_owned());
        }
        assert!(total <= 6000, "{total} characters in one message");
    }
    let expected: Vec<String> = published
        .iter()
        .map(|id| format!("https://zkillboard.com/kill/{id}/"))
        .collect();
    links.sort();
    assert_eq!(
        links, expected,
        "every kill once, each linked to zKillboard"
    );
    let listed = app.get("/api/v1/subscriptions").await.json();
    assert_eq!(listed["data"]["subscriptions"][0]["format"], "discord");
}

#[actix_web::test]
async fn slack_gets_text_and_blocks_for_every_kill_once() {
    let app = app().await;
    let chat = Chat::start();

    let (published, bodies) = deliver(&app, &chat, "slack", 4).await;

    let mut sections = Vec::new();
    for (_, body) in &bodies[1..] {
        assert!(
            body["text"].as_str().is_some_and(|t| t.contains(" lost a")),
            "{body}"
        );
        let blocks = body["blocks"].as_array().expect("blocks");
        assert!(blocks.len() <= 50);
        for block in blocks.iter().filter(|b| b["type"] == "section") {
            let text = block["text"]["text"].as_str().expect("mrkdwn");
            assert!(text.chars().count() <= 3000);
            assert!(
                text.contains("The Forge") && text.contains("Final blow:"),
                "{text}"
            );
            sections.push(text.to_owned());
        }
    }
    for id in &published {
        let link = format!("<https://zkillboard.com/kill/{id}/|");
        assert_eq!(
            sections.iter().filter(|s| s.contains(&link)).count(),
            1,
            "kill {id} once"
        );
    }
}

#[actix_web::test]
async fn an_unknown_format_is_refused() {
    let app = app().await;
    let reply = post_json(
        &app,
        "/api/v1/subscriptions",
        json!({"subscriber_id": "bot", "callback_url": "http://127.0.0.1:9/hook",
               "system_ids": [30000142], "format": "teams"}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.json()["error"]["message"],
        "format must be one of json, discord, slack"
    );
}
