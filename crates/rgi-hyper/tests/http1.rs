//! HTTP/1.1 over raw TCP: what rgi-hyper adds around hyper (server header,
//! body limit, send_file, lifespan state, app failures, graceful shutdown).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{bounded, exchange, start, start_on, FileApp};
use http::{HeaderMap, StatusCode};
use rgi::{App, AppResult, Conn, LifespanReceive, LifespanSend};

/// The body of one response, de-chunked when it is chunked.
fn body_of(response: &str) -> String {
    let (head, mut rest) = response.split_once("\r\n\r\n").expect("a whole head");
    if !head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return rest.to_owned();
    }
    let mut body = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n").expect("a chunk size");
        let size = usize::from_str_radix(size, 16).expect("hex chunk size");
        if size == 0 {
            return body;
        }
        body.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
}

#[tokio::test]
async fn keep_alive_with_server_and_date_headers() {
    let server = start(testbed::Testbed).await;
    let response = exchange(
        server.addr,
        b"GET / HTTP/1.1\r\nhost: x\r\n\r\nGET /echo-scope HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(
        response.matches("HTTP/1.1 200 OK\r\n").count(),
        2,
        "{response}"
    );
    assert!(response.contains("Hello, world!"), "{response}");
    assert!(response.contains("\"http_version\":\"1.1\""), "{response}");
    let lower = response.to_ascii_lowercase();
    assert!(lower.contains("\r\nserver: rgi\r\n"), "{response}");
    assert!(lower.contains("\r\ndate: "), "{response}");
    // A body sent whole with its start is framed by length, not chunked.
    assert!(lower.contains("\r\ncontent-length: 13\r\n"), "{response}");
}

#[tokio::test]
async fn head_keeps_the_length_of_get_and_sends_no_body() {
    let server = start(testbed::Testbed).await;
    let response = exchange(
        server.addr,
        b"HEAD / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("\r\ncontent-length: 13\r\n"),
        "{response}"
    );
    assert!(response.ends_with("\r\n\r\n"), "no body bytes: {response}");
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let mut config = rgi_server::Config::default();
    config.max_body_bytes = Some(10);
    let server = rgi_hyper::Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .with_config(config);
    let server = start_on(server, testbed::Testbed).await;
    let response = exchange(
        server.addr,
        b"POST /echo HTTP/1.1\r\nhost: x\r\nconnection: close\r\ntransfer-encoding: chunked\r\n\r\n14\r\n01234567890123456789\r\n0\r\n\r\n",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 413 "), "{response}");
}

#[tokio::test]
async fn send_file_streams_the_range() {
    let dir = std::env::temp_dir().join(format!("rgi-hyper-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("data.txt");
    std::fs::write(&path, "0123456789").unwrap();
    let server = start(FileApp(path)).await;
    let response = exchange(
        server.addr,
        b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    let body = response.split_once("\r\n\r\n").unwrap().1;
    // Chunked: "5\r\n23456\r\n4\r\n|end\r\n0\r\n\r\n".
    assert_eq!(body, "5\r\n23456\r\n4\r\n|end\r\n0\r\n\r\n", "{response}");
    std::fs::remove_dir_all(dir).ok();
}

/// Puts a value in the lifespan state and answers it on every request;
/// notes that shutdown ran.
struct Stateful(Arc<AtomicBool>);

impl App for Stateful {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        match conn {
            Conn::Lifespan(mut life) => loop {
                match life.recv().await {
                    LifespanReceive::Startup => {
                        life.scope.state.insert(String::from("from startup"));
                        life.send(LifespanSend::StartupComplete).await?;
                    }
                    LifespanReceive::Shutdown => {
                        self.0.store(true, Ordering::SeqCst);
                        return Ok(life.send(LifespanSend::ShutdownComplete).await?);
                    }
                    _ => {}
                }
            },
            Conn::Http(mut http) => {
                if http.scope.path == "/slow" {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                let text = http
                    .scope
                    .state
                    .get::<String>()
                    .cloned()
                    .unwrap_or_default();
                Ok(http.respond(StatusCode::OK, HeaderMap::new(), text).await?)
            }
            other => other.unsupported(),
        }
    }
}

#[tokio::test]
async fn lifespan_state_reaches_requests_and_shutdown_drains_first() {
    let shut = Arc::new(AtomicBool::new(false));
    let server = start(Stateful(shut.clone())).await;
    let response = exchange(
        server.addr,
        b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(body_of(&response), "from startup", "{response}");

    // A request in flight when shutdown begins still gets its answer.
    let addr = server.addr;
    let slow =
        tokio::spawn(async move { exchange(addr, b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!shut.load(Ordering::SeqCst));
    server.stop().await.expect("clean stop");
    let response = bounded("slow answer", slow).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert_eq!(body_of(&response), "from startup", "{response}");
    assert!(
        shut.load(Ordering::SeqCst),
        "lifespan shutdown ran after the drain"
    );
}

#[tokio::test]
async fn a_failing_app_gets_500_and_the_server_keeps_serving() {
    let server = start(testbed::Testbed).await;
    let response = exchange(
        server.addr,
        b"GET /error HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 500 "), "{response}");
    let response = exchange(
        server.addr,
        b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200 "), "{response}");
}
