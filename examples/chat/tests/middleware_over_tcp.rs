//! The catalogue's middleware over real WebSocket connections: each in
//! front of a probe app on rgi-server, driven by tokio-tungstenite over
//! TCP. What in-process tests cannot show: the refusals reach a real client
//! as HTTP responses (401 JSON, 429, 403), the request id is in the `101`
//! on the wire, the access log sees a close frame the client sent.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{bounded, serve};
use futures_util::{SinkExt, StreamExt};
use rgi::{Accept, App, AppResult, Conn, Message, WebSocketReceive, WebSocketSend};
use rgi_middleware_examples::access_log::{Entry, SocketStats};
use rgi_middleware_examples::bearer_auth::{constant_time_eq, Authenticated};
use rgi_middleware_examples::{AccessLog, BearerAuth, RateLimit, RequestId, Router, SetRequestId};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{Response, StatusCode};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Accepts; first says what it found in its scope
/// (`root_path route_path request-id user`), then echoes every message.
struct Probe;

impl App for Probe {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::WebSocket(mut ws) = conn else {
            return conn.unsupported();
        };
        if ws.recv().await != WebSocketReceive::Connect {
            return Ok(());
        }
        let scope = &ws.scope;
        let id = scope.extensions.get::<RequestId>();
        let user = scope.extensions.get::<Authenticated<&'static str>>();
        let report = format!(
            "{} {} {} {}",
            scope.root_path,
            scope.route_path(),
            id.map_or("-", |id| id.0.to_str().unwrap_or("?")),
            user.map_or("-", |user| user.0),
        );
        ws.send(WebSocketSend::Accept(Accept::new())).await?;
        ws.send(WebSocketSend::Message(Message::Text(report)))
            .await?;
        while let WebSocketReceive::Message(message) = ws.recv().await {
            ws.send(WebSocketSend::Message(message)).await?;
        }
        Ok(())
    }
}

