//! Graceful shutdown: stop accepting, finish in-flight requests within the
//! drain timeout, close idle connections, then lifespan shutdown.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use http::{HeaderMap, StatusCode};
use rgi::{App, AppResult, Conn, LifespanReceive, LifespanSend};
use tokio::sync::Notify;

/// `/slow` answers after the test says so; `/never` never answers;
/// `/long-poll` reads its body, then waits on receive and answers once
/// that returns.
struct Gated {
    started: Arc<Notify>,
    release: Arc<Notify>,
}

impl App for Gated {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        match conn {
            Conn::Lifespan(mut life) => {
                life.recv().await;
                life.send(LifespanSend::StartupComplete).await?;
                assert_eq!(life.recv().await, LifespanReceive::Shutdown);
                life.send(LifespanSend::ShutdownComplete).await?;
                Ok(())
            }
            Conn::Http(mut http) => {
                match http.scope.path.as_str() {
                    "/slow" => {
                        self.started.notify_one();
                        self.release.notified().await;
                    }
                    "/never" => {
                        self.started.notify_one();
                        std::future::pending::<()>().await;
                    }
                    "/long-poll" => {
                        while let rgi::HttpReceive::Body { more: true, .. } = http.recv().await {}
                        self.started.notify_one();
                        // Returns only when the client leaves or the
                        // server ends the call (HTTP-011, HTTP-035).
                        let _ = http.recv().await;
                    }
                    _ => {}
                }
                http.respond(StatusCode::OK, HeaderMap::new(), "finished")
                    .await?;
                Ok(())
            }
            other => other.unsupported(),
        }
    }
}

fn gated() -> (Gated, Arc<Notify>, Arc<Notify>) {
    let started = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    (
        Gated {
            started: started.clone(),
            release: release.clone(),
        },
        started,
        release,
    )
}

#[tokio::test]
async fn in_flight_request_finishes_and_idle_connections_close() {
    let (app, started, release) = gated();
    let mut server = start(app).await;
    let addr = server.addr;
    // An idle keep-alive connection, and one with a request in flight.
    let mut idle = server.connect().await;
    assert_eq!(idle.request(&get("/")).await.text(), "finished");
    let mut busy = server.connect().await;
    busy.send(&get("/slow")).await;
    bounded("request to start", started.notified()).await;

    server.signal_stop();
    // The idle connection is closed promptly.
    idle.assert_closed().await;
    // New connections are refused once the listener is closed.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    // The in-flight request completes, told the connection will close.
    release.notify_one();
    let r = busy.read_response().await;
    assert_eq!((r.status, r.text()), (200, "finished"));
    assert_eq!(r.header("connection"), Some("close"));
    busy.assert_closed().await;
    server.join().await.unwrap();
}

#[tokio::test]
async fn drain_timeout_drops_requests_that_do_not_finish() {
    let (app, started, _release) = gated();
    let mut config = test_config();
    config.drain_timeout = Duration::from_millis(300);
    let mut server = start_with(app, config).await;
    let mut stuck = server.connect().await;
    stuck.send(&get("/never")).await;
    bounded("request to start", started.notified()).await;
    server.signal_stop();
    // serve returns after the drain timeout, and the connection is gone.
    server.join().await.unwrap();
    stuck.assert_closed().await;
}

#[tokio::test]
async fn a_call_waiting_on_receive_is_ended_at_shutdown_with_503() {
    // HTTP-035: the long poll gets `Disconnect` as soon as shutdown begins,
    // its late `respond` fails with `Error::Disconnected`, and the client
    // gets the server's 503 (not the app's 200) on a closed connection.
    let (app, started, _release) = gated();
    let mut config = test_config();
    // Far longer than the bounded waits below: ending at the drain timeout
    // would fail the test.
    config.drain_timeout = Duration::from_secs(600);
    let mut server = start_with(app, config).await;
    let mut client = server.connect().await;
    client.send(&get("/long-poll")).await;
    bounded("request to start", started.notified()).await;
    server.signal_stop();
    let r = client.read_response().await;
    assert_eq!(r.status, 503);
    assert_eq!(r.header("connection"), Some("close"));
    client.assert_closed().await;
    server.join().await.unwrap();
}
