//! The scripted inner app the suite puts under the middleware: it records
//! everything it sees and does what the scenario's plan says.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::uri::Scheme;
use http::{HeaderMap, Method, StatusCode, Uri, Version};
use rgi::{
    Accept, App, AppResult, BoxApp, Capabilities, CloseFrame, Conn, Error, FileBody, HttpConn,
    HttpReceive, HttpScope, HttpSend, LifespanConn, LifespanReceive, LifespanSend, Message,
    ReceiverExt, ResponseStart, ScopeKind, SenderExt, WebSocketConn, WebSocketReceive,
    WebSocketSend,
};
use tokio::sync::mpsc;

use crate::validator::{Side, Violation, ViolationLog};

/// The per-request extension an "outer layer" (the suite) sets; the inner
/// app must find it (rule `EXT-040`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OuterExtension(pub(crate) u64);

/// The response extension the inner app sets; the client must find it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InnerResponseExtension(pub(crate) u64);

/// Names one request the suite sent (in `scope.extensions`), so that the
/// inner app can tell a second call for the same request from a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RequestTag(pub(crate) u64);

impl RequestTag {
    /// A tag no other request of this process carries.
    pub(crate) fn fresh() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// A lifespan state value an "outer layer" (the suite) stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OuterState(pub(crate) u64);

/// The lifespan state value the inner app stores at startup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InnerState(pub(crate) u64);

/// What the inner app saw of an HTTP scope, as plain values.
#[derive(Debug, Clone)]
pub(crate) struct ScopeSnapshot {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) version: Version,
    pub(crate) scheme: Scheme,
    pub(crate) path: String,
    pub(crate) root_path: String,
    pub(crate) headers: HeaderMap,
    pub(crate) client: Option<SocketAddr>,
    pub(crate) server: Option<SocketAddr>,
    pub(crate) state_len: usize,
    pub(crate) outer_state: Option<OuterState>,
    pub(crate) inner_state: Option<InnerState>,
    pub(crate) extension: Option<OuterExtension>,
    pub(crate) capabilities: Capabilities,
    pub(crate) tls: bool,
}

impl ScopeSnapshot {
    pub(crate) fn of(scope: &HttpScope) -> Self {
        Self {
            method: scope.method.clone(),
            uri: scope.uri.clone(),
            version: scope.version,
            scheme: scope.scheme.clone(),
            path: scope.path.clone(),
            root_path: scope.root_path.clone(),
            headers: scope.headers.clone(),
            client: scope.client,
            server: scope.server,
            state_len: scope.state.len(),
            outer_state: scope.state.get::<OuterState>().copied(),
            inner_state: scope.state.get::<InnerState>().copied(),
            extension: scope.extensions.get::<OuterExtension>().copied(),
            capabilities: scope.capabilities,
            tls: scope.tls.is_some(),
        }
    }
}

/// A response event, as a value the suite can clone and compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ev {
    EarlyHints(Vec<(&'static str, &'static str)>),
    Start {
        status: u16,
        headers: Vec<(&'static str, &'static str)>,
        trailers: bool,
    },
    Body(Bytes, bool),
    File(FileBody),
    Trailers(Vec<(&'static str, &'static str)>),
}

/// The header map of `pairs`, in order; values may hold any byte a header
/// value may (`obs-text` included: the suite sends UTF-8 ones).
pub(crate) fn header_map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_static(name),
            HeaderValue::from_bytes(value.as_bytes()).expect("the suite's header values are valid"),
        );
    }
    map
}

impl Ev {
    pub(crate) fn to_send(&self) -> HttpSend {
        match self {
            Self::EarlyHints(pairs) => HttpSend::EarlyHints(header_map(pairs)),
            Self::Start {
                status,
                headers,
                trailers,
            } => {
                let mut start =
                    ResponseStart::new(StatusCode::from_u16(*status).unwrap_or(StatusCode::OK));
                start.headers = header_map(headers);
                start.trailers = *trailers;
                start.extensions.insert(InnerResponseExtension(11));
                HttpSend::Start(start)
            }
            Self::Body(data, more) => HttpSend::Body {
                data: data.clone(),
                more: *more,
            },
            Self::File(file) => HttpSend::File(file.clone()),
            Self::Trailers(pairs) => HttpSend::Trailers(header_map(pairs)),
        }
    }

