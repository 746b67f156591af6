//! The validator catches each broken rule with its id, and stays quiet on
//! correct traffic.

use std::collections::VecDeque;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use rgi::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use rgi::{
    Accept, App, AppResult, BoxFuture, Capabilities, CloseFrame, Conn, Error, FileBody, HttpConn,
    HttpReceive, HttpScope, HttpSend, LifespanConn, LifespanReceive, LifespanScope, LifespanSend,
    Message, Receiver, ResponseStart, Sender, WebSocketConn, WebSocketReceive, WebSocketScope,
    WebSocketSend,
};
use rgi_conformance::{Request, Side, TestClient, Validator, ViolationLog};

/// Reads the request body to its end, then sends the scripted events,
/// stopping at the first send error.
struct Script(fn() -> Vec<HttpSend>);

impl App for Script {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        http.read_body(1 << 20).await?;
        for event in (self.0)() {
            http.send(event).await?;
        }
        Ok(())
    }
}

fn start(status: u16) -> HttpSend {
    HttpSend::Start(ResponseStart::new(StatusCode::from_u16(status).unwrap()))
}

fn start_with(status: u16, name: &'static str, value: &'static str) -> HttpSend {
    HttpSend::Start(
        ResponseStart::new(StatusCode::from_u16(status).unwrap())
            .header(HeaderName::from_static(name), value),
    )
}

/// The rule of the first violation `script` causes for `request`.
async fn first_rule(script: fn() -> Vec<HttpSend>, request: Request) -> Option<&'static str> {
    let validator = Validator::new(Script(script));
    let log = validator.log();
    let _ = TestClient::new(validator).send(request).await.unwrap();
    log.first().map(|v| v.rule)
}

async fn rule(script: fn() -> Vec<HttpSend>) -> Option<&'static str> {
    first_rule(script, Request::get("/")).await
}

#[tokio::test]
async fn correct_responses_pass() {
    assert_eq!(rule(|| vec![start(200), HttpSend::body("hi")]).await, None);
    assert_eq!(
        rule(|| vec![
            start_with(200, "content-length", "5"),
            HttpSend::chunk("he"),
            HttpSend::flush(),
            HttpSend::body("llo")
        ])
        .await,
        None
    );
    assert_eq!(
        first_rule(
            || vec![start_with(200, "content-length", "5"), HttpSend::body("")],
            Request::head("/")
        )
        .await,
        None,
        "HEAD keeps the content-length of the body it does not carry"
    );
    assert_eq!(
        rule(|| vec![
            HttpSend::Start(ResponseStart::new(StatusCode::OK).with_trailers()),
            HttpSend::body("x"),
            HttpSend::Trailers(HeaderMap::new())
        ])
        .await,
        None
    );
}

