//! Timeout: one deadline for the whole HTTP response. If it passes before
//! the inner app started its response, the inner future is dropped
//! (cancelled, rule `CORE-030`) and the client gets `503 Service
//! Unavailable`, or `408 Request Timeout` when the request body was still
//! arriving (the client was the slow one). If it passes after the start,
//! the inner future is dropped too and the middleware returns [`TimedOut`],
//! so the server aborts the connection: a truncated body must not look
//! whole.
//!
//! ```
//! # use std::time::Duration;
//! # use rgi_middleware_examples::Timeout;
//! # fn demo(app: rgi::BoxApp) {
//! let app = Timeout::new(app, Duration::from_secs(30));
//! # }
//! ```
//!
//! tower-http's `TimeoutLayer`, which the seeds do not have. WebSocket
//! connections and lifespan are long-lived by nature and pass through
//! untouched.

use std::time::Duration;

use futures_util::FutureExt;
use rgi::http::StatusCode;
use rgi::{App, AppResult, Conn, HttpConn, HttpReceive, Receiver, ReceiverExt};

use crate::reject::Rejection;
use crate::watch::{WatchBody, WatchStart};

/// The error a timed-out response that had started ends with.
#[derive(Debug, thiserror::Error)]
#[error("the response did not finish within {0:?}")]
pub struct TimedOut(pub Duration);

/// Gives every HTTP response at most `duration`.
#[derive(Debug, Clone)]
pub struct Timeout<A> {
    inner: A,
    duration: Duration,
}

impl<A> Timeout<A> {
    /// `inner` with a deadline of `duration` per response.
    pub fn new(inner: A, duration: Duration) -> Self {
        Self { inner, duration }
    }
}

impl<A: App> App for Timeout<A> {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(http) = conn else {
            return self.inner.call(conn).await;
        };
        let (scope, receiver, sender) = http.into_parts();
        let mut receiver = WatchBody::new(receiver);
        let mut sender = WatchStart::new(sender);
        let call = self
            .inner
            .call(HttpConn::new(&mut *scope, &mut receiver, &mut sender).into());
        // On expiry `timeout` has dropped the inner future by the time it
        // returns, so the handles are ours again.
        let Ok(result) = tokio::time::timeout(self.duration, call).await else {
            if sender.started {
                return Err(TimedOut(self.duration).into());
            }
            let (status, message) = match body_complete(&mut receiver) {
                true => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the response took too long",
                ),
                false => (
                    StatusCode::REQUEST_TIMEOUT,
                    "the request body took too long",
                ),
            };
            let mut http = HttpConn::new(scope, &mut receiver, sender.inner);
            return Rejection::json(status, message).send_http(&mut http).await;
        };
        result
    }
}

/// Whether the client has sent its whole body: seen by the inner app, or
/// already waiting to be read (a few chunks at most are looked at and
/// thrown away; the inner app is gone). A body still arriving is the
/// client's slowness: a 408, not the app's 503.
fn body_complete<R: Receiver<HttpReceive>>(receiver: &mut WatchBody<R>) -> bool {
    for _ in 0..16 {
        if receiver.ended {
            return true;
        }
        if receiver.recv().now_or_never().is_none() {
            return false;
        }
    }
    receiver.ended
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use rgi::http::HeaderMap;
    use rgi::HttpSend;
    use rgi_conformance::{Request, TestClient};

    use super::*;
    use crate::testing::Hello;

    /// Counts, with `live`, the inner futures not yet dropped.
    struct Guard(Arc<AtomicUsize>);

    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// `/slow`: never answers. `/stall`: starts, one chunk, then never
    /// ends. `/upload`: reads the whole body first. Anything else: at once.
    struct Sluggish {
        live: Arc<AtomicUsize>,
    }

    impl App for Sluggish {
        async fn call(&self, conn: Conn<'_>) -> AppResult {
            let Conn::Http(mut http) = conn else {
                return conn.unsupported();
            };
            self.live.fetch_add(1, Ordering::SeqCst);
            let _guard = Guard(self.live.clone());
            let forever = std::future::pending::<()>();
            match http.scope.path.as_str() {
                "/slow" => forever.await,
                "/stall" => {
                    http.send(HttpSend::Start(rgi::ResponseStart::new(StatusCode::OK)))
                        .await?;
                    http.send(HttpSend::chunk("part")).await?;
                    forever.await;
                }
                "/upload" => {
                    while let rgi::HttpReceive::Body { more: true, .. } = http.recv().await {}
                }
                _ => {}
            }
            Ok(http
                .respond(StatusCode::OK, HeaderMap::new(), "done")
                .await?)
        }
    }

    fn client(live: &Arc<AtomicUsize>) -> TestClient {
        let app = Sluggish { live: live.clone() };
        TestClient::new(Timeout::new(app, Duration::from_millis(100)))
    }

    #[tokio::test]
    async fn a_fast_response_is_untouched() {
        let response = TestClient::new(Timeout::new(Hello, Duration::from_secs(10)))
            .get("/")
            .await
            .unwrap();
        assert_eq!(response.status(), Some(StatusCode::OK));
        assert_eq!(response.body(), "hello");
    }

    #[tokio::test]
    async fn no_start_in_time_is_a_503_and_the_inner_future_is_dropped() {
        let live = Arc::new(AtomicUsize::new(0));
        let response = client(&live).get("/slow").await.unwrap();
        assert_eq!(response.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
        let json: serde_json::Value = serde_json::from_slice(&response.body()).unwrap();
        assert_eq!(json["error"], "the response took too long");
        assert!(response.exit().is_ok());
        // The inner app ran and its future is gone.
        assert_eq!(live.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_body_still_arriving_is_a_408() {
        let live = Arc::new(AtomicUsize::new(0));
        let client = client(&live);
        let mut exchange = client.open(Request::post("/upload").events(vec![]));
        exchange.send_chunk("first", true).await.unwrap();
        // The rest never comes.
        let response = exchange.finish().await.unwrap();
        assert_eq!(response.status(), Some(StatusCode::REQUEST_TIMEOUT));
        assert_eq!(live.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_deadline_after_the_start_aborts_and_drops_the_inner_future() {
        let live = Arc::new(AtomicUsize::new(0));
        let response = client(&live).get("/stall").await.unwrap();
        assert_eq!(response.status(), Some(StatusCode::OK));
        assert!(!response.is_complete(), "the body must not look whole");
        let error = response
            .exit()
            .error()
            .expect("an error, so the server aborts");
        assert!(error.downcast_ref::<TimedOut>().is_some(), "{error}");
        assert_eq!(live.load(Ordering::SeqCst), 0);
    }
}
