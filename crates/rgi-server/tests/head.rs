//! HEAD: headers without a body (rule HTTP-026).

mod common;

use bytes::Bytes;
use common::*;
use http::StatusCode;
use rgi::{App, AppResult, Conn, HttpSend, ResponseStart};

/// Streams a body without content-length; for HEAD it streams the same
/// response with no body bytes (a flush, then the empty final body), as
/// HTTP-025 asks.
struct Streamer;

impl App for Streamer {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        http.send(HttpSend::Start(ResponseStart::new(StatusCode::OK)))
            .await?;
        if http.scope.method == http::Method::HEAD {
            http.send(HttpSend::flush()).await?;
            http.send(HttpSend::body(Bytes::new())).await?;
            return Ok(());
        }
        http.send(HttpSend::chunk("some")).await?;
        http.send(HttpSend::body(Bytes::from_static(b" body")))
            .await?;
        Ok(())
    }
}

#[tokio::test]
async fn head_keeps_content_length_and_sends_no_body() {
    let server = start(Hello).await;
    let mut client = server.connect().await;
    client.send(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n").await;
    let r = client.read_response_to(true).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("13"));
    // No body bytes: the next response starts right away.
    let r = client.request(&get("/")).await;
    assert_eq!(r.text(), "Hello, world!");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn head_of_a_streamed_response_has_no_body_and_no_chunking() {
    let server = start(Streamer).await;
    let mut client = server.connect().await;
    client.send(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n").await;
    let r = client.read_response_to(true).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("transfer-encoding"), None);
    assert_eq!(r.header("content-length"), None);
    let r = client.request(&get("/")).await;
    assert_eq!(r.text(), "some body");
    server.stop().await.unwrap();
}
