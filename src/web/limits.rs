//! Protection at the HTTP edge: a per-address rate limit on the REST API and the optional API
//! token for changing subscriptions. (Where a webhook may point is the engine's rule.)

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, ResponseError};

use super::errors::ApiError;
use super::AppState;

/// Buckets idle this long are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(600);

/// A token bucket per client address: `per_minute` requests a minute, bursts of as many.
pub struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// `per_minute` 0 turns the limit off.
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            buckets: Mutex::default(),
        }
    }

    /// Takes a token for `ip`; `Err` says how long until one is free.
    pub fn take(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() > 10_000 {
            buckets.retain(|_, b| now.duration_since(b.at) < FORGET_AFTER);
        }
        let bucket = buckets.entry(ip).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let refill = now.duration_since(bucket.at).as_secs_f64() * per_second;
        bucket.tokens = (bucket.tokens + refill).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second))
        }
    }
}

/// Requests to the REST API: a total, and a per-second ring for the last minute's rate.
pub struct RequestRate {
    total: std::sync::atomic::AtomicU64,
    /// `(unix second, requests in it)` per slot `second % 60`.
    seconds: Mutex<[(u64, u64); 60]>,
}

impl Default for RequestRate {
    fn default() -> Self {
        Self {
            total: Default::default(),
            seconds: Mutex::new([(0, 0); 60]),
        }
    }
}

impl RequestRate {
    pub fn record(&self) {
        self.total
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let now = unix_second();
        let mut seconds = self.seconds.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = &mut seconds[(now % 60) as usize];
        if slot.0 != now {
            *slot = (now, 0);
        }
        slot.1 += 1;
    }

    pub fn total(&self) -> u64 {
        self.total.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Requests in the last 60 seconds.
    pub fn per_minute(&self) -> u64 {
        let now = unix_second();
        let seconds = self.seconds.lock().unwrap_or_else(PoisonError::into_inner);
        seconds
            .iter()
            .filter(|(second, _)| now.saturating_sub(*second) < 60)
            .map(|(_, n)| n)
            .sum()
    }
}

fn unix_second() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What the limit does for one route, decided from the route's own path template when routes
/// are mounted, so a request is judged by the route that really serves it (`//api/...` and
/// `/%61pi/...` are served by the same route as `/api/...`, and are counted as it is).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// Not part of the REST API: neither counted nor limited.
    Off,
    /// Counted, never refused: the SSE streams (capped by their own slots) and `/api/health`.
    Counted,
    /// Counted and limited per client address.
    Limited,
}

impl Limit {
    /// The policy of the route mounted at `template`.
    pub fn for_route(template: &str) -> Self {
        let relay = ["/listen.php", "/redisq", "/ephemeral/"]
            .iter()
            .any(|p| template.starts_with(p));
        if relay {
            Self::Limited
        } else if !template.starts_with("/api/") {
            Self::Off
        } else if template.starts_with("/api/v1/kills/stream") || template == "/api/health" {
            Self::Counted
        } else {
            Self::Limited
        }
    }
}

/// The rate limit of a REST route, run after routing (see [`Limit`]).
pub async fn rate_limit(
    limit: Limit,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let refused = req.app_data::<web::Data<AppState>>().and_then(|state| {
        state.api_requests.record();
        let ip = state.proxies.client(req.request());
        (limit == Limit::Limited)
            .then(|| state.rate_limit.take(ip, Instant::now()).err())
            .flatten()
    });
    if let Some(wait) = refused {
        let mut res = ApiError::coded(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            "Too many requests",
        )
        .error_response();
        res.headers_mut()
            .insert(header::RETRY_AFTER, (wait.as_secs() + 1).into());
        return Ok(req.into_response(res));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// `Ok` when no token is configured or the request carries `Authorization: Bearer <token>`.
pub fn authorize(req: &HttpRequest, token: &str) -> Result<(), ApiError> {
    if token.is_empty() {
        return Ok(());
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if same(given.trim().as_bytes(), token.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_allows_a_burst_then_refills_at_the_rate() {
        let limiter = RateLimiter::new(60);
        let ip = IpAddr::from([10, 0, 0, 1]);
        let start = Instant::now();

        for _ in 0..60 {
            assert!(limiter.take(ip, start).is_ok());
        }
        let wait = limiter.take(ip, start).expect_err("the burst is spent");
        assert!(wait <= Duration::from_secs(1));
        assert!(limiter
            .take(ip, start + Duration::from_millis(1100))
            .is_ok());
        assert!(
            limiter.take(IpAddr::from([10, 0, 0, 2]), start).is_ok(),
            "per address"
        );
        assert!(
            RateLimiter::new(0).take(ip, start).is_ok(),
            "0 turns it off"
        );
    }

    #[test]
    fn the_token_must_match_exactly() {
        assert!(same(b"s3cret", b"s3cret"));
        assert!(!same(b"s3cret", b"s3creT"));
        assert!(!same(b"s3cret", b"s3cre"));
    }
}
