//! Lifespan: startup before accepting, failure, unsupported apps, state in
//! every request, shutdown after draining, a lifespan call that ends early
//! (rules LIFE-001..LIFE-011, LIFE-015).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use http::{HeaderMap, StatusCode};
use rgi::{App, AppResult, Conn, LifespanReceive, LifespanSend};
use rgi_server::{LifespanMode, ServeError};
use tokio::sync::Notify;

/// The value startup puts in the state.
struct Greeting(&'static str);

/// A lifespan-aware app; `fail` makes startup fail; `gate` holds startup
/// until notified; `events` records what happened, in order.
#[derive(Clone, Default)]
struct Life {
    fail: Option<&'static str>,
    error_instead: bool,
    gate: Option<Arc<Notify>>,
    events: Arc<Mutex<Vec<String>>>,
}

impl Life {
    fn log(&self, event: impl Into<String>) {
        self.events.lock().unwrap().push(event.into());
    }
}

impl App for Life {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        match conn {
            Conn::Lifespan(mut life) => {
                assert_eq!(life.recv().await, LifespanReceive::Startup);
                if let Some(gate) = &self.gate {
                    gate.notified().await;
                }
                if self.error_instead {
                    return Err("config file missing".into());
                }
                if let Some(message) = self.fail {
                    life.send(LifespanSend::StartupFailed {
                        message: message.into(),
                    })
                    .await?;
                    return Ok(());
                }
                life.scope.state.insert(Greeting("hello from startup"));
                life.send(LifespanSend::StartupComplete).await?;
                self.log("startup");
                assert_eq!(life.recv().await, LifespanReceive::Shutdown);
                self.log("shutdown");
                life.send(LifespanSend::ShutdownComplete).await?;
                Ok(())
            }
            Conn::Http(mut http) => {
                if http.scope.path == "/slow" {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                let greeting = http
                    .scope
                    .state
                    .get::<Greeting>()
                    .map_or("no state", |g| g.0);
                http.respond(StatusCode::OK, HeaderMap::new(), greeting)
                    .await?;
                self.log("request done");
                Ok(())
            }
            other => other.unsupported(),
        }
    }
}

#[tokio::test]
async fn state_from_startup_reaches_every_request_and_shutdown_runs_last() {
    let app = Life::default();
    let events = app.events.clone();
    let server = start(app).await;
    for _ in 0..3 {
        let mut client = server.connect().await;
        assert_eq!(client.request(&get("/")).await.text(), "hello from startup");
    }
    server.stop().await.unwrap();
    let events = events.lock().unwrap().clone();
    assert_eq!(
        events,
        [
            "startup",
            "request done",
            "request done",
            "request done",
            "shutdown"
        ]
    );
}

#[tokio::test]
async fn nothing_is_accepted_before_startup_completes() {
    let gate = Arc::new(Notify::new());
    let app = Life {
        gate: Some(gate.clone()),
        ..Life::default()
    };
    let server = start(app).await;
    // The kernel queues the connection; the server must not serve it yet.
    let mut client = server.connect().await;
    client.send(&get("/")).await;
    assert!(client.nothing_within(Duration::from_millis(300)).await);
    gate.notify_one();
    assert_eq!(client.read_response().await.text(), "hello from startup");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn startup_failure_is_serves_error_and_nothing_is_served() {
    let app = Life {
        fail: Some("database unreachable"),
        ..Life::default()
    };
    let events = app.events.clone();
    let server = start(app).await;
    let addr = server.addr;
    match server.join().await {
        Err(ServeError::StartupFailed(message)) => assert_eq!(message, "database unreachable"),
        other => panic!("expected StartupFailed, got {other:?}"),
    }
    // The listener is gone; no shutdown was sent.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    assert!(events.lock().unwrap().is_empty());
}

#[tokio::test]
async fn error_before_answering_startup_is_a_startup_failure() {
    let app = Life {
        error_instead: true,
        ..Life::default()
    };
    let server = start(app).await;
    match server.join().await {
        Err(ServeError::StartupFailed(message)) => assert_eq!(message, "config file missing"),
        other => panic!("expected StartupFailed, got {other:?}"),
    }
}

#[tokio::test]
async fn app_without_lifespan_is_served_with_empty_state() {
    // Hello answers lifespan with Error::Unsupported.
    let server = start(Hello).await;
    let mut client = server.connect().await;
    assert_eq!(client.request(&get("/")).await.text(), "Hello, world!");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn lifespan_on_requires_support() {
    let mut config = test_config();
    config.lifespan = LifespanMode::On;
    let server = start_with(Hello, config).await;
    assert!(matches!(
        server.join().await,
        Err(ServeError::StartupFailed(_))
    ));
}

#[tokio::test]
async fn lifespan_off_skips_it() {
    let app = Life::default();
    let events = app.events.clone();
    let mut config = test_config();
    config.lifespan = LifespanMode::Off;
    let server = start_with(app, config).await;
    let mut client = server.connect().await;
    assert_eq!(client.request(&get("/")).await.text(), "no state");
    server.stop().await.unwrap();
    assert_eq!(events.lock().unwrap().clone(), ["request done"]);
}

/// Answers lifespan in one of the ways the spec calls a mistake; serves
/// `ok` over HTTP.
struct Careless {
    /// Return `Ok(())` without answering `Startup` (else: complete
    /// startup, then fail while serving).
    skip_startup: bool,
}

impl App for Careless {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        match conn {
            Conn::Lifespan(mut life) => {
                assert_eq!(life.recv().await, LifespanReceive::Startup);
                if self.skip_startup {
                    return Ok(());
                }
                life.send(LifespanSend::StartupComplete).await?;
                Err("pool supervisor died".into())
            }
            Conn::Http(mut http) => {
                Ok(http.respond(StatusCode::OK, HeaderMap::new(), "ok").await?)
            }
            other => other.unsupported(),
        }
    }
}

#[tokio::test]
async fn ok_before_answering_startup_is_a_startup_failure() {
    // LIFE-015: only `Error::Unsupported` means "no lifespan", also in the
    // default `Auto` mode.
    let server = start(Careless { skip_startup: true }).await;
    let addr = server.addr;
    assert!(matches!(
        server.join().await,
        Err(ServeError::StartupFailed(_))
    ));
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test(flavor = "current_thread")]
async fn lifespan_failing_while_serving_is_logged_as_an_error_and_serving_goes_on() {
    // LIFE-011.
    // Thread-local: the current-thread runtime runs every task here.
    let (logs, _guard) = capture_logs();
    let server = start(Careless {
        skip_startup: false,
    })
    .await;
    let logged = || {
        let text = logs.text();
        text.lines()
            .any(|l| l.contains("ERROR") && l.contains("pool supervisor died"))
    };
    bounded("the lifespan failure to be logged", async {
        while !logged() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let mut client = server.connect().await;
    assert_eq!(client.request(&get("/")).await.text(), "ok");
    server.stop().await.unwrap();
}
