//! The suite proves itself: deliberately broken middleware is caught with
//! the right rule id, correct middleware passes with no false alarm.

use std::task::{ready, Context, Poll};
use std::time::Duration;

use futures::future::{select, Either};
use rgi::http::{header, HeaderMap, HeaderValue, StatusCode};
use rgi::{
    App, AppResult, BoxApp, CloseFrame, Conn, Error, HttpConn, HttpSend, LifespanConn,
    LifespanReceive, LifespanSend, MapSend, Prepend, Receiver, ReceiverExt, ResponseStart, Sender,
    SenderExt, State, WebSocketConn, WebSocketReceive, WebSocketSend,
};
use rgi_conformance::{check, Check, Declare, Report, Request};

/// Broken checks fail by timing out somewhere; keep each hang short.
const QUICK: Duration = Duration::from_millis(300);

async fn broken(check: Check, rule: &str) -> Report {
    let report = check.timeout(QUICK).run().await;
    assert!(
        report.fails(rule),
        "expected the suite to catch {rule}; the report:\n{report}"
    );
    report
}

// ---------------------------------------------------------------- correct

/// Passes everything on.
struct Identity(BoxApp);

impl App for Identity {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        self.0.call(conn).await
    }
}

#[tokio::test]
async fn identity_is_clean() {
    check(|inner| rgi::boxed(Identity(inner)))
        .run()
        .await
        .assert_clean();
}

/// Adds `x-powered-by` to every response (declared).
struct PoweredBy(BoxApp);

impl App for PoweredBy {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(http) = conn else {
            return self.0.call(conn).await;
        };
        let (scope, receiver, sender) = http.into_parts();
        let mut sender = MapSend::new(sender, |mut event: HttpSend| {
            if let HttpSend::Start(start) = &mut event {
                start
                    .headers
                    .insert("x-powered-by", HeaderValue::from_static("rgi"));
            }
            event
        });
        self.0
            .call(HttpConn::new(scope, receiver, &mut sender).into())
            .await
    }
}

#[tokio::test]
async fn header_adding_is_clean_when_declared() {
    check(|inner| rgi::boxed(PoweredBy(inner)))
        .declare(Declare::AddsResponseHeader("x-powered-by"))
        .run()
        .await
        .assert_clean();
}

#[tokio::test]
async fn header_adding_undeclared_is_caught() {
    broken(check(|inner| rgi::boxed(PoweredBy(inner))), "CORE-005").await;
}

/// Bearer auth: 401 without the token, WebSockets refused with a close.
struct Auth(BoxApp);

fn authorized(headers: &HeaderMap) -> bool {
    headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()) == Some(b"Bearer secret")
}

impl App for Auth {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        match conn {
            Conn::Http(mut http) if !authorized(&http.scope.headers) => {
                let mut headers = HeaderMap::new();
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                Ok(http
                    .respond(StatusCode::UNAUTHORIZED, headers, "unauthorized")
                    .await?)
            }
            Conn::WebSocket(mut ws) if !authorized(&ws.scope.headers) => {
                ws.recv().await;
                Ok(ws.send(WebSocketSend::Close(CloseFrame::new(1008))).await?)
            }
            other => self.0.call(other).await,
        }
    }
}

fn auth_check() -> Check {
    check(|inner| rgi::boxed(Auth(inner)))
        .with_request(|r| r.header("authorization", "Bearer secret"))
        .short_circuits(|| Request::get("/private"))
        .short_circuits(|| {
            Request::post("/private")
                .body("ignored")
                .header("authorization", "Bearer wrong")
        })
        .refuses_websocket(|| Request::get("/private/ws"))
}

#[tokio::test]
async fn short_circuiting_auth_is_clean() {
    auth_check().run().await.assert_clean();
}

/// Opens a pool at startup, stores it in the state, replays `Startup`; an
/// empty url fails startup; finishes lifespan for an inner app without it.
struct Database {
    inner: BoxApp,
    url: &'static str,
}

