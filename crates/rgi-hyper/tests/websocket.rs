//! WebSocket on rgi-hyper, over real sockets: RFC 8441 extended CONNECT
//! with hyper's HTTP/2 client, permessage-deflate on the wire, the
//! shutdown close, idle pings, backpressure, and a send after the
//! disconnect. (The HTTP/1.1 routes of the testbed run on both servers in
//! `examples/testbed/tests/both_servers.rs`.)

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::{bounded, frame, frame_with, h2c, read_frame, start, start_on, ClientBody, H2};
use http_body_util::{BodyExt, Empty};
use hyper::ext::Protocol;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use rgi::{Accept, App, AppResult, Conn, Message, WebSocketReceive, WebSocketSend};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

const HANDSHAKE: &str = "Host: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
    Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

/// Opens an HTTP/1.1 WebSocket to `path` and reads the head of the answer.
async fn open_h1(addr: SocketAddr, path: &str, extra: &str) -> (TcpStream, String) {
    let mut stream = bounded("connect", TcpStream::connect(addr)).await.unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\n{HANDSHAKE}{extra}\r\n").as_bytes())
        .await
        .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        bounded("the head", stream.read_exact(&mut byte))
            .await
            .unwrap();
        head.push(byte[0]);
    }
    (stream, String::from_utf8(head).unwrap())
}

