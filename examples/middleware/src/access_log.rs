//! Access log: one entry per HTTP request with the method, path, status,
//! body bytes and time taken, written as a `tracing` event (or handed to a
//! function of your own, for metrics).
//!
//! Ports seed 002's `TimingMiddleware` (wrap `send`, catch the status on
//! `http.response.start`) and seed 000's request/response capture. Unlike
//! the seeds it keeps no copy of the body: it counts bytes as they pass, and
//! it writes the entry when the inner app returns, so failures are logged
//! too.
//!
//! The observing closure runs once per event and allocates nothing; the
//! request's URI is cloned once (a reference count, not a copy).
//! WebSocket, lifespan and unknown scope kinds pass through untouched.
//!
//! The reference server writes its own access log (target
//! `rgi_server::access`); this one works on any server and sits wherever you
//! put it in the stack, so it can time just part of it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rgi::http::{Method, StatusCode};
use rgi::{App, AppResult, BoxError, Conn, Error, HttpConn, HttpSend, InspectSend};

/// One finished request.
#[derive(Debug)]
#[non_exhaustive]
pub struct Entry<'a> {
    /// The client's address, when the server knows it.
    pub client: Option<SocketAddr>,
    /// The request method.
    pub method: &'a Method,
    /// The request path as received (not decoded), without the query.
    pub path: &'a str,
    /// The response status; `None` if the app never started a response.
    pub status: Option<StatusCode>,
    /// Body bytes the app sent (`File` ranges included).
    pub bytes: u64,
    /// From the call to the inner app's return.
    pub elapsed: Duration,
    /// The inner app's error, if it failed.
    pub error: Option<&'a BoxError>,
}

/// Writes `entry` as an `info` event on target `access` (`warn` when the app
/// failed; a client that went away is not a failure).
pub fn log(entry: &Entry<'_>) {
    let Entry {
        client,
        method,
        path,
        bytes,
        ..
    } = *entry;
    let status = entry.status.map_or(0, |s| s.as_u16());
    let millis = entry.elapsed.as_secs_f64() * 1000.0;
    match entry.error {
        None => tracing::info!(
            target: "access", ?client, %method, path, status, bytes, millis,
            "{method} {path} -> {status} ({millis:.1} ms)"
        ),
        Some(err) if Error::is_disconnect(&**err) => tracing::info!(
            target: "access", ?client, %method, path, status, bytes, millis,
            "{method} {path} -> {status}, client gone ({millis:.1} ms)"
        ),
        Some(err) => tracing::warn!(
            target: "access", ?client, %method, path, status, bytes, millis, error = %err,
            "{method} {path} -> {status}, failed: {err} ({millis:.1} ms)"
        ),
    }
}

/// Hands an [`Entry`] for every HTTP request to a function: [`log`] unless
/// you choose another with [`with_sink`](Self::with_sink).
#[derive(Debug, Clone)]
pub struct AccessLog<A, F = fn(&Entry<'_>)> {
    inner: A,
    sink: F,
}

impl<A> AccessLog<A> {
    /// Logs the requests that reach `inner` with [`log`].
    pub fn new(inner: A) -> Self {
        Self { inner, sink: log }
    }
}

impl<A, F: Fn(&Entry<'_>) + Send + Sync + 'static> AccessLog<A, F> {
    /// Hands each request's entry to `sink` instead (metrics, a file, a test).
    pub fn with_sink(inner: A, sink: F) -> Self {
        Self { inner, sink }
    }
}

impl<A: App, F: Fn(&Entry<'_>) + Send + Sync + 'static> App for AccessLog<A, F> {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(http) = conn else {
            return self.inner.call(conn).await;
        };
        let (scope, receiver, sender) = http.into_parts();
        let (method, uri, client) = (scope.method.clone(), scope.uri.clone(), scope.client);
        let started = Instant::now();
        let mut status = None;
        let mut bytes = 0;
        let mut sender = InspectSend::new(sender, |event: &HttpSend| match event {
            HttpSend::Start(start) => status = Some(start.status),
            HttpSend::Body { data, .. } => bytes += data.len() as u64,
            HttpSend::File(file) => bytes += file.range.as_ref().map_or(0, |r| r.end - r.start),
            _ => {}
        });
        let result = self
            .inner
            .call(HttpConn::new(scope, receiver, &mut sender).into())
            .await;
        (self.sink)(&Entry {
            client,
            method: &method,
            path: uri.path(),
            status,
            bytes,
            elapsed: started.elapsed(),
            error: result.as_ref().err(),
        });
        result
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use rgi_conformance::{ShutdownOutcome, StartupOutcome, TestClient};

    use super::*;
    use crate::testing::{Fails, Hello};

    type Seen = Arc<Mutex<Vec<(String, Option<u16>, u64, bool)>>>;

    fn recording(seen: &Seen) -> impl Fn(&Entry<'_>) + Send + Sync + 'static {
        let seen = seen.clone();
        move |entry: &Entry<'_>| {
            seen.lock().unwrap().push((
                format!("{} {}", entry.method, entry.path),
                entry.status.map(|s| s.as_u16()),
                entry.bytes,
                entry.error.is_some(),
            ))
        }
    }

    #[tokio::test]
    async fn records_status_bytes_and_path() {
        let seen = Seen::default();
        let client = TestClient::new(AccessLog::with_sink(Hello, recording(&seen)));
        let response = client.get("/a%20b?q=1").await.unwrap();
        assert_eq!(response.status(), Some(StatusCode::OK));
        assert_eq!(response.body(), "hello");
        assert!(response.exit().is_ok());
        assert_eq!(
            *seen.lock().unwrap(),
            [("GET /a%20b".to_owned(), Some(200), 5, false)]
        );
    }

    #[tokio::test]
    async fn records_failures_and_passes_them_on() {
        let seen = Seen::default();
        let client = TestClient::new(AccessLog::with_sink(Fails, recording(&seen)));
        let response = client.get("/boom").await.unwrap();
        assert_eq!(
            response.exit().error().map(|e| e.to_string()),
            Some("boom".into())
        );
        assert_eq!(
            *seen.lock().unwrap(),
            [("GET /boom".to_owned(), None, 0, true)]
        );
    }

    #[tokio::test]
    async fn leaves_lifespan_alone() {
        let seen = Seen::default();
        let client = TestClient::new(AccessLog::with_sink(Hello, recording(&seen)));
        let mut lifespan = client.lifespan();
        assert!(matches!(
            lifespan.startup().await.unwrap(),
            StartupOutcome::Complete(_)
        ));
        assert_eq!(
            lifespan.shutdown().await.unwrap(),
            ShutdownOutcome::Complete
        );
        assert!(seen.lock().unwrap().is_empty());
    }
}