#[derive(Debug)]
struct Pool(#[allow(dead_code)] String);

impl App for Database {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Lifespan(mut lifespan) = conn else {
            return self.inner.call(conn).await;
        };
        let event = lifespan.recv().await;
        if event == LifespanReceive::Startup {
            if self.url.is_empty() {
                let message = "no database url".to_owned();
                return Ok(lifespan
                    .send(LifespanSend::StartupFailed { message })
                    .await?);
            }
            lifespan.scope.state.insert(Pool(self.url.to_owned()));
        }
        let (scope, receiver, sender) = lifespan.into_parts();
        let mut receiver = Prepend::new(event, receiver);
        let inner = LifespanConn::new(scope, &mut receiver, &mut *sender);
        match self.inner.call(inner.into()).await {
            Err(e) if Error::is_unsupported(&*e) => {
                sender.send(LifespanSend::StartupComplete).await?;
                while receiver.recv().await != LifespanReceive::Shutdown {}
                Ok(sender.send(LifespanSend::ShutdownComplete).await?)
            }
            other => other,
        }
    }
}

#[tokio::test]
async fn lifespan_resource_is_clean() {
    check(|inner| {
        rgi::boxed(Database {
            inner,
            url: "postgres://db",
        })
    })
    .fails_startup(
        |inner| rgi::boxed(Database { inner, url: "" }),
        "no database url",
    )
    .run()
    .await
    .assert_clean();
}

/// Rebuilds the request headers with the names in reverse order. The
/// values of each name keep their order, which is all the spec asks
/// (`spec/http.md`, "Headers"): no false alarm.
struct ReversesHeaderNames(BoxApp);

impl App for ReversesHeaderNames {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(http) = conn else {
            return self.0.call(conn).await;
        };
        let names: Vec<_> = http.scope.headers.keys().cloned().collect();
        let mut reversed = HeaderMap::new();
        for name in names.into_iter().rev() {
            for value in http.scope.headers.get_all(&name) {
                reversed.append(name.clone(), value.clone());
            }
        }
        http.scope.headers = reversed;
        self.0.call(http.into()).await
    }
}

#[tokio::test]
async fn reordering_header_names_is_clean() {
    check(|inner| rgi::boxed(ReversesHeaderNames(inner)))
        .run()
        .await
        .assert_clean();
}

#[test]
fn run_blocking_works_in_a_plain_test() {
    check(|inner| rgi::boxed(Identity(inner)))
        .run_blocking()
        .assert_clean();
}

// ----------------------------------------------------------------- broken

/// Collects every response event the inner app sends, and only passes
/// them on once it returned.
struct Buffering(BoxApp);

/// A sender that takes everything at once and keeps it.
struct Collect(Vec<HttpSend>);

impl Sender<HttpSend> for Collect {
    fn start_send(&mut self, event: HttpSend) -> Result<(), Error> {
        self.0.push(event);
        Ok(())
    }
    fn poll_flush(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }
}

impl App for Buffering {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(http) = conn else {
            return self.0.call(conn).await;
        };
        let (scope, receiver, sender) = http.into_parts();
        let mut collect = Collect(Vec::new());
        let result = self
            .0
            .call(HttpConn::new(scope, receiver, &mut collect).into())
            .await;
        for event in collect.0 {
            sender.send(event).await?;
        }
        result
    }
}

#[tokio::test]
async fn buffering_is_caught() {
    let report = broken(check(|inner| rgi::boxed(Buffering(inner))), "CORE-006").await;
    // Printed for the README's example of a failing report.
    println!("{report}");
}

/// Sends every response start twice.
struct DoubleStart(BoxApp);

struct Doubling<'a> {
    inner: &'a mut dyn Sender<HttpSend>,
    again: Option<HttpSend>,
}

impl Sender<HttpSend> for Doubling<'_> {
    fn start_send(&mut self, event: HttpSend) -> Result<(), Error> {
        if let HttpSend::Start(start) = &event {
            let mut copy = ResponseStart::new(start.status);
            copy.headers = start.headers.clone();
            self.again = Some(HttpSend::Start(copy));
        }
        self.inner.start_send(event)
    }
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        ready!(self.inner.poll_flush(cx))?;
        if let Some(again) = self.again.take() {
            self.inner.start_send(again)?;
            return self.inner.poll_flush(cx);
        }
        Poll::Ready(Ok(()))
    }
}

