//! A 100 MiB chunked upload against `BodyLimit` on the reference server
//! over real TCP: refused with 413 while it is still being sent, the rest
//! never read, and the process's peak memory stays flat. One test in its
//! own file: peak RSS (`VmHWM`) is per process.

use std::time::Duration;

use rgi::http::{HeaderMap, StatusCode};
use rgi::{App, AppResult, Conn};
use rgi_middleware_examples::BodyLimit;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const UPLOAD: usize = 100 * 1024 * 1024;
const LIMIT: u64 = 1024 * 1024;
const CHUNK: usize = 64 * 1024;

/// Reads the whole body into memory, with no limit of its own: without
/// the middleware, a 100 MiB upload is 100 MiB of this process.
struct Slurp;

impl App for Slurp {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        let body = http.read_body(usize::MAX).await?;
        let answer = format!("{} bytes", body.len());
        Ok(http
            .respond(StatusCode::OK, HeaderMap::new(), answer)
            .await?)
    }
}

/// The peak resident set of this process, in KiB, where Linux says it.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test]
async fn a_100_mib_chunked_upload_is_refused_with_flat_memory() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = rgi_server::Config::default();
    config.max_body_bytes = None; // the limit is the middleware's alone
    let server = rgi_server::Server::from_listener(listener).with_config(config);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(async move {
        let signal = async {
            let _ = stopped.await;
        };
        server
            .serve_with_shutdown(BodyLimit::new(Slurp, LIMIT), signal)
            .await
    });
    let before = peak_rss_kib();

    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let uploader = tokio::spawn(async move {
        let head = "POST /upload HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n";
        write.write_all(head.as_bytes()).await?;
        let mut frame = format!("{CHUNK:x}\r\n").into_bytes();
        frame.extend(std::iter::repeat_n(b'x', CHUNK));
        frame.extend_from_slice(b"\r\n");
        let mut sent = 0;
        while sent < UPLOAD {
            write.write_all(&frame).await?;
            sent += CHUNK;
        }
        write.write_all(b"0\r\n\r\n").await?;
        Ok::<usize, std::io::Error>(sent)
    });
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), read.read_to_end(&mut response))
        .await
        .expect("the answer comes while the upload is refused")
        .ok(); // a reset after the response is fine
    let head = String::from_utf8_lossy(&response);
    assert!(head.starts_with("HTTP/1.1 413 "), "{head}");
    assert!(head.contains("larger than 1048576 bytes"), "{head}");

    let upload = tokio::time::timeout(Duration::from_secs(60), uploader)
        .await
        .expect("the upload stops by itself")
        .unwrap();
    assert!(
        upload.is_err(),
        "the server must stop taking the upload, not read all 100 MiB: {upload:?}"
    );

    if let (Some(before), Some(after)) = (before, peak_rss_kib()) {
        let grew = after.saturating_sub(before);
        println!("peak RSS: {before} KiB before, {after} KiB after ({grew} KiB more)");
        // Reading the whole upload would be 100 MiB or more; the limit,
        // the socket buffers and the linger read are a few MiB.
        assert!(grew < 32 * 1024, "peak RSS grew by {grew} KiB");
    } else {
        println!("no /proc/self/status here: the memory bound is not measured");
    }
    stop.send(()).unwrap();
    served.await.unwrap().unwrap();
}
