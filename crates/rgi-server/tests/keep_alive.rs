//! Keep-alive on HTTP/1.1, HTTP/1.0 close-by-default, Connection: close.

mod common;

use common::*;

#[tokio::test]
async fn http11_keeps_the_connection_open() {
    let server = start(PathEcho).await;
    let mut client = server.connect().await;
    for i in 0..5 {
        let r = client.request(&get(&format!("/n{i}"))).await;
        assert_eq!((r.status, r.text()), (200, format!("/n{i}").as_str()));
        assert_eq!(r.header("connection"), None);
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn connection_close_is_honoured() {
    let server = start(PathEcho).await;
    let mut client = server.connect().await;
    let r = client
        .request(b"GET /last HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await;
    assert_eq!(r.text(), "/last");
    assert_eq!(r.header("connection"), Some("close"));
    client.assert_closed().await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn http10_closes_by_default() {
    let server = start(PathEcho).await;
    let raw = server.exchange_raw(b"GET /old HTTP/1.0\r\n\r\n").await;
    let text = String::from_utf8(raw).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("connection: close\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\n/old"), "{text}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn http10_keeps_alive_when_asked() {
    let server = start(PathEcho).await;
    let mut client = server.connect().await;
    for path in ["/a", "/b"] {
        let raw = format!("GET {path} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        let r = client.request(raw.as_bytes()).await;
        assert_eq!(r.text(), path);
        assert_eq!(r.header("connection"), Some("keep-alive"));
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn unread_buffered_body_does_not_break_the_next_request() {
    // Hello never reads the body; it arrives with the head, so the server
    // discards it and keeps the connection.
    let server = start(Hello).await;
    let mut client = server.connect().await;
    let r = client.request(&post("/", b"ignored body")).await;
    assert_eq!(r.text(), "Hello, world!");
    assert_eq!(r.header("connection"), None);
    let r = client.request(&get("/")).await;
    assert_eq!(r.text(), "Hello, world!");
    server.stop().await.unwrap();
}
