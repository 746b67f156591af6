//! Shared helpers for the integration tests: start a server on
//! 127.0.0.1:0, raw TCP clients, a small HTTP/1.1 response reader, and a few
//! tiny apps. Every wait is bounded.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use http::{HeaderMap, StatusCode};
use rgi::{App, AppResult, Conn, HttpReceive, HttpSend, ResponseStart};
use rgi_server::{Config, ServeError, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub mod ws;

/// The log output of this thread while the guard from [`capture_logs`]
/// lives.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures INFO and above, without colours, on this thread: use it in a
/// `current_thread` test so that every task the server spawns logs here.
pub fn capture_logs() -> (Captured, tracing::subscriber::DefaultGuard) {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (logs, tracing::subscriber::set_default(subscriber))
}

/// The bound on every single wait in the tests.
pub const WAIT: Duration = Duration::from_secs(5);

/// Awaits `fut` for at most [`WAIT`], panicking with `what` otherwise.
pub async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A running server.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<Result<(), ServeError>>,
}

/// The default config with short timeouts suited to tests.
pub fn test_config() -> Config {
    let mut config = Config::default();
    config.drain_timeout = Duration::from_secs(2);
    config
}

/// Starts `app` on 127.0.0.1:0 with `config`.
pub async fn start_with(app: impl App, config: Config) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    start_on(Server::from_listener(listener).with_config(config), app).await
}

/// Starts `server` (already configured) with `app`.
pub async fn start_on(server: Server, app: impl App) -> TestServer {
    init_tracing();
    let addr = server.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(server.serve_with_shutdown(app, async {
        let _ = stopped.await;
    }));
    TestServer {
        addr,
        stop: Some(stop),
        handle,
    }
}

/// Starts `app` with [`test_config`].
pub async fn start(app: impl App) -> TestServer {
    start_with(app, test_config()).await
}

impl TestServer {
    /// A new raw client connection.
    pub async fn connect(&self) -> Client {
        Client::connect(self.addr).await
    }

    /// Sends `raw` on a new connection and returns everything the server
    /// wrote until it closed.
    pub async fn exchange_raw(&self, raw: &[u8]) -> Vec<u8> {
        let mut client = self.connect().await;
        client.send(raw).await;
        client.read_to_eof().await
    }

    /// Asks the server to shut down and waits for `serve` to return.
    pub async fn stop(mut self) -> Result<(), ServeError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        bounded("serve to return", &mut self.handle).await.unwrap()
    }

    /// Signals shutdown without waiting.
    pub fn signal_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Waits for `serve` to return (after [`signal_stop`](Self::signal_stop)
    /// or on its own).
    pub async fn join(mut self) -> Result<(), ServeError> {
        bounded("serve to return", &mut self.handle).await.unwrap()
    }
}

/// A parsed response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub trailers: Vec<(String, String)>,
    /// Whether the body was chunked and ended with the zero chunk.
    pub chunked: bool,
}

impl Response {
    /// The first value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }
}

