//! The opening handshake over raw TCP (spec: `spec/websocket.md`; RFC 6455
//! §4.2): completed only on the app's `Accept`, refused, denied, and the
//! bad upgrade requests the server answers itself.

mod common;

use std::time::Duration;

use common::ws::{next_line, upgrade, WsApp, ACCEPT, KEY};
use common::{start, start_with, test_config};

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn accept_answers_101_with_the_key_subprotocol_and_app_headers() {
    let (app, _log) = WsApp::new();
    let server = start(app).await;
    let mut client = server.connect().await;
    let headers = client
        .open(
            "/accept-extra",
            "Sec-WebSocket-Protocol: chat, superchat\r\n",
        )
        .await;
    assert_eq!(header(&headers, "sec-websocket-accept"), Some(ACCEPT));
    assert_eq!(header(&headers, "sec-websocket-protocol"), Some("chat"));
    assert_eq!(header(&headers, "x-extra"), Some("1"));
    assert_eq!(header(&headers, "upgrade"), Some("websocket"));
    assert_eq!(header(&headers, "connection"), Some("upgrade"));
    assert_eq!(header(&headers, "sec-websocket-extensions"), None);
    assert_eq!(header(&headers, "content-length"), None);
}

#[tokio::test]
async fn no_subprotocol_header_when_none_was_offered() {
    let (app, _log) = WsApp::new();
    let server = start(app).await;
    let headers = server.connect().await.open("/echo", "").await;
    assert_eq!(header(&headers, "sec-websocket-protocol"), None);
}

#[tokio::test]
async fn close_before_accept_is_403_without_body() {
    let (app, _log) = WsApp::new();
    let server = start(app).await;
    let raw = server.exchange_raw(&upgrade("/reject", "")).await;
    let text = String::from_utf8(raw).unwrap();
    assert!(text.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{text}");
    assert!(text.contains("content-length: 0\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\n"), "no body: {text}");
    assert!(!text.contains("sec-websocket-accept"), "{text}");
}

#[tokio::test]
async fn a_denial_response_reaches_the_client_with_its_status_and_body() {
    let (app, mut log) = WsApp::new();
    let server = start(app).await;
    let mut client = server.connect().await;
    client.send(&upgrade("/deny", "")).await;
    let response = client.read_response().await;
    assert_eq!(response.status, 401);
    assert_eq!(response.header("www-authenticate"), Some("Bearer"));
    assert_eq!(response.text(), "{\"error\":\"no\"}");
    assert_eq!(response.header("sec-websocket-accept"), None);
    client.assert_closed().await;
    assert_eq!(next_line(&mut log).await, "disconnect 1006", "WS-014");
}

#[tokio::test]
async fn apps_that_return_before_answering_get_403_or_500() {
    let (app, _log) = WsApp::new();
    let server = start(app).await;
    let unsupported = server.exchange_raw(&upgrade("/unsupported", "")).await;
    assert!(unsupported.starts_with(b"HTTP/1.1 403 "), "WS-010");
    let unanswered = server.exchange_raw(&upgrade("/ok-unanswered", "")).await;
    assert!(unanswered.starts_with(b"HTTP/1.1 500 "), "WS-010");
}

async fn status_of(raw: &str) -> (u16, String) {
    let (app, _log) = WsApp::new();
    let server = start(app).await;
    let answer = String::from_utf8(server.exchange_raw(raw.as_bytes()).await).unwrap();
    (answer[9..12].parse().unwrap(), answer)
}

const VERSION: &str = "Sec-WebSocket-Version: 13\r\n";

#[tokio::test]
async fn a_missing_or_wrong_version_is_426_naming_13() {
    for version in [
        "",
        "Sec-WebSocket-Version: 8\r\n",
        "Sec-WebSocket-Version: 13, 8\r\n",
    ] {
        let raw = format!(
            "GET /echo HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             {version}Sec-WebSocket-Key: {KEY}\r\n\r\n"
        );
        let (status, answer) = status_of(&raw).await;
        assert_eq!(status, 426, "{version:?}: {answer}");
        assert!(answer.contains("sec-websocket-version: 13\r\n"), "{answer}");
    }
}

#[tokio::test]
async fn bad_upgrade_requests_are_400() {
    let cases = [
        (
            "missing key",
            format!("GET /echo HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n{VERSION}\r\n"),
        ),
        (
            "malformed key",
            format!(
                "GET /echo HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n{VERSION}\
                 Sec-WebSocket-Key: not-base64-of-16-bytes\r\n\r\n"
            ),
        ),
        (
            "two keys",
            format!(
                "GET /echo HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n{VERSION}\
                 Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Key: {KEY}\r\n\r\n"
            ),
        ),
        (
            "POST",
            format!(
                "POST /echo HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n{VERSION}\
                 Sec-WebSocket-Key: {KEY}\r\n\r\n"
            ),
        ),
        (
            "HTTP/1.0",
            format!(
                "GET /echo HTTP/1.0\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n{VERSION}\
                 Sec-WebSocket-Key: {KEY}\r\n\r\n"
            ),
        ),
        (
            "no Connection: upgrade",
            format!(
                "GET /echo HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n{VERSION}\
                 Sec-WebSocket-Key: {KEY}\r\n\r\n"
            ),
        ),
        (
            "a body",
            format!(
                "GET /echo HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n{VERSION}\
                 Sec-WebSocket-Key: {KEY}\r\nContent-Length: 2\r\n\r\nhi"
            ),
        ),
    ];
    for (what, raw) in cases {
        let (status, answer) = status_of(&raw).await;
        assert_eq!(status, 400, "{what}: {answer}");
    }
}

#[tokio::test]
async fn other_upgrades_are_served_as_plain_http() {
    let server = start(common::Hello).await;
    let mut client = server.connect().await;
    let response = client
        .request(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "Hello, world!");
}

#[tokio::test]
async fn an_unanswered_connect_is_cut_off_by_the_handshake_timeout() {
    let (app, mut log) = WsApp::new();
    let mut config = test_config();
    config.websocket.handshake_timeout = Duration::from_millis(300);
    let server = start_with(app, config).await;
    let mut client = server.connect().await;
    client.send(&upgrade("/wait", "")).await;
    client.assert_closed().await;
    assert_eq!(next_line(&mut log).await, "disconnect 1006");
}

#[tokio::test]
async fn a_client_that_leaves_before_the_answer_is_1006_to_the_app() {
    let (app, mut log) = WsApp::new();
    let server = start(app).await;
    let mut client = server.connect().await;
    client.send(&upgrade("/wait", "")).await;
    drop(client);
    assert_eq!(
        next_line(&mut log).await,
        "disconnect 1006",
        "spec: handshake step 3"
    );
}

#[tokio::test]
async fn the_scope_carries_lifespan_state_the_client_and_the_denial_capability() {
    let (app, _log) = WsApp::new();
    let server = start(app).await;
    let mut client = server.connect().await;
    client.open("/state", "").await;
    let message = client.read_frame().await;
    assert_eq!(
        String::from_utf8(message.payload).unwrap(),
        "from startup; client true; denial true",
        "LIFE-010"
    );
}
