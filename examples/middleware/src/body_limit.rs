//! Request body limit: a body larger than the limit is answered `413
//! Content Too Large` and never read past the limit.
//!
//! * A `content-length` over the limit is refused before the inner app is
//!   called: nothing of the body is read.
//! * A body without a length (chunked) is counted as the inner app reads
//!   it. The chunk that crosses the limit is not delivered: the inner app
//!   receives `Disconnect` instead (as if the client had gone), its sends
//!   fail with `Disconnected`, and once it returns the middleware answers
//!   the 413 itself. The rest of the body is left unread on the socket
//!   (the server closes the connection rather than drain it), so memory
//!   stays at one chunk whatever the client sends. If the inner app had
//!   already started its response (a streaming echo), the middleware
//!   returns [`Error::BodyTooLarge`] and the server aborts.
//!
//! ```
//! # use rgi_middleware_examples::BodyLimit;
//! # fn demo(app: rgi::BoxApp) {
//! let app = BodyLimit::new(app, 1024 * 1024); // 1 MiB
//! # }
//! ```
//!
//! tower-http's `RequestBodyLimitLayer`; the seeds' apps read whole bodies
//! with no limit at all. A server may have its own limit (`rgi-server`'s
//! `max_body_bytes`); this one is per app or per route (under an
//! [`except`](crate::except) or a [`Router`](crate::Router) mount).

use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use rgi::http::header::CONTENT_LENGTH;
use rgi::http::StatusCode;
use rgi::{App, AppResult, Conn, Error, HttpConn, HttpReceive, HttpSend, Receiver, Sender};

use crate::reject::Rejection;
use crate::watch::WatchStart;

/// Refuses request bodies over `limit` bytes with 413.
#[derive(Debug, Clone)]
pub struct BodyLimit<A> {
    inner: A,
    limit: u64,
}

impl<A> BodyLimit<A> {
    /// `inner` with bodies of at most `limit` bytes.
    pub fn new(inner: A, limit: u64) -> Self {
        Self { inner, limit }
    }
}

impl<A: App> App for BodyLimit<A> {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return self.inner.call(conn).await;
        };
        let declared = http
            .scope
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|length| length > self.limit) {
            return too_large(self.limit).send_http(&mut http).await;
        }
        let (scope, receiver, sender) = http.into_parts();
        // Shared by the two handles; on the stack, no allocation.
        let over = AtomicBool::new(false);
        let mut receiver = Count {
            inner: receiver,
            seen: 0,
            limit: self.limit,
            over: &over,
        };
        let mut sender = CutOff {
            inner: WatchStart::new(sender),
            over: &over,
        };
        let result = self
            .inner
            .call(HttpConn::new(&mut *scope, &mut receiver, &mut sender).into())
            .await;
        if !over.load(Ordering::Relaxed) {
            return result;
        }
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        if sender.inner.started {
            return Err(Error::BodyTooLarge { limit }.into());
        }
        let mut http = HttpConn::new(scope, &mut receiver.inner, sender.inner.inner);
        too_large(self.limit).send_http(&mut http).await
    }
}

fn too_large(limit: u64) -> Rejection {
    let message = format!("the request body is larger than {limit} bytes");
    Rejection::json(StatusCode::PAYLOAD_TOO_LARGE, &message)
}

/// Counts body bytes; past the limit, says `Disconnect` from then on.
struct Count<'a, R> {
    inner: R,
    seen: u64,
    limit: u64,
    over: &'a AtomicBool,
}

impl<R: Receiver<HttpReceive>> Receiver<HttpReceive> for Count<'_, R> {
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<HttpReceive> {
        if self.over.load(Ordering::Relaxed) {
            return Poll::Ready(HttpReceive::Disconnect);
        }
        let event = std::task::ready!(self.inner.poll_receive(cx));
        if let HttpReceive::Body { data, .. } = &event {
            self.seen = self.seen.saturating_add(data.len() as u64);
            if self.seen > self.limit {
                self.over.store(true, Ordering::Relaxed);
                return Poll::Ready(HttpReceive::Disconnect);
            }
        }
        Poll::Ready(event)
    }
}

/// Once the body went over the limit, the inner app's sends fail as they
/// would after a disconnect: the answer is the middleware's.
struct CutOff<'a, S> {
    inner: WatchStart<S>,
    over: &'a AtomicBool,
}