#[tokio::test]
async fn response_shape_rules() {
    assert_eq!(
        rule(|| vec![start(200), start(200), HttpSend::body("")]).await,
        Some("HTTP-020")
    );
    assert_eq!(rule(|| vec![HttpSend::body("x")]).await, Some("HTTP-020"));
    assert_eq!(
        rule(|| vec![start(101), HttpSend::body("")]).await,
        Some("HTTP-021")
    );
    assert_eq!(
        rule(|| vec![start(200), HttpSend::body("a"), HttpSend::body("b")]).await,
        Some("HTTP-022")
    );
    assert_eq!(
        rule(|| vec![
            start_with(200, "transfer-encoding", "chunked"),
            HttpSend::body("")
        ])
        .await,
        Some("HTTP-023")
    );
    assert_eq!(
        rule(|| vec![
            start_with(200, "connection", "keep-alive"),
            HttpSend::body("")
        ])
        .await,
        Some("HTTP-023")
    );
    // `connection: close` alone is the app's way to ask for a close (HTTP-036).
    assert_eq!(
        rule(|| vec![start_with(200, "connection", "close"), HttpSend::body("")]).await,
        None
    );
    assert_eq!(
        rule(|| vec![start_with(200, "content-length", "3"), HttpSend::body("ab")]).await,
        Some("HTTP-024")
    );
    assert_eq!(
        rule(|| vec![
            start_with(200, "content-length", "1"),
            HttpSend::chunk("ab"),
            HttpSend::body("")
        ])
        .await,
        Some("HTTP-024")
    );
    assert_eq!(
        rule(|| vec![start(204), HttpSend::body("x")]).await,
        Some("HTTP-025")
    );
    assert_eq!(
        first_rule(|| vec![start(200), HttpSend::body("x")], Request::head("/")).await,
        Some("HTTP-025")
    );
    assert_eq!(
        rule(|| vec![
            start(200),
            HttpSend::body("x"),
            HttpSend::Trailers(HeaderMap::new())
        ])
        .await,
        Some("HTTP-030")
    );
    assert_eq!(
        rule(|| vec![
            HttpSend::EarlyHints(HeaderMap::new()),
            start(200),
            HttpSend::body("")
        ])
        .await,
        Some("EXT-001")
    );
    assert_eq!(
        first_rule(
            || vec![
                start(200),
                HttpSend::EarlyHints(HeaderMap::new()),
                HttpSend::body("")
            ],
            Request::get("/").capabilities(Capabilities::ALL)
        )
        .await,
        Some("EXT-010")
    );
    assert_eq!(rule(|| vec![start(200)]).await, Some("CORE-031"));
    assert_eq!(rule(Vec::new).await, Some("CORE-031"));
}

#[tokio::test]
async fn server_side_rules() {
    let events = vec![
        HttpReceive::Body {
            data: Bytes::from_static(b"a"),
            more: false,
        },
        HttpReceive::Body {
            data: Bytes::from_static(b"b"),
            more: false,
        },
    ];
    // The app stops reading after the final body, so deliver the extra
    // event through a reader that reads twice.
    struct ReadTwice;
    impl App for ReadTwice {
        async fn call(&self, conn: Conn<'_>) -> AppResult {
            let Conn::Http(mut http) = conn else {
                return conn.unsupported();
            };
            http.recv().await;
            http.recv().await;
            Ok(http.respond(StatusCode::OK, HeaderMap::new(), "").await?)
        }
    }
    let validator = Validator::new(ReadTwice);
    let log = validator.log();
    TestClient::new(validator)
        .send(Request::post("/").events(events))
        .await
        .unwrap();
    let found = log.first().unwrap();
    assert_eq!((found.rule, found.side), ("HTTP-010", Side::Server));
}

#[tokio::test]
async fn fail_fast_refuses_the_event() {
    /// Sends Start twice and reports what the second send returned.
    struct Twice;
    impl App for Twice {
        async fn call(&self, conn: Conn<'_>) -> AppResult {
            let Conn::Http(mut http) = conn else {
                return conn.unsupported();
            };
            http.send(start(200)).await?;
            let second = http.send(start(500)).await;
            assert_eq!(
                second.as_ref().err().and_then(Error::rule),
                Some("HTTP-020")
            );
            Ok(http.send(HttpSend::body("ok")).await?)
        }
    }
    let validator = Validator::new(Twice).fail_fast();
    let log = validator.log();
    let response = TestClient::new(validator).get("/").await.unwrap();
    assert!(response.exit().is_ok(), "{}", response.exit());
    // The refused Start never reached the client.
    assert_eq!(
        response
            .events()
            .filter(|e| matches!(e, HttpSend::Start(_)))
            .count(),
        1
    );
    assert_eq!(response.body(), "ok");
    assert_eq!(log.violations().len(), 1);
}

/// A WebSocket app that sends what its script says after Connect.
struct WsScript(fn() -> Vec<WebSocketSend>);

impl App for WsScript {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::WebSocket(mut ws) = conn else {
            return conn.unsupported();
        };
        ws.recv().await;
        for event in (self.0)() {
            ws.send(event).await?;
        }
        Ok(())
    }
}

