//! App failures: error or panic before the response starts -> 500 (logged);
//! after it starts -> the connection is aborted without completing the
//! framing; `Ok` without a response -> 500 (rules CORE-040..CORE-043).

mod common;

use common::*;
use http::StatusCode;
use rgi::{App, AppResult, Conn, HttpSend, ResponseStart};

struct Failing;

impl App for Failing {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        match http.scope.path.as_str() {
            "/error" => Err("database on fire".into()),
            "/panic" => panic!("app exploded"),
            "/nothing" => Ok(()),
            "/error-after-start" | "/panic-after-start" | "/return-after-start" => {
                http.send(HttpSend::Start(ResponseStart::new(StatusCode::OK)))
                    .await?;
                http.send(HttpSend::chunk("partial")).await?;
                // Make sure the partial chunk is on the wire first.
                http.send(HttpSend::flush()).await?;
                match http.scope.path.as_str() {
                    "/error-after-start" => Err("failed mid-body".into()),
                    "/panic-after-start" => panic!("panicked mid-body"),
                    _ => Ok(()),
                }
            }
            "/error-after-start-http10" => {
                http.send(HttpSend::Start(ResponseStart::new(StatusCode::OK)))
                    .await?;
                http.send(HttpSend::chunk("partial")).await?;
                http.send(HttpSend::flush()).await?;
                Err("failed mid-body".into())
            }
            _ => {
                http.respond(StatusCode::OK, Default::default(), "fine")
                    .await?;
                Ok(())
            }
        }
    }
}

#[tokio::test]
async fn failures_before_start_get_500_and_the_server_keeps_serving() {
    let server = start(Failing).await;
    for path in ["/error", "/panic", "/nothing"] {
        let mut client = server.connect().await;
        let r = client.request(&get(path)).await;
        assert_eq!(r.status, 500, "{path}");
        assert_eq!(r.header("connection"), Some("close"));
        client.assert_closed().await;
        // Another connection is not affected.
        let mut other = server.connect().await;
        assert_eq!(other.request(&get("/ok")).await.text(), "fine");
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn failures_after_start_abort_without_the_last_chunk() {
    let server = start(Failing).await;
    for path in [
        "/error-after-start",
        "/panic-after-start",
        "/return-after-start",
    ] {
        let mut client = server.connect().await;
        client.send(&get(path)).await;
        let (status, headers) = client.read_head().await;
        assert_eq!(status, 200);
        assert!(headers.contains(&("transfer-encoding".into(), "chunked".into())));
        let rest = client.read_to_eof().await;
        assert_eq!(rest, b"7\r\npartial\r\n", "{path}: no final 0 chunk");
        let mut other = server.connect().await;
        assert_eq!(other.request(&get("/ok")).await.text(), "fine");
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn close_delimited_body_is_reset_on_failure() {
    let server = start(Failing).await;
    let mut client = server.connect().await;
    client
        .send(b"GET /error-after-start-http10 HTTP/1.0\r\n\r\n")
        .await;
    let (status, _) = client.read_head().await;
    assert_eq!(status, 200);
    // A close-delimited body cannot show truncation by its framing: the
    // server resets the connection so the client sees an error, not EOF.
    let mut got = Vec::new();
    let outcome = bounded("reset", async {
        loop {
            use tokio::io::AsyncReadExt;
            let mut buf = [0u8; 64];
            match client.stream.read(&mut buf).await {
                Ok(0) => return Ok(()),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => return Err(e),
            }
        }
    })
    .await;
    assert!(
        outcome.is_err(),
        "expected a reset, got a clean close after {got:?}"
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn failures_are_logged_with_the_error() {
    // Thread-local: the current-thread runtime runs every task here.
    let (logs, _guard) = capture_logs();
    let access = Captured::default();
    let mut config = test_config();
    config.access_log = Some(
        rgi_server::AccessLog::to_writer(rgi_server::AccessLogFormat::Common, access.clone(), 64)
            .unwrap(),
    );
    let server = start_with(Failing, config).await;
    for path in ["/error", "/panic"] {
        let mut client = server.connect().await;
        assert_eq!(client.request(&get(path)).await.status, 500);
    }
    // Stopping flushes the access log.
    server.stop().await.unwrap();
    let text = logs.text();
    let errors: Vec<_> = text.lines().filter(|l| l.contains("ERROR")).collect();
    assert!(
        errors.iter().any(|l| l.contains("database on fire")),
        "{text}"
    );
    assert!(errors.iter().any(|l| l.contains("app exploded")), "{text}");
    // The access log has a line per request with its status.
    let access = access.text();
    let lines: Vec<_> = access.lines().collect();
    assert_eq!(lines.len(), 2, "{access}");
    assert!(
        lines[0].ends_with("\"GET /error HTTP/1.1\" 500 0")
            && lines[1].ends_with("\"GET /panic HTTP/1.1\" 500 0"),
        "{lines:?}"
    );
}
