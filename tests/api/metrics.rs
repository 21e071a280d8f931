//! `/metrics`: the Prometheus exposition parses line by line, and reflects what happened.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use actix_web::http::{Method, StatusCode};

use crate::helpers::spawn_app;

/// A sample line: metric name, labels, value.
fn parse_sample(line: &str) -> (String, HashMap<String, String>, f64) {
    let (head, value) = line
        .rsplit_once(' ')
        .unwrap_or_else(|| panic!("no value: {line}"));
    let value: f64 = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
    };
    let (name, labels) = match head.split_once('{') {
        Some((name, rest)) => {
            let inner = rest
                .strip_suffix('}')
                .unwrap_or_else(|| panic!("unclosed labels: {line}"));
            let labels = inner
                .split(',')
                .map(|pair| {
                    let (k, v) = pair
                        .split_once('=')
                        .unwrap_or_else(|| panic!("bad label: {line}"));
                    let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"'));
                    (
                        k.to_owned(),
                        v.unwrap_or_else(|| panic!("unquoted label: {line}"))
                            .to_owned(),
                    )
                })
                .collect();
            (name, labels)
        }
        None => (head, HashMap::new()),
    };
    let valid = |c: char, first: bool| {
        c.is_ascii_alphabetic() || c == '_' || c == ':' || (!first && c.is_ascii_digit())
    };
    assert!(
        name.chars().enumerate().all(|(i, c)| valid(c, i == 0)),
        "bad metric name: {line}"
    );
    (name.to_owned(), labels, value)
}

#[actix_web::test]
async fn the_exposition_parses_declares_every_family_and_counts_real_events() {
    // Arrange: one kill through the pipeline
    let app = spawn_app().await;
    app.wait_following().await;
    app.sim.publish_with(|k| k.set_system(30000142));
    app.wait_stored(30000142, 1, Duration::from_secs(5)).await;

    // Act
    let reply = app.get("/metrics").await;

    // Assert: the text format, line by line
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = reply.text();
    let (mut helped, mut typed) = (HashSet::new(), HashMap::new());
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            helped.insert(rest.split(' ').next().unwrap().to_owned());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("a type");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            typed.insert(name.to_owned(), kind.to_owned());
        } else {
            assert!(
                !line.is_empty() && !line.starts_with('#'),
                "unexpected line: {line:?}"
            );
            samples.push(parse_sample(line));
        }
    }
    for (name, _, _) in &samples {
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| typed.get(*f).is_some_and(|k| k == "histogram"))
            })
            .unwrap_or(name);
        assert!(helped.contains(family), "no HELP for {name}");
        assert!(typed.contains_key(family), "no TYPE for {name}");
    }
    let value = |name: &str, label: Option<(&str, &str)>| {
        samples
            .iter()
            .find(|(n, l, _)| {
                n == name && label.is_none_or(|(k, v)| l.get(k).is_some_and(|x| x == v))
            })
            .map(|(_, _, v)| *v)
            .unwrap_or_else(|| panic!("no sample {name} {label:?}"))
    };
    assert_eq!(
        value(
            "wanderer_kills_killmails_total",
            Some(("outcome", "stored"))
        ),
        1.0
    );
    assert_eq!(value("wanderer_kills_store_kills", None), 1.0);
    assert_eq!(value("wanderer_kills_pipeline_seconds_count", None), 1.0);
    assert_eq!(
        value(
            "wanderer_kills_pipeline_seconds_bucket",
            Some(("le", "+Inf"))
        ),
        1.0
    );
    assert!(
        value(
            "wanderer_kills_feed_objects_total",
            Some(("source", "r2z2"))
        ) >= 1.0
    );

    // The same figures as JSON
    let json = app
        .request(
            Method::GET,
            "/metrics",
            &[("accept", "application/json")],
            None,
        )
        .await
        .json();
    assert_eq!(json["metrics"]["killmails_total"]["stored"], 1.0);
    assert_eq!(json["metrics"]["pipeline_seconds"]["count"], 1);
    assert!(json["metrics"]["delivery_seconds"]["websocket"]["buckets"]["+Inf"].is_u64());
}

