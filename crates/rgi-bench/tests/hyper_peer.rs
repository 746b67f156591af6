//! The hyper peer answers the load app's routes (over loopback, bounded).

use std::time::Duration;

use bytes::BytesMut;
use rgi_bench::client::{read_response, ResponseSummary};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn exchange(stream: &mut TcpStream, buf: &mut BytesMut, request: &[u8]) -> ResponseSummary {
    stream.write_all(request).await.unwrap();
    read_response(stream, buf).await.unwrap()
}

#[tokio::test]
async fn hyper_peer_serves_every_route() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(rgi_bench::hyper_app::serve(listener));

    let checks = async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let mut buf = BytesMut::new();

        // The plaintext body itself, byte for byte.
        stream
            .write_all(b"GET / HTTP/1.1\r\nhost: t\r\n\r\n")
            .await
            .unwrap();
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") || !buf.ends_with(b"Hello, world!") {
            assert_ne!(stream.read_buf(&mut buf).await.unwrap(), 0);
        }
        let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(
            head.contains("content-type: text/plain; charset=utf-8"),
            "{head}"
        );
        assert!(head.contains("content-length: 13"), "{head}");
        buf.clear();

        let echo = exchange(
            &mut stream,
            &mut buf,
            b"POST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\n\r\nhello",
        )
        .await;
        assert_eq!((echo.status, echo.body_len), (200, 5));

        let stream_response = exchange(
            &mut stream,
            &mut buf,
            b"GET /stream?n=3&size=1000 HTTP/1.1\r\nhost: t\r\n\r\n",
        )
        .await;
        assert_eq!(
            (stream_response.status, stream_response.body_len),
            (200, 3000)
        );

        let missing = exchange(
            &mut stream,
            &mut buf,
            b"GET /nope HTTP/1.1\r\nhost: t\r\n\r\n",
        )
        .await;
        assert_eq!(missing.status, 404);
    };
    tokio::time::timeout(Duration::from_secs(10), checks)
        .await
        .expect("the peer answers within 10 s");
    server.abort();
}