async fn ws_rule(script: fn() -> Vec<WebSocketSend>) -> Option<&'static str> {
    let validator = Validator::new(WsScript(script));
    let log = validator.log();
    let client = TestClient::new(validator);
    if let Ok(session) = client
        .connect(Request::get("/ws").subprotocol("chat"))
        .await
    {
        let _ = session.finish().await;
    }
    log.first().map(|v| v.rule)
}

fn accept(sub: Option<&str>) -> WebSocketSend {
    let mut a = Accept::new();
    a.subprotocol = sub.map(str::to_owned);
    WebSocketSend::Accept(a)
}

#[tokio::test]
async fn websocket_rules() {
    assert_eq!(
        ws_rule(|| vec![
            accept(Some("chat")),
            WebSocketSend::Close(CloseFrame::normal())
        ])
        .await,
        None
    );
    assert_eq!(
        ws_rule(|| vec![WebSocketSend::Close(CloseFrame::normal())]).await,
        None
    );
    assert_eq!(
        ws_rule(|| vec![WebSocketSend::Message(Message::Text("x".into()))]).await,
        Some("WS-003")
    );
    assert_eq!(
        ws_rule(|| vec![accept(None), accept(None)]).await,
        Some("WS-002")
    );
    assert_eq!(
        ws_rule(|| vec![accept(Some("other"))]).await,
        Some("WS-006")
    );
    assert_eq!(
        ws_rule(|| {
            let mut a = Accept::new();
            a.headers
                .insert("sec-websocket-protocol", HeaderValue::from_static("chat"));
            vec![WebSocketSend::Accept(a)]
        })
        .await,
        Some("WS-006")
    );
    assert_eq!(
        ws_rule(|| vec![accept(None), WebSocketSend::Close(CloseFrame::new(1005))]).await,
        Some("WS-007")
    );
    assert_eq!(
        ws_rule(|| vec![
            WebSocketSend::Close(CloseFrame::normal()),
            WebSocketSend::Close(CloseFrame::normal())
        ])
        .await,
        Some("WS-005")
    );
    assert_eq!(
        ws_rule(|| vec![WebSocketSend::DenyStart(ResponseStart::new(
            StatusCode::UNAUTHORIZED
        ))])
        .await,
        Some("WS-002"),
        "denial without the capability"
    );
    assert_eq!(ws_rule(Vec::new).await, Some("WS-002"));
}

/// A lifespan app answering each event it receives with the next scripted
/// answer, then returning.
struct LifeScript(fn() -> Vec<Vec<LifespanSend>>);

impl App for LifeScript {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Lifespan(mut life) = conn else {
            return conn.unsupported();
        };
        for answers in (self.0)() {
            life.recv().await;
            for answer in answers {
                life.send(answer).await?;
            }
        }
        Ok(())
    }
}

async fn life_rule(script: fn() -> Vec<Vec<LifespanSend>>) -> Option<&'static str> {
    let validator = Validator::new(LifeScript(script));
    let log = validator.log();
    // The LIFE-006 case never returns: keep its bounded wait short.
    let client = TestClient::new(validator).timeout(std::time::Duration::from_millis(200));
    let mut life = client.lifespan();
    let _ = life.startup().await;
    let _ = life.shutdown().await;
    let _ = life.finish().await;
    log.first().map(|v| v.rule)
}

#[tokio::test]
async fn lifespan_rules() {
    use LifespanSend::*;
    assert_eq!(
        life_rule(|| vec![vec![StartupComplete], vec![ShutdownComplete]]).await,
        None
    );
    assert_eq!(
        life_rule(|| vec![
            vec![StartupComplete, StartupComplete],
            vec![ShutdownComplete]
        ])
        .await,
        Some("LIFE-002")
    );
    assert_eq!(
        life_rule(|| vec![vec![StartupComplete, ShutdownComplete]]).await,
        Some("LIFE-005")
    );
    assert_eq!(life_rule(|| vec![vec![]]).await, Some("LIFE-002"));
    assert_eq!(
        life_rule(|| vec![vec![StartupComplete], vec![]]).await,
        Some("LIFE-005")
    );
    assert_eq!(
        life_rule(|| vec![vec![StartupComplete], vec![ShutdownComplete], vec![]]).await,
        Some("LIFE-006")
    );
}

