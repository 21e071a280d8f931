//! The OpenAPI document against the wire: schemathesis (pinned in tests/python/requirements.txt,
//! installed by `make py-deps`) generates requests from `/api/openapi` for every operation,
//! sends them to the real app, and checks every answer against the document (`--checks all`).
//! Settings for the long polls, streams and the WebSocket route: tests/contract/schemathesis.toml.

use actors::config::FeedSource;
use wanderer_kills::simulator::SimConfig;

use crate::helpers::spawn_app_with;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[actix_web::test]
async fn schemathesis_finds_no_fault_between_the_openapi_document_and_the_service() {
    // Arrange: the app with no feed (the contract is the API's), and relay polls held 300 ms
    // instead of up to 10 s, so the run takes minutes, not a quarter of an hour
    let app = spawn_app_with(SimConfig::default(), |s| {
        s.engine.feed.source = FeedSource::Off;
        s.engine.relay.max_wait_ms = 300;
    })
    .await;
    let schemathesis = format!("{ROOT}/.venv-tests/bin/schemathesis");
    assert!(
        std::path::Path::new(&schemathesis).exists(),
        "schemathesis is missing: run `make py-deps`"
    );

    // Act: one worker (several trip a CPython 3.11 race in the generator's AST parsing)
    let output = tokio::process::Command::new(&schemathesis)
        .current_dir(ROOT)
        .args([
            "--config-file",
            "tests/contract/schemathesis.toml",
            "run",
            &format!("http://127.0.0.1:{}/api/openapi", app.port),
            "--checks",
            "all",
            "--max-examples",
            "50",
            "--workers",
            "1",
            "--seed",
            "1",
            "--generation-database",
            "none",
        ])
        .output()
        .await
        .expect("schemathesis runs");

    // Assert
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found faults:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains("passed"), "{report}");
}
