//! Expect: 100-continue is answered only when the app first asks for the
//! body, and never once the response started (rule HTTP-013).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use http::{HeaderMap, StatusCode};
use rgi::{App, AppResult, Conn};
use tokio::sync::Notify;

/// Waits for the test's go-ahead, then echoes the body.
struct PatientEcho(Arc<Notify>);

impl App for PatientEcho {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        self.0.notified().await;
        let body = http.read_body(1 << 20).await?;
        http.respond(StatusCode::OK, HeaderMap::new(), body).await?;
        Ok(())
    }
}

/// Refuses the upload without reading it.
struct Refuser;

impl App for Refuser {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        http.respond(StatusCode::FORBIDDEN, HeaderMap::new(), "no")
            .await?;
        Ok(())
    }
}

const HEAD: &[u8] =
    b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\nExpect: 100-continue\r\n\r\n";

#[tokio::test]
async fn continue_is_sent_when_the_app_reads() {
    let go = Arc::new(Notify::new());
    let server = start(PatientEcho(go.clone())).await;
    let mut client = server.connect().await;
    client.send(HEAD).await;
    assert!(
        client.nothing_within(Duration::from_millis(200)).await,
        "100 Continue before the app asked for the body"
    );
    go.notify_one();
    let (status, headers) = client.read_head().await;
    assert_eq!((status, headers.len()), (100, 0));
    client.send(b"upload").await;
    let r = client.read_response().await;
    assert_eq!((r.status, r.text()), (200, "upload"));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn no_continue_when_the_app_answers_without_reading() {
    let server = start(Refuser).await;
    let mut client = server.connect().await;
    client.send(HEAD).await;
    let r = client.read_response().await;
    assert_eq!((r.status, r.text()), (403, "no"));
    // The body was never asked for: the server closes rather than guess
    // whether the client will send it, and says so (RFC 9110 §10.1.1: a
    // final status before the whole content "SHOULD indicate whether it
    // intends to close the connection"; rule HTTP-029).
    assert_eq!(r.header("connection"), Some("close"));
    client.assert_closed().await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn http10_expectation_is_ignored() {
    let go = Arc::new(Notify::new());
    go.notify_one();
    let server = start(PatientEcho(go)).await;
    let mut client = server.connect().await;
    client
        .send(b"POST / HTTP/1.0\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nok")
        .await;
    let r = client.read_response().await;
    assert_eq!((r.status, r.text()), (200, "ok"));
    server.stop().await.unwrap();
}