/// Connects with `headers`; the socket and the `101`, or the refusal.
async fn connect(
    url: &str,
    headers: &[(&'static str, &str)],
) -> Result<(Socket, Response<Option<Vec<u8>>>), Response<Option<Vec<u8>>>> {
    let mut request = url.into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(*name, value.parse().unwrap());
    }
    match bounded("the handshake", tokio_tungstenite::connect_async(request)).await {
        Ok(connected) => Ok(connected),
        Err(tungstenite::Error::Http(refusal)) => Err(*refusal),
        Err(other) => panic!("the handshake failed below HTTP: {other}"),
    }
}

async fn next_text(socket: &mut Socket) -> String {
    match bounded("a message", socket.next()).await {
        Some(Ok(WsMessage::Text(text))) => text.as_str().to_owned(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

fn body(refusal: &Response<Option<Vec<u8>>>) -> &str {
    std::str::from_utf8(refusal.body().as_deref().unwrap_or_default()).unwrap()
}

fn verify(token: &str) -> Option<&'static str> {
    constant_time_eq(token.as_bytes(), b"s3cret").then_some("alice")
}

#[tokio::test]
async fn bearer_auth_refuses_a_handshake_with_its_401() {
    let server = serve(BearerAuth::new(Probe, verify)).await;
    let url = server.ws("/ws");

    let refusal = connect(&url, &[]).await.unwrap_err();
    assert_eq!(refusal.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        body(&refusal),
        r#"{"error":"Missing Authorization header"}"#
    );
    assert_eq!(
        refusal.headers()["www-authenticate"],
        r#"Bearer realm="API""#
    );
    assert_eq!(refusal.headers()["content-type"], "application/json");

    let refusal = connect(&url, &[("authorization", "Bearer nope")])
        .await
        .unwrap_err();
    assert_eq!(refusal.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(body(&refusal), r#"{"error":"Invalid or expired token"}"#);

    let (mut socket, response) = connect(&url, &[("authorization", "Bearer s3cret")])
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(next_text(&mut socket).await, " /ws - alice");
    socket.send(WsMessage::text("through")).await.unwrap();
    assert_eq!(next_text(&mut socket).await, "through");
    socket.close(None).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn access_log_logs_the_websocket_when_it_closes() {
    type Seen = Arc<Mutex<Vec<(String, Option<u16>, u64, Option<SocketStats>)>>>;
    let seen = Seen::default();
    let sink = {
        let seen = seen.clone();
        move |entry: &Entry<'_>| {
            let status = entry.status.map(|s| s.as_u16());
            let line = (entry.path.to_owned(), status, entry.bytes, entry.websocket);
            seen.lock().unwrap().push(line);
        }
    };
    let server = serve(AccessLog::with_sink(Probe, sink)).await;
    let (mut socket, _) = connect(&server.ws("/logged?x=1"), &[]).await.unwrap();
    let report = next_text(&mut socket).await;
    for text in ["one", "two", "three"] {
        socket.send(WsMessage::text(text)).await.unwrap();
        assert_eq!(next_text(&mut socket).await, text);
    }
    socket
        .send(WsMessage::binary(vec![0u8; 1000]))
        .await
        .unwrap();
    assert!(matches!(
        bounded("the binary echo", socket.next()).await,
        Some(Ok(WsMessage::Binary(data))) if data.len() == 1000
    ));
    socket
        .close(Some(CloseFrame {
            code: CloseCode::Away,
            reason: "bye".into(),
        }))
        .await
        .unwrap();
    // The entry is written when the app returns, after the close handshake.
    bounded("the access log entry", async {
        while seen.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let stats = seen.lock().unwrap()[0].3.expect("a WebSocket entry");
    assert_eq!(
        seen.lock().unwrap()[0].0,
        "/logged",
        "the path, without the query"
    );
    assert_eq!(seen.lock().unwrap()[0].1, Some(101));
    let out_bytes = (report.len() + "onetwothree".len() + 1000) as u64;
    assert_eq!(seen.lock().unwrap()[0].2, out_bytes);
    assert_eq!(
        (stats.messages_in, stats.bytes_in, stats.messages_out),
        (4, 1011, 5)
    );
    assert_eq!(stats.close_code, Some(1001), "the client's close code");
    server.stop().await;
}

#[tokio::test]
async fn request_id_is_in_the_101_and_the_scope() {
    let server = serve(SetRequestId::new(Probe)).await;
    let (mut socket, response) = connect(&server.ws("/"), &[]).await.unwrap();
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 33, "{id}");
    assert_eq!(next_text(&mut socket).await, format!(" / {id} -"));
    socket.close(None).await.unwrap();

    let (mut socket, response) = connect(&server.ws("/"), &[("x-request-id", "trace-42")])
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-42");
    assert_eq!(next_text(&mut socket).await, " / trace-42 -");
    socket.close(None).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn rate_limit_refuses_handshakes_over_the_budget() {
    // Two at once, then one a minute: all from 127.0.0.1.
    let server = serve(RateLimit::new(Probe, 1, 2)).await;
    let mut open = Vec::new();
    for _ in 0..2 {
        let (socket, _) = connect(&server.ws("/"), &[]).await.unwrap();
        open.push(socket);
    }
    let refusal = connect(&server.ws("/"), &[]).await.unwrap_err();
    assert_eq!(refusal.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refusal.headers()["retry-after"], "60");
    assert_eq!(body(&refusal), "Rate limit exceeded");
    // The sockets already open are not affected.
    for socket in &mut open {
        next_text(socket).await;
        socket.send(WsMessage::text("still")).await.unwrap();
        assert_eq!(next_text(socket).await, "still");
        socket.close(None).await.unwrap();
    }
    server.stop().await;
}

#[tokio::test]
async fn router_mounts_a_websocket_app_under_a_prefix() {
    let router = Router::new()
        .mount("/chat", Router::new().mount("/rooms", Probe))
        .mount("/echo", Probe);
    let server = serve(router).await;
    let (mut socket, _) = connect(&server.ws("/chat/rooms/lobby"), &[]).await.unwrap();
    assert_eq!(next_text(&mut socket).await, "/chat/rooms /lobby - -");
    socket.send(WsMessage::text("routed")).await.unwrap();
    assert_eq!(next_text(&mut socket).await, "routed");
    socket.close(None).await.unwrap();

    let (mut socket, _) = connect(&server.ws("/echo"), &[]).await.unwrap();
    assert_eq!(next_text(&mut socket).await, "/echo  - -");
    socket.close(None).await.unwrap();

    // No mount: closed before accept, which the server answers 403.
    for path in ["/nowhere", "/chatter", "/chat/other"] {
        let refusal = connect(&server.ws(path), &[]).await.unwrap_err();
        assert_eq!(refusal.status(), StatusCode::FORBIDDEN, "{path}");
    }
    server.stop().await;
}
