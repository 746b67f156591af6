//! The validator catches each broken rule with its id, and stays quiet on
//! correct traffic.

use bytes::Bytes;
use rgi::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use rgi::{
    Accept, App, AppResult, Capabilities, CloseFrame, Conn, Error, HttpReceive, HttpSend,
    LifespanSend, Message, ResponseStart, WebSocketSend,
};
use rgi_conformance::{Request, Side, TestClient, Validator, ViolationLog};

/// Reads the request body to its end, then sends the scripted events,
/// stopping at the first send error.
struct Script(fn() -> Vec<HttpSend>);

#[rgi::async_trait]
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
    #[rgi::async_trait]
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
    #[rgi::async_trait]
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

#[rgi::async_trait]
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

#[rgi::async_trait]
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
