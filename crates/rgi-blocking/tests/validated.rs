//! A blocking app as the inner app of the middleware catalogue, with the
//! conformance validator on both sides of the stack (as `testbed
//! --validate` runs it): one directly in front of the adapter, checking
//! every event it sends and how it returns, and one outermost, checking
//! what the middleware made of it. Every exchange ends with both logs clean.
//!
//! (`rgi_conformance::check` itself takes the middleware under test and
//! puts its own scripted inner app under it, so it cannot run a blocking
//! app as the inner one; this drives the same validator through the same
//! in-process client instead.)

use std::io::{Read, Write};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use http::{HeaderMap, HeaderValue, StatusCode};
use rgi::{BoxApp, HttpSend, ResponseStart, Stack};
use rgi_blocking::{Blocking, Pool, PoolConfig, Request as BRequest, Response as BResponse};
use rgi_conformance::{AppExit, DisconnectAt, Request, TestClient, Validator, ViolationLog};
use rgi_middleware_examples::{AccessLog, ErrorBoundary, Gzip, SecurityHeaders, SetRequestId};

/// Every route a blocking app might have.
fn handler(mut request: BRequest, response: &mut BResponse) -> std::io::Result<()> {
    match request.scope.path.as_str() {
        "/hello" => {
            let mut headers = HeaderMap::new();
            headers.insert("content-type", HeaderValue::from_static("text/plain"));
            response.send(StatusCode::OK, headers, "hello from a thread\n")
        }
        "/echo" => {
            response.start(StatusCode::OK, HeaderMap::new())?;
            std::io::copy(&mut request.body, response)?;
            Ok(())
        }
        "/stream" => {
            response.start(StatusCode::OK, HeaderMap::new())?;
            for k in 0..5 {
                writeln!(response, "line {k}")?;
            }
            response.flush()
        }
        "/trailers" => {
            response.start_with(ResponseStart::new(StatusCode::OK).with_trailers())?;
            response.write_all(b"body")?;
            let mut trailers = HeaderMap::new();
            trailers.insert("x-checksum", HeaderValue::from_static("abc"));
            response.trailers(trailers)
        }
        "/panic-before" => panic!("before the start"),
        "/panic-after" => {
            response.start(StatusCode::OK, HeaderMap::new())?;
            response.write_all(b"partial")?;
            panic!("after the start")
        }
        "/nothing" => Ok(()),
        _ => response.send(StatusCode::NOT_FOUND, HeaderMap::new(), "not found\n"),
    }
}

struct Stacked {
    client: TestClient,
    outer: ViolationLog,
    inner: ViolationLog,
    pool: Pool,
}

/// outer validator → access log → request id → security headers → error
/// boundary → gzip → validator → the adapter.
fn stacked() -> Stacked {
    let pool = Pool::new(PoolConfig::with_size(4));
    let inner = Validator::new(Blocking::with_pool(handler, pool.clone()));
    let inner_log = inner.log();
    let app: BoxApp = Stack::new()
        .push(|app: BoxApp| rgi::boxed(AccessLog::new(app)))
        .push(|app: BoxApp| rgi::boxed(SetRequestId::new(app)))
        .push(|app: BoxApp| rgi::boxed(SecurityHeaders::new(app)))
        .push(|app: BoxApp| rgi::boxed(ErrorBoundary::new(app)))
        .push(|app: BoxApp| rgi::boxed(Gzip::new(app)))
        .build(rgi::boxed(inner));
    let outer = Validator::new(app);
    let outer_log = outer.log();
    Stacked {
        client: TestClient::new(outer).timeout(Duration::from_secs(10)),
        outer: outer_log,
        inner: inner_log,
        pool,
    }
}

impl Stacked {
    fn assert_clean(&self) {
        self.inner.assert_clean();
        self.outer.assert_clean();
    }

