//! Every kind of bad input gets its status and a closed connection, and
//! the server keeps serving.

mod common;

use common::*;

/// Sends `raw`, expects `status`, `connection: close`, and the close.
async fn expect_refusal(server: &TestServer, raw: &[u8], status: u16) {
    let mut client = server.connect().await;
    let _ = client.try_send(raw).await;
    let r = client.read_response().await;
    assert_eq!(
        r.status,
        status,
        "for {:?}: {}",
        String::from_utf8_lossy(&raw[..raw.len().min(120)]),
        r.text()
    );
    assert_eq!(r.header("connection"), Some("close"));
    client.assert_closed().await;
}

/// A good request on a new connection still gets its answer.
async fn still_serving(server: &TestServer, body: &str) {
    let mut client = server.connect().await;
    let r = client.request(&post("/", body.as_bytes())).await;
    assert_eq!((r.status, r.text()), (200, body));
}

#[tokio::test]
async fn malformed_heads_get_400() {
    let server = start(Hello).await;
    let cases: &[&[u8]] = &[
        b"GARBAGE\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET / HTTP/1.1 extra\r\nHost: t\r\n\r\n",
        b"GET / HTTX/1.1\r\nHost: t\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: +5\r\n\r\nhello",
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5,5\r\n\r\nhello",
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 18446744073709551616\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nX-Folded: a\r\n  continued\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nBad Name: v\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nBad\x01Name: v\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nX: a\x00b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nX: a\rb\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\n: empty-name\r\n\r\n",
        b"GET /%C3%28 HTTP/1.1\r\nHost: t\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ];
    for raw in cases {
        expect_refusal(&server, raw, 400).await;
    }
    still_serving(&server, "Hello, world!").await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn unknown_transfer_coding_gets_501() {
    let server = start(Hello).await;
    for te in ["gzip", "gzip, chunked", "identity"] {
        let raw = format!("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: {te}\r\n\r\n");
        expect_refusal(&server, raw.as_bytes(), 501).await;
    }
    still_serving(&server, "Hello, world!").await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn bad_chunked_bodies_get_400() {
    // The app reads the body: the framing error surfaces while it does.
    let server = start(Echo).await;
    for body in [
        &b"zz\r\nhello\r\n0\r\n\r\n"[..],
        b"5\r\nhelloXX0\r\n\r\n",
        b"fffffffffffffffffff\r\n",
        b"5\nhello\r\n0\r\n\r\n",
    ] {
        let mut raw =
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        raw.extend_from_slice(body);
        expect_refusal(&server, &raw, 400).await;
    }
    still_serving(&server, "a good body").await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn limits_get_431_414_413() {
    let mut config = test_config();
    config.max_head_bytes = 1024;
    config.max_target_bytes = 100;
    config.max_headers = 10;
    config.max_body_bytes = Some(100);
    let server = start_with(Echo, config).await;
    // Head over the limit.
    let raw = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "a".repeat(2000)
    );
    expect_refusal(&server, raw.as_bytes(), 431).await;
    // Too many header fields.
    let fields: String = (0..11).map(|i| format!("X-{i}: v\r\n")).collect();
    let raw = format!("GET / HTTP/1.1\r\nHost: t\r\n{fields}\r\n");
    expect_refusal(&server, raw.as_bytes(), 431).await;
    // Request target over the limit, finished or not.
    let raw = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "p".repeat(200));
    expect_refusal(&server, raw.as_bytes(), 414).await;
    let raw = format!("GET /{}", "p".repeat(1500));
    expect_refusal(&server, raw.as_bytes(), 414).await;
    // Declared body over the limit: refused before the app runs.
    let raw = format!(
        "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n{}",
        "b".repeat(101)
    );
    expect_refusal(&server, raw.as_bytes(), 413).await;
    // Chunked body that grows over the limit while the app reads it.
    let raw = format!(
        "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n80\r\n{}\r\n0\r\n\r\n",
        "c".repeat(128)
    );
    expect_refusal(&server, raw.as_bytes(), 413).await;
    // At the limit is fine.
    let mut client = server.connect().await;
    let r = client.request(&post("/", &[b'd'; 100])).await;
    assert_eq!((r.status, r.body.len()), (200, 100));
    server.stop().await.unwrap();
}
