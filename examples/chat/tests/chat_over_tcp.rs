//! The chat through rgi-server over TCP with a real WebSocket client: the
//! login's cookie opens the handshake, a message reaches every member, a
//! handshake without a session gets the JSON 401, and the page is served.

mod common;

use std::net::SocketAddr;

use common::{bounded, serve};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One HTTP/1.1 request on its own connection (`connection: close`); the
/// whole response as text.
async fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: chat\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    bounded("the response", stream.read_to_end(&mut response))
        .await
        .unwrap();
    String::from_utf8(response).unwrap()
}

/// Logs `name` in; the `cookie` value carrying the session.
async fn login(addr: SocketAddr, name: &str) -> String {
    let response = http(addr, "POST", "/login", name).await;
    assert!(response.starts_with("HTTP/1.1 200 "), "{response}");
    let set = response
        .lines()
        .find_map(|line| line.strip_prefix("set-cookie: "))
        .expect("a session cookie");
    set.split(';').next().unwrap().to_owned()
}

async fn join(url: &str, cookie: &str) -> Socket {
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("cookie", cookie.parse().unwrap());
    let (socket, response) = bounded("the handshake", tokio_tungstenite::connect_async(request))
        .await
        .unwrap();
    assert!(response.headers().contains_key("x-request-id"));
    socket
}

async fn event(socket: &mut Socket) -> Value {
    match bounded("a room event", socket.next()).await {
        Some(Ok(Message::Text(text))) => serde_json::from_str(text.as_str()).unwrap(),
        other => panic!("expected a JSON text, got {other:?}"),
    }
}

#[tokio::test]
async fn two_members_talk_through_the_server() {
    let server = serve(chat::app()).await;
    let page = http(server.addr, "GET", "/", "").await;
    assert!(page.starts_with("HTTP/1.1 200 "), "{page}");
    assert!(page.contains("new WebSocket("));

    let (alice, bob) = (
        login(server.addr, "alice").await,
        login(server.addr, "bob").await,
    );
    let mut a = join(&server.ws("/ws"), &alice).await;
    assert_eq!(event(&mut a).await["type"], "welcome");
    let mut b = join(&server.ws("/ws"), &bob).await;
    assert_eq!(
        event(&mut b).await,
        json!({"type": "welcome", "you": "bob", "members": ["alice", "bob"]})
    );
    assert_eq!(event(&mut a).await, json!({"type": "join", "name": "bob"}));

    b.send(Message::text("hi alice")).await.unwrap();
    let said = json!({"type": "message", "from": "bob", "text": "hi alice"});
    assert_eq!(event(&mut a).await, said);
    assert_eq!(event(&mut b).await, said);

    b.close(None).await.unwrap();
    assert_eq!(event(&mut a).await, json!({"type": "leave", "name": "bob"}));
    a.close(None).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn a_handshake_without_a_session_is_refused_with_json() {
    let server = serve(chat::app()).await;
    let request = server.ws("/ws").into_client_request().unwrap();
    let refusal = match bounded("the handshake", tokio_tungstenite::connect_async(request)).await {
        Err(tungstenite::Error::Http(refusal)) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(refusal.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        refusal.body().as_deref(),
        Some(&br#"{"error":"log in first"}"#[..])
    );
    assert!(refusal.headers().contains_key("x-request-id"));
    server.stop().await;
}
