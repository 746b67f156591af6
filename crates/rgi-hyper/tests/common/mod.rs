//! What the rgi-hyper tests share: a server on a free port that stops
//! when dropped, an HTTP/2 (h2c) client connection, small test apps.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rgi::App;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// Every wait in these tests: generous, the machine is shared.
pub const WAIT: Duration = Duration::from_secs(20);

pub async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {WAIT:?}"))
}

/// A running rgi-hyper server; shut down gracefully when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<Result<(), rgi_server::ServeError>>,
}

impl TestServer {
    /// Asks for graceful shutdown and waits until the server has stopped.
    pub async fn stop(mut self) -> Result<(), rgi_server::ServeError> {
        drop(self.stop.take());
        bounded("server stop", &mut self.task).await.unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        drop(self.stop.take());
    }
}

pub async fn start(app: impl App) -> TestServer {
    start_on(rgi_hyper::Server::bind("127.0.0.1:0").await.unwrap(), app).await
}

pub async fn start_on(server: rgi_hyper::Server, app: impl App) -> TestServer {
    let addr = server.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.serve_with_shutdown(app, async {
        let _ = stopped.await;
    }));
    TestServer {
        addr,
        stop: Some(stop),
        task,
    }
}

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type ClientBody = http_body_util::combinators::BoxBody<Bytes, BoxError>;
pub type H2 = http2::SendRequest<ClientBody>;

/// One HTTP/2 connection with prior knowledge (h2c).
pub async fn h2c(addr: SocketAddr) -> H2 {
    let stream = bounded("connect", TcpStream::connect(addr)).await.unwrap();
    let (sender, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
        .await
        .expect("h2c handshake");
    tokio::spawn(conn);
    sender
}

pub fn full(body: impl Into<Bytes>) -> ClientBody {
    Full::new(body.into())
        .map_err(|never| match never {})
        .boxed()
}

/// The whole body of a response.
pub async fn body_of(response: hyper::Response<hyper::body::Incoming>) -> Bytes {
    bounded("body", response.into_body().collect())
        .await
        .expect("body")
        .to_bytes()
}

/// A masked client WebSocket frame (payloads under 64 KiB); `first` is
/// the first byte (FIN, RSV bits, opcode).
pub fn frame_with(first: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [9u8, 8, 7, 6];
    let mut out = vec![first];
    match u16::try_from(payload.len()) {
        Ok(n) if n < 126 => out.push(0x80 | n as u8),
        Ok(n) => {
            out.push(0x80 | 126);
            out.extend_from_slice(&n.to_be_bytes());
        }
        Err(_) => panic!("a frame over 64 KiB"),
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

pub fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame_with(0x80 | opcode, payload)
}

/// Reads one unmasked server frame (payloads under 64 KiB): its first
/// byte and payload.
pub async fn read_frame(io: &mut (impl AsyncRead + Unpin)) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    bounded("a frame", io.read_exact(&mut head)).await.unwrap();
    assert_eq!(head[1] & 0x80, 0, "server frames are not masked");
    let len = match head[1] & 0x7F {
        126 => {
            let mut n = [0u8; 2];
            io.read_exact(&mut n).await.unwrap();
            u16::from_be_bytes(n) as usize
        }
        127 => panic!("a frame over 64 KiB"),
        n => n as usize,
    };
    let mut payload = vec![0; len];
    bounded("a payload", io.read_exact(&mut payload))
        .await
        .unwrap();
    (head[0], payload)
}

/// Serves bytes 2..7 of a file, then `|end` (checking that the scope
/// announces `send_file`).
pub struct FileApp(pub std::path::PathBuf);

impl App for FileApp {
    async fn call(&self, conn: rgi::Conn<'_>) -> rgi::AppResult {
        use rgi::{FileBody, HttpSend, ResponseStart};
        let rgi::Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        assert!(http.scope.capabilities.send_file);
        http.send(HttpSend::Start(ResponseStart::new(http::StatusCode::OK)))
            .await?;
        let mut file = FileBody::new(self.0.clone()).range(2..7);
        file.more = true;
        http.send(HttpSend::File(file)).await?;
        http.send(HttpSend::Body {
            data: "|end".into(),
            more: false,
        })
        .await?;
        Ok(())
    }
}

/// Sends `request` on a fresh connection and reads until the server closes.
pub async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    use tokio::io::AsyncWriteExt;
    let mut stream = bounded("connect", TcpStream::connect(addr)).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut out = Vec::new();
    bounded("response", stream.read_to_end(&mut out))
        .await
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}