    async fn idle(&self) {
        for _ in 0..1000 {
            if self.pool.stats().busy == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the pool stayed busy: {:?}", self.pool.stats());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_responses_pass_both_validators() {
    let s = stacked();
    let hello = s.client.get("/hello").await.unwrap();
    assert_eq!(hello.status(), Some(StatusCode::OK));
    assert_eq!(hello.body(), "hello from a thread\n");
    assert!(hello.header("x-request-id").is_some(), "the middleware ran");
    assert!(hello.is_complete());

    let head = s.client.send(Request::head("/hello")).await.unwrap();
    assert_eq!(head.status(), Some(StatusCode::OK));
    assert!(head.body().is_empty());

    // One handler for GET and HEAD: the body it writes is not sent.
    for path in ["/stream", "/trailers"] {
        let head = s.client.send(Request::head(path)).await.unwrap();
        assert_eq!(head.status(), Some(StatusCode::OK), "{path}");
        assert!(head.body().is_empty(), "{path}");
        assert!(head.is_complete(), "{path}");
    }

    let missing = s.client.get("/missing").await.unwrap();
    assert_eq!(missing.status(), Some(StatusCode::NOT_FOUND));

    let stream = s.client.get("/stream").await.unwrap();
    assert_eq!(stream.body(), "line 0\nline 1\nline 2\nline 3\nline 4\n");
    assert!(
        stream.chunks().len() >= 5,
        "streamed as chunks: {:?}",
        stream.chunks()
    );

    let trailers = s.client.get("/trailers").await.unwrap();
    assert_eq!(trailers.body(), "body");
    assert_eq!(
        trailers.trailers().and_then(|t| t.get("x-checksum")),
        Some(&HeaderValue::from_static("abc"))
    );
    s.assert_clean();
    s.idle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_request_body_is_echoed_chunk_by_chunk() {
    let s = stacked();
    let echoed = s
        .client
        .send(Request::post("/echo").chunks(["one ", "two ", "three"]))
        .await
        .unwrap();
    assert_eq!(echoed.body(), "one two three");
    assert!(echoed.is_complete());
    s.assert_clean();
    s.idle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_answered_as_the_spec_says_and_break_no_rule() {
    let s = stacked();
    // The error boundary turns failures before the start into its 500.
    for path in ["/panic-before", "/nothing"] {
        let response = s.client.get(path).await.unwrap();
        assert_eq!(
            response.status(),
            Some(StatusCode::INTERNAL_SERVER_ERROR),
            "{path}"
        );
    }
    // After the start, the failure reaches the caller: no final chunk.
    let after = s.client.get("/panic-after").await.unwrap();
    assert_eq!(after.status(), Some(StatusCode::OK));
    assert!(!after.is_complete(), "a clean-looking truncated response");
    assert!(
        matches!(after.exit(), AppExit::Err(_)),
        "{:?}",
        after.exit()
    );
    s.assert_clean();
    s.idle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_mid_response_breaks_no_rule() {
    let s = stacked();
    let response = s
        .client
        .send(Request::get("/stream").disconnect_at(DisconnectAt::AfterResponseChunks(1)))
        .await
        .unwrap();
    assert!(!response.is_complete());
    s.assert_clean();
    s.idle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_call_fails_the_threads_next_read() {
    let (seen, outcomes) = mpsc::channel();
    let seen = Arc::new(Mutex::new(seen));
    let pool = Pool::new(PoolConfig::with_size(1));
    let handler = move |mut request: BRequest, _: &mut BResponse| -> std::io::Result<()> {
        let mut body = Vec::new();
        let result = request.body.read_to_end(&mut body);
        let _ = seen
            .lock()
            .unwrap()
            .send(result.as_ref().map_err(|e| e.kind()).copied());
        result.map(drop)
    };
    let validator = Validator::new(Blocking::with_pool(handler, pool.clone()));
    let log = validator.log();
    let client = TestClient::new(validator).timeout(Duration::from_secs(10));
    // No body events queued: the test pushes them.
    let mut exchange = client.open(Request::post("/upload").events(Vec::new()));
    exchange.send_chunk("first", true).await.unwrap();
    // The handler now waits for the next chunk, which never comes.
    while pool.stats().busy == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let response = exchange.cancel().await;
    assert!(matches!(response.exit(), AppExit::Cancelled));
    let outcome =
        tokio::task::spawn_blocking(move || outcomes.recv_timeout(Duration::from_secs(10)))
            .await
            .unwrap()
            .expect("the handler's read returned");
    assert_eq!(outcome, Err(std::io::ErrorKind::ConnectionAborted));
    for _ in 0..1000 {
        if pool.stats().busy == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(pool.stats().busy, 0);
    log.assert_clean();
    assert!(response.events().all(|e| !matches!(e, HttpSend::Start(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_returns_ok_after_a_lost_send_ends_the_call_as_disconnected() {
    // The handler does not look at its writes' results: the sends it
    // posted fail after it returned, and the call must not end `Ok` with
    // the response unfinished (rule CORE-031).
    let handler = |_: BRequest, response: &mut BResponse| -> std::io::Result<()> {
        response.start(StatusCode::OK, HeaderMap::new())?;
        let _ = response.write_all(b"one");
        let _ = response.write_all(b"two");
        Ok(())
    };
    let validator = Validator::new(Blocking::new(handler));
    let log = validator.log();
    let client = TestClient::new(validator).timeout(Duration::from_secs(10));
    let response = client
        .send(Request::get("/").disconnect_at(DisconnectAt::AfterResponseStart))
        .await
        .unwrap();
    match response.exit() {
        AppExit::Err(e) => assert!(rgi::Error::is_disconnect(e.as_ref()), "{e}"),
        other => panic!("the call ended {other:?}"),
    }
    assert!(!response.is_complete());
    log.assert_clean();
}
