//! `spawn_app()`: the real application on port 0 against an in-process simulator on port 0.

use std::future::Future;
use std::time::{Duration, Instant};

use actix_web::http::{Method, StatusCode};
use awc::http::header::HeaderMap;
use serde_json::Value;
use wanderer_kills::app::install_crypto_provider;
use wanderer_kills::simulator::{SimConfig, SimHandle, Simulator};
use wanderer_kills::{Application, Settings};

/// A running service wired to a running simulator. Both stop when the test's runtime ends.
pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub sim: SimHandle,
    client: awc::Client,
    /// Keeps the data directory alive for the test's duration.
    _data_dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// What a request returned.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(SimConfig::default(), |_| {}).await
}

/// Like [`spawn_app`], with a simulator configuration and a last say on the settings.
pub async fn spawn_app_with(sim: SimConfig, edit: impl FnOnce(&mut Settings)) -> TestApp {
    install_crypto_provider();
    let sim = Simulator::start(sim).expect("simulator starts");
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings::for_tests().expect("test settings load");
    settings.engine.feed.r2z2_base_url = sim.r2z2_base_url();
    settings.engine.feed.redisq_url = sim.redisq_url();
    settings.engine.zkb.base_url = sim.zkb_base_url();
    settings.engine.esi.base_url = sim.esi_base_url();
    settings.engine.storage.data_dir = data_dir.path().to_owned();
    edit(&mut settings);

    let app = Application::build(settings)
        .await
        .expect("application builds");
    let port = app.port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    actix_web::rt::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        sim,
        client: awc::Client::builder()
            .timeout(Duration::from_secs(10))
            .disable_redirects()
            .finish(),
        _data_dir: data_dir,
        stop: Some(stop),
    }
}

impl TestApp {
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Reply {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.address));
        for (name, value) in headers {
            req = req.insert_header((*name, *value));
        }
        let mut res = match body {
            Some(body) => req.send_body(body.to_vec()).await,
            None => req.send().await,
        }
        .expect("request is answered");
        let body = res
            .body()
            .limit(16 * 1024 * 1024)
            .await
            .expect("body is read");
        Reply {
            status: res.status(),
            headers: res.headers().clone(),
            body: body.to_vec(),
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.request(Method::GET, path, &[], None).await
    }

    pub async fn head(&self, path: &str) -> Reply {
        self.request(Method::HEAD, path, &[], None).await
    }

    pub async fn health(&self) -> Reply {
        self.get("/health").await
    }

    /// Stops the service gracefully, as SIGTERM would.
    pub fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A plain HTTP client for talking to the simulator directly.
pub fn client() -> awc::Client {
    install_crypto_provider();
    awc::Client::builder()
        .timeout(Duration::from_secs(20))
        .disable_redirects()
        .finish()
}

/// GET `url`; returns status and body.
pub async fn fetch(client: &awc::Client, url: &str) -> (StatusCode, Vec<u8>) {
    let mut res = client
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let body = res.body().limit(16 * 1024 * 1024).await.expect("body");
    (res.status(), body.to_vec())
}

pub async fn fetch_json(client: &awc::Client, url: &str) -> (StatusCode, Value) {
    let (status, body) = fetch(client, url).await;
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into()));
    (status, value)
}

/// Polls `check` every 50 ms until it gives `Some`, or panics after `limit` saying what it waited for.
pub async fn wait_for<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            started.elapsed() < limit,
            "gave up after {limit:?} waiting for {what}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

impl TestApp {
    /// Publishes `n` kills in `system`; returns their ids in publication order.
    pub fn publish_in(&self, system: u64, n: usize) -> Vec<u64> {
        (0..n)
            .map(|_| {
                self.sim
                    .publish_with(|k| k.set_system(system))
                    .kill
                    .killmail_id
            })
            .collect()
    }

    pub async fn status(&self) -> Value {
        self.get("/status").await.json()
    }

    /// Waits until the feed has read R2Z2's head, so kills published from now on are followed.
    pub async fn wait_following(&self) {
        wait_for(
            Duration::from_secs(5),
            "the feed to read the head",
            || async {
                let cursor = self.status().await["metrics"]["processing"]["feed_cursor"].as_i64();
                cursor.filter(|c| *c > 0).map(|_| ())
            },
        )
        .await;
    }

    /// The stored kills of a system (no upstream call).
    pub async fn cached(&self, system: u64) -> Vec<Value> {
        let reply = self.get(&format!("/api/v1/kills/cached/{system}")).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        reply.json()["data"]["kills"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Waits until `system` holds `n` kills and returns them.
    pub async fn wait_stored(&self, system: u64, n: usize, limit: Duration) -> Vec<Value> {
        wait_for(limit, &format!("{n} kills in system {system}"), || async {
            let kills = self.cached(system).await;
            (kills.len() >= n).then_some(kills)
        })
        .await
    }
}

/// The subscriptions of one `type` (`webhook`, `websocket`, `sse`) in a subscriptions listing.
pub fn listed_of_type<'a>(listed: &'a Value, kind: &str) -> Vec<&'a Value> {
    listed["data"]["subscriptions"]
        .as_array()
        .expect("a list")
        .iter()
        .filter(|s| s["type"] == kind)
        .collect()
}
