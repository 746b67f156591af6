//! Every route of the testbed, driven in process through the conformance
//! suite's test client.

use std::time::Duration;

use rgi::bytes::Bytes;
use rgi::http::{Method, StatusCode};
use rgi::{Error, HttpReceive, HttpSend};
use rgi_conformance::{
    DisconnectAt, Request, Response, ShutdownOutcome, StartupOutcome, TestClient,
};
use testbed::Testbed;

fn client() -> TestClient {
    // Generous: the delays below run on tokio's paused clock, but the
    // 16 MiB echo moves real bytes.
    TestClient::new(Testbed).timeout(Duration::from_secs(120))
}

async fn send(request: Request) -> Response {
    client().send(request).await.expect("the exchange finishes")
}

async fn get(uri: &str) -> Response {
    send(Request::get(uri)).await
}

/// A complete response with this status, whose `content-length` (if any)
/// matches its body, from an app that returned `Ok`.
fn assert_ok(response: &Response, status: u16) {
    assert!(response.exit().is_ok(), "{}", response.exit());
    assert_eq!(response.status().map(|s| s.as_u16()), Some(status));
    assert!(response.is_complete());
    if let Some(length) = response.header("content-length") {
        assert_eq!(length.parse::<usize>().unwrap(), response.body().len());
    }
}

