//! Backpressure both ways with bounded memory: a slow client slows the
//! app's sends; a slow app slows the reading of the request body. 8 MiB go
//! through while the bytes in flight stay far below 8 MiB.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use http::{HeaderMap, StatusCode};
use rgi::{App, AppResult, Conn, HttpReceive};
use rgi_server::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const TOTAL: usize = 8 * 1024 * 1024;
/// Small socket buffers (autotuning off) so that the kernel cannot hide a
/// missing backpressure by buffering megabytes itself.
const SOCKET_BUFFER: u32 = 64 * 1024;
/// What may legitimately be in flight: socket buffers on both sides (the
/// kernel doubles the sizes) plus the server's bounded read and write
/// buffers, with room to spare. Without backpressure the gap reaches 8 MiB.
const MAX_IN_FLIGHT: u64 = 3 * 1024 * 1024;

fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

async fn start_small_buffers(app: impl App) -> TestServer {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(SOCKET_BUFFER).unwrap();
    socket.set_recv_buffer_size(SOCKET_BUFFER).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(64).unwrap();
    start_on(Server::from_listener(listener), app).await
}

async fn connect_small_buffers(server: &TestServer) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(SOCKET_BUFFER).unwrap();
    socket.set_recv_buffer_size(SOCKET_BUFFER).unwrap();
    bounded("connect", socket.connect(server.addr))
        .await
        .unwrap()
}

/// Writes the 8 MiB request, counting what the kernel took.
async fn write_body(
    mut writer: tokio::net::tcp::OwnedWriteHalf,
    written: Arc<AtomicU64>,
) -> tokio::net::tcp::OwnedWriteHalf {
    let head = format!("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {TOTAL}\r\n\r\n");
    writer.write_all(head.as_bytes()).await.unwrap();
    let mut offset = 0;
    while offset < TOTAL {
        let piece: Vec<u8> = (offset..(offset + 64 * 1024).min(TOTAL))
            .map(pattern)
            .collect();
        writer.write_all(&piece).await.unwrap();
        offset += piece.len();
        written.store(offset as u64, Ordering::SeqCst);
    }
    writer
}

/// Removes chunked framing from a complete response body.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&raw[..line_end]).unwrap(), 16).unwrap();
        raw = &raw[line_end + 2..];
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

#[tokio::test]
async fn slow_reader_slows_the_echo_without_buffering_it() {
    let server = start_small_buffers(StreamEcho).await;
    let stream = connect_small_buffers(&server).await;
    let (mut reader, writer) = stream.into_split();
    let written = Arc::new(AtomicU64::new(0));
    let writing = tokio::spawn(write_body(writer, written.clone()));

    let mut raw = Vec::with_capacity(TOTAL + 64 * 1024);
    let mut max_gap = 0;
    let mut buf = vec![0u8; 32 * 1024];
    let read_all = async {
        while !raw.ends_with(b"\r\n0\r\n\r\n") {
            let n = reader.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed early");
            raw.extend_from_slice(&buf[..n]);
            let gap = written
                .load(Ordering::SeqCst)
                .saturating_sub(raw.len() as u64);
            max_gap = max_gap.max(gap);
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read_all)
        .await
        .expect("echo finished in time");
    writing.await.unwrap();

    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(raw.starts_with(b"HTTP/1.1 200 OK\r\n"));
    let body = dechunk(&raw[head_end..]);
    assert_eq!(body.len(), TOTAL);
    assert!(
        body.iter().enumerate().all(|(i, &b)| b == pattern(i)),
        "echo corrupted"
    );
    assert!(
        max_gap < MAX_IN_FLIGHT,
        "{max_gap} bytes were in flight: the server buffered instead of pushing back"
    );
    server.stop().await.unwrap();
}

/// Reads the body slowly, counting what it consumed.
struct SlowConsumer(Arc<AtomicU64>);

impl App for SlowConsumer {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        let mut offset = 0;
        loop {
            match http.recv().await {
                HttpReceive::Body { data, more } => {
                    assert!(data
                        .iter()
                        .enumerate()
                        .all(|(i, &b)| b == pattern(offset + i)));
                    offset += data.len();
                    self.0.store(offset as u64, Ordering::SeqCst);
                    if !more {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(3)).await;
                }
                _ => return Err("client left".into()),
            }
        }
        http.respond(StatusCode::OK, HeaderMap::new(), offset.to_string())
            .await?;
        Ok(())
    }
}

#[tokio::test]
async fn slow_app_slows_the_upload() {
    let consumed = Arc::new(AtomicU64::new(0));
    let server = start_small_buffers(SlowConsumer(consumed.clone())).await;
    let stream = connect_small_buffers(&server).await;
    let (reader, writer) = stream.into_split();
    let written = Arc::new(AtomicU64::new(0));
    let writing = tokio::spawn(write_body(writer, written.clone()));
    let mut max_gap = 0;
    let watch = async {
        while !writing.is_finished() {
            let gap = written
                .load(Ordering::SeqCst)
                .saturating_sub(consumed.load(Ordering::SeqCst));
            max_gap = max_gap.max(gap);
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), watch)
        .await
        .expect("upload finished in time");
    let mut client = Client::from_stream(reader.reunite(writing.await.unwrap()).unwrap());
    let r = client.read_response().await;
    assert_eq!(r.text(), TOTAL.to_string());
    assert!(
        max_gap < MAX_IN_FLIGHT,
        "{max_gap} bytes were in flight: the server read ahead of the app"
    );
    server.stop().await.unwrap();
}
