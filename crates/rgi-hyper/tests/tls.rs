//! HTTPS: a self-signed certificate made at test time (rcgen), ALPN
//! choosing `h2`, the scope saying `https` with its TLS details, and a
//! WebSocket over TLS (`wss://`), where every frame must be flushed
//! through the TLS layer.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::{body_of, bounded, frame, full, read_frame, start_on, TestServer};
use http::{HeaderMap, Request, StatusCode};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rgi::{App, AppResult, Conn};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// Answers with what the scope says about the transport.
struct Transport;

impl App for Transport {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        let tls = http.scope.tls.clone().expect("TLS details in the scope");
        let body = format!(
            "{} {:?} tls-version={:#06x} cert={}",
            http.scope.scheme,
            http.scope.version,
            tls.version.unwrap_or(0),
            tls.server_cert.is_some()
        );
        Ok(http.respond(StatusCode::OK, HeaderMap::new(), body).await?)
    }
}

/// `app` over HTTPS with a certificate made now, and a client TLS
/// connection to it offering `alpn`.
async fn serve_tls(app: impl App, alpn: &[&[u8]]) -> (TestServer, TlsStream<TcpStream>) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let tls = rgi_hyper::TlsConfig::from_pem(
        cert.cert.pem().as_bytes(),
        cert.key_pair.serialize_pem().as_bytes(),
    )
    .unwrap();
    let server = rgi_hyper::Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .with_tls(tls);
    let server = start_on(server, app).await;

    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(cert.cert.der().to_vec()))
        .unwrap();
    #[allow(deprecated)] // as in the server: ring builds without cmake
    let provider = tokio_rustls::rustls::crypto::ring::default_provider();
    let mut config = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = bounded("connect", TcpStream::connect(server.addr))
        .await
        .unwrap();
    let stream = bounded(
        "TLS handshake",
        TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from("localhost").unwrap(), tcp),
    )
    .await
    .expect("handshake with the self-signed certificate");
    (server, stream)
}

#[tokio::test]
async fn h2_is_negotiated_by_alpn_and_the_scope_says_https() {
    let (_server, stream) = serve_tls(Transport, &[b"h2", b"http/1.1"]).await;
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));

    let (mut h2, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let request = Request::get("https://localhost/")
        .body(full(Bytes::new()))
        .unwrap();
    let response = bounded("response", h2.send_request(request)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        body_of(response).await,
        "https HTTP/2.0 tls-version=0x0304 cert=true"
    );
}

#[test]
fn a_key_file_without_a_key_is_refused_with_a_message() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let error = rgi_hyper::TlsConfig::from_pem(cert.cert.pem().as_bytes(), b"not a key")
        .unwrap_err()
        .to_string();
    assert!(error.contains("no private key"), "{error}");
}

#[tokio::test]
async fn a_websocket_over_tls_echoes_every_frame() {
    let (server, mut stream) = serve_tls(testbed::Testbed, &[b"http/1.1"]).await;
    stream
        .write_all(
            b"GET /ws/echo HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n\
              Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        )
        .await
        .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(bounded("the head", stream.read_u8()).await.unwrap());
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101 "),
        "{}",
        String::from_utf8_lossy(&head)
    );
    // Small and larger messages, each answered before the next is sent:
    // an echo left in the TLS layer unflushed would stall here.
    for size in [1, 125, 1000, 40_000] {
        let message = vec![b'w'; size];
        stream.write_all(&frame(0x1, &message)).await.unwrap();
        let (first, echo) = read_frame(&mut stream).await;
        assert_eq!((first, echo.len()), (0x81, size));
    }
    stream.write_all(&frame(0x8, &[0x03, 0xE8])).await.unwrap();
    assert_eq!(read_frame(&mut stream).await, (0x88, vec![0x03, 0xE8]));
    server.stop().await.unwrap();
}
