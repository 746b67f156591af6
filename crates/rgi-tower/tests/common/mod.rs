//! What the TCP tests of every direction share: servers on 127.0.0.1:0, a
//! raw-bytes client, a tower service and an rgi app whose streams the test
//! drives one chunk at a time, and drop flags.
#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use rgi::http::{HeaderMap, StatusCode};
use rgi::{App, AppResult, Conn, HttpReceive, HttpSend, ResponseStart};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Mutex};

/// Every wait of these tests: generous, the machine is shared.
pub const WAIT: Duration = Duration::from_secs(10);

/// A raw TCP client that reads as far as the test asks.
pub struct Client {
    stream: TcpStream,
    pub read: Vec<u8>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        Self {
            stream,
            read: Vec::new(),
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.stream.local_addr().unwrap()
    }

    pub async fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.stream.write_all(bytes.as_ref()).await.expect("write");
    }

    /// Sends one chunk of a chunked request body.
    pub async fn send_chunk(&mut self, data: &str) {
        self.send(format!("{:x}\r\n{data}\r\n", data.len())).await;
    }

    /// Reads until `needle` has arrived; the text so far.
    pub async fn read_until(&mut self, needle: &str) -> String {
        let found = tokio::time::timeout(WAIT, async {
            let mut buf = [0u8; 8192];
            while !contains(&self.read, needle.as_bytes()) {
                let n = self.stream.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    return false;
                }
                self.read.extend_from_slice(&buf[..n]);
            }
            true
        })
        .await;
        let text = String::from_utf8_lossy(&self.read).into_owned();
        assert!(
            matches!(found, Ok(true)),
            "waited for {needle:?}, got {text:?}"
        );
        text
    }

    /// Whether more bytes arrive within `within`.
    pub async fn read_some(&mut self, within: Duration) -> bool {
        let mut buf = [0u8; 8192];
        match tokio::time::timeout(within, self.stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {
                self.read.extend_from_slice(&buf[..n]);
                true
            }
            _ => false,
        }
    }

    /// Reads until the peer closes (bounded); the whole text.
    pub async fn read_to_end(&mut self) -> String {
        let _ = tokio::time::timeout(WAIT, self.stream.read_to_end(&mut self.read)).await;
        String::from_utf8_lossy(&self.read).into_owned()
    }

    /// Goes away: closes the socket.
    pub async fn close(self) {
        drop(self.stream);
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The reference server on a free port, serving `app`.
pub async fn rgi_server(app: impl App) -> SocketAddr {
    let server = rgi_server::Server::bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    tokio::spawn(server.serve_with_shutdown(app, std::future::pending()));
    addr
}

/// Plain hyper (HTTP/1.1) on a free port, serving a tower service.
pub async fn hyper_server<S, B>(service: S) -> SocketAddr
where
    S: tower::Service<
            rgi::http::Request<hyper::body::Incoming>,
            Response = rgi::http::Response<B>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let service = service.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    tower::ServiceExt::oneshot(service.clone(), request)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// axum::serve on a free port, with the client address as `ConnectInfo`.
pub async fn axum_server(router: axum::Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });
    addr
}

/// Set when dropped: shows that cancellation reached a tower body.
#[derive(Clone, Default)]
pub struct DropFlag(pub Arc<AtomicBool>);

impl DropFlag {
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Waits (bounded) until set.
    pub async fn wait(&self, what: &str) {
        let set = tokio::time::timeout(WAIT, async {
            while !self.is_set() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(set.is_ok(), "{what}: not within {WAIT:?}");
    }
}

pub struct SetOnDrop(pub DropFlag);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0 .0.store(true, Ordering::SeqCst);
    }
}

/// The tower side of the tests: a service whose response body is fed by
/// the test, frame by frame, and whose request body is reported chunk by
/// chunk.
#[derive(Clone)]
pub struct TowerSide {
    frames: Arc<Mutex<Option<mpsc::Receiver<Frame<Bytes>>>>>,
    pub chunks: Arc<Mutex<mpsc::UnboundedReceiver<Bytes>>>,
    chunk_tx: mpsc::UnboundedSender<Bytes>,
    pub body_dropped: DropFlag,
}

/// The test's end of a [`TowerSide`].
pub struct Feed(pub mpsc::Sender<Frame<Bytes>>);

impl Feed {
    pub async fn data(&self, data: &'static str) {
        self.0
            .send(Frame::data(Bytes::from_static(data.as_bytes())))
            .await
            .ok();
    }
    pub async fn trailers(&self, trailers: HeaderMap) {
        self.0.send(Frame::trailers(trailers)).await.ok();
    }
}

impl TowerSide {
    pub fn new() -> (Self, Feed) {
        let (tx, rx) = mpsc::channel(1);
        let (chunk_tx, chunk_rx) = mpsc::unbounded_channel();
        let side = Self {
            frames: Arc::new(Mutex::new(Some(rx))),
            chunks: Arc::new(Mutex::new(chunk_rx)),
            chunk_tx,
            body_dropped: DropFlag::default(),
        };
        (side, Feed(tx))
    }