#[tokio::test]
async fn the_log_keeps_the_first_violations_and_counts_the_rest() {
    let log = ViolationLog::with_limit(2);
    let client = TestClient::new(Validator::with_log(
        Script(|| vec![start(200), start(200), HttpSend::body("")]),
        log.clone(),
    ));
    for _ in 0..5 {
        client.get("/").await.unwrap();
    }
    assert_eq!(log.violations().len(), 2);
    assert_eq!(log.not_kept(), 3);
    assert!(!log.is_clean());
    assert_eq!(log.take().len(), 2);
    assert!(log.is_clean(), "take() empties the log and its count");
}

// ------------------------------------------------------------------------
// Rules only a misbehaving caller or a hand-driven app can break: the
// validator is driven directly, by a scripted server side.

/// Delivers its events in order, then nothing more (pending).
struct Deliver<E>(VecDeque<E>);

impl<E: Send> Receiver<E> for Deliver<E> {
    fn poll_receive(&mut self, _: &mut Context<'_>) -> Poll<E> {
        self.0.pop_front().map_or(Poll::Pending, Poll::Ready)
    }
}

/// Takes every event at once, whatever came before: a server that does
/// not enforce the protocol.
struct TakeAll;

impl<E> Sender<E> for TakeAll {
    fn start_send(&mut self, _: E) -> Result<(), Error> {
        Ok(())
    }
    fn poll_flush(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }
}

/// Fails every send with `Disconnected`.
struct Gone;

impl<E> Sender<E> for Gone {
    fn start_send(&mut self, _: E) -> Result<(), Error> {
        Err(Error::Disconnected)
    }
    fn poll_flush(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Err(Error::Disconnected))
    }
}

type Drive = for<'a> fn(Conn<'a>) -> BoxFuture<'a, AppResult>;

/// An app running a plain async function.
struct Run(Drive);

impl App for Run {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        (self.0)(conn).await
    }
}

