//! HTTP: the request builder, a live exchange, and the recorded response.

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, StatusCode, Uri};
use rgi::{
    Capabilities, FileBody, HttpReceive, HttpScope, HttpSend, ResponseStart, State, WebSocketScope,
};

use super::core::Core;
use super::trace::{AppExit, Trace, TraceEntry};
use super::ClientError;

/// When the client disconnects during an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectAt {
    /// Before sending any request body event.
    BeforeBody,
    /// After this many request body events went to the app.
    AfterRequestEvents(usize),
    /// As soon as the response `Start` arrives.
    AfterResponseStart,
    /// After this many response `Body` events arrived.
    AfterResponseChunks(usize),
}

/// A request for the [`TestClient`](crate::TestClient): the scope the app
/// will see, the body events it will receive, and optionally when the
/// client disconnects. Also used to describe WebSocket handshakes
/// ([`TestClient::connect`](crate::TestClient::connect)).
///
/// ```
/// use rgi_conformance::Request;
/// let req = Request::post("/upload?x=1")
///     .header("content-type", "text/plain")
///     .chunks(["hello ", "", "world"]);
/// assert_eq!(req.scope().query_string(), b"x=1");
/// ```
#[derive(Debug)]
pub struct Request {
    pub(crate) scope: HttpScope,
    pub(crate) events: Vec<HttpReceive>,
    pub(crate) state_set: bool,
    pub(crate) disconnect: Option<DisconnectAt>,
    pub(crate) subprotocols: Vec<String>,
}

impl Request {
    /// A request with `method` for `uri` (path and query), no headers and
    /// an empty body.
    ///
    /// # Panics
    ///
    /// When `uri` is not a valid request target or its path is not UTF-8
    /// once percent-decoded: this is test input, and a readable panic
    /// beats an error to unwrap.
    pub fn new(method: Method, uri: &str) -> Self {
        let parsed: Uri = uri
            .parse()
            .unwrap_or_else(|e| panic!("Request::new: invalid uri {uri:?}: {e}"));
        let scope = HttpScope::new(method, parsed)
            .unwrap_or_else(|| panic!("Request::new: the path of {uri:?} is not UTF-8"));
        Self::from_scope(scope)
    }

    /// A request around a ready scope, with an empty body.
    pub fn from_scope(scope: HttpScope) -> Self {
        Self {
            scope,
            events: vec![HttpReceive::Body {
                data: Bytes::new(),
                more: false,
            }],
            state_set: false,
            disconnect: None,
            subprotocols: Vec::new(),
        }
    }

    /// `GET uri`.
    pub fn get(uri: &str) -> Self {
        Self::new(Method::GET, uri)
    }

    /// `POST uri`.
    pub fn post(uri: &str) -> Self {
        Self::new(Method::POST, uri)
    }

    /// `HEAD uri`.
    pub fn head(uri: &str) -> Self {
        Self::new(Method::HEAD, uri)
    }