/// A raw HTTP/1.1 client over one connection.
pub struct Client {
    pub stream: TcpStream,
    buf: BytesMut,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        Self::from_stream(bounded("connect", TcpStream::connect(addr)).await.unwrap())
    }

    pub fn from_stream(stream: TcpStream) -> Client {
        Client {
            stream,
            buf: BytesMut::new(),
        }
    }

    pub async fn send(&mut self, raw: &[u8]) {
        bounded("write", self.stream.write_all(raw)).await.unwrap();
    }

    /// Sends, ignoring errors (the server may have closed already).
    pub async fn try_send(&mut self, raw: &[u8]) -> std::io::Result<()> {
        bounded("write", self.stream.write_all(raw)).await
    }

    /// Reads more bytes into the buffer; `false` at end of stream.
    async fn fill(&mut self) -> bool {
        let n = bounded("read", self.stream.read_buf(&mut self.buf))
            .await
            .unwrap_or(0);
        n > 0
    }

    /// Everything until the server closes (buffered bytes included).
    pub async fn read_to_eof(&mut self) -> Vec<u8> {
        while self.fill().await {}
        self.buf.split().to_vec()
    }

    /// Whether the server closed the connection: end of stream (or a
    /// reset) within the wait bound, with no unexpected bytes.
    pub async fn assert_closed(&mut self) {
        let rest = self.read_to_eof().await;
        assert!(
            rest.is_empty(),
            "expected close, got {:?}",
            String::from_utf8_lossy(&rest)
        );
    }

    /// Whether nothing arrives within `wait` (and the connection stays open).
    pub async fn nothing_within(&mut self, wait: Duration) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        tokio::time::timeout(wait, self.stream.read_buf(&mut self.buf))
            .await
            .is_err()
    }

    /// Reads exactly `n` raw bytes.
    pub async fn read_exact_raw(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            assert!(self.fill().await, "connection closed early");
        }
        self.buf.split_to(n).to_vec()
    }

    async fn line(&mut self) -> String {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.buf.split_to(i + 2);
                return String::from_utf8(line[..i].to_vec()).unwrap();
            }
            assert!(self.fill().await, "connection closed inside a line");
        }
    }

    /// Reads the status line and headers of the next response (1xx
    /// included).
    pub async fn read_head(&mut self) -> (u16, Vec<(String, String)>) {
        let status_line = self.line().await;
        let mut parts = status_line.splitn(3, ' ');
        assert_eq!(
            parts.next(),
            Some("HTTP/1.1"),
            "status line {status_line:?}"
        );
        let status = parts.next().unwrap().parse().unwrap();
        let mut headers = Vec::new();
        loop {
            let line = self.line().await;
            if line.is_empty() {
                return (status, headers);
            }
            let (name, value) = line.split_once(':').expect("header line");
            assert_eq!(
                name,
                name.to_ascii_lowercase(),
                "header names are lower-case"
            );
            headers.push((name.to_owned(), value.trim().to_owned()));
        }
    }

    /// Reads the next final response; `head_request` when the request was
    /// HEAD (no body follows whatever the headers say).
    pub async fn read_response_to(&mut self, head_request: bool) -> Response {
        let (status, headers) = self.read_head().await;
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
            trailers: Vec::new(),
            chunked: false,
        };
        if head_request || status == 204 || status == 304 || status < 200 {
            return response;
        }
        let te = response.header("transfer-encoding").map(str::to_owned);
        let cl = response.header("content-length").map(str::to_owned);
        if let Some(te) = te {
            assert_eq!(te, "chunked");
            assert!(cl.is_none(), "both content-length and chunked");
            loop {
                let size_line = self.line().await;
                let size = usize::from_str_radix(size_line.split(';').next().unwrap(), 16).unwrap();
                if size == 0 {
                    loop {
                        let line = self.line().await;
                        if line.is_empty() {
                            break;
                        }
                        let (n, v) = line.split_once(':').unwrap();
                        response.trailers.push((n.to_owned(), v.trim().to_owned()));
                    }
                    response.chunked = true;
                    return response;
                }
                let data = self.read_exact_raw(size + 2).await;
                assert_eq!(&data[size..], b"\r\n");
                response.body.extend_from_slice(&data[..size]);
            }
        } else if let Some(cl) = cl {
            let n: usize = cl.parse().unwrap();
            response.body = self.read_exact_raw(n).await;
        } else {
            response.body = self.read_to_eof().await;
        }
        response
    }

    /// Reads the next final response to a non-HEAD request.
    pub async fn read_response(&mut self) -> Response {
        self.read_response_to(false).await
    }

    /// Sends `raw` and reads one response.
    pub async fn request(&mut self, raw: &[u8]) -> Response {
        self.send(raw).await;
        self.read_response().await
    }
}

/// `GET path` with a Host header, keep-alive.
pub fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").into_bytes()
}

/// `POST path` with a Content-Length body.
pub fn post(path: &str, body: &[u8]) -> Vec<u8> {
    let mut raw = format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    raw
}

/// Answers 200 `Hello, world!` without reading the body.
pub struct Hello;

impl App for Hello {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "text/plain; charset=utf-8".parse()?);
        http.respond(StatusCode::OK, headers, "Hello, world!")
            .await?;
        Ok(())
    }
}

/// Answers with the request body, streamed chunk by chunk as it arrives
/// (no content-length: chunked on HTTP/1.1).
pub struct StreamEcho;

impl App for StreamEcho {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        http.send(HttpSend::Start(ResponseStart::new(StatusCode::OK)))
            .await?;
        loop {
            match http.recv().await {
                HttpReceive::Body { data, more } => {
                    http.send(HttpSend::Body { data, more }).await?;
                    if !more {
                        return Ok(());
                    }
                }
                HttpReceive::Disconnect => return Err(rgi::Error::Disconnected.into()),
                _ => return Err("unexpected event".into()),
            }
        }
    }
}

/// Answers with the whole request body read first, with its length.
pub struct Echo;

impl App for Echo {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        let body = http.read_body(64 << 20).await?;
        let mut headers = HeaderMap::new();
        headers.insert("x-body-length", body.len().into());
        http.respond(StatusCode::OK, headers, body).await?;
        Ok(())
    }
}

/// Answers 200 with the request path as the body; `/slow/...` waits 200 ms
/// first; `/echo...` answers with the request body.
pub struct PathEcho;