    /// A short description, for messages.
    pub(crate) fn summary(&self) -> String {
        crate::client::Summary::summary(&self.to_send())
    }
}

/// The file region of [`extension_response`]: an absolute path (rule
/// `EXT-022`) and a range. Nobody on the suite's side reads it (the test
/// client records `File` events as they are), but it names a real file so
/// that a middleware that looks at it finds one.
fn extension_file() -> FileBody {
    let mut file = FileBody::new(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).range(4..20);
    file.more = true;
    file
}

/// The response of `forwards/extension-events`: two `EarlyHints`, then a
/// `Start` whose content-length counts the `File` range (EXT-020), a body
/// chunk, the `File` with more to follow, and the final body.
pub(crate) fn extension_response() -> Vec<Ev> {
    vec![
        Ev::EarlyHints(vec![("link", "</style.css>; rel=preload; as=style")]),
        Ev::EarlyHints(vec![
            ("link", "</app.js>; rel=preload; as=script"),
            ("link", "</font.woff2>; rel=preload; as=font"),
        ]),
        Ev::Start {
            status: 200,
            headers: vec![("content-type", "text/plain"), ("content-length", "26")],
            trailers: false,
        },
        Ev::Body(Bytes::from_static(b"head:"), true),
        Ev::File(extension_file()),
        Ev::Body(Bytes::from_static(b":tail"), false),
    ]
}

/// `events` as an app that reads its scope's capabilities sends them
/// (rules `EXT-001`, `EXT-003`): no `EarlyHints` without `early_hints`; the
/// `File`'s bytes as a `Body` of the same length without `send_file`.
fn within_capabilities(events: &[Ev], capabilities: Capabilities) -> Vec<Ev> {
    events
        .iter()
        .filter_map(|ev| match ev {
            Ev::EarlyHints(_) if !capabilities.early_hints => None,
            Ev::File(file) if !capabilities.send_file => {
                // Stands in for the file's bytes: only the length matters
                // (content-length), and nobody compares them with the file.
                let len = file.range.as_ref().map_or(0, |r| r.end - r.start);
                let len = usize::try_from(len).unwrap_or(0);
                Some(Ev::Body(Bytes::from(vec![b'f'; len]), file.more))
            }
            other => Some(other.clone()),
        })
        .collect()
}

/// The size of the large chunk of [`standard_response`]: larger than the
/// buffers middleware like to use (8, 16, 64 KiB), and not a power of two.
pub(crate) const LARGE_CHUNK: usize = 100_003;

/// A large chunk of `len` bytes that do not repeat in short runs (so a
/// middleware that truncates, reorders or duplicates part of it changes it).
pub(crate) fn large_chunk(len: usize, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 7)) as u8 ^ seed)
        .collect::<Vec<u8>>()
        .into()
}

/// The response the inner app sends when nothing special is asked: a
/// status the middleware has no reason to pick, duplicate headers, values
/// in mixed case and in UTF-8, a content-length, a flush, a large chunk,
/// trailers.
pub(crate) fn standard_response() -> Vec<Ev> {
    vec![
        Ev::Start {
            status: 201,
            headers: vec![
                ("content-type", "Text/Plain; Charset=UTF-8"),
                ("set-cookie", "a=1"),
                ("set-cookie", "B=Two; Path=/"),
                ("x-inner", "Yes"),
                ("x-inner-utf8", "caf\u{e9} \u{2615}"),
                ("content-length", "100015"),
            ],
            trailers: true,
        },
        Ev::Body(Bytes::from_static(b"hello"), true),
        Ev::Body(Bytes::new(), true),
        Ev::Body(Bytes::from_static(b" world"), true),
        Ev::Body(large_chunk(LARGE_CHUNK, 0), true),
        Ev::Body(Bytes::from_static(b"!"), false),
        Ev::Trailers(vec![("x-checksum", "abc"), ("x-checksum", "Def")]),
    ]
}

