//! Rate limiting: a token bucket per client address; a request that finds
//! its bucket empty is answered `429 Too Many Requests` with `retry-after`
//! and never reaches the inner app.
//!
//! Ports seed 000's `RateLimitMiddleware` (requests per minute plus a
//! burst, `429`, `Retry-After`, `Rate limit exceeded`). Two changes:
//!
//! * **Bounded memory.** The seed keeps a list of timestamps per client and
//!   a dict that grows with every address it ever saw. Here a client costs
//!   one bucket (two numbers) and the table holds at most `max_clients`.
//!   When it is full, buckets that have refilled completely are dropped
//!   (a full bucket is exactly what a new client gets, so nothing is lost);
//!   if it is still full, new clients are refused until some refill: under
//!   a flood from many addresses the limiter fails closed.
//! * **The address is `scope.client`.** The seed trusts `X-Forwarded-For`,
//!   which lets any client choose its own bucket. Behind a proxy, rewrite
//!   `scope.client` in a middleware that knows which proxies to trust, and
//!   put it outside this one.
//!
//! HTTP requests and WebSocket handshakes draw from the same buckets (a
//! handshake is a request, and an open socket costs the server more than
//! one). A refused handshake gets the same 429 as a denial response where
//! the server announces `websocket_denial`, a `403` elsewhere
//! ([`refuse_handshake`](crate::refuse_handshake)); the messages of an
//! accepted socket are not limited. Lifespan passes through.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rgi::bytes::Bytes;
use rgi::http::header::{CONTENT_TYPE, RETRY_AFTER};
use rgi::http::{HeaderMap, HeaderValue, StatusCode};
use rgi::{App, AppResult, Conn};

use crate::refuse::refuse_handshake;

/// Limits each client address to `per_minute` requests, in bursts of up to
/// `burst`.
#[derive(Debug)]
pub struct RateLimit<A> {
    inner: A,
    limiter: Arc<Limiter>,
}

impl<A> RateLimit<A> {
    /// `per_minute` requests per client on average, `burst` at once (both
    /// at least 1), for at most 10 000 clients at a time.
    pub fn new(inner: A, per_minute: u32, burst: u32) -> Self {
        Self::shared(inner, Arc::new(Limiter::new(per_minute, burst, 10_000)))
    }

    /// Draws from `limiter`, which other apps may share: one budget per
    /// client across several mounted apps.
    pub fn shared(inner: A, limiter: Arc<Limiter>) -> Self {
        Self { inner, limiter }
    }
}

impl<A: App> App for RateLimit<A> {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        match conn {
            Conn::Http(mut http) => {
                let client = http.scope.client.map(|addr| addr.ip());
                match self.limiter.check(client, Instant::now()) {
                    Ok(()) => self.inner.call(http.into()).await,
                    Err(retry_after) => {
                        let (headers, body) = too_many(retry_after);
                        let status = StatusCode::TOO_MANY_REQUESTS;
                        Ok(http.respond(status, headers, body).await?)
                    }
                }
            }
            Conn::WebSocket(mut ws) => {
                let client = ws.scope.client.map(|addr| addr.ip());
                match self.limiter.check(client, Instant::now()) {
                    Ok(()) => self.inner.call(ws.into()).await,
                    Err(retry_after) => {
                        let (headers, body) = too_many(retry_after);
                        let status = StatusCode::TOO_MANY_REQUESTS;
                        refuse_handshake(&mut ws, status, headers, body).await
                    }
                }
            }
            other => self.inner.call(other).await,
        }
    }
}

/// The seed's 429: `retry-after` and a plain-text body.
fn too_many(retry_after: u64) -> (HeaderMap, Bytes) {
    let mut headers = HeaderMap::with_capacity(3);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    headers.insert(RETRY_AFTER, HeaderValue::from(retry_after));
    (headers, Bytes::from_static(b"Rate limit exceeded"))
}

/// The buckets of every client seen recently.
#[derive(Debug)]
pub struct Limiter {
    capacity: f64,
    per_second: f64,
    max_clients: usize,
    table: Mutex<Table>,
}

#[derive(Debug)]
struct Table {
    buckets: HashMap<Option<IpAddr>, Bucket>,
    last_sweep: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// The shortest time between two sweeps of a full table, so a flood of new
/// addresses does not make every request scan the whole table.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

impl Limiter {
    /// `per_minute` requests per client on average, `burst` at once (both
    /// at least 1), for at most `max_clients` clients (at least 1) at a time.
    pub fn new(per_minute: u32, burst: u32, max_clients: usize) -> Self {
        Self {
            capacity: f64::from(burst.max(1)),
            per_second: f64::from(per_minute.max(1)) / 60.0,
            max_clients: max_clients.max(1),
            table: Mutex::new(Table {
                buckets: HashMap::new(),
                last_sweep: None,
            }),
        }
    }

    /// Takes a token for `client` now; `Err` holds the seconds to wait.
    pub fn try_acquire(&self, client: Option<IpAddr>) -> Result<(), u64> {
        self.check(client, Instant::now())
    }

    /// Takes a token for `client` at `now`; `Err` holds the seconds to wait.
    fn check(&self, client: Option<IpAddr>, now: Instant) -> Result<(), u64> {
        // Nothing below can panic with the lock held, so a poisoned lock is
        // still consistent.
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if !table.buckets.contains_key(&client) && table.buckets.len() >= self.max_clients {
            self.sweep(&mut table, now);
            if table.buckets.len() >= self.max_clients {
                return Err(self.seconds(1.0));
            }
        }
        let capacity = self.capacity;
        let bucket = table.buckets.entry(client).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        bucket.tokens = self.refilled(bucket, now);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(self.seconds(1.0 - bucket.tokens))
        }
    }

