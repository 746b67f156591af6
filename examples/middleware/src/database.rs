//! A lifespan resource: opens a connection [`Pool`] at startup, puts it in
//! the lifespan state for every request, and closes it at shutdown, after
//! the inner app has finished its own shutdown.
//!
//! Ports seed 002's `DatabaseMiddleware` (and the pool behind seed 000's
//! MVC controller). The seed keeps the pool in `self.pool` and copies it
//! into each request's scope; here it goes into the typed lifespan state
//! once and every request reads `scope.state.get::<Pool>()`. Where the seed
//! stops intercepting after startup (so it never closes its pool when the
//! inner app handles shutdown), this one holds the inner app's shutdown
//! answer, closes the pool, then answers upstream.
//!
//! * If the pool cannot open, the server is told `StartupFailed` with the
//!   reason and the inner app is never called (rule `LIFE-009`).
//! * If the inner app has no lifespan (`Error::Unsupported`), the
//!   middleware finishes the protocol itself so its pool still opens and
//!   closes (rule `LIFE-014`).
//!
//! The "database" is simulated: `mem://name` opens, anything else fails.
//! Swap [`Pool::open`] and [`Pool::close`] for your driver's.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use rgi::{
    App, AppResult, Conn, Error, LifespanConn, LifespanReceive, LifespanSend, Prepend, ReceiverExt,
    Sender, SenderExt,
};

/// A (simulated) database pool. Clones share it.
#[derive(Debug, Clone)]
pub struct Pool {
    inner: Arc<PoolInner>,
}

#[derive(Debug)]
struct PoolInner {
    url: String,
    open: AtomicBool,
}

impl Pool {
    /// Connects to `url`; only `mem://...` URLs exist in this simulation.
    pub async fn open(url: &str) -> Result<Self, String> {
        if !url.starts_with("mem://") {
            return Err(format!(
                "cannot connect to {url:?}: only mem:// exists here"
            ));
        }
        Ok(Self {
            inner: Arc::new(PoolInner {
                url: url.to_owned(),
                open: AtomicBool::new(true),
            }),
        })
    }

    /// The URL it connected to.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// Whether the pool is still open.
    pub fn is_open(&self) -> bool {
        self.inner.open.load(Ordering::Acquire)
    }

    /// Closes every connection.
    pub async fn close(&self) -> Result<(), String> {
        self.inner.open.store(false, Ordering::Release);
        Ok(())
    }
}

/// Opens a [`Pool`] for the inner app's lifetime.
#[derive(Debug, Clone)]
pub struct Database<A> {
    inner: A,
    url: String,
}

impl<A> Database<A> {
    /// A pool on `url` for `inner`.
    pub fn new(inner: A, url: impl Into<String>) -> Self {
        Self {
            inner,
            url: url.into(),
        }
    }
}

impl<A: App> App for Database<A> {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Lifespan(mut lifespan) = conn else {
            // Requests find the pool in `scope.state`.
            return self.inner.call(conn).await;
        };
        let event = lifespan.recv().await;
        if event != LifespanReceive::Startup {
            // Not the protocol's first event: nothing to open for.
            return Err(
                Error::protocol("LIFE-001", "the first lifespan event must be Startup").into(),
            );
        }
        let pool = match Pool::open(&self.url).await {
            Ok(pool) => pool,
            Err(message) => {
                return Ok(lifespan
                    .send(LifespanSend::StartupFailed { message })
                    .await?);
            }
        };
        lifespan.scope.state.insert(pool.clone());

        let (scope, receiver, sender) = lifespan.into_parts();
        let mut receiver = Prepend::new(event, receiver);
        let mut held = HoldShutdownAnswer {
            inner: &mut *sender,
            answer: None,
        };
        let result = self
            .inner
            .call(LifespanConn::new(scope, &mut receiver, &mut held).into())
            .await;
        let answer = held.answer.take();
        match result {
            // No lifespan inside: run it for the pool's sake (LIFE-014).
            Err(err) if Error::is_unsupported(&*err) => {
                sender.send(LifespanSend::StartupComplete).await?;
                while receiver.recv().await != LifespanReceive::Shutdown {}
                let closed = pool.close().await;
                Ok(sender
                    .send(shutdown_answer(LifespanSend::ShutdownComplete, closed))
                    .await?)
            }
            result => {
                if let Some(answer) = answer {
                    let closed = pool.close().await;
                    sender.send(shutdown_answer(answer, closed)).await?;
                } else {
                    // The inner app ended without answering shutdown (it
                    // failed, or startup failed): the pool closes anyway.
                    pool.close().await.ok();
                }
                result
            }
        }
    }
}

