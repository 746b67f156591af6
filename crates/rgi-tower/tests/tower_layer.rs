//! Direction 3, a tower layer as rgi middleware: `TowerLayer` around an rgi
//! app on the reference server, over TCP.

mod common;

use std::time::Duration;

use common::*;
use rgi::http::StatusCode;
use rgi_tower::TowerLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

#[tokio::test]
async fn the_response_streams_in_lock_step_with_trailers() {
    let (side, events) = RgiSide::new();
    let addr = rgi_server(TowerLayer::new(TraceLayer::new_for_http()).wrap(side)).await;
    rgi_inner_streams(addr, &events).await;
}

#[tokio::test]
async fn the_request_streams_in_lock_step() {
    let (side, _events) = RgiSide::new();
    let addr = rgi_server(TowerLayer::new(TraceLayer::new_for_http()).wrap(side.clone())).await;
    rgi_inner_uploads(addr, &side).await;
}

#[tokio::test]
async fn a_client_that_leaves_reaches_the_inner_app() {
    let (side, events) = RgiSide::new();
    let addr = rgi_server(TowerLayer::new(TraceLayer::new_for_http()).wrap(side.clone())).await;
    rgi_inner_disconnect(addr, &side, &events).await;
}

#[tokio::test]
async fn a_timeout_answers_408_and_the_inner_app_learns_it_was_dropped() {
    let (side, _events) = RgiSide::new();
    let layer =
        TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_millis(200));
    let addr = rgi_server(TowerLayer::new(layer).wrap(side.clone())).await;
    let mut client = Client::connect(addr).await;
    // The inner app waits for the request body, which never comes.
    client
        .send("POST /upload HTTP/1.1\r\nhost: t\r\ncontent-length: 10\r\n\r\n")
        .await;
    client.read_until("HTTP/1.1 408").await;
    assert_eq!(side.next_seen().await, Seen::Disconnect);
}

/// What the README's table says of tower-http's `CompressionLayer`: with
/// compression on, it still streams, each chunk's compressed bytes reach
/// the client before the next chunk is produced (it flushes its encoder
/// whenever the inner body is pending), and the whole decompresses to what
/// the app sent. The conformance suite cannot show it: the declaration
/// the layer needs (`ChangesResponseBody`) skips its streaming check.
#[tokio::test]
async fn tower_http_compression_streams_chunk_by_chunk() {
    use std::io::Read;
    use tower_http::compression::CompressionLayer;
    let (side, events) = RgiSide::new();
    let addr = rgi_server(TowerLayer::new(CompressionLayer::new()).wrap(side)).await;
    let mut client = Client::connect(addr).await;
    client
        .send("GET /stream HTTP/1.1\r\nhost: t\r\nte: trailers\r\naccept-encoding: gzip\r\n\r\n")
        .await;
    let mut sent = String::new();
    for k in 0..3 {
        let chunk = format!("chunk {k} of a streamed text body, long enough to compress. ");
        sent.push_str(&chunk);
        let before = client.read.len();
        events.send(rgi::HttpSend::chunk(chunk)).await.unwrap();
        // Chunk k+1 is produced only once chunk k's bytes are here.
        let arrived = tokio::time::timeout(WAIT, async {
            while client.read.len() == before || !client.read.ends_with(b"\r\n") {
                if !client.read_some(WAIT).await {
                    return false;
                }
            }
            true
        })
        .await;
        assert!(
            matches!(arrived, Ok(true)),
            "chunk {k} never reached the client"
        );
    }
    events.send(rgi::HttpSend::body("")).await.unwrap();
    events
        .send(rgi::HttpSend::Trailers(trailers("abc")))
        .await
        .unwrap();
    let text = client.read_until("x-checksum: abc\r\n\r\n").await;
    assert!(text.contains("content-encoding: gzip"), "{text}");
    let raw = &client.read[text.find("\r\n\r\n").unwrap() + 4..];
    let mut compressed = Vec::new();
    let mut rest = raw;
    loop {
        let line = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..line]).unwrap(), 16).unwrap();
        if size == 0 {
            break;
        }
        compressed.extend_from_slice(&rest[line + 2..line + 2 + size]);
        rest = &rest[line + 4 + size..];
    }
    let mut plain = String::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_string(&mut plain)
        .unwrap();
    assert_eq!(plain, sent);
}

#[tokio::test]
async fn a_chunked_body_over_a_tower_limit_is_a_413_and_a_disconnect_inside() {
    use tower_http::limit::RequestBodyLimitLayer;
    let (side, _events) = RgiSide::new();
    let addr = rgi_server(TowerLayer::new(RequestBodyLimitLayer::new(10)).wrap(side.clone())).await;
    let mut client = Client::connect(addr).await;
    client.send(chunked_post("/upload")).await;
    client.send_chunk("0123456789").await;
    assert_eq!(side.next_seen().await, Seen::Chunk("0123456789".into()));
    client.send_chunk("over").await;
    // As a server's own limit (HTTP-014): the app sees Disconnect, the
    // client gets 413.
    assert_eq!(side.next_seen().await, Seen::Disconnect);
    client.read_until("HTTP/1.1 413").await;
}