impl App for DoubleStart {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(http) = conn else {
            return self.0.call(conn).await;
        };
        let (scope, receiver, sender) = http.into_parts();
        let mut sender = Doubling {
            inner: sender,
            again: None,
        };
        self.0
            .call(HttpConn::new(scope, receiver, &mut sender).into())
            .await
    }
}

#[tokio::test]
async fn double_start_is_caught() {
    broken(check(|inner| rgi::boxed(DoubleStart(inner))), "HTTP-020").await;
}

/// Handles HTTP and calls every other kind unsupported: drops lifespan
/// (and WebSocket).
struct HttpOnly(BoxApp);

impl App for HttpOnly {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        match conn {
            Conn::Http(_) => self.0.call(conn).await,
            other => other.unsupported(),
        }
    }
}

#[tokio::test]
async fn dropping_lifespan_is_caught() {
    let report = broken(check(|inner| rgi::boxed(HttpOnly(inner))), "LIFE-008").await;
    assert!(
        report.fails("CORE-003"),
        "WebSocket is dropped too:\n{report}"
    );
}

/// Turns `Disconnected` from send into `Ok`, so the inner app streams into
/// the void.
struct SwallowDisconnect(BoxApp);

struct Swallow<'a>(&'a mut dyn Sender<HttpSend>);

impl Sender<HttpSend> for Swallow<'_> {
    fn start_send(&mut self, event: HttpSend) -> Result<(), Error> {
        match self.0.start_send(event) {
            Err(Error::Disconnected) => Ok(()),
            other => other,
        }
    }
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        match ready!(self.0.poll_flush(cx)) {
            Err(Error::Disconnected) => Poll::Ready(Ok(())),
            other => Poll::Ready(other),
        }
    }
}

impl App for SwallowDisconnect {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(http) = conn else {
            return self.0.call(conn).await;
        };
        let (scope, receiver, sender) = http.into_parts();
        let mut sender = Swallow(sender);
        self.0
            .call(HttpConn::new(scope, receiver, &mut sender).into())
            .await
    }
}

#[tokio::test]
async fn swallowing_disconnect_is_caught() {
    broken(
        check(|inner| rgi::boxed(SwallowDisconnect(inner))),
        "CORE-011",
    )
    .await;
}

/// Answers 401 without the token, then calls the inner app anyway.
struct LeakyAuth(BoxApp);

impl App for LeakyAuth {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return self.0.call(conn).await;
        };
        if !authorized(&http.scope.headers) {
            http.respond(StatusCode::UNAUTHORIZED, HeaderMap::new(), "no")
                .await?;
        }
        self.0.call(http.into()).await
    }
}

#[tokio::test]
async fn calling_the_inner_app_after_answering_is_caught() {
    broken(
        check(|inner| rgi::boxed(LeakyAuth(inner)))
            .with_request(|r| r.header("authorization", "Bearer secret"))
            .short_circuits(|| Request::get("/private")),
        "CORE-007",
    )
    .await;
}

/// Drops the `accept` request header without declaring it.
struct DropsAccept(BoxApp);

impl App for DropsAccept {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(http) = conn else {
            return self.0.call(conn).await;
        };
        http.scope.headers.remove(header::ACCEPT);
        self.0.call(http.into()).await
    }
}

#[tokio::test]
async fn dropping_an_undeclared_request_header_is_caught() {
    broken(check(|inner| rgi::boxed(DropsAccept(inner))), "CORE-004").await;
    // Declared, the same middleware passes.
    check(|inner| rgi::boxed(DropsAccept(inner)))
        .declare(Declare::RemovesRequestHeader("accept"))
        .run()
        .await
        .assert_clean();
}

/// Sends one more (empty) body event after the final one.
struct SendsAfterFinal(BoxApp);

struct Extra<'a> {
    inner: &'a mut dyn Sender<HttpSend>,
    pending: bool,
}

impl Sender<HttpSend> for Extra<'_> {
    fn start_send(&mut self, event: HttpSend) -> Result<(), Error> {
        self.pending = matches!(event, HttpSend::Body { more: false, .. });
        self.inner.start_send(event)
    }
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        ready!(self.inner.poll_flush(cx))?;
        if std::mem::take(&mut self.pending) {
            self.inner.start_send(HttpSend::body(""))?;
            return self.inner.poll_flush(cx);
        }
        Poll::Ready(Ok(()))
    }
}

