//! The access log on rgi-hyper: one line per request, with the status the
//! client got and the body bytes it was sent, a file's included (as
//! rgi-server counts them), over HTTP/1.1 and HTTP/2; a request refused
//! before the app with its status and no bytes.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use common::{body_of, bounded, exchange, h2c, start_on, FileApp};
use http::{HeaderMap, StatusCode};
use rgi::{App, AppResult, Conn, Error};
use rgi_server::{AccessLog, AccessLogFormat, Config};

/// What the log's writer thread wrote.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// `/file`: [`FileApp`]; `/fail`: an error before `Start`; `/slow`: no
/// answer for a minute; anything else: `hello`.
struct Routes(FileApp);

impl App for Routes {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        match http.scope.path.as_str() {
            "/file" => self.0.call(http.into()).await,
            "/fail" => Err(Error::protocol("CORE-040", "failed on purpose").into()),
            // Never answers: the client leaves first.
            "/slow" => {
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                Err(Error::Disconnected.into())
            }
            _ => Ok(http
                .respond(StatusCode::OK, HeaderMap::new(), "hello")
                .await?),
        }
    }
}

async fn get_h1(addr: std::net::SocketAddr, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    exchange(addr, request.as_bytes()).await
}

#[tokio::test]
async fn every_request_is_logged_with_its_status_and_body_bytes() {
    let dir = std::env::temp_dir().join(format!("rgi-hyper-access-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("data.txt");
    std::fs::write(&path, "0123456789").unwrap();

    let captured = Captured::default();
    let mut config = Config::default();
    config.access_log =
        Some(AccessLog::to_writer(AccessLogFormat::Common, captured.clone(), 64).unwrap());
    let server = rgi_hyper::Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .with_config(config);
    let server = start_on(server, Routes(FileApp(path))).await;

    assert!(get_h1(server.addr, "/").await.starts_with("HTTP/1.1 200 "));
    assert!(get_h1(server.addr, "/file")
        .await
        .starts_with("HTTP/1.1 200 "));
    assert!(get_h1(server.addr, "/fail")
        .await
        .starts_with("HTTP/1.1 500 "));
    // Refused before the app (no Host): logged as rgi-server logs a bad head.
    assert!(exchange(server.addr, b"GET /nohost HTTP/1.1\r\n\r\n")
        .await
        .starts_with("HTTP/1.1 400 "));
    let mut h2 = h2c(server.addr).await;
    let request = http::Request::get(format!("http://{}/file", server.addr))
        .body(common::full(""))
        .unwrap();
    let response = bounded("h2 response", h2.send_request(request))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_of(response).await, "23456|end");
    drop(h2);

    // Stopping flushes the access log.
    server.stop().await.unwrap();
    let lines = captured.lines();
    assert_eq!(lines.len(), 5, "{lines:#?}");
    for (line, end) in lines.iter().zip([
        "\"GET / HTTP/1.1\" 200 5",
        "\"GET /file HTTP/1.1\" 200 9",
        "\"GET /fail HTTP/1.1\" 500 0",
        "\"GET /nohost HTTP/1.1\" 400 0",
        "\"GET /file HTTP/2.0\" 200 9",
    ]) {
        assert!(line.ends_with(end), "{line:?} does not end with {end:?}");
    }
    std::fs::remove_dir_all(dir).ok();
}

/// A client that leaves before any response is logged `499` with no
/// bytes, as rgi-server logs it.
#[tokio::test]
async fn a_client_that_leaves_before_the_response_is_a_499() {
    let captured = Captured::default();
    let mut config = Config::default();
    config.access_log =
        Some(AccessLog::to_writer(AccessLogFormat::Common, captured.clone(), 64).unwrap());
    config.disconnect_grace = std::time::Duration::from_millis(50);
    let server = rgi_hyper::Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .with_config(config);
    let dir = std::env::temp_dir();
    let server = start_on(server, Routes(FileApp(dir))).await;
    let mut stream = bounded("connect", tokio::net::TcpStream::connect(server.addr))
        .await
        .unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stream, b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    // The request is read (the app is waiting) before the client goes.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    drop(stream);
    // The line is queued when hyper drops the response's future; the
    // writer thread writes it a moment later.
    let deadline = tokio::time::Instant::now() + common::WAIT;
    while captured.lines().is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    server.stop().await.unwrap();
    let lines = captured.lines();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].ends_with("\"GET /slow HTTP/1.1\" 499 0"),
        "{:?}",
        lines[0]
    );
}