impl<S: Sender<HttpSend>> Sender<HttpSend> for CutOff<'_, S> {
    fn start_send(&mut self, event: HttpSend) -> Result<(), Error> {
        if self.over.load(Ordering::Relaxed) {
            return Err(Error::Disconnected);
        }
        self.inner.start_send(event)
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_flush(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    use rgi::http::HeaderMap;
    use rgi::MapReceive;
    use rgi_conformance::{Request, TestClient};

    use super::*;

    /// Reads the whole body (with no limit of its own) and says how long
    /// it was; `/echo` starts its response before reading.
    struct Slurp;

    impl App for Slurp {
        async fn call(&self, conn: Conn<'_>) -> AppResult {
            let Conn::Http(mut http) = conn else {
                return conn.unsupported();
            };
            if http.scope.path == "/echo" {
                http.send(HttpSend::Start(rgi::ResponseStart::new(StatusCode::OK)))
                    .await?;
                loop {
                    match http.recv().await {
                        HttpReceive::Body { data, more } => {
                            http.send(HttpSend::Body { data, more }).await?;
                            if !more {
                                return Ok(());
                            }
                        }
                        _ => return Err(Error::Disconnected.into()),
                    }
                }
            }
            let body = http.read_body(usize::MAX).await?;
            let answer = format!("{} bytes", body.len());
            Ok(http
                .respond(StatusCode::OK, HeaderMap::new(), answer)
                .await?)
        }
    }

    /// Counts the request events the layer inside it pulls.
    struct CountPulls<A> {
        inner: A,
        pulls: Arc<AtomicUsize>,
    }

    impl<A: App> App for CountPulls<A> {
        async fn call(&self, conn: Conn<'_>) -> AppResult {
            let Conn::Http(http) = conn else {
                return self.inner.call(conn).await;
            };
            let (scope, receiver, sender) = http.into_parts();
            let mut receiver = MapReceive::new(receiver, |event| {
                self.pulls.fetch_add(1, Ordering::SeqCst);
                event
            });
            self.inner
                .call(HttpConn::new(scope, &mut receiver, sender).into())
                .await
        }
    }

    fn client() -> (TestClient, Arc<AtomicUsize>) {
        let pulls = Arc::new(AtomicUsize::new(0));
        let app = CountPulls {
            inner: BodyLimit::new(Slurp, 10),
            pulls: pulls.clone(),
        };
        (TestClient::new(app), pulls)
    }

    #[tokio::test]
    async fn bodies_up_to_the_limit_pass() {
        let (client, _) = client();
        let exact = client
            .send(Request::post("/").chunks(["01234", "56789"]))
            .await
            .unwrap();
        assert_eq!(exact.body(), "10 bytes");
        let declared = Request::post("/")
            .header("content-length", "10")
            .body("0123456789");
        assert_eq!(client.send(declared).await.unwrap().body(), "10 bytes");
    }

    #[tokio::test]
    async fn a_declared_length_over_the_limit_is_refused_unread() {
        let (client, pulls) = client();
        let request = Request::post("/")
            .header("content-length", "11")
            .body("01234567890");
        let response = client.send(request).await.unwrap();
        assert_eq!(response.status(), Some(StatusCode::PAYLOAD_TOO_LARGE));
        assert_eq!(response.header("content-type"), Some("application/json"));
        let json: serde_json::Value = serde_json::from_slice(&response.body()).unwrap();
        assert_eq!(json["error"], "the request body is larger than 10 bytes");
        assert_eq!(pulls.load(Ordering::SeqCst), 0, "not one event was read");
    }

    #[tokio::test]
    async fn a_chunked_body_is_cut_off_at_the_chunk_that_crosses() {
        let (client, pulls) = client();
        let chunks = ["0123", "4567", "89ab", "never", "read"];
        let response = client
            .send(Request::post("/").chunks(chunks))
            .await
            .unwrap();
        assert_eq!(response.status(), Some(StatusCode::PAYLOAD_TOO_LARGE));
        assert!(response.exit().is_ok());
        assert_eq!(
            pulls.load(Ordering::SeqCst),
            3,
            "reading stopped at the crossing chunk"
        );
    }

    #[tokio::test]
    async fn a_streaming_response_already_started_is_aborted() {
        let (client, _) = client();
        let response = client
            .send(Request::post("/echo").chunks(["0123456", "789ab", "cdef"]))
            .await
            .unwrap();
        assert_eq!(response.status(), Some(StatusCode::OK));
        assert!(!response.is_complete());
        let error = response
            .exit()
            .error()
            .expect("an error: the server aborts");
        assert!(
            matches!(
                error.downcast_ref::<Error>(),
                Some(Error::BodyTooLarge { limit: 10 })
            ),
            "{error}"
        );
    }
}