    fn refilled(&self, bucket: &Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        (bucket.tokens + elapsed * self.per_second).min(self.capacity)
    }

    /// Drops the buckets that are full again: they hold no information.
    fn sweep(&self, table: &mut Table, now: Instant) {
        if table
            .last_sweep
            .is_some_and(|last| now.saturating_duration_since(last) < SWEEP_INTERVAL)
        {
            return;
        }
        table.last_sweep = Some(now);
        table
            .buckets
            .retain(|_, bucket| self.refilled(bucket, now) < self.capacity);
    }

    /// Whole seconds (at least 1) until `tokens` tokens have refilled.
    fn seconds(&self, tokens: f64) -> u64 {
        ((tokens / self.per_second).ceil() as u64).max(1)
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use rgi_conformance::{Request, TestClient};

    use super::*;
    use crate::testing::Hello;

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([10, 0, 0, last]))
    }

    #[test]
    fn bursts_then_refills_at_the_rate() {
        let limiter = Limiter::new(60, 3, 100); // one token a second
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.check(ip(1), t0), Ok(()));
        }
        assert_eq!(limiter.check(ip(1), t0), Err(1));
        // Another client has its own bucket.
        assert_eq!(limiter.check(ip(2), t0), Ok(()));
        // Half a token is not enough; a whole one is.
        assert_eq!(
            limiter.check(ip(1), t0 + Duration::from_millis(500)),
            Err(1)
        );
        assert_eq!(
            limiter.check(ip(1), t0 + Duration::from_millis(1000)),
            Ok(())
        );
        // A long pause refills only up to the burst.
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..3 {
            assert_eq!(limiter.check(ip(1), later), Ok(()));
        }
        assert_eq!(limiter.check(ip(1), later), Err(1));
    }

    #[test]
    fn retry_after_counts_the_missing_tokens() {
        let limiter = Limiter::new(6, 1, 100); // one token every ten seconds
        let t0 = Instant::now();
        assert_eq!(limiter.check(ip(1), t0), Ok(()));
        assert_eq!(limiter.check(ip(1), t0), Err(10));
        assert_eq!(limiter.check(ip(1), t0 + Duration::from_secs(4)), Err(6));
    }

    #[test]
    fn the_table_stays_bounded_and_fails_closed() {
        let limiter = Limiter::new(60, 1, 2);
        let t0 = Instant::now();
        assert_eq!(limiter.check(ip(1), t0), Ok(()));
        assert_eq!(limiter.check(ip(2), t0), Ok(()));
        // Full of clients that are still limited: a newcomer waits.
        assert_eq!(limiter.check(ip(3), t0), Err(1));
        assert_eq!(limiter.table.lock().unwrap().buckets.len(), 2);
        // Once their buckets refilled they are swept, and room appears.
        let later = t0 + Duration::from_secs(5);
        assert_eq!(limiter.check(ip(3), later), Ok(()));
        assert_eq!(limiter.table.lock().unwrap().buckets.len(), 1);
    }

    #[tokio::test]
    async fn answers_429_with_retry_after_without_calling_the_app() {
        let client = TestClient::new(RateLimit::new(Hello, 1, 2));
        let from = |last: u8| {
            let addr = SocketAddr::from(([10, 0, 0, last], 5000));
            Request::get("/").addresses(addr, "127.0.0.1:80".parse().unwrap())
        };
        for _ in 0..2 {
            let response = client.send(from(1)).await.unwrap();
            assert_eq!(response.status(), Some(StatusCode::OK));
        }
        let response = client.send(from(1)).await.unwrap();
        assert_eq!(response.status(), Some(StatusCode::TOO_MANY_REQUESTS));
        assert_eq!(response.header("retry-after"), Some("60"));
        assert_eq!(response.body(), "Rate limit exceeded");
        // The same port or another: it is the address that counts.
        let response = client.send(from(2)).await.unwrap();
        assert_eq!(response.status(), Some(StatusCode::OK));
    }

    /// Accepts, then closes: a WebSocket that got through.
    struct Accepts;

    impl App for Accepts {
        async fn call(&self, conn: Conn<'_>) -> AppResult {
            let Conn::WebSocket(mut ws) = conn else {
                return conn.unsupported();
            };
            ws.recv().await;
            ws.send(rgi::WebSocketSend::Accept(rgi::Accept::new()))
                .await?;
            ws.send(rgi::WebSocketSend::Close(rgi::CloseFrame::normal()))
                .await?;
            Ok(())
        }
    }

    #[tokio::test]
    async fn handshakes_draw_from_the_same_bucket() {
        let client = TestClient::new(RateLimit::new(Accepts, 1, 1));
        let addr = SocketAddr::from(([10, 0, 0, 1], 5000));
        let handshake = || {
            Request::get("/ws")
                .addresses(addr, "127.0.0.1:80".parse().unwrap())
                .capabilities(rgi::Capabilities::ALL)
        };
        let first = client.connect(handshake()).await.unwrap();
        assert!(first.handshake_outcome().is_accepted());
        first.finish().await.unwrap();
        let second = client.connect(handshake()).await.unwrap();
        let transcript = second.finish().await.unwrap();
        let rgi_conformance::Handshake::Denied {
            status,
            headers,
            body,
            ..
        } = transcript.handshake
        else {
            panic!("not denied: {:?}", transcript.handshake);
        };
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(headers[RETRY_AFTER], "60");
        assert_eq!(body, "Rate limit exceeded");
    }
}
