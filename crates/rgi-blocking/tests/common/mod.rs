//! The test server (rgi-server on a runtime of its own, 2 workers) and a
//! raw HTTP/1.1 client on std sockets: clients run on plain threads, off
//! the server's runtime, so what they time is the server.

#![allow(dead_code, unreachable_pub)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use rgi::{App, AppResult, Conn};

/// Every socket wait in the tests is bounded by this.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// A server running `app` until dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    runtime: Option<tokio::runtime::Runtime>,
}

pub fn serve(app: impl App) -> TestServer {
    serve_with(app, |_| {})
}

/// [`serve`] with changes to the server's config (from the default with a
/// 1 s drain).
pub fn serve_with(app: impl App, configure: impl FnOnce(&mut rgi_server::Config)) -> TestServer {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let addr = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut config = rgi_server::Config::default();
        config.drain_timeout = Duration::from_secs(1);
        configure(&mut config);
        let server = rgi_server::Server::from_listener(listener).with_config(config);
        let addr = server.local_addr();
        tokio::spawn(server.serve_with_shutdown(app, async {
            let _ = stopped.await;
        }));
        addr
    });
    TestServer {
        addr,
        stop: Some(stop),
        runtime: Some(runtime),
    }
}

impl TestServer {
    pub fn connect(&self) -> Client {
        Client::connect(self.addr)
    }

    /// One request on a new connection; the whole response.
    pub fn request(&self, raw: &[u8]) -> Response {
        let mut client = self.connect();
        client.send(raw);
        client.response().expect("a response")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

/// Routes `/async…` to an async answer and everything else to `blocking`:
/// the shape of a real app mixing both.
pub struct Split<B> {
    pub blocking: B,
}

impl<B: App> App for Split<B> {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        match conn {
            Conn::Http(mut http) if http.scope.path.starts_with("/async") => {
                http.respond(http::StatusCode::OK, http::HeaderMap::new(), "fast\n")
                    .await?;
                Ok(())
            }
            other => self.blocking.call(other).await,
        }
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether the body's framing completed (final chunk, or the whole
    /// content-length).
    pub complete: bool,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub struct Client {
    pub reader: BufReader<TcpStream>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            reader: BufReader::new(stream),
        }
    }

    pub fn stream(&mut self) -> &mut TcpStream {
        self.reader.get_mut()
    }

    pub fn send(&mut self, raw: &[u8]) {
        self.stream().write_all(raw).expect("send");
    }

    /// Status and headers.
    pub fn head(&mut self) -> io::Result<(u16, Vec<(String, String)>)> {
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("{line:?}")))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let trimmed = line.trim_end();
            if trimmed.is_empty() {
                return Ok((status, headers));
            }
            if let Some((name, value)) = trimmed.split_once(':') {
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
        }
    }

    /// The next chunk of a chunked body; `None` after the final chunk
    /// (trailers skipped).
    pub fn chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let size = usize::from_str_radix(line.trim_end().split(';').next().unwrap_or(""), 16)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("{line:?}")))?;
        if size == 0 {
            loop {
                line.clear();
                if self.reader.read_line(&mut line)? == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                if line.trim_end().is_empty() {
                    return Ok(None);
                }
            }
        }
        let mut data = vec![0; size + 2];
        self.reader.read_exact(&mut data)?;
        data.truncate(size);
        Ok(Some(data))
    }

    /// A whole response. A body cut short is returned with
    /// `complete: false`.
    pub fn response(&mut self) -> io::Result<Response> {
        let (status, headers) = self.head()?;
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
            complete: false,
        };
        if status == 204 || status == 304 {
            // No body, whatever the headers say (RFC 9112 section 6.3).
            response.complete = true;
        } else if let Some(len) = response.header("content-length") {
            let len: usize = len.parse().unwrap_or(0);
            let mut body = vec![0; len];
            response.complete = self.reader.read_exact(&mut body).is_ok();
            response.body = body;
        } else if response.header("transfer-encoding") == Some("chunked") {
            loop {
                match self.chunk() {
                    Ok(Some(data)) => response.body.extend_from_slice(&data),
                    Ok(None) => {
                        response.complete = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
        } else {
            response.complete = self.reader.read_to_end(&mut response.body).is_ok();
        }
        Ok(response)
    }
}

pub fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nhost: test\r\n\r\n").into_bytes()
}

/// Polls `condition` every 10 ms for up to 10 s.
pub fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}
