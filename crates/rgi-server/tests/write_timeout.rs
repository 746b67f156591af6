//! The write-stall timeout: a client that stops reading a streamed
//! response is given up after `Config::write_timeout`; the app's send fails
//! with `Error::Disconnected` and its receive returns `Disconnect`.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use http::StatusCode;
use rgi::{App, AppResult, Conn, HttpReceive, HttpSend, ResponseStart};
use rgi_server::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::sync::mpsc;

/// What the endless streamer saw when its sending ended.
#[derive(Debug)]
struct Outcome {
    send_was_disconnected: bool,
    receive_after: HttpReceive,
}

/// `/stream`: 16 KiB chunks forever; reports how it ended. Anything else:
/// a small answer.
struct EndlessStream(mpsc::UnboundedSender<Outcome>);

impl App for EndlessStream {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        if http.scope.path != "/stream" {
            http.respond(StatusCode::OK, http::HeaderMap::new(), "small")
                .await?;
            return Ok(());
        }
        http.send(HttpSend::Start(ResponseStart::new(StatusCode::OK)))
            .await?;
        let chunk = Bytes::from(vec![b'x'; 16 * 1024]);
        let err = loop {
            if let Err(e) = http.send(HttpSend::chunk(chunk.clone())).await {
                break e;
            }
        };
        let outcome = Outcome {
            send_was_disconnected: matches!(err, rgi::Error::Disconnected),
            receive_after: http.recv().await,
        };
        let _ = self.0.send(outcome);
        Err(err.into())
    }
}

#[tokio::test]
async fn a_client_that_never_reads_is_given_up() {
    let mut config = test_config();
    config.write_timeout = Duration::from_millis(300);
    let (tx, mut outcomes) = mpsc::unbounded_channel();
    let server = start_with(EndlessStream(tx), config).await;

    // A small receive buffer so that the stall comes soon.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    let stream = bounded("connect", socket.connect(server.addr))
        .await
        .unwrap();
    let mut stalled = Client::from_stream(stream);
    stalled.send(&get("/stream")).await;
    // Never read from `stalled`.

    let outcome = bounded("the app to see the stall", outcomes.recv())
        .await
        .expect("the app reported");
    assert!(outcome.send_was_disconnected, "{outcome:?}");
    assert_eq!(outcome.receive_after, HttpReceive::Disconnect);

    // The server still serves others.
    let mut other = server.connect().await;
    let r = other.request(&get("/small")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "small");
    drop(stalled);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_slow_but_steady_reader_is_not_given_up() {
    // Reads a little every 100 ms: each stall is shorter than the timeout,
    // though the whole download takes much longer than it.
    let mut config = test_config();
    config.write_timeout = Duration::from_millis(400);
    let (tx, mut outcomes) = mpsc::unbounded_channel();
    // Small socket buffers on both sides, or the kernel's own buffering
    // (megabytes on loopback) would hide the reads from the server.
    let listener = TcpSocket::new_v4().unwrap();
    listener.set_send_buffer_size(16 * 1024).unwrap();
    listener.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let server = Server::from_listener(listener.listen(8).unwrap()).with_config(config);
    let server = start_on(server, EndlessStream(tx)).await;
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    let stream = bounded("connect", socket.connect(server.addr))
        .await
        .unwrap();
    let mut stream = stream;
    stream.write_all(&get("/stream")).await.unwrap();
    let mut buf = vec![0u8; 16 * 1024];
    for _ in 0..12 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let n = bounded("a read", stream.read(&mut buf)).await.unwrap();
        assert!(n > 0, "the server gave the reader up");
    }
    assert!(
        outcomes.try_recv().is_err(),
        "the app's send failed although the client kept reading"
    );
    drop(stream);
    server.stop().await.unwrap();
}