    /// Appends a header (duplicates are kept, in order).
    ///
    /// # Panics
    ///
    /// On an invalid header name or value (test input).
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let name = HeaderName::try_from(name)
            .unwrap_or_else(|e| panic!("Request::header: invalid name {name:?}: {e}"));
        let value = HeaderValue::try_from(value)
            .unwrap_or_else(|e| panic!("Request::header: invalid value {value:?}: {e}"));
        self.scope.headers.append(name, value);
        self
    }

    /// The whole body, as one final chunk.
    #[must_use]
    pub fn body(self, body: impl Into<Bytes>) -> Self {
        self.chunks([body.into()])
    }

    /// The body as these chunks, in order and sizes (empty ones included);
    /// the last is the final one. No chunk at all means an empty body.
    #[must_use]
    pub fn chunks<B: Into<Bytes>>(mut self, chunks: impl IntoIterator<Item = B>) -> Self {
        let mut events: Vec<HttpReceive> = chunks
            .into_iter()
            .map(|c| HttpReceive::Body {
                data: c.into(),
                more: true,
            })
            .collect();
        match events.last_mut() {
            Some(HttpReceive::Body { more, .. }) => *more = false,
            _ => events.push(HttpReceive::Body {
                data: Bytes::new(),
                more: false,
            }),
        }
        self.events = events;
        self
    }

    /// The exact request events to deliver, for tests of odd sequences.
    #[must_use]
    pub fn events(mut self, events: Vec<HttpReceive>) -> Self {
        self.events = events;
        self
    }

    /// The capabilities the scope announces (default: none).
    #[must_use]
    pub fn capabilities(mut self, capabilities: Capabilities) -> Self {
        self.scope.capabilities = capabilities;
        self
    }

    /// The lifespan state the scope carries (default: the client's, which
    /// a successful [`Lifespan::startup`](crate::Lifespan::startup) sets).
    #[must_use]
    pub fn state(mut self, state: State) -> Self {
        self.scope.state = state;
        self.state_set = true;
        self
    }

    /// A per-request extension, as an outer layer would insert it.
    #[must_use]
    pub fn extension<T: Clone + Send + Sync + 'static>(mut self, value: T) -> Self {
        self.scope.extensions.insert(value);
        self
    }

    /// The client and server addresses.
    #[must_use]
    pub fn addresses(mut self, client: SocketAddr, server: SocketAddr) -> Self {
        self.scope.client = Some(client);
        self.scope.server = Some(server);
        self
    }

    /// Any other change to the scope.
    #[must_use]
    pub fn with_scope(mut self, change: impl FnOnce(&mut HttpScope)) -> Self {
        change(&mut self.scope);
        self
    }

    /// Makes the client disconnect at this point of the exchange.
    #[must_use]
    pub fn disconnect_at(mut self, at: DisconnectAt) -> Self {
        self.disconnect = Some(at);
        self
    }

    /// A WebSocket subprotocol the client offers (for
    /// [`TestClient::connect`](crate::TestClient::connect)).
    #[must_use]
    pub fn subprotocol(mut self, name: &str) -> Self {
        self.subprotocols.push(name.to_owned());
        self
    }

    /// The scope the app will see.
    pub fn scope(&self) -> &HttpScope {
        &self.scope
    }

    /// The scope, to change in place.
    pub fn scope_mut(&mut self) -> &mut HttpScope {
        &mut self.scope
    }

    /// The request body events the client will deliver.
    pub fn body_events(&self) -> &[HttpReceive] {
        &self.events
    }

    pub(crate) fn into_websocket_scope(self) -> WebSocketScope {
        WebSocketScope::new(self.scope, self.subprotocols)
    }
}

/// A live HTTP exchange from [`TestClient::open`](crate::TestClient::open):
/// push request events, take response events one at a time, disconnect,
/// cancel. Every wait is bounded by the client's timeout.
///
/// Dropping it drops (cancels) the app's future.
pub struct HttpExchange {
    pub(crate) core: Core<HttpReceive, HttpSend>,
    pub(crate) plan: Option<DisconnectAt>,
}

impl std::fmt::Debug for HttpExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpExchange")
            .field("trace", &self.core.trace.summary())
            .finish_non_exhaustive()
    }
}

impl HttpExchange {
    fn apply_plan(&mut self) {
        let Some(at) = self.plan else { return };
        let trace = &self.core.trace;
        let hit = match at {
            DisconnectAt::BeforeBody => true,
            DisconnectAt::AfterRequestEvents(n) => trace.to_app().count() >= n,
            DisconnectAt::AfterResponseStart => {
                trace.from_app().any(|e| matches!(e, HttpSend::Start(_)))
            }
            DisconnectAt::AfterResponseChunks(n) => {
                trace
                    .from_app()
                    .filter(|e| matches!(e, HttpSend::Body { .. } | HttpSend::File(_)))
                    .count()
                    >= n
            }
        };
        if hit {
            self.plan = None;
            self.disconnect();
        }
    }

    /// Sends a request event now, waiting (bounded) for room in the queue.
    /// Response events arriving meanwhile are kept for
    /// [`next_event`](Self::next_event).
    pub async fn push(&mut self, event: HttpReceive) -> Result<(), ClientError> {
        self.core
            .push(event, "the app to read the request event")
            .await
    }

    /// Sends one body chunk.
    pub async fn send_chunk(
        &mut self,
        data: impl Into<Bytes>,
        more: bool,
    ) -> Result<(), ClientError> {
        self.push(HttpReceive::Body {
            data: data.into(),
            more,
        })
        .await
    }

    /// The next response event, waiting (bounded) for it; `None` once the
    /// app's future has returned and everything it sent was taken.
    pub async fn next_event(&mut self) -> Result<Option<&HttpSend>, ClientError> {
        self.apply_plan();
        let i = self
            .core
            .next_event_index("the app's next response event")
            .await?;
        self.apply_plan();
        Ok(i.and_then(|i| self.core.trace.entries[i].as_from_app()))
    }

    /// The client goes away now: the app receives `Disconnect` (after any
    /// event already queued) and its sends fail with `Disconnected`.
    pub fn disconnect(&mut self) {
        self.core.disconnect(HttpReceive::Disconnect);
    }

    /// Whether the app's future has finished.
    pub fn is_app_done(&self) -> bool {
        self.core.link.app_done()
    }