/// What the inner app does with an HTTP call.
pub(crate) enum HttpPlan {
    /// Reads the whole body, then sends these events.
    Respond(Vec<Ev>),
    /// As `Respond`, but leaves out (or replaces) the extension events the
    /// scope it got does not announce; records what it sent in
    /// `Record::response_sent`.
    RespondWithinCapabilities(Vec<Ev>),
    /// Reports each body chunk on `got` as it arrives, then responds.
    SignalChunks(mpsc::UnboundedSender<usize>),
    /// Sends `Start`, then `chunks` chunks; after each but the last waits
    /// (bounded) for the test to report it received it.
    LockStep {
        chunks: usize,
        gate: tokio::sync::Mutex<mpsc::UnboundedReceiver<usize>>,
    },
    /// Receives until `Disconnect`.
    UntilDisconnect,
    /// Sends `Start` and a chunk, waits (bounded) for the gate, then keeps
    /// sending chunks and a final body, recording each result.
    SendAfterGate(tokio::sync::Mutex<mpsc::UnboundedReceiver<()>>),
    /// Reads the body and fails before `Start`.
    FailBeforeStart,
    /// Sends `Start` and a chunk, then fails.
    FailAfterStart,
    /// The first call panics; later calls respond normally.
    PanicOnce,
    /// The first call sends `Start` and a chunk, then waits forever holding
    /// `token`; later calls respond normally.
    HangOnce(Arc<()>),
    /// Responds with a marked response (the short-circuit scenarios look
    /// for it at the client).
    Marked,
    /// Logs `app:call` and `app:start` to the trace, then responds.
    Trace(Arc<Mutex<Vec<String>>>),
    /// Call k reads the body and sends response k (the last one for any
    /// later call).
    Script(Vec<Vec<Ev>>),
    /// Reads the body, sends `Start` and then `chunks` chunks of 4 KiB,
    /// counting in `Record::flood_sent` the sends that completed.
    Flood { chunks: usize },
    /// Reads the body and fails before `Start` with this typed error.
    FailTyped(fn() -> Error),
    /// Reads the body and returns `Ok(())` without a response.
    ReturnsEarly,
    /// Every call sends the standard response; the first call stops after
    /// its first chunk until the gate opens (bounded), so later calls run
    /// while it is in flight.
    FirstWaits(tokio::sync::Mutex<mpsc::UnboundedReceiver<()>>),
    /// Reads the body, sends `Start`, then streams chunks while it awaits
    /// `receive` (to watch for a disconnect); notes in
    /// `Record::watched` which finished first.
    WatchWhileSending,
}

/// What the inner app does with a WebSocket call: it accepts (with the
/// first subprotocol offered and headers of its own), sends two messages,
/// then either waits for the client to close, or, with `AppCloses`, waits
/// for one message from the client and closes with this frame.
#[derive(Debug, Clone)]
pub(crate) enum WsPlan {
    ClientCloses,
    AppCloses(CloseFrame),
    /// Returns `Error::Unsupported` before answering `Connect`.
    Unsupported,
}

/// The messages the inner app sends after accepting: a short text, a
/// short binary one with bytes that are not UTF-8, and a large text in
/// multi-byte UTF-8 (past the 64 KiB a fixed buffer tends to hold).
pub(crate) fn inner_messages() -> Vec<Message> {
    vec![
        Message::Text("from-inner".into()),
        Message::Binary(Bytes::from_static(b"\x00\x01\x02\xff")),
        Message::Text("\u{e9}\u{20ac}x".repeat(25_000)),
    ]
}

/// The messages the client sends: a short text, a large binary one and
/// an empty text.
pub(crate) fn client_messages() -> Vec<Message> {
    vec![
        Message::Text("from-client".into()),
        Message::Binary(large_chunk(100_003, 5)),
        Message::Text(String::new()),
    ]
}

/// The headers the inner app's `Accept` carries.
pub(crate) fn accept_headers() -> Vec<(&'static str, &'static str)> {
    vec![
        ("set-cookie", "ws=1"),
        ("set-cookie", "Ws=Two"),
        ("x-accept", "Inner \u{e9}t\u{e9}"),
    ]
}

