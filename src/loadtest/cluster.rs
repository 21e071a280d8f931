//! The load test's cluster: each instance's settings, who leads, and the cleanup afterwards.

use std::time::Duration;

use actix_web::rt::time::sleep;
use anyhow::bail;

/// The settings of one member of the cluster `name` on `nats_url`. Every member shares one
/// RedisQ queue, so a new leader picks up where the old one stopped.
pub fn member_env(nats_url: &str, name: &str) -> Vec<(String, String)> {
    [
        ("NATS_URL", nats_url.to_owned()),
        ("CLUSTER_NAME", name.to_owned()),
        ("NATS_SUBJECT_PREFIX", format!("{name}.killmails")),
        ("REDISQ_QUEUE_ID", name.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Each instance's role, once one of them leads.
pub async fn roles_once_led(http: &awc::Client, ports: &[u16]) -> anyhow::Result<Vec<String>> {
    for _ in 0..100 {
        let mut roles = Vec::with_capacity(ports.len());
        for port in ports {
            let url = format!("http://127.0.0.1:{port}/health");
            let health: serde_json::Value = match http.get(&url).send().await {
                Ok(mut answer) => answer.json().await.unwrap_or_default(),
                Err(_) => serde_json::Value::Null,
            };
            roles.push(health["cluster"]["role"].as_str().unwrap_or("?").to_owned());
        }
        if roles.iter().any(|r| r == "leader") {
            return Ok(roles);
        }
        sleep(Duration::from_millis(200)).await;
    }
    bail!("no instance took the feed's lease within 20 s")
}

/// Deletes the cluster's stream and buckets.
pub async fn forget(nats_url: &str, name: &str) {
    if let Err(e) = actors::cluster::forget(nats_url, name).await {
        log::warn!("load test cluster not deleted name={name} error={e}");
    }
}
