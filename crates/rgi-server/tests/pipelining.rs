//! Pipelined requests are answered in order, bodies included.

mod common;

use common::*;

#[tokio::test]
async fn pipelined_requests_answered_in_order() {
    let server = start(PathEcho).await;
    let mut client = server.connect().await;
    let mut raw = Vec::new();
    raw.extend(get("/first"));
    raw.extend(post("/echo", b"second body"));
    raw.extend(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nthird\r\n0\r\n\r\n",
    );
    raw.extend(get("/slow/fourth"));
    raw.extend(get("/fifth"));
    client.send(&raw).await;
    for want in ["/first", "second body", "third", "/slow/fourth", "/fifth"] {
        let r = client.read_response().await;
        assert_eq!(r.text(), want);
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn many_pipelined_requests_in_one_write() {
    let server = start(PathEcho).await;
    let mut client = server.connect().await;
    let raw: Vec<u8> = (0..100).flat_map(|i| get(&format!("/p{i}"))).collect();
    client.send(&raw).await;
    for i in 0..100 {
        let r = client.read_response().await;
        assert_eq!(r.text(), format!("/p{i}"));
    }
    // And the connection is still good afterwards.
    let r = client.request(&get("/after")).await;
    assert_eq!(r.text(), "/after");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn slow_first_response_is_not_held_by_the_next() {
    // The first response completes before the second request's app starts
    // waiting, and must reach the client while that app still waits.
    let server = start(PathEcho).await;
    let mut client = server.connect().await;
    let mut raw = get("/quick");
    raw.extend(get("/slow/second"));
    client.send(&raw).await;
    let r = client.read_response().await;
    assert_eq!(r.text(), "/quick");
    let r = client.read_response().await;
    assert_eq!(r.text(), "/slow/second");
    server.stop().await.unwrap();
}