/// What the inner app does with the lifespan call.
#[derive(Debug, Clone)]
pub(crate) enum LifePlan {
    /// Startup stores `InnerState`, completes; shutdown completes.
    Normal,
    /// Startup fails with this message.
    FailStartup(&'static str),
    /// Returns `Error::Unsupported` at once.
    Unsupported,
    /// As `Normal`, but waits this long before answering each phase.
    Slow(Duration),
    /// Startup completes; shutdown fails with this message.
    FailShutdown(&'static str),
    /// Receives `Startup` and returns `Ok(())` without answering.
    ReturnsEarly,
    /// Receives `Startup` and fails (not `Unsupported`) without answering.
    ErrorBeforeAnswer,
}

/// Everything the inner app saw and did.
#[derive(Debug, Default)]
pub(crate) struct Record {
    pub(crate) calls: Vec<ScopeKind>,
    pub(crate) scope: Option<ScopeSnapshot>,
    /// The scope of every HTTP call, in call order.
    pub(crate) scopes: Vec<ScopeSnapshot>,
    /// The requests (by [`RequestTag`]) whose body a call read to its end.
    pub(crate) bodies_read: Vec<u64>,
    /// How many sends of the `Flood` plan completed.
    pub(crate) flood_sent: usize,
    /// For `WatchWhileSending`: `Some(Ok(()))` when `receive` returned the
    /// disconnect while a send was pending, `Some(Err(sent_all))` when the
    /// sending ended first (`sent_all`: every send completed, none failed).
    pub(crate) watched: Option<Result<(), bool>>,
    /// For `FirstWaits`: the first call reached its gate.
    pub(crate) gate_reached: bool,
    /// The handshake scope of the last WebSocket call.
    pub(crate) ws_scope: Option<ScopeSnapshot>,
    /// The lifespan answers the inner app sent, in order, each noted just
    /// before it was sent.
    pub(crate) life_answered: Vec<LifespanSend>,
    pub(crate) http_received: Vec<HttpReceive>,
    /// The response of the `RespondWithinCapabilities` plan, as sent.
    pub(crate) response_sent: Vec<Ev>,
    /// Results of the sends of the `SendAfterGate` plan.
    pub(crate) send_results: Vec<Result<(), String>>,
    pub(crate) ws_received: Vec<WebSocketReceive>,
    pub(crate) ws_subprotocols: Vec<String>,
    pub(crate) life_received: Vec<LifespanReceive>,
    /// The chunks of the `LockStep` plan the client did not confirm in time.
    pub(crate) gate_timeouts: Vec<usize>,
    /// `root_path` of the last HTTP call before the middleware was called
    /// and after it returned, seen by [`AfterCall`] (CORE-008).
    pub(crate) root_path_around: Option<(String, String)>,
}

/// Outside the middleware under test: notes the scope's `root_path` before
/// the call and after it returns, which only the caller of a lent scope can
/// see (CORE-008).
pub(crate) struct AfterCall {
    pub(crate) inner: BoxApp,
    pub(crate) record: Recorder,
}

impl App for AfterCall {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(http) = conn else {
            return self.inner.call(conn).await;
        };
        let (scope, receiver, sender) = http.into_parts();
        let before = scope.root_path.clone();
        let result = self
            .inner
            .call(HttpConn::new(&mut *scope, receiver, sender).into())
            .await;
        self.record.get().root_path_around = Some((before, scope.root_path.clone()));
        result
    }
}

/// A shared handle on the inner app's record.
#[derive(Debug, Clone, Default)]
pub(crate) struct Recorder(Arc<Mutex<Record>>);

impl Recorder {
    pub(crate) fn get(&self) -> MutexGuard<'_, Record> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn calls(&self, kind: ScopeKind) -> usize {
        self.get().calls.iter().filter(|k| **k == kind).count()
    }
}

/// The inner app.
pub(crate) struct Inner {
    pub(crate) http: HttpPlan,
    pub(crate) life: LifePlan,
    pub(crate) ws: WsPlan,
    pub(crate) record: Recorder,
    pub(crate) timeout: Duration,
    /// The inner validator's log, for what only the inner app can see.
    pub(crate) log: ViolationLog,
    http_calls: AtomicUsize,
}

impl Inner {
    pub(crate) fn new(
        http: HttpPlan,
        life: LifePlan,
        ws: WsPlan,
        record: Recorder,
        timeout: Duration,
        log: ViolationLog,
    ) -> Self {
        Self {
            http,
            life,
            ws,
            record,
            timeout,
            log,
            http_calls: AtomicUsize::new(0),
        }
    }