impl App for SendsAfterFinal {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(http) = conn else {
            return self.0.call(conn).await;
        };
        let (scope, receiver, sender) = http.into_parts();
        let mut sender = Extra {
            inner: sender,
            pending: false,
        };
        self.0
            .call(HttpConn::new(scope, receiver, &mut sender).into())
            .await
    }
}

#[tokio::test]
async fn sending_after_the_final_body_is_caught() {
    broken(
        check(|inner| rgi::boxed(SendsAfterFinal(inner))),
        "HTTP-022",
    )
    .await;
}

#[tokio::test]
async fn body_changing_declaration_does_not_raise_false_alarms() {
    // An identity middleware declared as changing the body must still pass:
    // the declaration only loosens checks.
    check(|inner| rgi::boxed(Identity(inner)))
        .declare(Declare::ChangesResponseBody)
        .declare(Declare::ChangesRequestBody)
        .run()
        .await
        .assert_clean();
}

#[tokio::test]
async fn buffering_declared_as_body_changing_is_clean() {
    // Buffering is legitimate for a middleware that transforms the body
    // (gzip): declared, the same middleware passes.
    check(|inner| rgi::boxed(Buffering(inner)))
        .declare(Declare::ChangesResponseBody)
        .run()
        .await
        .assert_clean();
}

/// Holds each response body chunk back until the next one arrives (a
/// one-chunk lookahead, say to find the last chunk): buffering, if only a
/// little.
struct Lookahead(BoxApp);

struct HoldOne<'a> {
    inner: &'a mut dyn Sender<HttpSend>,
    held: Option<HttpSend>,
    queued: Option<HttpSend>,
}

impl Sender<HttpSend> for HoldOne<'_> {
    fn start_send(&mut self, event: HttpSend) -> Result<(), Error> {
        match event {
            HttpSend::Body { more: true, .. } => self.queued = self.held.replace(event),
            HttpSend::Body { more: false, .. } if self.held.is_some() => {
                self.queued = Some(event);
                return self.inner.start_send(self.held.take().expect("held"));
            }
            other => return self.inner.start_send(other),
        }
        Ok(())
    }
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            ready!(self.inner.poll_flush(cx))?;
            match self.queued.take() {
                Some(event) => self.inner.start_send(event)?,
                None => return Poll::Ready(Ok(())),
            }
        }
    }
}

impl App for Lookahead {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(http) = conn else {
            return self.0.call(conn).await;
        };
        let (scope, receiver, sender) = http.into_parts();
        let mut sender = HoldOne {
            inner: sender,
            held: None,
            queued: None,
        };
        self.0
            .call(HttpConn::new(scope, receiver, &mut sender).into())
            .await
    }
}

#[tokio::test]
async fn holding_one_chunk_back_is_caught() {
    // Once missed about four runs in five: the inner app's wait for the
    // client and the client's wait for the chunk timed out together.
    for _ in 0..3 {
        broken(check(|inner| rgi::boxed(Lookahead(inner))), "CORE-006").await;
    }
}

/// Rebuilds the response start from status and headers, losing the
/// inner app's `ResponseStart.extensions`.
struct DropsResponseExtensions(BoxApp);

impl App for DropsResponseExtensions {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(http) = conn else {
            return self.0.call(conn).await;
        };
        let (scope, receiver, sender) = http.into_parts();
        let mut sender = MapSend::new(sender, |event: HttpSend| match event {
            HttpSend::Start(start) => {
                let mut rebuilt = ResponseStart::new(start.status);
                rebuilt.headers = start.headers;
                rebuilt.trailers = start.trailers;
                HttpSend::Start(rebuilt)
            }
            other => other,
        });
        self.0
            .call(HttpConn::new(scope, receiver, &mut sender).into())
            .await
    }
}

#[tokio::test]
async fn dropping_response_extensions_is_caught() {
    broken(
        check(|inner| rgi::boxed(DropsResponseExtensions(inner))),
        "EXT-040",
    )
    .await;
}

/// Gives every request and WebSocket an empty state.
struct ClearsState(BoxApp);