/// Sends an extended CONNECT for `path` on `h2` (RFC 8441 §4).
async fn connect_h2(
    h2: &mut H2,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> hyper::Response<hyper::body::Incoming> {
    let mut request = hyper::Request::builder()
        .method(hyper::Method::CONNECT)
        .uri(format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body: ClientBody = Empty::new().map_err(|never| match never {}).boxed();
    let mut request = request.body(body).unwrap();
    request
        .extensions_mut()
        .insert(Protocol::from_static("websocket"));
    bounded("CONNECT", h2.send_request(request)).await.unwrap()
}

/// An h2c connection whose SETTINGS (with ENABLE_CONNECT_PROTOCOL) the
/// client has seen: one request answered first.
async fn h2c_ready(addr: SocketAddr) -> H2 {
    let mut h2 = h2c(addr).await;
    let request = hyper::Request::get(format!("http://{addr}/"))
        .body(Empty::new().map_err(|never| match never {}).boxed())
        .unwrap();
    // Any answer will do (the apps here need not serve HTTP).
    bounded("GET /", h2.send_request(request)).await.unwrap();
    h2
}

async fn upgrade(response: hyper::Response<hyper::body::Incoming>) -> TokioIo<Upgraded> {
    TokioIo::new(
        bounded("upgrade", hyper::upgrade::on(response))
            .await
            .unwrap(),
    )
}

/// An open WebSocket over HTTP/2 to `path` (and its connection).
async fn open_h2(addr: SocketAddr, path: &str) -> (H2, TokioIo<Upgraded>) {
    let mut h2 = h2c_ready(addr).await;
    let response = connect_h2(&mut h2, addr, path, &[("sec-websocket-version", "13")]).await;
    assert_eq!(response.status(), 200);
    (h2, upgrade(response).await)
}

#[tokio::test]
async fn extended_connect_over_h2_echoes_and_closes() {
    let server = start(testbed::Testbed).await;
    let mut h2 = h2c_ready(server.addr).await;
    let response = connect_h2(
        &mut h2,
        server.addr,
        "/ws/echo",
        &[
            ("sec-websocket-version", "13"),
            ("sec-websocket-protocol", "one, two"),
        ],
    )
    .await;
    // RFC 8441 §5: a 200, and no Sec-WebSocket-Accept.
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["sec-websocket-protocol"], "one");
    assert!(response.headers().get("sec-websocket-accept").is_none());
    let mut ws = upgrade(response).await;
    ws.write_all(&frame(0x1, b"over h2")).await.unwrap();
    assert_eq!(read_frame(&mut ws).await, (0x81, b"over h2".to_vec()));
    ws.write_all(&frame(0x2, &[0, 1, 2])).await.unwrap();
    assert_eq!(read_frame(&mut ws).await, (0x82, vec![0, 1, 2]));
    // A ping in between is answered.
    ws.write_all(&frame(0x9, b"p")).await.unwrap();
    assert_eq!(read_frame(&mut ws).await, (0x8A, b"p".to_vec()));
    // The closing handshake: the code echoed, then the stream ends.
    ws.write_all(&frame(0x8, &[0x03, 0xE8])).await.unwrap();
    assert_eq!(read_frame(&mut ws).await, (0x88, vec![0x03, 0xE8]));
    let mut rest = Vec::new();
    bounded("end of stream", ws.read_to_end(&mut rest))
        .await
        .unwrap();
    assert!(rest.is_empty());
    // The connection serves on: a second WebSocket on it.
    let version = [("sec-websocket-version", "13")];
    let again = connect_h2(&mut h2, server.addr, "/ws/close?code=4001", &version).await;
    let mut ws = upgrade(again).await;
    assert_eq!(read_frame(&mut ws).await, (0x88, vec![0x0F, 0xA1]));
    ws.write_all(&frame(0x8, &[0x0F, 0xA1])).await.unwrap();
    bounded("end of stream", ws.read_to_end(&mut rest))
        .await
        .unwrap();
    server.stop().await.unwrap();
}

#[tokio::test]
async fn extended_connect_refusals_and_the_denial() {
    let server = start(testbed::Testbed).await;
    let mut h2 = h2c_ready(server.addr).await;
    let version = [("sec-websocket-version", "13")];
    let rejected = connect_h2(&mut h2, server.addr, "/ws/reject", &version).await;
    assert_eq!(rejected.status(), 403);
    assert!(common::body_of(rejected).await.is_empty());

    let denied = connect_h2(&mut h2, server.addr, "/ws/deny", &version).await;
    assert_eq!(denied.status(), 401);
    assert_eq!(denied.headers()["www-authenticate"], "Bearer");
    assert_eq!(common::body_of(denied).await, testbed::DENY_BODY.as_bytes());

    // WS-015: no version, or another one, is 426 naming 13.
    let old = connect_h2(
        &mut h2,
        server.addr,
        "/ws/echo",
        &[("sec-websocket-version", "8")],
    )
    .await;
    assert_eq!(old.status(), 426);
    assert_eq!(old.headers()["sec-websocket-version"], "13");
    let none = connect_h2(&mut h2, server.addr, "/ws/echo", &[]).await;
    assert_eq!(none.status(), 426);
    server.stop().await.unwrap();
}

/// RFC 7692 §7.2.1: a message is the raw DEFLATE data of one sync flush,
/// without its final `00 00 ff ff`.
fn deflate(data: &[u8]) -> Vec<u8> {
    let mut encoder =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.flush().unwrap();
    let mut out = encoder.get_ref().clone();
    assert!(out.ends_with(&[0, 0, 0xFF, 0xFF]));
    out.truncate(out.len() - 4);
    out
}

fn inflate(data: &[u8]) -> Vec<u8> {
    let mut decoder = flate2::write::DeflateDecoder::new(Vec::new());
    decoder.write_all(data).unwrap();
    decoder.write_all(&[0, 0, 0xFF, 0xFF]).unwrap();
    decoder.flush().unwrap();
    decoder.get_ref().clone()
}

#[tokio::test]
async fn permessage_deflate_is_negotiated_and_round_trips() {
    let server = start(testbed::Testbed).await;
    let (mut ws, head) = open_h1(
        server.addr,
        "/ws/echo",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("\r\nsec-websocket-extensions: permessage-deflate\r\n"),
        "{head}"
    );
    // Over `WebSocketConfig::deflate_min_bytes` (1024), so the echo is
    // compressed too.
    let text = b"compressed, ".repeat(100);
    // RSV1 on the first frame: a compressed message.
    ws.write_all(&frame_with(0x80 | 0x40 | 0x1, &deflate(&text)))
        .await
        .unwrap();
    let (first, payload) = read_frame(&mut ws).await;
    assert_eq!(first, 0x80 | 0x40 | 0x1, "the echo is compressed too");
    assert!(payload.len() < text.len());
    assert_eq!(inflate(&payload), text);
    ws.write_all(&frame(0x8, &[0x03, 0xE8])).await.unwrap();
    assert_eq!(read_frame(&mut ws).await, (0x88, vec![0x03, 0xE8]));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn shutdown_closes_an_h2_websocket_with_1001() {
    let server = start(testbed::Testbed).await;
    let (_h2, mut ws) = open_h2(server.addr, "/ws/echo").await;
    let stopping = tokio::spawn(server.stop());
    let (first, payload) = read_frame(&mut ws).await;
    assert_eq!(first, 0x88);
    assert_eq!(payload[..2], [0x03, 0xE9], "1001, going away (CORE-033)");
    ws.write_all(&frame(0x8, &[0x03, 0xE9])).await.unwrap();
    bounded("server stops", stopping).await.unwrap().unwrap();
}

#[tokio::test]
async fn an_idle_websocket_gets_a_ping() {
    let mut config = rgi_server::Config::default();
    config.websocket.ping_interval = Some(Duration::from_millis(200));
    let server = rgi_hyper::Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .with_config(config);
    let server = start_on(server, testbed::Testbed).await;
    let (mut ws, head) = open_h1(server.addr, "/ws/echo", "").await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert_eq!(read_frame(&mut ws).await, (0x89, Vec::new()));
    ws.write_all(&frame(0xA, b"")).await.unwrap();
    ws.write_all(&frame(0x1, b"still here")).await.unwrap();
    assert_eq!(read_frame(&mut ws).await, (0x81, b"still here".to_vec()));
    ws.write_all(&frame(0x8, &[0x03, 0xE8])).await.unwrap();
    assert_eq!(read_frame(&mut ws).await, (0x88, vec![0x03, 0xE8]));
    server.stop().await.unwrap();
}

/// Accepts, waits for the disconnect, then tries to send: what it saw
/// goes to `seen`.
struct LateSender {
    seen: Arc<Mutex<Vec<String>>>,
}

impl App for LateSender {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::WebSocket(mut ws) = conn else {
            return conn.unsupported();
        };
        assert_eq!(ws.recv().await, WebSocketReceive::Connect);
        ws.send(WebSocketSend::Accept(Accept::new())).await?;
        loop {
            if let WebSocketReceive::Disconnect(close) = ws.recv().await {
                self.seen
                    .lock()
                    .unwrap()
                    .push(format!("disconnect {}", close.code));
                break;
            }
        }
        let late = ws
            .send(WebSocketSend::Message(Message::Text("too late".into())))
            .await;
        let typed = matches!(late, Err(rgi::Error::Disconnected));
        self.seen
            .lock()
            .unwrap()
            .push(format!("send: disconnected error {typed}"));
        Ok(())
    }
}

#[tokio::test]
async fn a_send_after_the_disconnect_is_the_typed_error() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = start(LateSender { seen: seen.clone() }).await;
    let (mut ws, head) = open_h1(server.addr, "/", "").await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    ws.write_all(&frame(0x8, &[0x0F, 0xA2])).await.unwrap();
    assert_eq!(read_frame(&mut ws).await, (0x88, vec![0x0F, 0xA2]));
    bounded("the app's late send", async {
        while seen.lock().unwrap().len() < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(
        *seen.lock().unwrap(),
        ["disconnect 4002", "send: disconnected error true"]
    );
    server.stop().await.unwrap();
}

/// Accepts, then sends 64 KiB messages as fast as they are taken,
/// counting them.
struct Firehose {
    sent: Arc<AtomicUsize>,
}

const PIECE: usize = 64 * 1024;

impl App for Firehose {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::WebSocket(mut ws) = conn else {
            return conn.unsupported();
        };
        ws.recv().await;
        ws.send(WebSocketSend::Accept(Accept::new())).await?;
        let piece = Bytes::from(vec![b'x'; PIECE]);
        for _ in 0..2000 {
            ws.send(WebSocketSend::Message(Message::Binary(piece.clone())))
                .await?;
            self.sent.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }
}

/// Waits until `sent` stops moving.
async fn settled(sent: &AtomicUsize) -> usize {
    bounded("sending to stall", async {
        let mut last = usize::MAX;
        loop {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let now = sent.load(Ordering::SeqCst);
            if now == last {
                return now;
            }
            last = now;
        }
    })
    .await
}

async fn drain(io: &mut (impl AsyncRead + AsyncWrite + Unpin), bytes: usize) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut read = 0;
    while read < bytes {
        let n = bounded("reading", io.read(&mut buf)).await.unwrap();
        assert!(n > 0);
        read += n;
    }
}

/// `sent` stops while nothing is read from `ws`, far short of the 2000
/// messages, and moves on once the client reads.
async fn stalls_until_read(sent: &AtomicUsize, ws: &mut (impl AsyncRead + AsyncWrite + Unpin)) {
    let stalled = settled(sent).await;
    // 2000 messages are 125 MiB: what went is bounded by the socket (or
    // stream) buffers and the write buffer, not by the app.
    assert!(
        stalled < 500,
        "{stalled} messages went to a client that reads nothing"
    );
    drain(ws, 16 * 1024 * 1024).await;
    bounded("the app moves on", async {
        while sent.load(Ordering::SeqCst) <= stalled {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_client_that_does_not_read_stalls_the_app_over_h1_and_h2() {
    // HTTP/1.1: TCP stalls it.
    let sent = Arc::new(AtomicUsize::new(0));
    let server = start(Firehose { sent: sent.clone() }).await;
    let (mut ws, _) = open_h1(server.addr, "/", "").await;
    stalls_until_read(&sent, &mut ws).await;
    drop(ws);
    server.stop().await.unwrap();

    // HTTP/2: the stream's flow control stalls it the same way.
    let sent = Arc::new(AtomicUsize::new(0));
    let server = start(Firehose { sent: sent.clone() }).await;
    let (_h2, mut ws) = open_h2(server.addr, "/").await;
    stalls_until_read(&sent, &mut ws).await;
    drop(ws);
    server.stop().await.unwrap();
}

/// Receives again before answering `Connect`: reports what it got.
struct Undecided {
    seen: Arc<Mutex<Vec<String>>>,
}

impl App for Undecided {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::WebSocket(mut ws) = conn else {
            return conn.unsupported();
        };
        assert_eq!(ws.recv().await, WebSocketReceive::Connect);
        let next = ws.recv().await;
        self.seen.lock().unwrap().push(format!("{next:?}"));
        Ok(())
    }
}

async fn first_seen(seen: &Mutex<Vec<String>>) -> String {
    bounded("the app hears of it", async {
        loop {
            if let Some(first) = seen.lock().unwrap().first() {
                return first.clone();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

#[tokio::test]
async fn a_client_that_leaves_before_the_answer_is_a_1006() {
    // HTTP/1.1: the client closes its connection.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = start(Undecided { seen: seen.clone() }).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(format!("GET / HTTP/1.1\r\n{HANDSHAKE}\r\n").as_bytes())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(stream);
    let first = first_seen(&seen).await;
    assert!(
        first.starts_with("Disconnect(") && first.contains("1006"),
        "{first}"
    );
    server.stop().await.unwrap();

    // HTTP/2: the client resets its stream.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = start(Undecided { seen: seen.clone() }).await;
    let mut h2 = h2c_ready(server.addr).await;
    let version = [("sec-websocket-version", "13")];
    let waiting = tokio::time::timeout(
        Duration::from_millis(200),
        connect_h2(&mut h2, server.addr, "/", &version),
    );
    assert!(waiting.await.is_err(), "answered without the app");
    let first = first_seen(&seen).await;
    assert!(
        first.starts_with("Disconnect(") && first.contains("1006"),
        "{first}"
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn an_unanswered_handshake_times_out_without_a_response() {
    let mut config = rgi_server::Config::default();
    config.websocket.handshake_timeout = Duration::from_millis(200);
    let server = rgi_hyper::Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .with_config(config);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = start_on(server, Undecided { seen: seen.clone() }).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(format!("GET / HTTP/1.1\r\n{HANDSHAKE}\r\n").as_bytes())
        .await
        .unwrap();
    let mut reply = Vec::new();
    bounded("the close", stream.read_to_end(&mut reply))
        .await
        .unwrap();
    assert!(reply.is_empty(), "{}", String::from_utf8_lossy(&reply));
    let first = first_seen(&seen).await;
    assert!(first.contains("1006"), "{first}");
    server.stop().await.unwrap();
}
