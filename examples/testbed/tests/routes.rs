//! Every route of the testbed, driven in process.

use std::collections::VecDeque;
use std::task::{Context, Poll};
use std::time::Duration;

use rgi::bytes::Bytes;
use rgi::http::{HeaderMap, Method, StatusCode, Uri};
use rgi::{
    App, AppResult, Conn, Error, HttpConn, HttpReceive, HttpScope, HttpSend, Receiver, Sender,
};
use testbed::Testbed;

/// Plays the request events, then reports the client gone.
struct Script(VecDeque<HttpReceive>);

impl Script {
    /// A body in these chunks: the last one final, at least one event.
    fn body(chunks: &[&[u8]]) -> Self {
        let mut events: VecDeque<_> = chunks
            .iter()
            .map(|c| HttpReceive::Body {
                data: Bytes::copy_from_slice(c),
                more: true,
            })
            .collect();
        match events.back_mut() {
            Some(HttpReceive::Body { more, .. }) => *more = false,
            _ => events.push_back(HttpReceive::Body {
                data: Bytes::new(),
                more: false,
            }),
        }
        Self(events)
    }
}

impl Receiver<HttpReceive> for Script {
    fn poll_receive(&mut self, _: &mut Context<'_>) -> Poll<HttpReceive> {
        Poll::Ready(self.0.pop_front().unwrap_or(HttpReceive::Disconnect))
    }
}

/// Records every event the app sends.
#[derive(Default)]
struct Record(Vec<HttpSend>);

impl Sender<HttpSend> for Record {
    fn start_send(&mut self, event: HttpSend) -> Result<(), Error> {
        self.0.push(event);
        Ok(())
    }
    fn poll_flush(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }
}

struct Response {
    result: AppResult,
    status: Option<StatusCode>,
    headers: HeaderMap,
    /// The body chunks as sent, each with its `more` flag.
    chunks: Vec<(Bytes, bool)>,
}

