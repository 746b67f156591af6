//! The testbed's WebSocket routes on the reference server over raw TCP.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

const STEP: Duration = Duration::from_secs(10);

async fn serve_testbed() -> (SocketAddr, oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = rgi_server::Server::from_listener(listener);
    tokio::spawn(async move {
        let _ = server
            .serve_with_shutdown(testbed::Testbed, async {
                let _ = stopped.await;
            })
            .await;
    });
    (addr, stop)
}

/// Sends an upgrade request for `path` (with `extra` header lines) and
/// reads everything until the server closes or `STEP` passes: the head as
/// text, and the bytes after it.
async fn exchange(addr: SocketAddr, path: &str, extra: &str, then: &[u8]) -> (String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.write_all(then).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(STEP, stream.read_to_end(&mut out)).await;
    let end = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4;
    let rest = out.split_off(end);
    (String::from_utf8(out).unwrap(), rest)
}

/// A masked client frame (payloads under 126 bytes).
fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [1u8, 2, 3, 4];
    let mut out = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

#[tokio::test]
async fn echo_offers_the_first_subprotocol_and_echoes() {
    let (addr, _stop) = serve_testbed().await;
    let mut then = frame(0x1, b"hello");
    then.extend(frame(0x8, &[0x03, 0xE8]));
    let (head, frames) = exchange(
        addr,
        "/ws/echo",
        "Sec-WebSocket-Protocol: one, two\r\n",
        &then,
    )
    .await;
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
    assert!(head.contains("sec-websocket-protocol: one\r\n"), "{head}");
    // The echo, then the close echoed with 1000.
    assert_eq!(frames, b"\x81\x05hello\x88\x02\x03\xE8");
}

#[tokio::test]
async fn reject_is_403_and_deny_is_a_401_with_its_body() {
    let (addr, _stop) = serve_testbed().await;
    let (rejected, body) = exchange(addr, "/ws/reject", "", b"").await;
    assert!(
        rejected.starts_with("HTTP/1.1 403 Forbidden\r\n"),
        "{rejected}"
    );
    assert!(body.is_empty());
    let (denied, body) = exchange(addr, "/ws/deny", "", b"").await;
    assert!(
        denied.starts_with("HTTP/1.1 401 Unauthorized\r\n"),
        "{denied}"
    );
    assert!(denied.contains("www-authenticate: Bearer\r\n"), "{denied}");
    assert_eq!(body, testbed::DENY_BODY.as_bytes());
}

#[tokio::test]
async fn close_closes_with_the_code_asked_for() {
    let (addr, _stop) = serve_testbed().await;
    let (head, close) = exchange(addr, "/ws/close?code=4001", "", &frame(0x8, &[0x0F, 0xA1])).await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    // 4001 = 0x0FA1.
    assert_eq!(close, [0x88, 0x02, 0x0F, 0xA1]);
}