    /// A call for a request whose body an earlier call already read to
    /// its end can never get that body (rule `HTTP-010`): the middleware
    /// retried, or fell back, after the body was consumed. Reported at
    /// once instead of hanging on a body that will not come.
    fn recalled_after_body(&self, scope: &HttpScope) -> Option<Error> {
        let tag = scope.extensions.get::<RequestTag>()?.0;
        if !self.record.get().bodies_read.contains(&tag) {
            return None;
        }
        self.log.push(Violation {
            rule: "HTTP-010",
            side: Side::Server,
            scope: ScopeKind::Http,
            happened: "the middleware called its inner app again for a request whose body an earlier call had already read to its end (a retry or fallback after the body was consumed), so this call can never receive the body".to_owned(),
            expected: "every call to receive the request body from its first event: call again only when the earlier call read nothing".to_owned(),
        });
        Some(Error::protocol(
            "HTTP-010",
            "called again after the request body was consumed",
        ))
    }

    /// Notes that this call read its request's body to the end.
    fn body_read(&self, scope: &HttpScope) {
        if let Some(tag) = scope.extensions.get::<RequestTag>() {
            self.record.get().bodies_read.push(tag.0);
        }
    }

    async fn send_all(&self, http: &mut HttpConn<'_>, events: &[Ev]) -> AppResult {
        for ev in events {
            http.send(ev.to_send()).await?;
        }
        Ok(())
    }

    /// Reads the request to its final body, recording every event.
    async fn read_all(&self, http: &mut HttpConn<'_>) -> Result<(), Error> {
        loop {
            let event = http.recv().await;
            self.record.get().http_received.push(event.clone());
            match event {
                HttpReceive::Body { more: false, .. } => {
                    self.body_read(http.scope);
                    return Ok(());
                }
                HttpReceive::Body { .. } => {}
                _ => return Err(Error::Disconnected),
            }
        }
    }

