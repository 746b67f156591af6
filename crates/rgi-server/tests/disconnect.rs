//! A client that goes away is delivered as `Disconnect` (rules HTTP-011,
//! HTTP-012); sends after that fail with `Error::Disconnected` (CORE-010);
//! an app that ignores it is dropped after the grace period (CORE-032).

mod common;

use std::time::Duration;

use common::*;
use http::{HeaderMap, StatusCode};
use rgi::{App, AppResult, Conn, HttpReceive, HttpSend, ResponseStart};
use tokio::sync::mpsc;

/// What the app observed, reported to the test.
#[derive(Debug, PartialEq)]
enum Seen {
    BodyDone,
    Disconnect,
    SendFailed(bool),
    MidBodyDisconnect(usize),
    AfterResponse(bool),
    /// The server dropped the app's future.
    Dropped,
}

struct Watcher(mpsc::UnboundedSender<Seen>);

impl App for Watcher {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        let report = |seen| {
            let _ = self.0.send(seen);
        };
        match http.scope.path.as_str() {
            "/wait" => {
                // Read the body, then wait for the client to leave.
                let mut got = 0;
                loop {
                    match http.recv().await {
                        HttpReceive::Body { data, more } => {
                            got += data.len();
                            if !more {
                                break;
                            }
                        }
                        HttpReceive::Disconnect => {
                            report(Seen::MidBodyDisconnect(got));
                            return Ok(());
                        }
                        _ => return Err("unexpected event".into()),
                    }
                }
                report(Seen::BodyDone);
                if http.recv().await == HttpReceive::Disconnect {
                    report(Seen::Disconnect);
                }
                // Every later receive says the same.
                assert_eq!(http.recv().await, HttpReceive::Disconnect);
                let sent = http
                    .send(HttpSend::Start(ResponseStart::new(StatusCode::OK)))
                    .await;
                report(Seen::SendFailed(matches!(
                    sent,
                    Err(rgi::Error::Disconnected)
                )));
                Ok(())
            }
            _ => {
                http.read_body(0).await?;
                http.respond(StatusCode::OK, HeaderMap::new(), "done")
                    .await?;
                // The response is complete: receive says so at once.
                let event = tokio::time::timeout(Duration::from_secs(2), http.recv()).await;
                report(Seen::AfterResponse(event == Ok(HttpReceive::Disconnect)));
                Ok(())
            }
        }
    }
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    bounded("app report", rx.recv()).await.unwrap()
}

#[tokio::test]
async fn client_leaving_after_the_body_is_a_disconnect_and_sends_fail() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = start(Watcher(tx)).await;
    let mut client = server.connect().await;
    client.send(&post("/wait", b"abc")).await;
    assert_eq!(next(&mut rx).await, Seen::BodyDone);
    // Still connected: no disconnect yet.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        rx.try_recv().is_err(),
        "disconnect while the client is connected"
    );
    drop(client);
    assert_eq!(next(&mut rx).await, Seen::Disconnect);
    assert_eq!(next(&mut rx).await, Seen::SendFailed(true));
    // Others are still served.
    let mut other = server.connect().await;
    assert_eq!(other.request(&get("/x")).await.text(), "done");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn client_leaving_mid_body_is_a_disconnect() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = start(Watcher(tx)).await;
    let mut client = server.connect().await;
    client
        .send(b"POST /wait HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\npartial")
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(client);
    assert_eq!(next(&mut rx).await, Seen::MidBodyDisconnect(7));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn receive_after_a_complete_response_is_disconnect() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = start(Watcher(tx)).await;
    let mut client = server.connect().await;
    assert_eq!(client.request(&get("/x")).await.text(), "done");
    assert_eq!(next(&mut rx).await, Seen::AfterResponse(true));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn sending_to_a_gone_client_fails_with_disconnected() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = start(Firehose {
        ended: Some(tx),
        ..Firehose::default()
    })
    .await;
    let mut client = server.connect().await;
    client.send(&get("/")).await;
    client.read_head().await;
    client.read_exact_raw(1000).await;
    drop(client);
    assert!(bounded("send error", rx.recv()).await.unwrap());
    server.stop().await.unwrap();
}

/// Sees `Disconnect`, then never returns; reports when its future is
/// dropped.
struct Stubborn(mpsc::UnboundedSender<Seen>);

/// Reports `Seen::Dropped` when dropped: the server let go of the app's
/// future.
struct DropReport(mpsc::UnboundedSender<Seen>);

impl Drop for DropReport {
    fn drop(&mut self) {
        let _ = self.0.send(Seen::Dropped);
    }
}

impl App for Stubborn {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        let _report = DropReport(self.0.clone());
        while let HttpReceive::Body { more: true, .. } = http.recv().await {}
        assert_eq!(http.recv().await, HttpReceive::Disconnect);
        let _ = self.0.send(Seen::Disconnect);
        std::future::pending::<()>().await;
        Ok(())
    }
}

#[tokio::test]
async fn an_app_that_ignores_the_disconnect_is_dropped_after_the_grace_period() {
    // CORE-032: polled on for at most the grace period, then dropped; the
    // server keeps serving.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut config = test_config();
    config.disconnect_grace = Duration::from_millis(100);
    // Far longer than the bounded wait: only the grace period can end it.
    config.drain_timeout = Duration::from_secs(600);
    let server = start_with(Stubborn(tx), config).await;
    let mut client = server.connect().await;
    client.send(&get("/")).await;
    drop(client);
    assert_eq!(next(&mut rx).await, Seen::Disconnect);
    assert_eq!(next(&mut rx).await, Seen::Dropped);
    server.stop().await.unwrap();
}

/// After the client left, sends an event that breaks a rule, then a valid
/// one; reports the rule of the first refusal and whether the second
/// failed with `Error::Disconnected`.
struct LateAndWrong(mpsc::UnboundedSender<(String, bool)>);

impl App for LateAndWrong {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        while let HttpReceive::Body { more: true, .. } = http.recv().await {}
        assert_eq!(http.recv().await, HttpReceive::Disconnect);
        let broken = match http.send(HttpSend::body("no start yet")).await {
            Err(rgi::Error::Protocol { rule, .. }) => rule.to_owned(),
            other => format!("{other:?}"),
        };
        let valid = http
            .send(HttpSend::Start(ResponseStart::new(StatusCode::OK)))
            .await;
        let _ = self
            .0
            .send((broken, matches!(valid, Err(rgi::Error::Disconnected))));
        Ok(())
    }
}

#[tokio::test]
async fn after_a_disconnect_a_broken_event_is_still_refused_with_its_rule() {
    // CORE-012: the protocol error wins over the disconnect.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = start(LateAndWrong(tx)).await;
    let mut client = server.connect().await;
    client.send(&get("/")).await;
    drop(client);
    let (rule, valid_disconnected) = bounded("app report", rx.recv()).await.unwrap();
    assert_eq!(rule, "HTTP-020");
    assert!(valid_disconnected);
    server.stop().await.unwrap();
}
