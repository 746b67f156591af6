//! Access log: one entry per HTTP request with the method, path, status,
//! body bytes and time taken, written as a `tracing` event (or handed to a
//! function of your own, for metrics). A WebSocket gets one entry when it
//! ends: the handshake's status (`101`, `403` for a close before accept, or
//! the denial's), the messages and bytes each way, the close code and how
//! long it was open.
//!
//! Ports seed 002's `TimingMiddleware` (wrap `send`, catch the status on
//! `http.response.start`) and seed 000's request/response capture. Unlike
//! the seeds it keeps no copy of the body: it counts bytes as they pass, and
//! it writes the entry when the inner app returns, so failures are logged
//! too.
//!
//! The observing closure runs once per event and allocates nothing; the
//! request's URI is cloned once (a reference count, not a copy).
//! Lifespan and unknown scope kinds pass through untouched.
//!
//! The reference server writes its own access log (target
//! `rgi_server::access`); this one works on any server and sits wherever you
//! put it in the stack, so it can time just part of it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rgi::http::{Method, StatusCode};
use rgi::{
    App, AppResult, BoxError, Conn, Error, HttpConn, HttpScope, HttpSend, InspectSend, MapReceive,
    Message, WebSocketConn, WebSocketReceive, WebSocketSend,
};

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
    /// For a WebSocket, what passed over it; `None` for an HTTP request.
    /// (`bytes` counts the messages the app sent.)
    pub websocket: Option<SocketStats>,
}

/// What passed over one WebSocket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SocketStats {
    /// Messages from the client.
    pub messages_in: u64,
    /// Their bytes (text as UTF-8).
    pub bytes_in: u64,
    /// Messages the app sent.
    pub messages_out: u64,
    /// The close code the socket ended with: the app's `Close`, or the
    /// `Disconnect` it received (1005 no code, 1006 lost); `None` when the
    /// app returned before either.
    pub close_code: Option<u16>,
}

impl SocketStats {
    fn received(&mut self, event: &WebSocketReceive) {
        match event {
            WebSocketReceive::Message(message) => {
                self.messages_in += 1;
                self.bytes_in += message_len(message);
            }
            WebSocketReceive::Disconnect(frame) => {
                self.close_code.get_or_insert(frame.code);
            }
            _ => {}
        }
    }
}

fn message_len(message: &Message) -> u64 {
    match message {
        Message::Text(text) => text.len() as u64,
        Message::Binary(data) => data.len() as u64,
    }
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
    if let Some(ws) = entry.websocket {
        let (messages_in, messages_out) = (ws.messages_in, ws.messages_out);
        let close = ws.close_code.unwrap_or(0);
        let failed = entry.error.filter(|err| !Error::is_disconnect(&***err));
        match failed {
            None => tracing::info!(
                target: "access", ?client, %method, path, status, messages_in, messages_out,
                bytes_in = ws.bytes_in, bytes_out = bytes, close, millis,
                "{method} {path} -> {status} websocket, {messages_in} in / {messages_out} out, closed {close} ({millis:.1} ms)"
            ),
            Some(err) => tracing::warn!(
                target: "access", ?client, %method, path, status, messages_in, messages_out,
                bytes_in = ws.bytes_in, bytes_out = bytes, close, millis, error = %err,
                "{method} {path} -> {status} websocket, failed: {err} ({millis:.1} ms)"
            ),
        }
        return;
    }
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
        match conn {
            Conn::Http(http) => self.http(http).await,
            Conn::WebSocket(ws) => self.websocket(ws).await,
            other => self.inner.call(other).await,
        }
    }
}

