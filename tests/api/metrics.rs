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
        value("wanderer_kills_kills_total", Some(("outcome", "stored"))),
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
    assert_eq!(json["metrics"]["kills_total"]["stored"], 1.0);
    assert_eq!(json["metrics"]["pipeline_seconds"]["count"], 1);
    assert!(json["metrics"]["delivery_seconds"]["websocket"]["buckets"]["+Inf"].is_u64());
}
