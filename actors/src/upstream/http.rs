//! What every upstream call shares: the identifying `User-Agent`, connect and total timeouts, a
//! cap on body size, `Retry-After`, and a pacer that spaces calls to respect upstream limits.
//!
//! An [`Http`] wraps one `awc::Client`, which is not `Send`: each actor builds its own.

use std::cell::Cell;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use actix_service::{Service, ServiceExt};
use actix_tls::connect::{ConnectError, ConnectInfo, Connection, Connector, Resolver};
use awc::error::{PayloadError, SendRequestError};
use awc::http::{header, StatusCode, Uri};
use bytes::Bytes;
use futures_core::Stream;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::net::TcpStream;

use crate::config::UpstreamSettings;

/// Bodies larger than this are refused (the largest real killmails are a few hundred KB).
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// How long an idle connection stays open for the next call.
const KEEP_ALIVE: Duration = Duration::from_secs(30);

/// Why an upstream call gave nothing usable. "Not yet" and "slow down" are kept apart from
/// "broken", because the caller waits on the first two and counts the others.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The thing does not exist yet (an R2Z2 sequence not published): ask again later.
    #[error("not published yet")]
    NotYet,
    /// The thing does not exist (ESI 404 for an id): asking again will not help soon.
    #[error("not found")]
    NotFound,
    /// Upstream asks us to slow down (429, ESI's 420, zKillboard's 403), maybe saying how long.
    #[error("rate limited with status {status} (retry after {retry_after:?})")]
    RateLimited {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// Any other unexpected status.
    #[error("upstream answered {status}")]
    Status { status: u16 },
    /// No complete answer within the timeout.
    #[error("timed out")]
    Timeout,
    /// The connection failed (refused, reset, DNS, TLS).
    #[error("transport error: {0}")]
    Transport(String),
    /// An answer that is not what the route serves (garbage, truncated, wrong shape).
    #[error("malformed body: {0}")]
    Malformed(String),
}

impl FetchError {
    /// Worth retrying soon: the upstream is there but had a bad moment.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Timeout | Self::Transport(_) | Self::RateLimited { .. } => true,
            Self::Status { status } => *status >= 500,
            Self::NotYet | Self::NotFound | Self::Malformed(_) => false,
        }
    }
}

/// A complete answer: status, headers and body.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: awc::http::header::HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// Reads the body as `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, FetchError> {
        serde_json::from_slice(&self.body).map_err(|e| FetchError::Malformed(e.to_string()))
    }

    /// `Retry-After` in seconds, when upstream sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        let value = self.headers.get(header::RETRY_AFTER)?.to_str().ok()?;
        value.trim().parse::<u64>().ok().map(Duration::from_secs)
    }
    /// The error for a status that is not success.
    pub fn error(&self) -> FetchError {
        match self.status.as_u16() {
            status @ (403 | 420 | 429) => FetchError::RateLimited {
                status,
                retry_after: self.retry_after(),
            },
            status => FetchError::Status { status },
        }
    }

    /// Like [`Answer::error`], for routes where 404 has a meaning of its own (an R2Z2 sequence
    /// not published yet, an id ESI does not know).
    pub fn error_or_missing(&self, on_404: FetchError) -> FetchError {
        if self.status == StatusCode::NOT_FOUND {
            on_404
        } else {
            self.error()
        }
    }
}

/// awc's own TCP connector, but each new connection sends every write at once (`TCP_NODELAY`).
/// awc writes a request's head and its body in two writes; with Nagle's algorithm on, the body
/// of every POST (ESI names, webhooks) waited for the server to acknowledge the head, which a
/// server may delay by up to 40 ms (200 ms on some).
fn tcp_connector(
) -> impl Service<ConnectInfo<Uri>, Response = Connection<Uri, TcpStream>, Error = ConnectError> + Clone
{
    Connector::new(Resolver::default())
        .service()
        .map(|connection: Connection<Uri, TcpStream>| {
            if let Err(e) = connection.io_ref().set_nodelay(true) {
                log::debug!("TCP_NODELAY not set error={e}");
            }
            connection
        })
}

/// One upstream HTTP client.
pub struct Http {
    client: awc::Client,
}

impl Http {
    pub fn new(settings: &UpstreamSettings) -> Self {
        Self::build(settings, 100, true)
    }

    /// The client of webhook deliveries: no cap on open connections (one slow host never holds a
    /// slot another host needs), and redirects are never followed (a 3xx is the answer).
    pub fn for_webhooks(settings: &UpstreamSettings) -> Self {
        Self::build(settings, 0, false)
    }

