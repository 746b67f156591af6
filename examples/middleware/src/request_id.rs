//! Request id: every HTTP request gets an id, in the request headers the
//! inner app sees, in [`RequestId`] in `scope.extensions` (for inner layers)
//! and in `ResponseStart::extensions` (for outer ones), and in the response
//! headers. A WebSocket handshake gets one too: in its scope the same way,
//! and in the `101`'s headers (`Accept::headers`) or in its denial
//! response, so a socket's log lines can be tied to the client's.
//!
//! Ports seed 002's `RequestIDMiddleware` and seed 003's correlation id. The
//! seed's `scope["request_id"]` becomes a typed extension: no string key to
//! misspell, and no task-local needed to reach it further down.
//!
//! An id the client sent is kept when it looks like an id (1 to 128 of
//! `A-Z a-z 0-9 - _ . :`); anything else is replaced, so a client cannot put
//! arbitrary bytes into your logs. New ids are a random per-process prefix
//! and a counter (`5f0c9e1a2b3d4c6e-000000000000002a`): unique without a
//! UUID crate, cheap, and not meant to be secret.

use std::sync::atomic::{AtomicU64, Ordering};

use rgi::http::{HeaderName, HeaderValue};
use rgi::{
    App, AppResult, Conn, HttpConn, HttpScope, HttpSend, MapSend, WebSocketConn, WebSocketSend,
};

/// The id of the current request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub HeaderValue);

/// Gives every HTTP request an id (header `x-request-id` unless
/// [`with_header`](Self::with_header) chooses another).
#[derive(Debug)]
pub struct SetRequestId<A> {
    inner: A,
    header: HeaderName,
    prefix: u64,
    next: AtomicU64,
}

impl<A> SetRequestId<A> {
    /// Ids for the requests that reach `inner`, in `x-request-id`.
    pub fn new(inner: A) -> Self {
        Self {
            inner,
            header: HeaderName::from_static("x-request-id"),
            prefix: random_prefix(),
            next: AtomicU64::new(0),
        }
    }

    /// Reads and writes the id in `header` instead (say `x-correlation-id`).
    #[must_use]
    pub fn with_header(mut self, header: HeaderName) -> Self {
        self.header = header;
        self
    }

    fn generate(&self) -> HeaderValue {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut id = [0u8; 33];
        hex(self.prefix, &mut id[..16]);
        id[16] = b'-';
        hex(n, &mut id[17..]);
        HeaderValue::from_bytes(&id).expect("hex digits and '-' are a valid header value")
    }
}

impl<A> SetRequestId<A> {
    /// The request's id (the client's if plausible, else a new one), put
    /// into its headers (replacing every earlier value, so the inner app
    /// sees one) and its extensions.
    fn assign(&self, scope: &mut HttpScope) -> HeaderValue {
        let id = match scope.headers.get(&self.header) {
            Some(id) if looks_like_an_id(id) => id.clone(),
            _ => self.generate(),
        };
        scope.headers.insert(self.header.clone(), id.clone());
        scope.extensions.insert(RequestId(id.clone()));
        id
    }
}

impl<A: App> App for SetRequestId<A> {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        match conn {
            Conn::Http(http) => {
                let (scope, receiver, sender) = http.into_parts();
                let id = self.assign(scope);
                let mut sender = MapSend::new(sender, |mut event: HttpSend| {
                    if let HttpSend::Start(start) = &mut event {
                        start.headers.insert(self.header.clone(), id.clone());
                        start.extensions.insert(RequestId(id.clone()));
                    }
                    event
                });
                self.inner
                    .call(HttpConn::new(scope, receiver, &mut sender).into())
                    .await
            }
            Conn::WebSocket(ws) => {
                let (scope, receiver, sender) = ws.into_parts();
                let id = self.assign(scope);
                let mut sender = MapSend::new(sender, |mut event: WebSocketSend| {
                    match &mut event {
                        WebSocketSend::Accept(accept) => {
                            accept.headers.insert(self.header.clone(), id.clone());
                        }
                        WebSocketSend::DenyStart(start) => {
                            start.headers.insert(self.header.clone(), id.clone());
                            start.extensions.insert(RequestId(id.clone()));
                        }
                        _ => {}
                    }
                    event
                });
                self.inner
                    .call(WebSocketConn::new(scope, receiver, &mut sender).into())
                    .await
            }
            other => self.inner.call(other).await,
        }
    }
}

fn looks_like_an_id(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    (1..=128).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
}

/// Writes `n` as lower-case hex, most significant digit first, filling `out`.
fn hex(mut n: u64, out: &mut [u8]) {
    for digit in out.iter_mut().rev() {
        *digit = b"0123456789abcdef"[(n & 0xf) as usize];
        n >>= 4;
    }
}