impl App for ClearsState {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        match conn {
            Conn::Http(http) => {
                http.scope.state = State::default();
                self.0.call(http.into()).await
            }
            Conn::WebSocket(ws) => {
                ws.scope.state = State::default();
                self.0.call(ws.into()).await
            }
            other => self.0.call(other).await,
        }
    }
}

#[tokio::test]
async fn clearing_the_state_is_caught() {
    let report = broken(check(|inner| rgi::boxed(ClearsState(inner))), "CORE-004").await;
    assert!(report.fails("LIFE-010"), "{report}");
}

/// Swallows the first message the client sends on a WebSocket.
struct SwallowsMessage(BoxApp);

struct SkipFirstMessage<'a> {
    inner: &'a mut dyn Receiver<WebSocketReceive>,
    skipped: bool,
}

impl Receiver<WebSocketReceive> for SkipFirstMessage<'_> {
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<WebSocketReceive> {
        loop {
            let event = ready!(self.inner.poll_receive(cx));
            if matches!(event, WebSocketReceive::Message(_)) && !self.skipped {
                self.skipped = true;
                continue;
            }
            return Poll::Ready(event);
        }
    }
}

impl App for SwallowsMessage {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::WebSocket(ws) = conn else {
            return self.0.call(conn).await;
        };
        let (scope, receiver, sender) = ws.into_parts();
        let mut receiver = SkipFirstMessage {
            inner: receiver,
            skipped: false,
        };
        self.0
            .call(WebSocketConn::new(scope, &mut receiver, sender).into())
            .await
    }
}

#[tokio::test]
async fn swallowing_a_websocket_message_is_caught() {
    broken(
        check(|inner| rgi::boxed(SwallowsMessage(inner))),
        "CORE-005",
    )
    .await;
}

/// Passes `Startup` on, but answers `Shutdown` itself and drops the inner
/// app, which never hears of it.
struct KeepsShutdown(BoxApp);

/// A receiver with nothing more to give.
struct Silent;

impl Receiver<LifespanReceive> for Silent {
    fn poll_receive(&mut self, _: &mut Context<'_>) -> Poll<LifespanReceive> {
        Poll::Pending
    }
}

impl App for KeepsShutdown {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Lifespan(lifespan) = conn else {
            return self.0.call(conn).await;
        };
        let (scope, receiver, sender) = lifespan.into_parts();
        let startup = receiver.recv().await;
        let mut startup_only = Prepend::new(startup, Silent);
        let inner = Box::pin(
            self.0
                .call(LifespanConn::new(scope, &mut startup_only, &mut *sender).into()),
        );
        let inner_returned = match select(inner, receiver.recv()).await {
            Either::Left((result, _)) => Some(result),
            Either::Right(_shutdown_and_inner) => None,
        };
        match inner_returned {
            Some(result) => result,
            None => Ok(sender.send(LifespanSend::ShutdownComplete).await?),
        }
    }
}

#[tokio::test]
async fn keeping_shutdown_from_the_inner_app_is_caught() {
    broken(check(|inner| rgi::boxed(KeepsShutdown(inner))), "LIFE-008").await;
}

/// Passes every response event on except those `drops` picks, which it
/// takes and forgets.
struct DropsSome {
    inner: BoxApp,
    drops: fn(&HttpSend) -> bool,
}

struct DroppingSender<'a> {
    inner: &'a mut dyn Sender<HttpSend>,
    drops: fn(&HttpSend) -> bool,
}

impl Sender<HttpSend> for DroppingSender<'_> {
    fn start_send(&mut self, event: HttpSend) -> Result<(), Error> {
        if (self.drops)(&event) {
            return Ok(());
        }
        self.inner.start_send(event)
    }
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_flush(cx)
    }
}

impl App for DropsSome {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(http) = conn else {
            return self.inner.call(conn).await;
        };
        let (scope, receiver, sender) = http.into_parts();
        let mut sender = DroppingSender {
            inner: sender,
            drops: self.drops,
        };
        self.inner
            .call(HttpConn::new(scope, receiver, &mut sender).into())
            .await
    }
}

/// Whether `report` failed `rule` in `scenario`.
fn fails_in(report: &Report, rule: &str, scenario: &str) -> bool {
    report
        .failures()
        .any(|row| row.rule == rule && row.scenario == scenario)
}