/// The inner app's shutdown answer, turned into a failure if closing the
/// pool failed.
fn shutdown_answer(answer: LifespanSend, closed: Result<(), String>) -> LifespanSend {
    match (answer, closed) {
        (LifespanSend::ShutdownComplete, Err(message)) => LifespanSend::ShutdownFailed { message },
        (answer, _) => answer,
    }
}

/// Passes lifespan answers on, except the shutdown answer, which it keeps
/// until the pool is closed.
struct HoldShutdownAnswer<S> {
    inner: S,
    answer: Option<LifespanSend>,
}

impl<S: Sender<LifespanSend>> Sender<LifespanSend> for HoldShutdownAnswer<S> {
    fn start_send(&mut self, event: LifespanSend) -> Result<(), Error> {
        match event {
            LifespanSend::ShutdownComplete | LifespanSend::ShutdownFailed { .. } => {
                if self.answer.is_some() {
                    return Err(Error::protocol("LIFE-005", "shutdown answered twice"));
                }
                self.answer = Some(event);
                Ok(())
            }
            other => self.inner.start_send(other),
        }
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_flush(cx)
    }
}

#[cfg(test)]
mod tests {
    use rgi::http::{HeaderMap, StatusCode};
    use rgi_conformance::{ShutdownOutcome, StartupOutcome, TestClient};

    use super::*;
    use crate::testing::Hello;

    /// Reports whether the pool is there and open.
    struct UsesPool;

    impl App for UsesPool {
        async fn call(&self, conn: Conn<'_>) -> AppResult {
            let Conn::Http(mut http) = conn else {
                return conn.unsupported();
            };
            let body = match http.scope.state.get::<Pool>() {
                Some(pool) => format!("{} open={}", pool.url(), pool.is_open()),
                None => "no pool".to_owned(),
            };
            Ok(http.respond(StatusCode::OK, HeaderMap::new(), body).await?)
        }
    }

    #[tokio::test]
    async fn opens_shares_and_closes_the_pool() {
        // `Hello` answers lifespan itself; the pool wraps around it.
        let client = TestClient::new(Database::new(Hello, "mem://main"));
        let mut lifespan = client.lifespan();
        let StartupOutcome::Complete(state) = lifespan.startup().await.unwrap() else {
            panic!("startup failed")
        };
        let pool = state.get::<Pool>().unwrap().clone();
        assert!(pool.is_open());
        assert_eq!(
            lifespan.shutdown().await.unwrap(),
            ShutdownOutcome::Complete
        );
        assert!(!pool.is_open());
        assert!(lifespan.finish().await.unwrap().exit.is_ok());
    }

    #[tokio::test]
    async fn requests_find_the_pool_in_the_state() {
        let client = TestClient::new(Database::new(UsesPool, "mem://main"));
        let mut lifespan = client.lifespan();
        // `UsesPool` has no lifespan: the middleware runs it alone.
        assert!(matches!(
            lifespan.startup().await.unwrap(),
            StartupOutcome::Complete(_)
        ));
        let response = client.get("/").await.unwrap();
        assert_eq!(response.body(), "mem://main open=true");
        assert_eq!(
            lifespan.shutdown().await.unwrap(),
            ShutdownOutcome::Complete
        );
    }

    #[tokio::test]
    async fn a_pool_that_cannot_open_fails_startup() {
        let client = TestClient::new(Database::new(Hello, "postgres://nowhere"));
        let mut lifespan = client.lifespan();
        let StartupOutcome::Failed(message) = lifespan.startup().await.unwrap() else {
            panic!("startup should fail")
        };
        assert!(message.contains("postgres://nowhere"), "{message}");
        let transcript = lifespan.finish().await.unwrap();
        assert!(transcript.exit.is_ok());
    }
}