    /// The trace so far.
    pub fn trace(&self) -> &Trace<HttpReceive, HttpSend> {
        &self.core.trace
    }

    /// Drives the exchange to its end: sends the rest of the request body,
    /// takes every response event, waits (bounded) for the app to return.
    pub async fn finish(mut self) -> Result<Response, ClientError> {
        loop {
            self.apply_plan();
            let step = self
                .core
                .step("the app to read the request, send its response and return")
                .await?;
            if step == super::core::Step::AppDone {
                break;
            }
        }
        self.core.exit().await;
        Ok(Response {
            trace: std::mem::take(&mut self.core.trace),
            exit: self.core.take_exit(),
        })
    }

    /// Drops the app's future now, mid-exchange (cancellation, rule
    /// `CORE-030`), and waits until it is dropped. Returns how it ended
    /// ([`AppExit::Cancelled`] unless it had already finished) and the trace.
    pub async fn cancel(mut self) -> Response {
        self.core.cancel().await;
        Response {
            trace: std::mem::take(&mut self.core.trace),
            exit: self.core.take_exit(),
        }
    }

    pub(crate) fn queue_request(&mut self, events: Vec<HttpReceive>) {
        self.core.queue(events);
    }
}

/// A finished HTTP exchange: the response as the client received it, the
/// raw trace, and how the app's future ended.
#[derive(Debug)]
pub struct Response {
    trace: Trace<HttpReceive, HttpSend>,
    exit: AppExit,
}

impl Response {
    /// The response `Start`, if one was sent (the first one).
    pub fn start(&self) -> Option<&ResponseStart> {
        self.trace.from_app().find_map(|e| match e {
            HttpSend::Start(s) => Some(s),
            _ => None,
        })
    }

    /// The status, if the response started.
    pub fn status(&self) -> Option<StatusCode> {
        self.start().map(|s| s.status)
    }

    /// The response headers, if the response started.
    pub fn headers(&self) -> Option<&HeaderMap> {
        self.start().map(|s| &s.headers)
    }

    /// A response header as a string, when present and ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers()?.get(name)?.to_str().ok()
    }

    /// The data of every `Body` event, in order and sizes as sent (empty
    /// ones included).
    pub fn chunks(&self) -> Vec<Bytes> {
        self.trace
            .from_app()
            .filter_map(|e| match e {
                HttpSend::Body { data, .. } => Some(data.clone()),
                _ => None,
            })
            .collect()
    }

    /// The body: every `Body` event's data, concatenated (`File` events are
    /// listed by [`files`](Self::files), not read).
    pub fn body(&self) -> Bytes {
        let chunks = self.chunks();
        if chunks.len() == 1 {
            return chunks.into_iter().next().unwrap_or_default();
        }
        let mut out = BytesMut::new();
        for c in chunks {
            out.extend_from_slice(&c);
        }
        out.freeze()
    }

    /// The `File` events, in order.
    pub fn files(&self) -> Vec<&FileBody> {
        self.trace
            .from_app()
            .filter_map(|e| match e {
                HttpSend::File(f) => Some(f),
                _ => None,
            })
            .collect()
    }

    /// The trailers, if sent.
    pub fn trailers(&self) -> Option<&HeaderMap> {
        self.trace.from_app().find_map(|e| match e {
            HttpSend::Trailers(t) => Some(t),
            _ => None,
        })
    }

    /// Every `EarlyHints` event's headers, in order.
    pub fn early_hints(&self) -> Vec<&HeaderMap> {
        self.trace
            .from_app()
            .filter_map(|e| match e {
                HttpSend::EarlyHints(h) => Some(h),
                _ => None,
            })
            .collect()
    }

    /// Whether the response is complete: started, with a final body, and
    /// trailers when `Start` announced them.
    pub fn is_complete(&self) -> bool {
        let Some(start) = self.start() else {
            return false;
        };
        let final_body = self.trace.from_app().any(|e| {
            matches!(
                e,
                HttpSend::Body { more: false, .. } | HttpSend::File(FileBody { more: false, .. })
            )
        });
        final_body && (!start.trailers || self.trailers().is_some())
    }

    /// Every response event, in order.
    pub fn events(&self) -> impl Iterator<Item = &HttpSend> {
        self.trace.from_app()
    }

    /// The raw trace, both directions.
    pub fn trace(&self) -> &Trace<HttpReceive, HttpSend> {
        &self.trace
    }

    /// How the app's future ended.
    pub fn exit(&self) -> &AppExit {
        &self.exit
    }

    /// Whether the client disconnected during the exchange.
    pub fn client_disconnected(&self) -> bool {
        self.trace
            .entries()
            .iter()
            .any(|e| matches!(e, TraceEntry::ClientDisconnected))
    }
}