    async fn http(&self, mut http: HttpConn<'_>) -> AppResult {
        if let Some(error) = self.recalled_after_body(http.scope) {
            return Err(error.into());
        }
        let call = self.http_calls.fetch_add(1, Ordering::SeqCst);
        {
            let snapshot = ScopeSnapshot::of(http.scope);
            let mut record = self.record.get();
            record.scopes.push(snapshot.clone());
            record.scope = Some(snapshot);
        }
        match &self.http {
            HttpPlan::Respond(events) => {
                self.read_all(&mut http).await?;
                self.send_all(&mut http, events).await
            }
            HttpPlan::RespondWithinCapabilities(events) => {
                self.read_all(&mut http).await?;
                let events = within_capabilities(events, http.scope.capabilities);
                self.record.get().response_sent = events.clone();
                self.send_all(&mut http, &events).await
            }
            HttpPlan::SignalChunks(got) => {
                let mut n = 0;
                loop {
                    let event = http.recv().await;
                    self.record.get().http_received.push(event.clone());
                    match event {
                        HttpReceive::Body { more, .. } => {
                            let _ = got.send(n);
                            n += 1;
                            if !more {
                                self.body_read(http.scope);
                                break;
                            }
                        }
                        _ => return Err(Error::Disconnected.into()),
                    }
                }
                self.send_all(&mut http, &standard_response()).await
            }
            HttpPlan::LockStep { chunks, gate } => {
                self.read_all(&mut http).await?;
                http.send(HttpSend::Start(ResponseStart::new(StatusCode::OK)))
                    .await?;
                let mut gate = gate.lock().await;
                for k in 0..*chunks {
                    let last = k + 1 == *chunks;
                    http.send(HttpSend::Body {
                        data: Bytes::from(format!("chunk {k};")),
                        more: !last,
                    })
                    .await?;
                    if !last {
                        // Bounded: a middleware that buffers never lets the
                        // client see chunk k, so the gate stays shut.
                        if tokio::time::timeout(self.timeout, gate.recv())
                            .await
                            .is_err()
                        {
                            self.record.get().gate_timeouts.push(k);
                        }
                    }
                }
                Ok(())
            }
            HttpPlan::UntilDisconnect => loop {
                let event = http.recv().await;
                self.record.get().http_received.push(event.clone());
                if event == HttpReceive::Disconnect {
                    return Ok(());
                }
            },
            HttpPlan::SendAfterGate(gate) => {
                self.read_all(&mut http).await?;
                // Every send's result is recorded: which one first fails
                // depends on when the middleware notices the disconnect.
                let sent = |result: Result<(), Error>| -> Result<(), Error> {
                    self.record
                        .get()
                        .send_results
                        .push(result.as_ref().map_err(ToString::to_string).copied());
                    result
                };
                sent(
                    http.send(HttpSend::Start(ResponseStart::new(StatusCode::OK)))
                        .await,
                )?;
                sent(http.send(HttpSend::chunk("before")).await)?;
                let _ = tokio::time::timeout(self.timeout, gate.lock().await.recv()).await;
                for k in 0..8 {
                    let event = if k == 7 {
                        HttpSend::body("end")
                    } else {
                        HttpSend::chunk("after")
                    };
                    sent(http.send(event).await)?;
                }
                Ok(())
            }
            HttpPlan::FailBeforeStart => {
                self.read_all(&mut http).await?;
                Err("the scripted inner app failed before starting its response".into())
            }
            HttpPlan::FailAfterStart => {
                self.read_all(&mut http).await?;
                http.send(HttpSend::Start(ResponseStart::new(StatusCode::OK)))
                    .await?;
                http.send(HttpSend::chunk("partial")).await?;
                Err("the scripted inner app failed in the middle of its response".into())
            }
            HttpPlan::PanicOnce if call == 0 => {
                self.read_all(&mut http).await?;
                // A panic without the panic hook: it unwinds like any
                // other, but a passing run prints no panic message.
                std::panic::resume_unwind(Box::new(
                    "the scripted inner app panics (on purpose, for errors/panic)",
                ));
            }
            HttpPlan::HangOnce(token) if call == 0 => {
                let _held = token.clone();
                self.read_all(&mut http).await?;
                http.send(HttpSend::Start(ResponseStart::new(StatusCode::OK)))
                    .await?;
                http.send(HttpSend::chunk("partial")).await?;
                std::future::pending::<()>().await;
                Ok(())
            }
            HttpPlan::PanicOnce | HttpPlan::HangOnce(_) => {
                self.read_all(&mut http).await?;
                self.send_all(&mut http, &standard_response()).await
            }
            HttpPlan::Marked => {
                self.read_all(&mut http).await.ok();
                let start = ResponseStart::new(StatusCode::OK).header(
                    HeaderName::from_static("x-inner-marker"),
                    HeaderValue::from_static("inner-output"),
                );
                http.send(HttpSend::Start(start)).await?;
                Ok(http.send(HttpSend::body("inner-output")).await?)
            }
            HttpPlan::Trace(log) => {
                log.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push("app:call".to_owned());
                self.read_all(&mut http).await?;
                log.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push("app:start".to_owned());
                self.send_all(&mut http, &standard_response()).await
            }
            HttpPlan::Script(responses) => {
                self.read_all(&mut http).await?;
                let events = responses.get(call).or(responses.last());
                self.send_all(&mut http, events.map_or(&[][..], Vec::as_slice))
                    .await
            }
            HttpPlan::Flood { chunks } => {
                self.read_all(&mut http).await?;
                http.send(HttpSend::Start(ResponseStart::new(StatusCode::OK)))
                    .await?;
                self.record.get().flood_sent += 1;
                for k in 0..*chunks {
                    let data = large_chunk(4096, k as u8);
                    http.send(HttpSend::Body {
                        data,
                        more: k + 1 < *chunks,
                    })
                    .await?;
                    self.record.get().flood_sent += 1;
                }
                Ok(())
            }
            HttpPlan::FailTyped(error) => {
                self.read_all(&mut http).await?;
                Err(error().into())
            }
            HttpPlan::ReturnsEarly => {
                self.read_all(&mut http).await?;
                Ok(())
            }
            HttpPlan::FirstWaits(gate) => {
                self.read_all(&mut http).await?;
                let events = standard_response();
                let (head, rest) = events.split_at(2);
                self.send_all(&mut http, head).await?;
                if call == 0 {
                    self.record.get().gate_reached = true;
                    let _ = tokio::time::timeout(self.timeout, gate.lock().await.recv()).await;
                }
                self.send_all(&mut http, rest).await
            }
            HttpPlan::WatchWhileSending => {
                self.read_all(&mut http).await?;
                http.send(HttpSend::Start(ResponseStart::new(StatusCode::OK)))
                    .await?;
                let (_, receiver, sender) = http.into_parts();
                let watch = async { while receiver.recv().await != HttpReceive::Disconnect {} };
                let stream = async {
                    for k in 0..64u8 {
                        sender.send(HttpSend::chunk(large_chunk(4096, k))).await?;
                    }
                    sender.send(HttpSend::body("")).await
                };
                let watched =
                    match futures::future::select(std::pin::pin!(watch), std::pin::pin!(stream))
                        .await
                    {
                        futures::future::Either::Left(_) => Ok(()),
                        futures::future::Either::Right((sent, _)) => Err(sent.is_ok()),
                    };
                self.record.get().watched = Some(watched);
                Ok(())
            }
        }
    }

