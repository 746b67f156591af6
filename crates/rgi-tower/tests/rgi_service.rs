//! Direction 2, an rgi app as a tower service: `RgiService` on plain hyper
//! and inside axum, over TCP.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::ConnectInfo;
use common::*;
use rgi::http::{HeaderMap, StatusCode};
use rgi::{App, AppResult, Conn};
use rgi_tower::RgiService;

#[tokio::test]
async fn the_response_streams_in_lock_step_with_trailers() {
    let (side, events) = RgiSide::new();
    let addr = hyper_server(RgiService::new(side)).await;
    rgi_inner_streams(addr, &events).await;
}

#[tokio::test]
async fn the_request_streams_in_lock_step() {
    let (side, _events) = RgiSide::new();
    let addr = hyper_server(RgiService::new(side.clone())).await;
    rgi_inner_uploads(addr, &side).await;
}

#[tokio::test]
async fn a_client_that_leaves_reaches_the_app() {
    let (side, events) = RgiSide::new();
    let addr = hyper_server(RgiService::new(side.clone())).await;
    rgi_inner_disconnect(addr, &side, &events).await;
}

/// Says where it is mounted and who called.
struct Where;

impl App for Where {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        let scope = &http.scope;
        let body = format!(
            "root_path={} path={} route={} client={:?}",
            scope.root_path,
            scope.path,
            scope.route_path(),
            scope.client
        );
        Ok(http.respond(StatusCode::OK, HeaderMap::new(), body).await?)
    }
}

#[tokio::test]
async fn nested_in_axum_the_app_gets_its_mount_point_and_the_client() {
    let service = RgiService::new(Where)
        .mounted_at("/legacy")
        .client_addr(|ext| ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0));
    let router = axum::Router::new()
        .route("/", axum::routing::get(|| async { "axum" }))
        .nest_service("/legacy", service);
    let addr = axum_server(router).await;
    let mut client = Client::connect(addr).await;
    let me = client.local_addr();
    client
        .send("GET /legacy/a%20b HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        .await;
    let text = client.read_to_end().await;
    assert!(
        text.ends_with(&format!(
            "root_path=/legacy path=/legacy/a b route=/a b client=Some({me})"
        )),
        "{text}"
    );
}

/// Fails before starting, or after.
struct Fails;

impl App for Fails {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        if http.scope.path == "/after" {
            let start = rgi::ResponseStart::new(StatusCode::OK);
            http.send(rgi::HttpSend::Start(start)).await?;
            http.send(rgi::HttpSend::chunk("partial")).await?;
        }
        Err("the app broke".into())
    }
}

#[tokio::test]
async fn errors_are_a_500_before_start_and_an_abort_after() {
    let addr = hyper_server(RgiService::new(Fails)).await;
    let mut client = Client::connect(addr).await;
    client.send("GET /before HTTP/1.1\r\nhost: t\r\n\r\n").await;
    client.read_until("HTTP/1.1 500").await;

    let mut client = Client::connect(addr).await;
    client.send("GET /after HTTP/1.1\r\nhost: t\r\n\r\n").await;
    let text = client.read_to_end().await;
    // Aborted (CORE-041): the connection closed without completing the
    // response (hyper may not even have flushed the head), never a 500 or
    // a final chunk after the start.
    assert!(
        !text.contains("0\r\n\r\n") && !text.contains(" 500 "),
        "{text}"
    );
}

#[tokio::test]
async fn a_path_that_is_not_utf8_is_a_400_not_a_panic() {
    let addr = hyper_server(RgiService::new(Where)).await;
    let mut client = Client::connect(addr).await;
    client
        .send("GET /%FF HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        .await;
    let text = client.read_to_end().await;
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
}

/// Logs when each of its sends completed: the head, a chunk, the end.
struct Logs(Arc<Mutex<Vec<&'static str>>>);

impl App for Logs {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        let log = |what| self.0.lock().unwrap().push(what);
        http.send(rgi::HttpSend::Start(rgi::ResponseStart::new(
            StatusCode::OK,
        )))
        .await?;
        log("start sent");
        http.send(rgi::HttpSend::chunk("a")).await?;
        log("chunk sent");
        http.send(rgi::HttpSend::body("b")).await?;
        log("end sent");
        Ok(())
    }
}

/// The bounded buffer of rule CORE-020, as `RgiService` has it: the head
/// and one body event. The head's send completes at once (it takes no
/// room from the body), a chunk's only once the tower side took it, and
/// the last event's at once (nothing can follow it), so the app is done
/// before its last frame is read.
#[tokio::test]
async fn the_head_and_the_last_event_are_buffered_a_chunk_waits() {
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = || log.lock().unwrap().clone();
    let request = rgi::http::Request::new(http_body_util::Empty::<bytes::Bytes>::new());
    let response = RgiService::new(Logs(log.clone()))
        .oneshot(request)
        .await
        .unwrap();
    // The head is out, the chunk waits in the buffer for its frame.
    assert_eq!(seen(), ["start sent"]);
    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(first, "a");
    // Taking the chunk freed the buffer, but the app runs only when the
    // next frame is asked for.
    assert_eq!(seen(), ["start sent"]);
    let last = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(last, "b");
    assert_eq!(seen(), ["start sent", "chunk sent", "end sent"]);
    assert!(body.frame().await.is_none());
}

/// Counts how often its app's call is polled.
struct CountsPolls<A>(A, Arc<Mutex<usize>>);

impl<A: App> App for CountsPolls<A> {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let mut call = std::pin::pin!(self.0.call(conn));
        std::future::poll_fn(|cx| {
            *self.1.lock().unwrap() += 1;
            std::future::Future::poll(call.as_mut(), cx)
        })
        .await
    }
}