    /// A client for one busy upstream (ESI): at most `connections` open at once, kept alive and
    /// reused, so a burst of lookups queues for a warm connection instead of opening a storm of
    /// new ones the upstream may refuse.
    pub fn pooled(settings: &UpstreamSettings, connections: usize) -> Self {
        Self::build(settings, connections.max(1), true)
    }

    /// `connections`: the pool's cap on open connections (0 = none).
    fn build(settings: &UpstreamSettings, connections: usize, redirects: bool) -> Self {
        let connector = awc::Connector::new()
            .connector(tcp_connector())
            .limit(connections)
            .conn_keep_alive(KEEP_ALIVE)
            .timeout(Duration::from_millis(settings.connect_timeout_ms));
        let mut builder = awc::Client::builder();
        if !redirects {
            builder = builder.disable_redirects();
        }
        let client = builder
            .connector(connector)
            .timeout(Duration::from_millis(settings.request_timeout_ms))
            .add_default_header((header::USER_AGENT, settings.user_agent.as_str()))
            .add_default_header((header::ACCEPT, "application/json"))
            .finish();
        Self { client }
    }

    /// GET `url`; `timeout` overrides the client's total timeout (long polls need more).
    pub async fn get(
        &self,
        url: &str,
        timeout: Option<Duration>,
        headers: &[(&str, &str)],
    ) -> Result<Answer, FetchError> {
        let mut request = self.client.get(url);
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        for (name, value) in headers {
            request = request.insert_header((*name, *value));
        }
        Self::complete(request.send().await).await
    }

    /// POST `body` as JSON to `url`.
    pub async fn post_json<T: Serialize>(
        &self,
        url: &str,
        body: &T,
        headers: &[(&str, &str)],
    ) -> Result<Answer, FetchError> {
        let mut request = self.client.post(url);
        for (name, value) in headers {
            request = request.insert_header((*name, *value));
        }
        Self::complete(request.send_json(body).await).await
    }

    /// POST a ready JSON `body` to `url` within `timeout`; the body is sent byte for byte (a
    /// signature over it stays valid).
    pub async fn post_bytes(
        &self,
        url: &str,
        body: Bytes,
        headers: &[(&str, &str)],
        timeout: Duration,
        address: Option<SocketAddr>,
    ) -> Result<Answer, FetchError> {
        let mut request = self
            .client
            .post(url)
            .timeout(timeout)
            .insert_header((header::CONTENT_TYPE, "application/json"));
        if let Some(address) = address {
            // Connect to the address that was checked, not to a second lookup's answer.
            request = request.address(address);
        }
        for (name, value) in headers {
            request = request.insert_header((*name, *value));
        }
        Self::complete(request.send_body(body).await).await
    }

    /// Reads the whole answer, mapping transport failures to [`FetchError`].
    async fn complete<S>(
        sent: Result<awc::ClientResponse<S>, SendRequestError>,
    ) -> Result<Answer, FetchError>
    where
        S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
    {
        let mut response = sent.map_err(|e| match e {
            SendRequestError::Timeout => FetchError::Timeout,
            other => FetchError::Transport(other.to_string()),
        })?;
        let body = response
            .body()
            .limit(MAX_BODY_BYTES)
            .await
            .map_err(|e| match e {
                PayloadError::Overflow => {
                    FetchError::Malformed(format!("body larger than {MAX_BODY_BYTES} bytes"))
                }
                other => FetchError::Transport(other.to_string()),
            })?;
        Ok(Answer {
            status: response.status(),
            headers: response.headers().clone(),
            body,
        })
    }
}

/// Spaces calls at least `interval` apart (zKillboard: ≤ 1 request/s; R2Z2: ≤ 10 requests/s).
pub struct Pacer {
    interval: Duration,
    next: Cell<Option<Instant>>,
}

impl Pacer {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            next: Cell::new(None),
        }
    }

    /// Waits until the next call is allowed, and books the slot after it.
    pub async fn wait(&self) {
        let now = Instant::now();
        let at = self.next.get().filter(|&t| t > now).unwrap_or(now);
        self.next.set(Some(at + self.interval));
        if at > now {
            actix::clock::sleep(at - now).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_service::Service;
    use actix_tls::connect::ConnectInfo;

    use super::tcp_connector;

    #[actix::test]
    async fn a_connection_to_an_upstream_sends_each_write_at_once() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        let uri: awc::http::Uri = format!("http://{}/names", listener.local_addr().expect("bound"))
            .parse()
            .expect("a URI");

        let connection = tcp_connector()
            .call(ConnectInfo::new(uri))
            .await
            .expect("connects");

        assert!(
            connection.io_ref().nodelay().expect("readable"),
            "Nagle is off"
        );
    }
}