    /// The next request chunk the service read (bounded wait).
    pub async fn next_chunk(&self) -> Bytes {
        let mut chunks = self.chunks.lock().await;
        tokio::time::timeout(WAIT, chunks.recv())
            .await
            .expect("a request chunk in time")
            .expect("the channel is open")
    }

    /// `/stream`: a 200 whose body is what the test feeds (with a
    /// `trailer: x-checksum` header, so trailers are announced);
    /// `/upload`: reads the body, reporting each chunk, then `got N`.
    pub fn service(
        &self,
    ) -> impl tower::Service<
        rgi::http::Request<rgi_tower::RequestBody>,
        Response = rgi::http::Response<axum::body::Body>,
        Error = Infallible,
        Future = impl Send,
    > + Clone
           + Send
           + Sync
           + 'static {
        let side = self.clone();
        tower::service_fn(move |request: rgi::http::Request<rgi_tower::RequestBody>| {
            let side = side.clone();
            async move { Ok::<_, Infallible>(side.handle(request.map(axum::body::Body::new)).await) }
        })
    }

    /// The same, as an axum router (for `RgiLayer` and `axum::serve`).
    pub fn router(&self) -> axum::Router {
        let side = self.clone();
        axum::Router::new().fallback(move |request: axum::extract::Request| {
            let side = side.clone();
            async move { side.handle(request).await }
        })
    }

    pub async fn handle(
        &self,
        request: rgi::http::Request<axum::body::Body>,
    ) -> rgi::http::Response<axum::body::Body> {
        match request.uri().path() {
            "/upload" => {
                let mut body = request.into_body();
                let mut total = 0;
                while let Some(frame) = body.frame().await {
                    match frame.map(Frame::into_data) {
                        Ok(Ok(data)) => {
                            total += data.len();
                            let _ = self.chunk_tx.send(data);
                        }
                        Ok(Err(_)) => {}
                        Err(_) => break,
                    }
                }
                rgi::http::Response::new(axum::body::Body::from(format!("got {total}")))
            }
            _ => {
                let frames = self
                    .frames
                    .lock()
                    .await
                    .take()
                    .expect("one /stream per test");
                let guard = SetOnDrop(self.body_dropped.clone());
                let stream = futures_util::stream::unfold(
                    (frames, guard),
                    |(mut frames, guard)| async move {
                        let frame = frames.recv().await?;
                        Some((Ok::<_, Infallible>(frame), (frames, guard)))
                    },
                );
                let mut response =
                    rgi::http::Response::new(axum::body::Body::new(StreamBody::new(stream)));
                response
                    .headers_mut()
                    .insert("trailer", "x-checksum".parse().unwrap());
                response
            }
        }
    }
}

/// What the rgi side of the tests saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Chunk(Bytes),
    Disconnect,
    SendFailed,
    Returned,
}

/// The rgi side of the tests: `/stream` sends what the test feeds (events
/// after its own `Start`, which announces trailers), `/upload` reports each
/// request chunk, then answers `got N`. Everything it notices goes to
/// `seen`.
#[derive(Clone)]
pub struct RgiSide {
    events: Arc<Mutex<mpsc::Receiver<HttpSend>>>,
    seen_tx: mpsc::UnboundedSender<Seen>,
    pub seen: Arc<Mutex<mpsc::UnboundedReceiver<Seen>>>,
}

impl RgiSide {
    pub fn new() -> (Self, mpsc::Sender<HttpSend>) {
        let (tx, rx) = mpsc::channel(1);
        let (seen_tx, seen_rx) = mpsc::unbounded_channel();
        let side = Self {
            events: Arc::new(Mutex::new(rx)),
            seen_tx,
            seen: Arc::new(Mutex::new(seen_rx)),
        };
        (side, tx)
    }

    pub async fn next_seen(&self) -> Seen {
        let mut seen = self.seen.lock().await;
        tokio::time::timeout(WAIT, seen.recv())
            .await
            .expect("the rgi side saw something in time")
            .expect("the channel is open")
    }

    fn saw(&self, seen: Seen) {
        let _ = self.seen_tx.send(seen);
    }
}

impl App for RgiSide {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        if http.scope.route_path() == "/upload" {
            let mut total = 0;
            loop {
                match http.recv().await {
                    HttpReceive::Body { data, more } => {
                        total += data.len();
                        if !data.is_empty() {
                            self.saw(Seen::Chunk(data));
                        }
                        if !more {
                            break;
                        }
                    }
                    _ => {
                        self.saw(Seen::Disconnect);
                        return Ok(());
                    }
                }
            }
            let body = format!("got {total}");
            return Ok(http.respond(StatusCode::OK, HeaderMap::new(), body).await?);
        }
        let start = ResponseStart::new(StatusCode::OK)
            .header(rgi::http::header::TRAILER, "x-checksum")
            .with_trailers();
        http.send(HttpSend::Start(start)).await?;
        let mut events = self.events.lock().await;
        let mut watching = true;
        loop {
            // Watch the client while waiting for the test's next event.
            let event = if watching {
                tokio::select! {
                    event = events.recv() => event,
                    received = http.recv() => {
                        if received == HttpReceive::Disconnect {
                            self.saw(Seen::Disconnect);
                            watching = false;
                        }
                        continue;
                    }
                }
            } else {
                events.recv().await
            };
            let Some(event) = event else { return Ok(()) };
            let last = matches!(event, HttpSend::Trailers(_));
            if let Err(error) = http.send(event).await {
                self.saw(Seen::SendFailed);
                return Err(error.into());
            }
            if last {
                self.saw(Seen::Returned);
                return Ok(());
            }
        }
    }
}