/// The first rule `app` breaks, or its caller does, when driven with
/// `conn` (bounded: an app left waiting counts as done).
async fn driven(app: Drive, conn: Conn<'_>) -> Option<&'static str> {
    let validator = Validator::new(Run(app));
    let log = validator.log();
    let _ = tokio::time::timeout(Duration::from_millis(200), validator.call(conn)).await;
    log.first().map(|v| v.rule)
}

fn http_scope(capabilities: Capabilities) -> HttpScope {
    let mut scope = HttpScope::new(Method::GET, Uri::from_static("/")).unwrap();
    scope.capabilities = capabilities;
    scope
}

fn ws_scope(capabilities: Capabilities) -> WebSocketScope {
    WebSocketScope::new(http_scope(capabilities), Vec::new())
}

/// Reads two events, then answers.
fn read_twice_then_respond(conn: Conn<'_>) -> BoxFuture<'_, AppResult> {
    Box::pin(async move {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        http.recv().await;
        http.recv().await;
        Ok(http.respond(StatusCode::OK, HeaderMap::new(), "").await?)
    })
}

#[tokio::test]
async fn caller_side_http_rules() {
    let body = |more| HttpReceive::Body {
        data: Bytes::new(),
        more,
    };
    // HTTP-011: a body after Disconnect.
    let mut rx = Deliver(VecDeque::from([HttpReceive::Disconnect, body(false)]));
    let mut tx = TakeAll;
    let mut scope = http_scope(Capabilities::NONE);
    let conn = HttpConn::new(&mut scope, &mut rx, &mut tx);
    assert_eq!(
        driven(read_twice_then_respond, conn.into()).await,
        Some("HTTP-011")
    );
    // CORE-010: a send taken after the caller delivered Disconnect.
    let mut rx = Deliver(VecDeque::from([body(true), HttpReceive::Disconnect]));
    let mut tx = TakeAll;
    let mut scope = http_scope(Capabilities::NONE);
    let conn = HttpConn::new(&mut scope, &mut rx, &mut tx);
    assert_eq!(
        driven(read_twice_then_respond, conn.into()).await,
        Some("CORE-010")
    );
}

#[tokio::test]
async fn app_side_http_rules_for_hand_driven_apps() {
    fn two_without_flush(conn: Conn<'_>) -> BoxFuture<'_, AppResult> {
        Box::pin(async move {
            let Conn::Http(http) = conn else {
                return conn.unsupported();
            };
            http.sender.start_send(start(200))?;
            http.sender.start_send(HttpSend::body(""))?;
            Ok(())
        })
    }
    let mut rx = Deliver(VecDeque::new());
    let mut tx = TakeAll;
    let mut scope = http_scope(Capabilities::NONE);
    let conn = HttpConn::new(&mut scope, &mut rx, &mut tx);
    assert_eq!(
        driven(two_without_flush, conn.into()).await,
        Some("CORE-021")
    );

    fn sends_after_disconnected(conn: Conn<'_>) -> BoxFuture<'_, AppResult> {
        Box::pin(async move {
            let Conn::Http(mut http) = conn else {
                return conn.unsupported();
            };
            let _ = http.send(start(200)).await;
            Ok(http.send(HttpSend::body("")).await?)
        })
    }
    let mut rx = Deliver(VecDeque::new());
    let mut tx = Gone;
    let mut scope = http_scope(Capabilities::NONE);
    let conn = HttpConn::new(&mut scope, &mut rx, &mut tx);
    assert_eq!(
        driven(sends_after_disconnected, conn.into()).await,
        Some("CORE-011")
    );

    fn file_before_start(conn: Conn<'_>) -> BoxFuture<'_, AppResult> {
        Box::pin(async move {
            let Conn::Http(mut http) = conn else {
                return conn.unsupported();
            };
            http.send(HttpSend::File(FileBody::new("/dev/null")))
                .await?;
            Ok(())
        })
    }
    let mut rx = Deliver(VecDeque::new());
    let mut tx = TakeAll;
    let mut scope = http_scope(Capabilities::ALL);
    let conn = HttpConn::new(&mut scope, &mut rx, &mut tx);
    assert_eq!(
        driven(file_before_start, conn.into()).await,
        Some("EXT-020")
    );
}

#[tokio::test]
async fn trailer_rules() {
    assert_eq!(
        rule(|| vec![
            HttpSend::Start(ResponseStart::new(StatusCode::OK).with_trailers()),
            HttpSend::chunk("x"),
            HttpSend::Trailers(HeaderMap::new()),
        ])
        .await,
        Some("HTTP-030"),
        "trailers before the final body"
    );
    assert_eq!(
        rule(|| vec![
            HttpSend::Start(ResponseStart::new(StatusCode::OK).with_trailers()),
            HttpSend::body("x"),
            HttpSend::Trailers(HeaderMap::new()),
            HttpSend::Trailers(HeaderMap::new()),
        ])
        .await,
        Some("HTTP-030"),
        "trailers twice"
    );
}

/// Waits for `Connect`, then reads once more, then accepts.
fn reads_then_accepts(conn: Conn<'_>) -> BoxFuture<'_, AppResult> {
    Box::pin(async move {
        let Conn::WebSocket(mut ws) = conn else {
            return conn.unsupported();
        };
        ws.recv().await;
        ws.recv().await;
        ws.send(WebSocketSend::Accept(Accept::new())).await?;
        Ok(())
    })
}

#[tokio::test]
async fn caller_side_websocket_and_lifespan_rules() {
    let text = || WebSocketReceive::Message(Message::Text("x".into()));
    // WS-001: a message before the app answered Connect.
    let mut rx = Deliver(VecDeque::from([WebSocketReceive::Connect, text()]));
    let mut tx = TakeAll;
    let mut scope = ws_scope(Capabilities::NONE);
    let conn = WebSocketConn::new(&mut scope, &mut rx, &mut tx);
    assert_eq!(
        driven(reads_then_accepts, conn.into()).await,
        Some("WS-001")
    );
    // WS-008: a message after Disconnect.
    let mut rx = Deliver(VecDeque::from([
        WebSocketReceive::Disconnect(CloseFrame::new(1006)),
        text(),
    ]));
    let mut tx = TakeAll;
    let mut scope = ws_scope(Capabilities::NONE);
    let conn = WebSocketConn::new(&mut scope, &mut rx, &mut tx);
    assert_eq!(
        driven(reads_then_accepts, conn.into()).await,
        Some("WS-008")
    );

    fn answers_startup_and_waits(conn: Conn<'_>) -> BoxFuture<'_, AppResult> {
        Box::pin(async move {
            let Conn::Lifespan(mut life) = conn else {
                return conn.unsupported();
            };
            life.recv().await;
            life.send(LifespanSend::StartupFailed {
                message: "no".into(),
            })
            .await?;
            life.recv().await;
            Ok(())
        })
    }
    // LIFE-004: Shutdown although startup failed.
    let mut rx = Deliver(VecDeque::from([
        LifespanReceive::Startup,
        LifespanReceive::Shutdown,
    ]));
    let mut tx = TakeAll;
    let mut scope = LifespanScope::default();
    let conn = LifespanConn::new(&mut scope, &mut rx, &mut tx);
    assert_eq!(
        driven(answers_startup_and_waits, conn.into()).await,
        Some("LIFE-004")
    );
    // LIFE-001: Shutdown first.
    let mut rx = Deliver(VecDeque::from([LifespanReceive::Shutdown]));
    let mut tx = TakeAll;
    let mut scope = LifespanScope::default();
    let conn = LifespanConn::new(&mut scope, &mut rx, &mut tx);
    assert_eq!(
        driven(answers_startup_and_waits, conn.into()).await,
        Some("LIFE-001")
    );
}

type WsEvents = fn() -> Vec<WebSocketSend>;

#[tokio::test]
async fn denial_rules() {
    let cases: [(WsEvents, Option<&str>); 4] = [
        (
            || {
                vec![
                    WebSocketSend::DenyStart(ResponseStart::new(StatusCode::FORBIDDEN)),
                    WebSocketSend::DenyBody {
                        data: Bytes::from_static(b"no"),
                        more: false,
                    },
                ]
            },
            None,
        ),
        (
            || {
                vec![
                    WebSocketSend::DenyStart(ResponseStart::new(StatusCode::FORBIDDEN)),
                    WebSocketSend::Close(CloseFrame::normal()),
                ]
            },
            Some("WS-009"),
        ),
        (
            || {
                vec![WebSocketSend::DenyBody {
                    data: Bytes::new(),
                    more: false,
                }]
            },
            Some("WS-009"),
        ),
        (
            || {
                vec![WebSocketSend::DenyStart(
                    ResponseStart::new(StatusCode::FORBIDDEN).with_trailers(),
                )]
            },
            Some("WS-012"),
        ),
    ];
    for (events, want) in cases {
        let validator = Validator::new(WsScript(events));
        let log = validator.log();
        let client = TestClient::new(validator);
        let request = Request::get("/ws").capabilities(Capabilities::ALL);
        if let Ok(session) = client.connect(request).await {
            let _ = session.finish().await;
        }
        assert_eq!(log.first().map(|v| v.rule), want, "{:?}", log.first());
    }
}