impl App for PathEcho {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        let path = http.scope.path.clone();
        if path.starts_with("/slow") {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let body = if path.starts_with("/echo") {
            http.read_body(1 << 20).await?
        } else {
            bytes::Bytes::from(path)
        };
        http.respond(StatusCode::OK, HeaderMap::new(), body).await?;
        Ok(())
    }
}

// ---- Helpers for the adversarial tests (tests/adversarial_*.rs) ----

/// Sends `raw` on a new connection; expects exactly one response with
/// `status` and `connection: close`, then the close, with nothing after it
/// (no second response: the bytes after a refused head are never parsed).
pub async fn assert_refused(server: &TestServer, raw: &[u8], status: u16) {
    let mut client = server.connect().await;
    // The server may refuse and close before it read everything.
    let _ = client.try_send(raw).await;
    let r = client.read_response().await;
    let shown = String::from_utf8_lossy(&raw[..raw.len().min(160)]).into_owned();
    assert_eq!(r.status, status, "for {shown:?}: {}", r.text());
    assert_eq!(r.header("connection"), Some("close"), "for {shown:?}");
    client.assert_closed().await;
}

/// A good request on a new connection still gets its answer: the server
/// survived whatever came before.
pub async fn assert_still_serving(server: &TestServer) {
    let mut client = server.connect().await;
    client.send(&get("/still-serving")).await;
    let r = client.read_response().await;
    assert_eq!(r.status, 200, "the server stopped serving");
}

/// Answers 200 with a one-line report of the request:
/// `METHOD PATH host=HOST body=BODY` (the body read in full, up to 1 MiB;
/// HOST is `(none)` without a `host` header),
/// so that a test sees exactly what reached the app.
pub struct Reflect;

impl App for Reflect {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        let host = http
            .scope
            .headers
            .get_all("host")
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect::<Vec<_>>();
        let host = if host.is_empty() {
            "(none)".to_owned()
        } else {
            host.join(",")
        };
        let head = format!(
            "{} {} host={host} body=",
            http.scope.method, http.scope.path
        );
        let body = http.read_body(1 << 20).await?;
        let mut out = head.into_bytes();
        out.extend_from_slice(&body);
        http.respond(StatusCode::OK, HeaderMap::new(), out).await?;
        Ok(())
    }
}

/// Answers 200 with the request path, never reading the body.
pub struct PathNoRead;

impl App for PathNoRead {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        let path = http.scope.path.clone();
        http.respond(StatusCode::OK, HeaderMap::new(), path).await?;
        Ok(())
    }
}

impl Client {
    /// Everything the server writes until it closes, or until it stays
    /// silent for 500 ms (whichever comes first).
    pub async fn read_to_eof_or_idle(&mut self) -> Vec<u8> {
        loop {
            match tokio::time::timeout(
                Duration::from_millis(500),
                self.stream.read_buf(&mut self.buf),
            )
            .await
            {
                Ok(Ok(n)) if n > 0 => {}
                _ => return self.buf.split().to_vec(),
            }
        }
    }
}

impl TestServer {
    /// A new connection as a [`Client`] plus a second handle on the same
    /// socket, to write (trickle, flood) while the client reads.
    pub async fn connect_with_writer(&self) -> (Client, TcpStream) {
        Client::connect_with_writer(self.addr).await
    }
}

impl Client {
    /// A new connection to `addr` as a [`Client`] plus a second handle on
    /// the same socket, to write while the client reads.
    pub async fn connect_with_writer(addr: SocketAddr) -> (Client, TcpStream) {
        let stream = bounded("connect", TcpStream::connect(addr))
            .await
            .unwrap()
            .into_std()
            .unwrap();
        let writer = stream.try_clone().unwrap();
        (
            Client::from_stream(TcpStream::from_std(stream).unwrap()),
            TcpStream::from_std(writer).unwrap(),
        )
    }
}

/// Starts a 200 response and sends 16 KiB chunks forever: the client's
/// reading is all that paces it. `sent` counts the bytes each completed
/// send handed over; the error that ends the stream is reported on `ended`
/// (`true` when it is `Error::Disconnected`), if a sender is given.
#[derive(Default)]
pub struct Firehose {
    pub sent: Arc<AtomicU64>,
    pub ended: Option<tokio::sync::mpsc::UnboundedSender<bool>>,
}

impl App for Firehose {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        http.send(HttpSend::Start(ResponseStart::new(StatusCode::OK)))
            .await?;
        let chunk = bytes::Bytes::from(vec![b'z'; 16 * 1024]);
        loop {
            if let Err(e) = http.send(HttpSend::chunk(chunk.clone())).await {
                if let Some(ended) = &self.ended {
                    let _ = ended.send(matches!(e, rgi::Error::Disconnected));
                }
                return Err(e.into());
            }
            self.sent.fetch_add(chunk.len() as u64, Ordering::SeqCst);
        }
    }
}
