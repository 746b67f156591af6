//! One test source, both rgi servers: every testbed route, streaming both
//! ways, a client that leaves, lifespan and graceful shutdown, with the
//! protocol validator in front of the app checking every event that
//! crosses in either direction. What passes here is what "an app runs
//! unchanged on every rgi server" means in practice.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use rgi_conformance::{Validator, ViolationLog};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

const WAIT: Duration = Duration::from_secs(20);

async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {WAIT:?}"))
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Rgi,
    Hyper,
}

const SERVERS: [Kind; 2] = [Kind::Rgi, Kind::Hyper];

/// The testbed behind the validator on one server, until `stop`.
struct Running {
    kind: Kind,
    addr: SocketAddr,
    log: ViolationLog,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), rgi_server::ServeError>>,
}

impl Running {
    async fn start(kind: Kind) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let validator = Validator::new(testbed::Testbed);
        let log = validator.log();
        let (stop, stopped) = oneshot::channel::<()>();
        let signal = async {
            let _ = stopped.await;
        };
        let task = match kind {
            Kind::Rgi => tokio::spawn(
                rgi_server::Server::from_listener(listener).serve_with_shutdown(validator, signal),
            ),
            Kind::Hyper => tokio::spawn(
                rgi_hyper::Server::from_listener(listener).serve_with_shutdown(validator, signal),
            ),
        };
        Self {
            kind,
            addr,
            log,
            stop: Some(stop),
            task,
        }
    }

    /// Graceful shutdown; then the validator must have seen nothing wrong.
    async fn finish(mut self) {
        drop(self.stop.take());
        bounded("server stops", &mut self.task)
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{:?} stopped with {e}", self.kind));
        let violations = self.log.violations();
        assert!(
            violations.is_empty(),
            "{:?}: the validator found {violations:#?}",
            self.kind
        );
    }
}

/// A response as the client read it.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// The body was framed to its end (length reached, or the last chunk).
    complete: bool,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 client connection; reads responses however they are
/// framed (`content-length`, chunked, or to the close), since the two
/// servers may frame the same response differently.
struct Client {
    reader: BufReader<TcpStream>,
    /// The start of the last request sent, for failure messages.
    last: String,
}

impl Client {
    async fn open(addr: SocketAddr) -> Self {
        let stream = bounded("connect", TcpStream::connect(addr)).await.unwrap();
        Self {
            reader: BufReader::new(stream),
            last: String::new(),
        }
    }

    async fn send(&mut self, raw: &[u8]) {
        if raw.len() < 200 {
            self.last = String::from_utf8_lossy(raw)
                .lines()
                .next()
                .unwrap_or("")
                .to_owned();
        }
        self.reader.get_mut().write_all(raw).await.unwrap();
    }

    async fn line(&mut self) -> String {
        let mut line = String::new();
        bounded("a line", self.reader.read_line(&mut line))
            .await
            .unwrap();
        line.trim_end_matches(['\r', '\n']).to_owned()
    }

    async fn reply(&mut self, head_request: bool) -> Reply {
        let status_line = self.line().await;
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                panic!("a status line, got {status_line:?} (after {:?})", self.last)
            });
        let mut headers = Vec::new();
        loop {
            let line = self.line().await;
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').expect("a header line");
            headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
        }
        let mut reply = Reply {
            status,
            headers,
            body: Vec::new(),
            complete: true,
        };
        if head_request || status == 204 || status == 304 {
            return reply;
        }
        if let Some(length) = reply.header("content-length") {
            let mut body = vec![0; length.parse().unwrap()];
            reply.complete = bounded("body", self.reader.read_exact(&mut body))
                .await
                .is_ok();
            reply.body = body;
        } else if reply.header("transfer-encoding") == Some("chunked") {
            reply.complete = false;
            loop {
                let size = self.line().await;
                let Ok(size) = usize::from_str_radix(&size, 16) else {
                    break;
                };
                if size == 0 {
                    self.line().await;
                    reply.complete = true;
                    break;
                }
                let mut chunk = vec![0; size + 2];
                if bounded("chunk", self.reader.read_exact(&mut chunk))
                    .await
                    .is_err()
                {
                    break;
                }
                reply.body.extend_from_slice(&chunk[..size]);
            }
        } else {
            let _ = bounded("body to close", self.reader.read_to_end(&mut reply.body)).await;
        }
        reply
    }

    async fn get(&mut self, target: &str) -> Reply {
        self.send(format!("GET {target} HTTP/1.1\r\nhost: testbed\r\n\r\n").as_bytes())
            .await;
        self.reply(false).await
    }
}