fn random_prefix() -> u64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: ids need only be unique, so the clock will do.
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        return now.map_or(0, |d| d.as_nanos() as u64);
    }
    u64::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use rgi::http::StatusCode;
    use rgi::HttpConn;
    use rgi_conformance::{Request, TestClient};

    use super::*;

    /// Answers with the id it found in its scope: header and extension.
    struct ShowId;

    impl App for ShowId {
        async fn call(&self, conn: Conn<'_>) -> AppResult {
            let Conn::Http(mut http) = conn else {
                return conn.unsupported();
            };
            let body = show(&http);
            Ok(http
                .respond(StatusCode::OK, Default::default(), body)
                .await?)
        }
    }

    fn show(http: &HttpConn<'_>) -> String {
        let headers: Vec<_> = http.scope.headers.get_all("x-request-id").iter().collect();
        let extension = http.scope.extensions.get::<RequestId>();
        format!("{headers:?} {:?}", extension.map(|id| &id.0))
    }

    #[tokio::test]
    async fn generates_distinct_ids_and_shows_them_both_ways() {
        let client = TestClient::new(SetRequestId::new(ShowId));
        let mut seen = HashSet::new();
        for _ in 0..3 {
            let response = client.get("/").await.unwrap();
            let id = response.header("x-request-id").unwrap().to_owned();
            assert_eq!(id.len(), 33);
            assert_eq!(response.body(), format!("[{id:?}] Some({id:?})"));
            let up = response
                .start()
                .unwrap()
                .extensions
                .get::<RequestId>()
                .unwrap();
            assert_eq!(up.0, id);
            assert!(seen.insert(id), "ids repeat");
        }
    }

    #[tokio::test]
    async fn keeps_a_plausible_client_id_and_replaces_others() {
        let client = TestClient::new(SetRequestId::new(ShowId));
        let request = Request::get("/").header("x-request-id", "abc-123");
        let response = client.send(request).await.unwrap();
        assert_eq!(response.header("x-request-id"), Some("abc-123"));
        assert_eq!(response.body(), r#"["abc-123"] Some("abc-123")"#);

        for hostile in ["a b", "<script>", &"x".repeat(129)] {
            let request = Request::get("/")
                .header("x-request-id", hostile)
                .header("x-request-id", "second");
            let response = client.send(request).await.unwrap();
            let id = response.header("x-request-id").unwrap();
            assert_eq!(id.len(), 33, "{hostile} was kept");
            assert_eq!(response.body(), format!("[{id:?}] Some({id:?})"));
        }
    }

    /// Accepts, then closes with the id it found in its scope as reason.
    struct SocketShowsId;

    impl App for SocketShowsId {
        async fn call(&self, conn: Conn<'_>) -> AppResult {
            let Conn::WebSocket(mut ws) = conn else {
                return conn.unsupported();
            };
            ws.recv().await;
            let id = ws.scope.extensions.get::<RequestId>().cloned();
            let header = ws.scope.headers.get("x-request-id").cloned();
            assert_eq!(id.as_ref().map(|id| &id.0), header.as_ref());
            ws.send(rgi::WebSocketSend::Accept(rgi::Accept::new()))
                .await?;
            let reason = id.map_or(String::new(), |id| id.0.to_str().unwrap().to_owned());
            let mut close = rgi::CloseFrame::normal();
            close.reason = reason;
            ws.send(rgi::WebSocketSend::Close(close)).await?;
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_websocket_gets_an_id_in_its_scope_and_its_101() {
        let client = TestClient::new(SetRequestId::new(SocketShowsId));
        let session = client
            .connect(Request::get("/ws").header("x-request-id", "sock-1"))
            .await
            .unwrap();
        let rgi_conformance::Handshake::Accepted { headers, .. } = session.handshake_outcome()
        else {
            panic!("not accepted: {:?}", session.handshake_outcome());
        };
        assert_eq!(headers["x-request-id"], "sock-1");
        let transcript = session.finish().await.unwrap();
        assert!(transcript.exit.is_ok(), "{}", transcript.exit);
        let closed = transcript.trace.from_app().find_map(|event| match event {
            rgi::WebSocketSend::Close(frame) => Some(frame.reason.clone()),
            _ => None,
        });
        assert_eq!(closed.as_deref(), Some("sock-1"));
    }

    #[tokio::test]
    async fn uses_the_header_it_is_given() {
        let header = HeaderName::from_static("x-correlation-id");
        let client = TestClient::new(SetRequestId::new(ShowId).with_header(header));
        let response = client.get("/").await.unwrap();
        assert!(response.header("x-correlation-id").is_some());
        assert!(response.header("x-request-id").is_none());
    }
}
