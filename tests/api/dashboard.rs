//! `GET /`: the dashboard page and its assets, all local.

use actix_web::http::StatusCode;

use crate::helpers::spawn_app;

#[actix_web::test]
async fn the_dashboard_is_served_with_local_assets_only_and_reads_live_figures() {
    let app = spawn_app().await;

    let page = app.get("/").await;

    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let html = page.text();
    assert!(
        html.contains(r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#)
    );
    // Every src/href is a path on this service: no CDN, no other host.
    let references: Vec<&str> = html
        .split(['"', '\''])
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[0].ends_with("src=") || w[0].ends_with("href="))
        .map(|w| w[1])
        .collect();
    assert!(!references.is_empty());
    for reference in &references {
        assert!(
            reference.starts_with('/') && !reference.starts_with("//"),
            "{reference}"
        );
        let asset = app.get(reference).await;
        assert_eq!(asset.status, StatusCode::OK, "{reference}");
        let text = asset.text();
        if reference.ends_with(".css") {
            assert!(!text.contains("://"), "{reference} loads from elsewhere");
        }
        // The script loads only from this service (links to a kill on zKillboard are fine).
        for call in ["fetch(", "new EventSource(", "import("] {
            for (at, _) in text.match_indices(call) {
                let argument = text[at + call.len()..].trim_start_matches(['"', '`', '\'']);
                assert!(
                    argument.starts_with('/'),
                    "{reference}: {call} of {:.40}",
                    argument
                );
            }
        }
    }
    let script = app.get("/dashboard/app.js").await;
    assert_eq!(
        script.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    let script = script.text();
    assert!(script.contains(r#"new EventSource("/api/v1/kills/stream" + "#));
    // The filter box narrows the list with the URL form the stream and the store take.
    assert!(html.contains(r#"<form id="filter""#));
    assert!(script.contains("filter=${encodeURIComponent(r)}"));
    assert!(script.contains("fetch(`/api/v1/kills?limit="));
    assert!(script.contains(r#"fetch("/status""#));
    let style = app.get("/dashboard/style.css").await;
    assert_eq!(
        style.header("content-type"),
        Some("text/css; charset=utf-8")
    );
    // What the script reads from /status is there.
    let status = app.get("/status").await.json();
    for path in [
        &status["summary"]["killmails_stored"],
        &status["summary"]["cache_hit_rate"],
        &status["metrics"]["processing"]["kills_received"],
        &status["metrics"]["processing"]["lag_seconds"],
        &status["metrics"]["websocket"]["active_connections"],
        &status["metrics"]["sse"]["active_connections"],
        &status["metrics"]["webhooks"]["delivered"],
        &status["metrics"]["system"]["uptime_seconds"],
    ] {
        assert!(path.is_number(), "{status}");
    }
}

#[actix_web::test]
async fn while_the_feed_fails_the_service_stays_alive_and_says_why() {
    use wanderer_kills::simulator::{Faults, SimConfig};
    let app = crate::helpers::spawn_app_with(SimConfig::default(), |_| {}).await;
    app.sim.set_faults(Faults {
        r2z2_unavailable_rate: 1.0,
        ..Faults::default()
    });

    // Readiness and the dashboard name the failing feed and its error
    let health = crate::helpers::wait_for(
        std::time::Duration::from_secs(10),
        "the feed to be reported failing",
        || async {
            let health = app.get("/health").await.json();
            (health["details"]["feed"]["status"] != "ok").then_some(health)
        },
    )
    .await;
    let message = health["details"]["feed"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("503"), "{health}");
    let script = app.get("/dashboard/app.js").await.text();
    assert!(
        script.contains("report.details.feed"),
        "the dashboard reads the feed's state"
    );
    assert!(app.get("/").await.text().contains(r#"id="feed""#));

    // Liveness does not depend on zKillboard: a container is not restarted for its outage.
    let live = app.get("/health/live").await;
    assert_eq!(live.status, StatusCode::OK);
    assert_eq!(live.json()["status"], "ok");
}