impl<A: App, F: Fn(&Entry<'_>) + Send + Sync + 'static> AccessLog<A, F> {
    async fn http(&self, http: HttpConn<'_>) -> AppResult {
        let (scope, receiver, sender) = http.into_parts();
        let started = Started::new(scope);
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
        started.finish(&self.sink, status, bytes, None, &result);
        result
    }

    async fn websocket(&self, ws: WebSocketConn<'_>) -> AppResult {
        let (scope, receiver, sender) = ws.into_parts();
        let started = Started::new(scope);
        let mut status = None;
        let mut bytes = 0;
        let mut stats = SocketStats::default();
        // Two closures, one per direction, each with its own counters: the
        // receive side's are merged in after the call.
        let mut received = SocketStats::default();
        let mut receiver = MapReceive::new(receiver, |event: WebSocketReceive| {
            received.received(&event);
            event
        });
        let mut sender = InspectSend::new(sender, |event: &WebSocketSend| match event {
            WebSocketSend::Accept(_) => status = Some(StatusCode::SWITCHING_PROTOCOLS),
            // Before accepting, a close is the server's 403 (WS-004).
            WebSocketSend::Close(frame) => {
                status.get_or_insert(StatusCode::FORBIDDEN);
                stats.close_code.get_or_insert(frame.code);
            }
            WebSocketSend::DenyStart(start) => status = Some(start.status),
            WebSocketSend::DenyBody { data, .. } => bytes += data.len() as u64,
            WebSocketSend::Message(message) => {
                stats.messages_out += 1;
                bytes += message_len(message);
            }
            _ => {}
        });
        let result = self
            .inner
            .call(WebSocketConn::new(scope, &mut receiver, &mut sender).into())
            .await;
        stats.messages_in = received.messages_in;
        stats.bytes_in = received.bytes_in;
        // Whichever side closed first named the code.
        stats.close_code = stats.close_code.or(received.close_code);
        started.finish(&self.sink, status, bytes, Some(stats), &result);
        result
    }
}

/// What an entry needs from the scope, taken before the call lends it on.
struct Started {
    method: Method,
    uri: rgi::http::Uri,
    client: Option<SocketAddr>,
    at: Instant,
}

impl Started {
    fn new(scope: &HttpScope) -> Self {
        Self {
            method: scope.method.clone(),
            uri: scope.uri.clone(),
            client: scope.client,
            at: Instant::now(),
        }
    }

    fn finish(
        self,
        sink: &impl Fn(&Entry<'_>),
        status: Option<StatusCode>,
        bytes: u64,
        websocket: Option<SocketStats>,
        result: &AppResult,
    ) {
        sink(&Entry {
            client: self.client,
            method: &self.method,
            path: self.uri.path(),
            status,
            bytes,
            elapsed: self.at.elapsed(),
            error: result.as_ref().err(),
            websocket,
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use rgi_conformance::{Request, ShutdownOutcome, StartupOutcome, TestClient};

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

    /// Echoes messages until the client leaves; refuses `/no`.
    struct Echo;

    impl App for Echo {
        async fn call(&self, conn: Conn<'_>) -> AppResult {
            let Conn::WebSocket(mut ws) = conn else {
                return conn.unsupported();
            };
            ws.recv().await;
            if ws.scope.path == "/no" {
                ws.send(WebSocketSend::Close(rgi::CloseFrame::new(1008)))
                    .await?;
                return Ok(());
            }
            ws.send(WebSocketSend::Accept(rgi::Accept::new())).await?;
            while let WebSocketReceive::Message(message) = ws.recv().await {
                ws.send(WebSocketSend::Message(message)).await?;
            }
            Ok(())
        }
    }

    #[tokio::test]
    async fn records_a_websocket_when_it_ends() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = {
            let seen = seen.clone();
            move |entry: &Entry<'_>| {
                let status = entry.status.map(|s| s.as_u16());
                let line = (entry.path.to_owned(), status, entry.bytes, entry.websocket);
                seen.lock().unwrap().push(line);
            }
        };
        let client = TestClient::new(AccessLog::with_sink(Echo, sink));
        let mut session = client.connect(Request::get("/chat")).await.unwrap();
        session.send_text("héllo").await.unwrap();
        assert_eq!(
            session.recv_message().await.unwrap(),
            Message::Text("héllo".into())
        );
        session.send_binary(&b"\x00\x01\x02"[..]).await.unwrap();
        session.recv_message().await.unwrap();
        session.close(rgi::CloseFrame::new(1001));
        assert!(session.finish().await.unwrap().exit.is_ok());
        let refused = client.connect(Request::get("/no")).await.unwrap();
        refused.finish().await.unwrap();

        let stats = |messages_in, bytes_in, messages_out, close_code| SocketStats {
            messages_in,
            bytes_in,
            messages_out,
            close_code,
        };
        assert_eq!(
            *seen.lock().unwrap(),
            [
                (
                    "/chat".to_owned(),
                    Some(101),
                    9,
                    Some(stats(2, 9, 2, Some(1001)))
                ),
                (
                    "/no".to_owned(),
                    Some(403),
                    0,
                    Some(stats(0, 0, 0, Some(1008)))
                ),
            ]
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
