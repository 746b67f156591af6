//! The test client on its own: requests, streaming with backpressure,
//! disconnects, WebSocket, lifespan, and a hung app turning into a timeout.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rgi::http::{HeaderMap, StatusCode};
use rgi::{
    Accept, App, AppResult, CloseFrame, Conn, Error, HttpReceive, HttpSend, LifespanReceive,
    LifespanSend, Message, ResponseStart, WebSocketReceive, WebSocketSend,
};
use rgi_conformance::{
    ClientError, DisconnectAt, Handshake, Request, ShutdownOutcome, StartupOutcome, TestClient,
};

/// Echoes the request body back chunk by chunk, tags the response with the
/// number of request chunks, answers lifespan, echoes WebSocket messages.
struct Echo;

#[derive(Debug, PartialEq)]
struct Greeting(&'static str);

impl App for Echo {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        match conn {
            Conn::Http(mut http) => {
                let greeting = http
                    .scope
                    .state
                    .get::<Greeting>()
                    .map(|g| g.0)
                    .unwrap_or("");
                let start = ResponseStart::new(StatusCode::OK)
                    .header(rgi::http::HeaderName::from_static("x-greeting"), greeting);
                http.send(HttpSend::Start(start)).await?;
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
            Conn::WebSocket(mut ws) => {
                assert_eq!(ws.recv().await, WebSocketReceive::Connect);
                let mut accept = Accept::new();
                accept.subprotocol = ws.scope.subprotocols.first().cloned();
                ws.send(WebSocketSend::Accept(accept)).await?;
                loop {
                    match ws.recv().await {
                        WebSocketReceive::Message(m) => ws.send(WebSocketSend::Message(m)).await?,
                        WebSocketReceive::Disconnect(_) => return Ok(()),
                        other => panic!("unexpected {other:?}"),
                    }
                }
            }
            Conn::Lifespan(mut life) => {
                assert_eq!(life.recv().await, LifespanReceive::Startup);
                life.scope.state.insert(Greeting("hello"));
                life.send(LifespanSend::StartupComplete).await?;
                assert_eq!(life.recv().await, LifespanReceive::Shutdown);
                life.send(LifespanSend::ShutdownComplete).await?;
                Ok(())
            }
            other => other.unsupported(),
        }
    }
}

#[tokio::test]
async fn chunks_come_back_in_order_and_sizes() {
    let client = TestClient::new(Echo);
    let response = client
        .send(Request::post("/").chunks(["a", "", "bcd", "efgh"]))
        .await
        .unwrap();
    assert_eq!(response.status(), Some(StatusCode::OK));
    let chunks: Vec<Bytes> = response.chunks();
    assert_eq!(chunks, ["a", "", "bcd", "efgh"].map(Bytes::from));
    assert_eq!(response.body(), "abcdefgh");
    assert!(response.is_complete());
    assert!(response.exit().is_ok());
}

/// Sends a start and then body chunks forever, counting completed sends.
struct Firehose(Arc<AtomicUsize>);

impl App for Firehose {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        http.send(HttpSend::Start(ResponseStart::new(StatusCode::OK)))
            .await?;
        self.0.fetch_add(1, Ordering::SeqCst);
        loop {
            http.send(HttpSend::chunk("x")).await?;
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[tokio::test]
async fn backpressure_is_real() {
    let sent = Arc::new(AtomicUsize::new(0));
    let client = TestClient::new(Firehose(sent.clone()));
    let mut ex = client.open(Request::get("/"));
    // Let the app run as far as it can while nobody reads the response.
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    // Capacity 1: `Start` fits in the queue, the first chunk cannot.
    assert_eq!(sent.load(Ordering::SeqCst), 1);
    assert!(matches!(
        ex.next_event().await.unwrap(),
        Some(HttpSend::Start(_))
    ));
    assert!(matches!(
        ex.next_event().await.unwrap(),
        Some(HttpSend::Body { .. })
    ));
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    assert!(
        sent.load(Ordering::SeqCst) <= 3,
        "the app ran ahead of the reader"
    );
    ex.disconnect();
    let response = ex.finish().await.unwrap();
    assert!(response.exit().is_disconnect(), "{}", response.exit());
}

#[tokio::test]
async fn disconnect_mid_body_reaches_the_app() {
    let client = TestClient::new(Echo);
    let response = client
        .send(
            Request::post("/")
                .chunks(["a", "b", "c"])
                .disconnect_at(DisconnectAt::AfterRequestEvents(1)),
        )
        .await
        .unwrap();
    assert!(response.client_disconnected());
    assert!(response.exit().is_disconnect(), "{}", response.exit());
    assert!(!response.is_complete());
}

#[tokio::test]
async fn hung_app_is_a_timeout_with_a_trace() {
    let client = TestClient::new(Echo).timeout(Duration::from_millis(100));
    // The body never finishes: the app waits forever for more.
    let err = client
        .send(Request::post("/").events(vec![HttpReceive::Body {
            data: Bytes::from_static(b"x"),
            more: true,
        }]))
        .await
        .unwrap_err();
    match err {
        ClientError::Timeout { waiting_for, .. } => {
            assert!(
                waiting_for.contains("app→client Start(200)"),
                "{waiting_for}"
            );
        }
        other => panic!("expected a timeout, got {other}"),
    }
}

#[tokio::test]
async fn websocket_session() {
    let client = TestClient::new(Echo);
    let mut ws = client
        .connect(Request::get("/ws").subprotocol("chat"))
        .await
        .unwrap();
    assert_eq!(
        ws.handshake_outcome(),
        &Handshake::Accepted {
            subprotocol: Some("chat".into()),
            headers: HeaderMap::new()
        }
    );
    ws.send_text("hi").await.unwrap();
    assert_eq!(ws.recv_message().await.unwrap(), Message::Text("hi".into()));
    ws.send_binary(&b"\x01\x02"[..]).await.unwrap();
    assert_eq!(
        ws.recv_message().await.unwrap(),
        Message::Binary(Bytes::from_static(b"\x01\x02"))
    );
    ws.close(CloseFrame::normal());
    let transcript = ws.finish().await.unwrap();
    assert!(transcript.exit.is_ok());
}

#[tokio::test]
async fn lifespan_state_reaches_requests() {
    let client = TestClient::new(Echo);
    let mut life = client.lifespan();
    let StartupOutcome::Complete(state) = life.startup().await.unwrap() else {
        panic!("startup failed")
    };
    assert_eq!(state.get::<Greeting>(), Some(&Greeting("hello")));
    let response = client.get("/").await.unwrap();
    assert_eq!(response.header("x-greeting"), Some("hello"));
    assert_eq!(life.shutdown().await.unwrap(), ShutdownOutcome::Complete);
    assert!(life.finish().await.unwrap().exit.is_ok());
}

#[tokio::test]
async fn cancel_drops_the_app_future() {
    let client = TestClient::new(Echo);
    let mut ex = client.open(Request::post("/").events(vec![]));
    assert!(matches!(
        ex.next_event().await.unwrap(),
        Some(HttpSend::Start(_))
    ));
    let response = ex.cancel().await;
    assert!(matches!(
        response.exit(),
        rgi_conformance::AppExit::Cancelled
    ));
}