/// The body events as `(data, more)`.
fn body_events(response: &Response) -> Vec<(Bytes, bool)> {
    response
        .events()
        .filter_map(|e| match e {
            HttpSend::Body { data, more } => Some((data.clone(), *more)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn hello_answers_every_method() {
    for method in ["GET", "POST", "DELETE", "BREW"] {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let response = send(Request::new(method, "/").body("ignored")).await;
        assert_ok(&response, 200);
        assert_eq!(
            response.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(response.body(), "Hello, world!");
    }
}

#[tokio::test]
async fn head_keeps_headers_and_drops_body() {
    let response = send(Request::head("/")).await;
    assert!(response.exit().is_ok() && response.is_complete());
    assert_eq!(response.status(), Some(StatusCode::OK));
    assert_eq!(response.header("content-length"), Some("13"));
    assert_eq!(body_events(&response), [(Bytes::new(), false)]);

    let response = send(Request::head("/stream?n=3&size=4")).await;
    assert_ok(&response, 200);
    assert_eq!(body_events(&response), [(Bytes::new(), false)]);
}

#[tokio::test]
async fn echo_streams_a_body_of_known_length() {
    let request = Request::new(Method::PUT, "/echo")
        .header("content-length", "11")
        .chunks(["hello", " ", "world"]);
    let response = send(request).await;
    assert_ok(&response, 200);
    assert_eq!(response.body(), "hello world");
    assert_eq!(
        response.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(response.header("x-body-length"), Some("11"));
    // Chunk for chunk: nothing was gathered first.
    assert_eq!(response.chunks(), ["hello", " ", "world"]);
}

#[tokio::test]
async fn echo_reads_a_chunked_body_first() {
    let request = Request::post("/echo")
        .header("transfer-encoding", "chunked")
        .chunks(["ab", "", "cd"]);
    let response = send(request).await;
    assert_ok(&response, 200);
    assert_eq!(response.body(), "abcd");
    assert_eq!(response.header("x-body-length"), Some("4"));
    // Gathered, then sent as one final chunk: a server gives it a
    // content-length of its own (HTTP-034).
    assert_eq!(response.chunks(), ["abcd"]);

    let response = get("/echo").await;
    assert_ok(&response, 200);
    assert_eq!(response.header("x-body-length"), Some("0"));
    assert!(response.body().is_empty());
}

#[tokio::test]
async fn echo_refuses_an_unbounded_chunked_body() {
    let big = vec![b'x'; testbed::ECHO_BUFFER_LIMIT + 1];
    let response = send(Request::post("/echo").body(big)).await;
    assert_ok(&response, 413);
}

#[tokio::test]
async fn echo_gives_up_when_the_client_leaves() {
    // Announces 10 bytes, sends 3, then disconnects.
    let request = Request::post("/echo")
        .header("content-length", "10")
        .events(vec![HttpReceive::Body {
            data: "abc".into(),
            more: true,
        }])
        .disconnect_at(DisconnectAt::AfterRequestEvents(1));
    let response = send(request).await;
    assert!(response.exit().is_disconnect(), "{}", response.exit());
    assert!(!response.is_complete());
}

#[tokio::test]
async fn stream_sends_n_chunks_then_an_empty_final_one() {
    let response = get("/stream?n=28&size=3").await;
    assert_ok(&response, 200);
    assert_eq!(response.header("content-length"), None);
    let events = body_events(&response);
    assert_eq!(events.len(), 29);
    for (k, (data, more)) in events[..28].iter().enumerate() {
        assert!(*more);
        assert_eq!(&data[..], [b'a' + (k % 26) as u8; 3], "chunk {k}");
    }
    assert_eq!(events[28], (Bytes::new(), false));
}

#[tokio::test(start_paused = true)]
async fn stream_spaces_chunks_by_the_delay() {
    let started = tokio::time::Instant::now();
    let response = get("/stream?n=4&size=1&delay_ms=250").await;
    assert_ok(&response, 200);
    // Paused clock: this is virtual time, three gaps between four chunks.
    assert_eq!(started.elapsed(), Duration::from_millis(750));
}

#[tokio::test]
async fn stream_clamps_and_refuses_bad_numbers() {
    let response = get("/stream?n=1&size=99999999").await;
    assert_ok(&response, 200);
    assert_eq!(response.chunks()[0].len(), 1024 * 1024);

    let response = get("/stream?n=100001&size=0").await;
    assert_ok(&response, 200);
    assert_eq!(response.chunks().len(), 100_001);

    for uri in [
        "/stream?n=abc",
        "/stream?size=-1",
        "/stream?delay_ms=",
        "/slow?ms=1.5",
    ] {
        assert_ok(&get(uri).await, 400);
    }
}

#[tokio::test]
async fn headers_are_joined_and_sorted() {
    let request = Request::get("/headers")
        .header("X-Zeta", "1")
        .header("accept", "a")
        .header("x-zeta", "2")
        .header("x-json", "q\"b\\t\t\u{e9}")
        .header("Host", "h");
    let response = send(request).await;
    assert_ok(&response, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(
        response.body(),
        r#"{"accept":"a","host":"h","x-json":"q\"b\\t\té","x-zeta":"1, 2"}"#
    );
    // For UTF-8 values the body is what serde_json writes.
    let parsed: std::collections::BTreeMap<String, String> =
        serde_json::from_slice(&response.body()).unwrap();
    assert_eq!(parsed["x-json"], "q\"b\\t\t\u{e9}");
}

#[tokio::test]
async fn status_answers_with_the_code_and_nothing_else() {
    for code in [200, 204, 304, 418, 599] {
        let response = get(&format!("/status/{code}")).await;
        assert_ok(&response, code);
        let headers = response.headers().unwrap();
        assert!(headers.is_empty(), "{code}: {headers:?}");
        assert!(response.body().is_empty());
    }
    for path in [
        "/status/199",
        "/status/600",
        "/status/abc",
        "/status/2000",
        "/status/",
    ] {
        assert_ok(&get(path).await, 404);
    }
}

#[tokio::test(start_paused = true)]
async fn slow_waits_then_answers() {
    let started = tokio::time::Instant::now();
    let response = get("/slow?ms=1500").await;
    assert_ok(&response, 200);
    assert_eq!(response.body(), "done");
    assert_eq!(started.elapsed(), Duration::from_millis(1500));

    let started = tokio::time::Instant::now();
    assert_ok(&get("/slow?ms=9999999").await, 200);
    assert_eq!(started.elapsed(), Duration::from_secs(60));
}

#[tokio::test]
async fn error_fails_before_the_response() {
    let response = get("/error").await;
    assert!(response.exit().error().is_some());
    assert_eq!(response.status(), None);
}

#[tokio::test]
async fn error_after_start_fails_mid_body() {
    let response = get("/error-after-start").await;
    assert!(response.exit().error().is_some());
    assert_eq!(response.status(), Some(StatusCode::OK));
    assert_eq!(response.header("content-length"), None);
    assert_eq!(body_events(&response), [(Bytes::from("partial"), true)]);
}

#[tokio::test]
async fn echo_scope_reports_the_scope() {
    let response = send(Request::new(Method::PATCH, "/echo-scope/a%20b?x=%20&y")).await;
    assert_ok(&response, 200);
    let json: serde_json::Value = serde_json::from_slice(&response.body()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "http_version": "1.1",
            "method": "PATCH",
            "path": "/echo-scope/a b",
            "query_string": "x=%20&y",
        })
    );
    assert_ok(&get("/echo-scope").await, 200);
}

#[tokio::test]
async fn anything_else_is_not_found() {
    for (method, path) in [
        (Method::GET, "/nope"),
        (Method::POST, "/headers"),
        (Method::PUT, "/stream"),
        (Method::GET, "/echo-scopes"),
    ] {
        let response = send(Request::new(method, path)).await;
        assert_ok(&response, 404);
        assert_eq!(response.body(), "Not Found");
    }
}

#[tokio::test]
async fn lifespan_starts_and_stops() {
    let client = client();
    let mut lifespan = client.lifespan();
    assert!(matches!(
        lifespan.startup().await.unwrap(),
        StartupOutcome::Complete(_)
    ));
    assert_eq!(
        lifespan.shutdown().await.unwrap(),
        ShutdownOutcome::Complete
    );
    assert!(lifespan.finish().await.unwrap().exit.is_ok());
}

#[tokio::test]
async fn an_unknown_websocket_path_is_declined() {
    let session = client().connect(Request::get("/ws")).await.unwrap();
    let transcript = session.finish().await.unwrap();
    let error = transcript.exit.error().expect("an error");
    assert!(Error::is_unsupported(&**error));
}