#[actix_web::test]
async fn process_build_and_per_route_figures_follow_the_prometheus_conventions() {
    let app = spawn_app().await;
    app.get("/api/v1/kills/system/30000142").await;
    app.get("/api/v1/kills/system/30002187").await;
    app.get("/no/such/path").await;

    let text = app.get("/metrics").await.text();
    let samples: Vec<(String, HashMap<String, String>, f64)> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(parse_sample)
        .collect();
    let find = |name: &str, labels: &[(&str, &str)]| {
        samples
            .iter()
            .find(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).is_some_and(|x| x == v))
            })
            .map(|(_, _, v)| *v)
    };

    // The process figures every Prometheus client exports, under their own names.
    let rss = find("process_resident_memory_bytes", &[]).expect("resident memory");
    assert!(rss > 1e6, "{rss}");
    assert!(find("process_open_fds", &[]).is_some_and(|n| n >= 3.0));
    assert!(find("process_max_fds", &[]).is_some_and(|n| n >= 64.0));
    assert!(find("process_cpu_seconds_total", &[]).is_some_and(|s| s > 0.0));
    let start = find("process_start_time_seconds", &[]).expect("start time");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64();
    assert!(start <= now && now - start < 24.0 * 3600.0, "{start}");
    assert_eq!(
        find(
            "wanderer_kills_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );

    // Requests by route template (not by raw path), method and status; latency by route.
    let route = "/api/v1/kills/system/{system_id}";
    assert_eq!(
        find(
            "wanderer_kills_http_requests_total",
            &[("route", route), ("method", "GET"), ("status", "200")]
        ),
        Some(2.0)
    );
    assert_eq!(
        find(
            "wanderer_kills_http_request_duration_seconds_count",
            &[("route", route), ("method", "GET")]
        ),
        Some(2.0)
    );
    assert_eq!(
        find(
            "wanderer_kills_http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ),
        Some(1.0)
    );
    assert!(
        !text.contains("/api/v1/kills/system/30000142"),
        "raw paths never become labels"
    );

    // Names: no repeated words after the prefix, counters end in _total.
    let mut types = HashMap::new();
    for line in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let (name, kind) = line.split_once(' ').expect("name and type");
        types.insert(name.to_owned(), kind.to_owned());
    }
    for (name, kind) in &types {
        assert!(!name.contains("kills_kills"), "{name}");
        if kind == "counter" {
            assert!(
                name.ends_with("_total"),
                "counter {name} must end in _total"
            );
        }
    }
    let distinct: HashSet<&String> = types.keys().collect();
    assert_eq!(distinct.len(), types.len());
}

#[actix_web::test]
async fn the_feed_head_follows_upstream_while_the_feed_catches_up() {
    let app =
        crate::helpers::spawn_app_with(wanderer_kills::simulator::SimConfig::default(), |s| {
            s.engine.feed.r2z2_start_sequence = Some(wanderer_kills::simulator::FIRST_SEQUENCE);
            s.engine.feed.r2z2_object_pause_ms = 250;
        })
        .await;
    let metrics = || async {
        app.request(
            Method::GET,
            "/metrics",
            &[("accept", "application/json")],
            None,
        )
        .await
        .json()["metrics"]
            .clone()
    };
    // The feed has read the head once and is walking the first kills...
    for _ in 0..5 {
        app.sim.publish();
    }
    crate::helpers::wait_for(Duration::from_secs(5), "the feed to start", || async {
        let cursor = metrics().await["feed_cursor"].as_f64().unwrap_or(0.0);
        (cursor > wanderer_kills::simulator::FIRST_SEQUENCE as f64).then_some(())
    })
    .await;
    // ...when 30 more are published upstream.
    for _ in 0..30 {
        app.sim.publish();
    }
    let newest = app.sim.newest_sequence().expect("published") as f64;

    let figures = crate::helpers::wait_for(
        Duration::from_secs(5),
        "the head to be read again",
        || async {
            let m = metrics().await;
            (m["feed_head"].as_f64() == Some(newest)).then_some(m)
        },
    )
    .await;

    let cursor = figures["feed_cursor"].as_f64().expect("a cursor");
    assert!(
        cursor < newest,
        "still catching up ({cursor} < {newest}): the head is upstream's, not the cursor"
    );
}

#[actix_web::test]
async fn promtool_finds_nothing_to_say_about_the_exposition() {
    // Arrange: a kill stored and delivered, some routes asked, so every family has samples
    let app = spawn_app().await;
    app.wait_following().await;
    app.publish_in(30000142, 1);
    app.wait_stored(30000142, 1, Duration::from_secs(5)).await;
    app.get("/api/v1/kills/system/30000142").await;
    app.get("/no/such/route").await;
    let promtool = concat!(env!("CARGO_MANIFEST_DIR"), "/.tools/promtool");
    assert!(
        std::path::Path::new(promtool).exists(),
        "promtool is missing: run `make promtool`"
    );

    // Act: promtool's lint on what /metrics answers
    let exposition = app.get("/metrics").await.text();
    let mut lint = tokio::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool runs");
    let mut stdin = lint.stdin.take().expect("stdin");
    tokio::io::AsyncWriteExt::write_all(&mut stdin, exposition.as_bytes())
        .await
        .expect("written");
    drop(stdin);
    let output = lint.wait_with_output().await.expect("promtool ends");

    // Assert: no problem, no lint remark
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{said}");
    assert!(said.trim().is_empty(), "{said}");
}
