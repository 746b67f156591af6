//! HTTP/2 with prior knowledge (h2c) through hyper's own client: many
//! streams on one connection, large bodies streamed both ways, trailers,
//! and a stream reset reaching the app as a disconnect.

mod common;

use bytes::Bytes;
use common::{body_of, bounded, full, h2c, start, BoxError};
use futures_util::future::join_all;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use rgi::{App, AppResult, Conn, HttpReceive, HttpSend, ResponseStart};
use tokio::sync::mpsc;

#[tokio::test]
async fn a_hundred_concurrent_streams_share_one_connection() {
    let server = start(testbed::Testbed).await;
    let h2 = h2c(server.addr).await;
    let requests = (0..100).map(|i| {
        let mut h2 = h2.clone();
        async move {
            let request = Request::get(format!("http://localhost/echo-scope?i={i}"))
                .body(full(Bytes::new()))
                .unwrap();
            let response = h2.send_request(request).await.expect("response");
            assert_eq!(response.status(), StatusCode::OK);
            let json: serde_json::Value = serde_json::from_slice(&body_of(response).await).unwrap();
            (i, json)
        }
    });
    let answers = bounded("100 streams", join_all(requests)).await;
    assert_eq!(answers.len(), 100);
    for (i, json) in answers {
        assert_eq!(json["http_version"], "2", "{json}");
        assert_eq!(
            json["query_string"],
            format!("i={i}"),
            "stream {i} got another's answer"
        );
    }
}

/// A body of `n` chunks of 64 KiB, chunk k filled with the byte `k % 251`.
fn chunk(k: usize) -> Bytes {
    Bytes::from(vec![(k % 251) as u8; 64 * 1024])
}

#[tokio::test]
async fn ten_mib_stream_up_and_back_without_being_collected() {
    const CHUNKS: usize = 160; // 10 MiB
    let server = start(testbed::Testbed).await;
    let mut h2 = h2c(server.addr).await;
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, BoxError>>(1);
    let request = Request::builder()
        .method(Method::PUT)
        .uri("http://localhost/echo")
        .header("content-length", (CHUNKS * 64 * 1024).to_string())
        .body(StreamBody::new(tokio_stream(rx)).boxed())
        .unwrap();
    let (progress, mut echoed) = tokio::sync::watch::channel(0usize);
    let sending = tokio::spawn(async move {
        for k in 0..CHUNKS {
            if k == CHUNKS - 1 {
                // The last chunk is held back until half the body came
                // back: were it collected anywhere, nothing would.
                echoed
                    .wait_for(|&n| n >= CHUNKS / 2 * 64 * 1024)
                    .await
                    .unwrap();
            }
            tx.send(Ok(Frame::data(chunk(k)))).await.unwrap();
        }
    });
    let response = bounded("response head", h2.send_request(request))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let mut received = Vec::with_capacity(CHUNKS * 64 * 1024);
    while let Some(frame) = bounded("echo", body.frame()).await {
        if let Ok(data) = frame.unwrap().into_data() {
            received.extend_from_slice(&data);
            progress.send_replace(received.len());
        }
    }
    bounded("upload", sending).await.unwrap();
    assert_eq!(received.len(), CHUNKS * 64 * 1024);
    for (k, piece) in received.chunks(64 * 1024).enumerate() {
        assert!(
            piece.iter().all(|&b| b == (k % 251) as u8),
            "chunk {k} altered"
        );
    }
}

/// Sends `hello` then the trailer `x-checksum: 42`.
struct Trailers;

impl App for Trailers {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        assert!(http.scope.capabilities.trailers, "HTTP/2 carries trailers");
        let mut start = ResponseStart::new(StatusCode::OK);
        start.trailers = true;
        http.send(HttpSend::Start(start)).await?;
        http.send(HttpSend::Body {
            data: Bytes::from_static(b"hello"),
            more: false,
        })
        .await?;
        let mut trailers = HeaderMap::new();
        trailers.insert("x-checksum", HeaderValue::from_static("42"));
        http.send(HttpSend::Trailers(trailers)).await?;
        Ok(())
    }
}

#[tokio::test]
async fn trailers_reach_an_http2_client() {
    let server = start(Trailers).await;
    let mut h2 = h2c(server.addr).await;
    let request = Request::get("http://localhost/")
        .body(full(Bytes::new()))
        .unwrap();
    let response = bounded("response", h2.send_request(request)).await.unwrap();
    let collected = bounded("body", response.into_body().collect())
        .await
        .unwrap();
    let trailers = collected.trailers().cloned().expect("trailers arrived");
    assert_eq!(trailers["x-checksum"], "42");
    assert_eq!(collected.to_bytes(), "hello");
}

/// Reads the body and reports each event it receives.
struct Recorder(mpsc::UnboundedSender<HttpReceive>);

impl App for Recorder {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        loop {
            let event = http.recv().await;
            let disconnect = matches!(event, HttpReceive::Disconnect);
            let _ = self.0.send(event);
            if disconnect {
                return Ok(());
            }
        }
    }
}

#[tokio::test]
async fn a_stream_reset_mid_body_is_a_disconnect() {
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let server = start(Recorder(events_tx)).await;
    let mut h2 = h2c(server.addr).await;
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, BoxError>>(1);
    let request = Request::post("http://localhost/upload")
        .body(StreamBody::new(tokio_stream(rx)).boxed())
        .unwrap();
    let pending = tokio::spawn(async move { h2.send_request(request).await });
    tx.send(Ok(Frame::data(Bytes::from_static(b"first"))))
        .await
        .unwrap();
    let first = bounded("first chunk at the app", events.recv())
        .await
        .unwrap();
    assert!(
        matches!(&first, HttpReceive::Body { data, more: true } if data == "first"),
        "{first:?}"
    );
    // A body error makes hyper's client reset the stream (RST_STREAM).
    tx.send(Err("client gives up".into())).await.unwrap();
    let next = bounded("disconnect at the app", events.recv())
        .await
        .unwrap();
    assert!(matches!(next, HttpReceive::Disconnect), "{next:?}");
    assert!(bounded("client side", pending).await.unwrap().is_err());
}

/// A `Stream` over an mpsc receiver (tokio-stream is not a dependency).
fn tokio_stream<T>(rx: mpsc::Receiver<T>) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|t| (t, rx)) })
}

/// Rule `HTTP-037`, for every `host` field: one that names another host
/// than `:authority` is refused whether it comes first or second (an app
/// reading the second would route by a host the client did not name).
#[tokio::test]
async fn a_host_that_contradicts_the_authority_is_400() {
    let server = start(testbed::Testbed).await;
    let mut h2 = h2c(server.addr).await;
    for hosts in [&["evil.example"][..], &["good.example", "evil.example"]] {
        let mut request = Request::get("http://good.example/echo-scope");
        for host in hosts {
            request = request.header("host", *host);
        }
        let request = request.body(full(Bytes::new())).unwrap();
        let response = bounded("response", h2.send_request(request)).await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{hosts:?}");
    }

    let request = Request::get("http://good.example/headers")
        .body(full(Bytes::new()))
        .unwrap();
    let response = bounded("response", h2.send_request(request)).await.unwrap();
    let headers: serde_json::Value = serde_json::from_slice(&body_of(response).await).unwrap();
    assert_eq!(
        headers["host"], "good.example",
        "`:authority` became `host` (HTTP-008)"
    );
}