impl Response {
    fn body(&self) -> Vec<u8> {
        self.chunks
            .iter()
            .flat_map(|(data, _)| data.to_vec())
            .collect()
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
    /// Whether the response ended with a final body event.
    fn complete(&self) -> bool {
        self.chunks.last().is_some_and(|(_, more)| !more)
    }
}

async fn request(method: &str, uri: &str, headers: &[(&str, &str)], body: &[&[u8]]) -> Response {
    let mut scope = HttpScope::new(
        Method::from_bytes(method.as_bytes()).unwrap(),
        Uri::try_from(uri).unwrap(),
    )
    .unwrap();
    for (name, value) in headers {
        scope.headers.append(
            rgi::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    let mut receiver = Script::body(body);
    let mut sender = Record::default();
    let call = Testbed.call(HttpConn::new(scope, &mut receiver, &mut sender).into());
    let result = tokio::time::timeout(Duration::from_secs(120), call)
        .await
        .expect("the testbed answers in time");
    let mut response = Response {
        result,
        status: None,
        headers: HeaderMap::new(),
        chunks: Vec::new(),
    };
    for event in sender.0 {
        match event {
            HttpSend::Start(start) => {
                assert!(response.status.is_none(), "one start only");
                response.status = Some(start.status);
                response.headers = start.headers;
            }
            HttpSend::Body { data, more } => {
                assert!(response.status.is_some(), "body after start");
                assert!(!response.complete(), "nothing after the final body");
                response.chunks.push((data, more));
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
    response
}

async fn get(uri: &str) -> Response {
    request("GET", uri, &[], &[]).await
}

fn assert_ok(response: &Response, status: u16) {
    assert!(response.result.is_ok(), "{:?}", response.result);
    assert_eq!(response.status.map(|s| s.as_u16()), Some(status));
    assert!(response.complete());
    if let Some(length) = response.header("content-length") {
        assert_eq!(length.parse::<usize>().unwrap(), response.body().len());
    }
}

#[tokio::test]
async fn hello_answers_every_method() {
    for method in ["GET", "POST", "DELETE", "BREW"] {
        let response = request(method, "/", &[], &[b"ignored"]).await;
        assert_ok(&response, 200);
        assert_eq!(
            response.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(response.body(), b"Hello, world!");
    }
}

#[tokio::test]
async fn head_keeps_headers_and_drops_body() {
    let response = request("HEAD", "/", &[], &[]).await;
    assert!(response.result.is_ok());
    assert_eq!(response.status, Some(StatusCode::OK));
    assert_eq!(response.header("content-length"), Some("13"));
    assert_eq!(response.chunks, [(Bytes::new(), false)]);

    let response = request("HEAD", "/stream?n=3&size=4", &[], &[]).await;
    assert_eq!(response.status, Some(StatusCode::OK));
    assert_eq!(response.chunks, [(Bytes::new(), false)]);
}

#[tokio::test]
async fn echo_streams_a_body_of_known_length() {
    let response = request(
        "PUT",
        "/echo",
        &[("content-length", "11")],
        &[b"hello", b" ", b"world"],
    )
    .await;
    assert_ok(&response, 200);
    assert_eq!(response.body(), b"hello world");
    assert_eq!(
        response.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(response.header("x-body-length"), Some("11"));
    // Chunk for chunk: nothing was gathered first.
    let sent: Vec<&[u8]> = response.chunks.iter().map(|(d, _)| &d[..]).collect();
    assert_eq!(sent, [&b"hello"[..], b" ", b"world"]);
}

#[tokio::test]
async fn echo_reads_a_chunked_body_first() {
    let response = request(
        "POST",
        "/echo",
        &[("transfer-encoding", "chunked")],
        &[b"ab", b"", b"cd"],
    )
    .await;
    assert_ok(&response, 200);
    assert_eq!(response.body(), b"abcd");
    assert_eq!(response.header("x-body-length"), Some("4"));
    assert_eq!(response.header("content-length"), Some("4"));

    let response = request("GET", "/echo", &[], &[]).await;
    assert_ok(&response, 200);
    assert_eq!(response.header("x-body-length"), Some("0"));
    assert!(response.body().is_empty());
}

#[tokio::test]
async fn echo_refuses_an_unbounded_chunked_body() {
    let big = vec![b'x'; testbed::ECHO_BUFFER_LIMIT + 1];
    let response = request("POST", "/echo", &[], &[&big]).await;
    assert_ok(&response, 413);
}

#[tokio::test]
async fn echo_gives_up_when_the_client_leaves() {
    // Announces 10 bytes, sends 3, then disconnects.
    let mut scope = HttpScope::new(Method::POST, Uri::from_static("/echo")).unwrap();
    scope
        .headers
        .insert("content-length", "10".parse().unwrap());
    let mut receiver = Script(
        [HttpReceive::Body {
            data: "abc".into(),
            more: true,
        }]
        .into(),
    );
    let mut sender = Record::default();
    let result = Testbed
        .call(HttpConn::new(scope, &mut receiver, &mut sender).into())
        .await;
    let err = result.expect_err("an unfinished echo is not a success");
    assert!(Error::is_disconnect(&*err));
    // It had started the response and echoed what came.
    assert!(matches!(
        &sender.0[..],
        [HttpSend::Start(_), HttpSend::Body { more: true, .. }]
    ));
}

#[tokio::test]
async fn stream_sends_n_chunks_then_an_empty_final_one() {
    let response = get("/stream?n=28&size=3").await;
    assert_ok(&response, 200);
    assert_eq!(response.header("content-length"), None);
    assert_eq!(response.chunks.len(), 29);
    for (k, (data, more)) in response.chunks[..28].iter().enumerate() {
        assert!(*more);
        assert_eq!(&data[..], [b'a' + (k % 26) as u8; 3], "chunk {k}");
    }
    assert_eq!(response.chunks[28], (Bytes::new(), false));
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
    assert_eq!(response.chunks[0].0.len(), 1024 * 1024);

    let response = get("/stream?n=100001&size=0").await;
    assert_ok(&response, 200);
    assert_eq!(response.chunks.len(), 100_001);

    for uri in [
        "/stream?n=abc",
        "/stream?size=-1",
        "/stream?delay_ms=",
        "/slow?ms=1.5",
    ] {
        let response = get(uri).await;
        assert_ok(&response, 400);
    }
}

#[tokio::test]
async fn headers_are_joined_and_sorted() {
    let response = request(
        "GET",
        "/headers",
        &[
            ("X-Zeta", "1"),
            ("accept", "a"),
            ("x-zeta", "2"),
            ("Host", "h"),
        ],
        &[],
    )
    .await;
    assert_ok(&response, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(
        String::from_utf8(response.body()).unwrap(),
        r#"{"accept":"a","host":"h","x-zeta":"1, 2"}"#
    );
}

#[tokio::test]
async fn status_answers_with_the_code_and_nothing_else() {
    for code in [200, 204, 304, 418, 599] {
        let response = get(&format!("/status/{code}")).await;
        assert_ok(&response, code);
        assert!(
            response.headers.is_empty(),
            "{code}: {:?}",
            response.headers
        );
        assert!(response.body().is_empty());
    }
    for path in [
        "/status/199",
        "/status/600",
        "/status/abc",
        "/status/2000",
        "/status/",
    ] {
        let response = get(path).await;
        assert_ok(&response, 404);
    }
}

#[tokio::test(start_paused = true)]
async fn slow_waits_then_answers() {
    let started = tokio::time::Instant::now();
    let response = get("/slow?ms=1500").await;
    assert_ok(&response, 200);
    assert_eq!(response.body(), b"done");
    assert_eq!(started.elapsed(), Duration::from_millis(1500));

    let started = tokio::time::Instant::now();
    assert_ok(&get("/slow?ms=9999999").await, 200);
    assert_eq!(started.elapsed(), Duration::from_secs(60));
}

#[tokio::test]
async fn error_fails_before_the_response() {
    let response = get("/error").await;
    assert!(response.result.is_err());
    assert_eq!(response.status, None);
}

#[tokio::test]
async fn error_after_start_fails_mid_body() {
    let response = get("/error-after-start").await;
    assert!(response.result.is_err());
    assert_eq!(response.status, Some(StatusCode::OK));
    assert_eq!(response.header("content-length"), None);
    assert_eq!(response.chunks, [(Bytes::from_static(b"partial"), true)]);
}

#[tokio::test]
async fn echo_scope_reports_the_scope() {
    let response = request("PATCH", "/echo-scope/a%20b?x=%20&y", &[], &[]).await;
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
        ("GET", "/nope"),
        ("POST", "/headers"),
        ("PUT", "/stream"),
        ("GET", "/echo-scopes"),
    ] {
        let response = request(method, path, &[], &[]).await;
        assert_ok(&response, 404);
        assert_eq!(response.body(), b"Not Found");
    }
}

#[tokio::test]
async fn lifespan_starts_and_stops() {
    use rgi::{LifespanConn, LifespanReceive, LifespanScope, LifespanSend};

    struct Phases(VecDeque<LifespanReceive>);
    impl Receiver<LifespanReceive> for Phases {
        fn poll_receive(&mut self, _: &mut Context<'_>) -> Poll<LifespanReceive> {
            self.0.pop_front().map_or(Poll::Pending, Poll::Ready)
        }
    }
    #[derive(Default)]
    struct Answers(Vec<LifespanSend>);
    impl Sender<LifespanSend> for Answers {
        fn start_send(&mut self, event: LifespanSend) -> Result<(), Error> {
            self.0.push(event);
            Ok(())
        }
        fn poll_flush(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
            Poll::Ready(Ok(()))
        }
    }

    let mut phases = Phases([LifespanReceive::Startup, LifespanReceive::Shutdown].into());
    let mut answers = Answers::default();
    let conn = LifespanConn::new(LifespanScope::default(), &mut phases, &mut answers);
    tokio::time::timeout(Duration::from_secs(5), Testbed.call(conn.into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        answers.0,
        [
            LifespanSend::StartupComplete,
            LifespanSend::ShutdownComplete
        ]
    );
}

#[tokio::test]
async fn websocket_is_unsupported_for_now() {
    use rgi::{WebSocketConn, WebSocketReceive, WebSocketScope, WebSocketSend};
    struct Never;
    impl Receiver<WebSocketReceive> for Never {
        fn poll_receive(&mut self, _: &mut Context<'_>) -> Poll<WebSocketReceive> {
            Poll::Pending
        }
    }
    impl Sender<WebSocketSend> for Never {
        fn start_send(&mut self, event: WebSocketSend) -> Result<(), Error> {
            panic!("sent {event:?}")
        }
        fn poll_flush(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
            Poll::Ready(Ok(()))
        }
    }
    let scope = WebSocketScope::new(
        HttpScope::new(Method::GET, Uri::from_static("/ws")).unwrap(),
        vec![],
    );
    let (mut rx, mut tx) = (Never, Never);
    let err = Testbed
        .call(Conn::WebSocket(WebSocketConn::new(scope, &mut rx, &mut tx)))
        .await
        .unwrap_err();
    assert!(Error::is_unsupported(&*err));
}