/// A chunked POST head.
pub fn chunked_post(path: &str) -> String {
    format!("POST {path} HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n")
}

/// A GET head asking for trailers.
pub fn get_with_trailers(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nhost: t\r\nte: trailers\r\n\r\n")
}

pub fn trailers(value: &'static str) -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert("x-checksum", value.parse().unwrap());
    map
}

/// Chunk k of a response reaches the client before the tower side produces
/// chunk k+1; then the trailers arrive.
pub async fn tower_inner_streams(addr: SocketAddr, feed: &Feed) {
    let mut client = Client::connect(addr).await;
    client.send(get_with_trailers("/stream")).await;
    for k in 0..4 {
        let chunk: &'static str = ["chunk-0", "chunk-1", "chunk-2", "chunk-3"][k];
        feed.data(chunk).await;
        // Chunk k+1 is not produced until chunk k is on the client's side.
        client.read_until(chunk).await;
    }
    feed.trailers(trailers("abc")).await;
    let text = client.read_until("x-checksum: abc").await;
    assert!(text.contains("transfer-encoding: chunked"), "{text}");
}

/// Request chunk k reaches the tower service before the client sends k+1.
pub async fn tower_inner_uploads(addr: SocketAddr, side: &TowerSide) {
    let mut client = Client::connect(addr).await;
    client.send(chunked_post("/upload")).await;
    for part in ["part-0", "part-1", "part-2", "part-3"] {
        client.send_chunk(part).await;
        assert_eq!(side.next_chunk().await, part);
    }
    client.send("0\r\n\r\n").await;
    client.read_until("got 24").await;
}

/// A client that leaves mid-stream: the tower body is dropped.
pub async fn tower_inner_disconnect(addr: SocketAddr, side: &TowerSide, feed: &Feed) {
    let mut client = Client::connect(addr).await;
    client.send(get_with_trailers("/stream")).await;
    feed.data("chunk-0").await;
    client.read_until("chunk-0").await;
    client.close().await;
    // The first writes after a close may still be taken by the kernel: go
    // on producing until the far side gives up.
    for _ in 0..200 {
        if side.body_dropped.is_set() {
            break;
        }
        feed.data("more").await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    side.body_dropped
        .wait("the tower body was dropped after the client left")
        .await;
}

/// The same three for an rgi app on the far side.
pub async fn rgi_inner_streams(addr: SocketAddr, events: &mpsc::Sender<HttpSend>) {
    let mut client = Client::connect(addr).await;
    client.send(get_with_trailers("/stream")).await;
    for chunk in ["chunk-0", "chunk-1", "chunk-2", "chunk-3"] {
        events.send(HttpSend::chunk(chunk)).await.unwrap();
        client.read_until(chunk).await;
    }
    events.send(HttpSend::body("")).await.unwrap();
    events
        .send(HttpSend::Trailers(trailers("abc")))
        .await
        .unwrap();
    client.read_until("x-checksum: abc").await;
}

pub async fn rgi_inner_uploads(addr: SocketAddr, side: &RgiSide) {
    let mut client = Client::connect(addr).await;
    client.send(chunked_post("/upload")).await;
    for part in ["part-0", "part-1", "part-2", "part-3"] {
        client.send_chunk(part).await;
        assert_eq!(
            side.next_seen().await,
            Seen::Chunk(Bytes::from_static(part.as_bytes()))
        );
    }
    client.send("0\r\n\r\n").await;
    client.read_until("got 24").await;
}

pub async fn rgi_inner_disconnect(
    addr: SocketAddr,
    side: &RgiSide,
    events: &mpsc::Sender<HttpSend>,
) {
    let mut client = Client::connect(addr).await;
    client.send(get_with_trailers("/stream")).await;
    events.send(HttpSend::chunk("chunk-0")).await.unwrap();
    client.read_until("chunk-0").await;
    client.close().await;
    let noticed = tokio::time::timeout(WAIT, async {
        loop {
            tokio::select! {
                seen = side.next_seen() => match seen {
                    Seen::Disconnect | Seen::SendFailed => return seen,
                    _ => {}
                },
                _ = async {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let _ = events.try_send(HttpSend::chunk("more"));
                    std::future::pending::<()>().await
                } => {}
            }
        }
    })
    .await;
    assert!(
        noticed.is_ok(),
        "the rgi app never learnt that the client left"
    );
}