/// What the buffer buys: a whole response (`respond`: the head, then the
/// body in one event) is sent in one poll of the app, not one per event.
#[tokio::test]
async fn a_whole_response_takes_one_poll_of_the_app() {
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    let polls = Arc::new(Mutex::new(0));
    let app = CountsPolls(Where, polls.clone());
    let request = rgi::http::Request::new(http_body_util::Empty::<bytes::Bytes>::new());
    let response = RgiService::new(app).oneshot(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(body.starts_with(b"root_path="), "{body:?}");
    assert_eq!(*polls.lock().unwrap(), 1);
}

/// Notes what each call's scope held when it arrived (and where the scope
/// lives), then leaves things in it for whoever comes next.
struct LeavesThingsBehind(Arc<Mutex<Vec<(usize, String)>>>);

#[derive(Clone)]
struct Marker;

impl App for LeavesThingsBehind {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        let scope = &mut *http.scope;
        let mut names: Vec<_> = scope.headers.keys().map(|n| n.as_str()).collect();
        names.sort_unstable();
        let seen = format!(
            "path={} root_path={:?} headers={names:?} marker={}",
            scope.path,
            scope.root_path,
            scope.extensions.get::<Marker>().is_some(),
        );
        self.0
            .lock()
            .unwrap()
            .push((std::ptr::from_ref(&*scope) as usize, seen));
        scope.extensions.insert(Marker);
        scope.root_path.push_str("/left");
        scope
            .headers
            .insert("x-left-behind", "yes".parse().unwrap());
        Ok(http.respond(StatusCode::OK, HeaderMap::new(), "ok").await?)
    }
}

/// The scope of a finished call is kept for the next one (rule `CORE-009`:
/// a reused scope starts as new): the second call gets the same scope
/// back, and nothing of the first request or of what its app left in it.
#[tokio::test]
async fn a_kept_scope_carries_nothing_to_the_next_call() {
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    let seen = Arc::new(Mutex::new(Vec::new()));
    let service = RgiService::new(LeavesThingsBehind(seen.clone()));
    for (path, header) in [("/first", "x-first"), ("/second", "x-second")] {
        let request = rgi::http::Request::builder()
            .uri(path)
            .header(header, "1")
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let response = service.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        // The body read to its end, and the response dropped: the call is over.
        response.into_body().collect().await.unwrap();
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0].0, seen[1].0,
        "the second call got the first's scope"
    );
    assert_eq!(
        seen[1].1,
        r#"path=/second root_path="" headers=["x-second"] marker=false"#
    );
}

/// Hands its events over, then reads the request body (which breaks:
/// it is over a limit) before flushing them, and notes what the flush
/// said.
struct FlushesAfterTheBodyBroke {
    /// Also the final body before the flush, not only the `Start`.
    whole: bool,
    flushed: Arc<Mutex<Option<Result<(), String>>>>,
}

impl App for FlushesAfterTheBodyBroke {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        use rgi::{HttpReceive, HttpSend, ReceiverExt};
        let Conn::Http(http) = conn else {
            return conn.unsupported();
        };
        let (_scope, receiver, sender) = http.into_parts();
        sender.start_send(HttpSend::Start(rgi::ResponseStart::new(StatusCode::OK)))?;
        if self.whole {
            std::future::poll_fn(|cx| sender.poll_flush(cx)).await?;
            sender.start_send(HttpSend::body("too late"))?;
        }
        assert!(matches!(receiver.recv().await, HttpReceive::Disconnect));
        let flushed = std::future::poll_fn(|cx| sender.poll_flush(cx)).await;
        *self.flushed.lock().unwrap() = Some(flushed.as_ref().map_err(|e| e.to_string()).copied());
        Ok(flushed?)
    }
}

/// The sender's flush skips the slot's lock when its last event left
/// room (the `Start`, or the final body), but not once the request body
/// has broken: the events handed over and not yet flushed are dropped,
/// their flush fails with `Disconnected` and the client gets the server's
/// `413` (rules HTTP-014, CORE-010), never the app's `200`.
#[tokio::test]
async fn a_send_not_yet_flushed_when_the_body_breaks_fails_and_the_answer_is_413() {
    use tower::ServiceExt;

    for whole in [false, true] {
        let flushed = Arc::new(Mutex::new(None));
        let app = FlushesAfterTheBodyBroke {
            whole,
            flushed: flushed.clone(),
        };
        let body = http_body_util::Limited::new(
            http_body_util::Full::new(bytes::Bytes::from_static(b"over the limit")),
            4,
        );
        let request = rgi::http::Request::post("/").body(body).unwrap();
        let response = RgiService::new(app).oneshot(request).await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "whole: {whole}"
        );
        let flushed = flushed.lock().unwrap().clone();
        assert!(
            matches!(&flushed, Some(Err(e)) if e.contains("disconnect")),
            "whole: {whole}: {flushed:?}"
        );
    }
}