    async fn websocket(&self, mut ws: WebSocketConn<'_>) -> AppResult {
        {
            let mut record = self.record.get();
            record.ws_subprotocols = ws.scope.subprotocols.clone();
            record.ws_scope = Some(ScopeSnapshot::of(&ws.scope.request));
        }
        if let WsPlan::Unsupported = self.ws {
            return Err(Error::Unsupported(ScopeKind::WebSocket).into());
        }
        let first = ws.recv().await;
        self.record.get().ws_received.push(first.clone());
        if first != WebSocketReceive::Connect {
            return Ok(());
        }
        let mut accept = Accept::new();
        accept.subprotocol = ws.scope.subprotocols.first().cloned();
        accept.headers = header_map(&accept_headers());
        ws.send(WebSocketSend::Accept(accept)).await?;
        for message in inner_messages() {
            ws.send(WebSocketSend::Message(message)).await?;
        }
        if let WsPlan::AppCloses(frame) = &self.ws {
            let event = ws.recv().await;
            self.record.get().ws_received.push(event.clone());
            if matches!(event, WebSocketReceive::Disconnect(_)) {
                return Ok(());
            }
            ws.send(WebSocketSend::Close(frame.clone())).await?;
        }
        loop {
            let event = ws.recv().await;
            self.record.get().ws_received.push(event.clone());
            if matches!(event, WebSocketReceive::Disconnect(_)) {
                return Ok(());
            }
        }
    }

    async fn lifespan(&self, mut life: LifespanConn<'_>) -> AppResult {
        if let LifePlan::Unsupported = self.life {
            return Err(Error::Unsupported(ScopeKind::Lifespan).into());
        }
        let event = life.recv().await;
        self.record.get().life_received.push(event);
        if event != LifespanReceive::Startup || matches!(self.life, LifePlan::ReturnsEarly) {
            return Ok(());
        }
        if let LifePlan::ErrorBeforeAnswer = self.life {
            return Err("the scripted inner app cannot start (no answer to Startup)".into());
        }
        let delay = match self.life {
            LifePlan::Slow(delay) => delay,
            _ => Duration::ZERO,
        };
        if let LifePlan::FailStartup(message) = self.life {
            return self
                .answer(
                    &mut life,
                    LifespanSend::StartupFailed {
                        message: message.to_owned(),
                    },
                    delay,
                )
                .await;
        }
        life.scope.state.insert(InnerState(5));
        self.answer(&mut life, LifespanSend::StartupComplete, delay)
            .await?;
        let event = life.recv().await;
        self.record.get().life_received.push(event);
        let answer = match self.life {
            LifePlan::FailShutdown(message) => LifespanSend::ShutdownFailed {
                message: message.to_owned(),
            },
            _ => LifespanSend::ShutdownComplete,
        };
        self.answer(&mut life, answer, delay).await
    }

    /// Sends a lifespan answer after `delay`, noting it just before.
    async fn answer(
        &self,
        life: &mut LifespanConn<'_>,
        answer: LifespanSend,
        delay: Duration,
    ) -> AppResult {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        self.record.get().life_answered.push(answer.clone());
        Ok(life.send(answer).await?)
    }
}

impl App for Inner {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        self.record.get().calls.push(conn.kind());
        match conn {
            Conn::Http(http) => self.http(http).await,
            Conn::WebSocket(ws) => self.websocket(ws).await,
            Conn::Lifespan(life) => self.lifespan(life).await,
            other => other.unsupported(),
        }
    }
}