#[tokio::test]
async fn dropping_early_hints_is_caught() {
    let report = broken(
        check(|inner| {
            rgi::boxed(DropsSome {
                inner,
                drops: |e| matches!(e, HttpSend::EarlyHints(_)),
            })
        }),
        "CORE-005",
    )
    .await;
    assert!(
        fails_in(&report, "CORE-005", "forwards/extension-events"),
        "{report}"
    );
}

#[tokio::test]
async fn dropping_a_file_is_caught() {
    let report = broken(
        check(|inner| {
            rgi::boxed(DropsSome {
                inner,
                drops: |e| matches!(e, HttpSend::File(_)),
            })
        }),
        "CORE-005",
    )
    .await;
    assert!(
        fails_in(&report, "CORE-005", "forwards/extension-events"),
        "{report}"
    );
    // The File's range counted towards content-length (EXT-020): without
    // it the response is short.
    assert!(
        fails_in(&report, "HTTP-024", "forwards/extension-events"),
        "{report}"
    );
}

/// Clears `send_file` for its inner app (it cannot pass `File` on), and
/// declares it (rule `EXT-002`): the inner app then sends the bytes as
/// `Body`, which passes.
struct ClearsSendFile(BoxApp);

impl App for ClearsSendFile {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        match conn {
            Conn::Http(http) => {
                http.scope.capabilities.send_file = false;
                self.0.call(http.into()).await
            }
            other => self.0.call(other).await,
        }
    }
}

#[tokio::test]
async fn clearing_send_file_is_clean_when_declared() {
    let report = check(|inner| rgi::boxed(ClearsSendFile(inner)))
        .declare(Declare::ChangesScope(
            rgi_conformance::ScopeField::Capabilities,
        ))
        .run()
        .await;
    report.assert_clean();
    let noted = report.rows().iter().any(|row| {
        row.scenario == "forwards/extension-events"
            && row.rule == "EXT-002"
            && matches!(&row.outcome, rgi_conformance::Outcome::Skip(why) if why.contains("send_file"))
    });
    assert!(noted, "{report}");
    // Undeclared, the same middleware is caught.
    broken(check(|inner| rgi::boxed(ClearsSendFile(inner))), "CORE-004").await;
}

/// Mounts its inner app at `/conformance` (a router's job) and leaves the
/// mount point in the scope when the call returns.
struct LeavesMountPoint(BoxApp);

impl App for LeavesMountPoint {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(http) = conn else {
            return self.0.call(conn).await;
        };
        if mounts(http.scope) {
            http.scope.root_path.push_str("/conformance");
        }
        self.0.call(http.into()).await
    }
}

/// Whether the scope's path lies below `/conformance` (past its
/// root_path), where the mounting middleware below mount their app; other
/// requests pass unmounted (HTTP-004: a root_path the path does not start
/// with is never handed on).
fn mounts(scope: &rgi::HttpScope) -> bool {
    let rest = &scope.path[scope.root_path.len()..];
    rest.strip_prefix("/conformance")
        .is_some_and(|tail| tail.is_empty() || tail.starts_with('/'))
}

/// The same, restoring the mount point as CORE-008 asks.
struct RestoresMountPoint(BoxApp);

impl App for RestoresMountPoint {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(http) = conn else {
            return self.0.call(conn).await;
        };
        let (scope, receiver, sender) = http.into_parts();
        let mount_point = scope.root_path.len();
        if mounts(scope) {
            scope.root_path.push_str("/conformance");
        }
        let result = self
            .0
            .call(HttpConn::new(&mut *scope, receiver, sender).into())
            .await;
        scope.root_path.truncate(mount_point);
        result
    }
}

#[tokio::test]
async fn leaving_the_mount_point_behind_is_caught() {
    broken(
        check(|inner| rgi::boxed(LeavesMountPoint(inner)))
            .declare(Declare::ChangesScope(rgi_conformance::ScopeField::Path)),
        "CORE-008",
    )
    .await;
    check(|inner| rgi::boxed(RestoresMountPoint(inner)))
        .declare(Declare::ChangesScope(rgi_conformance::ScopeField::Path))
        .run()
        .await
        .assert_clean();
}