#[tokio::test]
async fn every_route_on_both_servers() {
    for kind in SERVERS {
        let server = Running::start(kind).await;
        let mut client = Client::open(server.addr).await;

        let hello = client.get("/").await;
        assert_eq!(
            (hello.status, &hello.body[..]),
            (200, &b"Hello, world!"[..]),
            "{kind:?}"
        );

        client
            .send(b"POST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\n\r\nhello")
            .await;
        let echo = client.reply(false).await;
        assert_eq!(echo.body, b"hello", "{kind:?}");
        assert_eq!(echo.header("x-body-length"), Some("5"), "{kind:?}");

        client
            .send(b"POST /echo HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
            .await;
        assert_eq!(client.reply(false).await.body, b"abcde", "{kind:?}");

        let stream = client.get("/stream?n=3&size=4").await;
        assert_eq!(stream.body, b"aaaabbbbcccc", "{kind:?}");

        client
            .send(b"GET /headers HTTP/1.1\r\nhost: t\r\nx-one: 1\r\nx-one: 2\r\n\r\n")
            .await;
        let headers: serde_json::Value =
            serde_json::from_slice(&client.reply(false).await.body).unwrap();
        assert_eq!(headers["x-one"], "1, 2", "{kind:?}");

        assert_eq!(client.get("/status/418").await.status, 418, "{kind:?}");
        assert_eq!(client.get("/slow?ms=10").await.body, b"done", "{kind:?}");
        assert_eq!(client.get("/nope").await.status, 404, "{kind:?}");

        let scope: serde_json::Value =
            serde_json::from_slice(&client.get("/echo-scope/a%20b?x=1").await.body).unwrap();
        assert_eq!(scope["http_version"], "1.1", "{kind:?}");
        assert_eq!(scope["path"], "/echo-scope/a b", "{kind:?}");
        assert_eq!(scope["query_string"], "x=1", "{kind:?}");

        client.send(b"HEAD / HTTP/1.1\r\nhost: t\r\n\r\n").await;
        let head = client.reply(true).await;
        assert_eq!(head.status, 200, "{kind:?}");
        assert_eq!(
            client.get("/").await.body,
            b"Hello, world!",
            "{kind:?} after HEAD"
        );

        assert_eq!(client.get("/error").await.status, 500, "{kind:?}");

        // An app failing after its start: the body must not look whole.
        let mut client = Client::open(server.addr).await;
        let broken = client.get("/error-after-start").await;
        assert_eq!(broken.status, 200, "{kind:?}");
        assert!(
            !broken.complete,
            "{kind:?}: a truncated body passed as whole"
        );

        let validator_saw = server.log.violations();
        // The app failing is its own doing: only /error and
        // /error-after-start may be reported, and nothing else.
        assert!(
            validator_saw.is_empty(),
            "{kind:?}: the validator found {validator_saw:#?}"
        );
        server.finish().await;
    }
}

#[tokio::test]
async fn streaming_both_ways_is_lock_step() {
    for kind in SERVERS {
        let server = Running::start(kind).await;
        let mut client = Client::open(server.addr).await;
        let piece = vec![b'x'; 64 * 1024];
        let total = 32 * piece.len();
        client
            .send(
                format!("PUT /echo HTTP/1.1\r\nhost: t\r\ncontent-length: {total}\r\n\r\n")
                    .as_bytes(),
            )
            .await;
        // Half the body goes out; the echo of it must come back before the
        // rest is sent (neither the server nor the app collects the body).
        for _ in 0..16 {
            client.send(&piece).await;
        }
        let status = client.line().await;
        assert!(status.starts_with("HTTP/1.1 200"), "{kind:?}: {status}");
        loop {
            if client.line().await.is_empty() {
                break;
            }
        }
        let mut first = [0u8; 1];
        bounded(
            "echo before the end of the upload",
            client.reader.read_exact(&mut first),
        )
        .await
        .unwrap();
        for _ in 16..32 {
            client.send(&piece).await;
        }
        drop(client);
        server.finish().await;
    }
}

#[tokio::test]
async fn a_client_that_leaves_mid_body_harms_nobody() {
    for kind in SERVERS {
        let server = Running::start(kind).await;
        let mut leaving = Client::open(server.addr).await;
        leaving
            .send(b"PUT /echo HTTP/1.1\r\nhost: t\r\ncontent-length: 1000\r\n\r\nonly a little")
            .await;
        drop(leaving);
        let mut client = Client::open(server.addr).await;
        assert_eq!(client.get("/").await.body, b"Hello, world!", "{kind:?}");
        server.finish().await;
    }
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish() {
    for kind in SERVERS {
        let mut server = Running::start(kind).await;
        let mut client = Client::open(server.addr).await;
        client
            .send(b"GET /slow?ms=300 HTTP/1.1\r\nhost: t\r\n\r\n")
            .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(server.stop.take());
        let reply = client.reply(false).await;
        assert_eq!(
            (reply.status, &reply.body[..]),
            (200, &b"done"[..]),
            "{kind:?}"
        );
        server.finish().await;
    }
}

/// Sends a WebSocket handshake for `path` (with `extra` header lines) and
/// then `then`, and reads until the server closes: the head as text (names
/// lower-cased) and the bytes after it.
async fn ws_exchange(addr: SocketAddr, path: &str, extra: &str, then: &[u8]) -> (String, Vec<u8>) {
    let mut stream = bounded("connect", TcpStream::connect(addr)).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.write_all(then).await.unwrap();
    let mut out = Vec::new();
    let _ = bounded("the server's close", stream.read_to_end(&mut out)).await;
    let end = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("a head in {:?}", String::from_utf8_lossy(&out)))
        + 4;
    let rest = out.split_off(end);
    let head = String::from_utf8(out).unwrap();
    let mut lines = head.lines();
    let mut lowered = lines.next().unwrap_or("").to_owned() + "\r\n";
    for line in lines {
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        lowered += &format!("{}:{value}\r\n", name.to_ascii_lowercase());
    }
    (lowered, rest)
}

/// A masked client frame (payloads under 126 bytes).
fn ws_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [1u8, 2, 3, 4];
    let mut out = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

#[tokio::test]
async fn websocket_routes_on_both_servers() {
    for kind in SERVERS {
        let server = Running::start(kind).await;
        let addr = server.addr;

        // /ws/echo: the first subprotocol offered, the echo, the close
        // echoed with the client's code.
        let mut then = ws_frame(0x1, b"hello");
        then.extend(ws_frame(0x2, b"\x00\x01"));
        then.extend(ws_frame(0x8, &[0x03, 0xE8]));
        let (head, frames) = ws_exchange(
            addr,
            "/ws/echo",
            "Sec-WebSocket-Protocol: one, two\r\n",
            &then,
        )
        .await;
        assert!(
            head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
            "{kind:?}: {head}"
        );
        assert!(
            head.contains("sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
            "{kind:?}: {head}"
        );
        assert!(
            head.contains("sec-websocket-protocol: one\r\n"),
            "{kind:?}: {head}"
        );
        assert!(head.contains("upgrade: websocket\r\n"), "{kind:?}: {head}");
        assert_eq!(
            frames, b"\x81\x05hello\x82\x02\x00\x01\x88\x02\x03\xE8",
            "{kind:?}"
        );

        // /ws/reject: 403 without a body (WS-004).
        let (head, body) = ws_exchange(addr, "/ws/reject", "", b"").await;
        assert!(
            head.starts_with("HTTP/1.1 403 Forbidden\r\n"),
            "{kind:?}: {head}"
        );
        assert!(body.is_empty(), "{kind:?}");

        // /ws/deny: the app's 401 with its headers and body, both servers
        // announcing `websocket_denial`.
        let (head, body) = ws_exchange(addr, "/ws/deny", "", b"").await;
        assert!(
            head.starts_with("HTTP/1.1 401 Unauthorized\r\n"),
            "{kind:?}: {head}"
        );
        assert!(
            head.contains("www-authenticate: Bearer\r\n"),
            "{kind:?}: {head}"
        );
        assert_eq!(body, testbed::DENY_BODY.as_bytes(), "{kind:?}");

        // /ws/close?code=N: the app's close with its code.
        let (head, close) = ws_exchange(
            addr,
            "/ws/close?code=4001",
            "",
            &ws_frame(0x8, &[0x0F, 0xA1]),
        )
        .await;
        assert!(head.starts_with("HTTP/1.1 101 "), "{kind:?}: {head}");
        assert_eq!(close, [0x88, 0x02, 0x0F, 0xA1], "{kind:?}");

        // What the server refuses before the app (WS-015).
        let (head, _) = ws_exchange(addr, "/ws/echo", "Sec-WebSocket-Version: 8\r\n", b"").await;
        assert!(head.starts_with("HTTP/1.1 426 "), "{kind:?}: {head}");
        assert!(
            head.contains("sec-websocket-version: 13\r\n"),
            "{kind:?}: {head}"
        );
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /ws/echo HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n")
            .await
            .unwrap();
        let mut reply = Vec::new();
        let _ = bounded("400", stream.read_to_end(&mut reply)).await;
        assert!(
            reply.starts_with(b"HTTP/1.1 400 "),
            "{kind:?}: {}",
            String::from_utf8_lossy(&reply)
        );

        server.finish().await;
    }
}

#[tokio::test]
async fn websocket_echo_with_tungstenite_on_both_servers() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    for kind in SERVERS {
        let server = Running::start(kind).await;
        let url = format!("ws://{}/ws/echo", server.addr);
        let (mut ws, response) = bounded("handshake", tokio_tungstenite::connect_async(url))
            .await
            .unwrap();
        assert_eq!(response.status(), 101, "{kind:?}");
        for text in ["one", "two", &"x".repeat(100_000)] {
            ws.send(Message::text(text)).await.unwrap();
            let echo = bounded("echo", ws.next()).await.unwrap().unwrap();
            assert_eq!(echo, Message::text(text), "{kind:?}");
        }
        ws.send(Message::binary(vec![7u8; 70_000])).await.unwrap();
        let echo = bounded("echo", ws.next()).await.unwrap().unwrap();
        assert_eq!(echo, Message::binary(vec![7u8; 70_000]), "{kind:?}");
        ws.close(None).await.unwrap();
        // The close is echoed, then the stream ends.
        while let Some(Ok(_)) = bounded("close", ws.next()).await {}
        server.finish().await;
    }
}

#[tokio::test]
async fn shutdown_closes_an_open_websocket_with_1001() {
    for kind in SERVERS {
        let mut server = Running::start(kind).await;
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream
            .write_all(b"GET /ws/echo HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
            .await
            .unwrap();
        let mut reader = BufReader::new(stream);
        loop {
            let mut line = String::new();
            bounded("101", reader.read_line(&mut line)).await.unwrap();
            if line == "\r\n" {
                break;
            }
        }
        drop(server.stop.take());
        let mut close = [0u8; 4];
        bounded("the server's close", reader.read_exact(&mut close))
            .await
            .unwrap();
        // 1001 = 0x03E9, "going away" (CORE-033).
        assert_eq!(close[..2], [0x88, 0x16], "{kind:?}: {close:?}");
        assert_eq!(close[2..], [0x03, 0xE9], "{kind:?}");
        let mut reason = [0u8; 20];
        reader.read_exact(&mut reason).await.unwrap();
        reader
            .get_mut()
            .write_all(&ws_frame(0x8, &[0x03, 0xE9]))
            .await
            .unwrap();
        server.finish().await;
    }
}
