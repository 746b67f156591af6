//! The middleware suite: [`check`] a middleware, get a [`Report`].
//!
//! Every scenario puts the middleware between the [`TestClient`] and a
//! scripted inner app, with a [`Validator`](crate::Validator) on each side
//! (so the middleware is checked both as an app, towards the client, and
//! as a server, towards its inner app), and compares what each end sent
//! with what the other end got. See the crate's README for the list of
//! scenarios and the rules each one checks.
//!
//! [`TestClient`]: crate::TestClient

mod ctx;
mod inner;
mod scenarios;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rgi::BoxApp;

use crate::declare::{Declarations, Declare};
use crate::report::Report;
use crate::Request;

type LayerFn = Arc<dyn Fn(BoxApp) -> BoxApp + Send + Sync>;
type RequestFn = Arc<dyn Fn() -> Request + Send + Sync>;
type PrepareFn = Arc<dyn Fn(Request) -> Request + Send + Sync>;

/// The default bound on every wait inside the suite.
pub const DEFAULT_SUITE_TIMEOUT: Duration = Duration::from_secs(1);

/// What a [`Check`] was told.
pub(crate) struct Config {
    pub(crate) layer: LayerFn,
    pub(crate) declared: Declarations,
    pub(crate) prepare: Option<PrepareFn>,
    pub(crate) short_circuits: Vec<RequestFn>,
    pub(crate) refuses_websocket: Vec<RequestFn>,
    pub(crate) failing_startup: Option<(LayerFn, String)>,
    pub(crate) timeout: Duration,
}

/// Starts a conformance check of the middleware `layer` builds around an
/// inner app. Add declarations, then [`run`](Check::run) it:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use rgi::{App, AppResult, BoxApp, Conn};
///
/// struct Noop(BoxApp);
/// impl App for Noop {
///     async fn call(&self, conn: Conn<'_>) -> AppResult { self.0.call(conn).await }
/// }
///
/// rgi_conformance::check(|inner| rgi::boxed(Noop(inner))).run().await.assert_clean();
/// # }
/// ```
pub fn check<F>(layer: F) -> Check
where
    F: Fn(BoxApp) -> BoxApp + Send + Sync + 'static,
{
    Check {
        config: Config {
            layer: Arc::new(layer),
            declared: Declarations::default(),
            prepare: None,
            short_circuits: Vec::new(),
            refuses_websocket: Vec::new(),
            failing_startup: None,
            timeout: DEFAULT_SUITE_TIMEOUT,
        },
    }
}

/// A conformance check being set up; see [`check`].
pub struct Check {
    config: Config,
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Check")
            .field("declared", &self.config.declared)
            .field("short_circuits", &self.config.short_circuits.len())
            .field("refuses_websocket", &self.config.refuses_websocket.len())
            .field("timeout", &self.config.timeout)
            .finish_non_exhaustive()
    }
}

impl Check {
    /// Declares something the middleware legitimately changes.
    #[must_use]
    pub fn declare(mut self, declare: Declare) -> Self {
        self.config.declared.add(declare);
        self
    }

    /// Declares that the middleware turns an inner app's error before the
    /// response started into a response of its own (an error boundary).
    #[must_use]
    pub fn handles_errors(self) -> Self {
        self.declare(Declare::HandlesErrors)
    }

    /// Declares that the middleware changes the response status.
    #[must_use]
    pub fn changes_status(self) -> Self {
        self.declare(Declare::ChangesStatus)
    }

    /// Adjusts every request (and WebSocket handshake) of the forwarding
    /// scenarios, so that the middleware forwards it: add the credentials
    /// an auth middleware wants, the `origin` a CORS middleware looks at.
    /// Whatever this adds is part of what must reach the inner app.
    #[must_use]
    pub fn with_request(
        mut self,
        prepare: impl Fn(Request) -> Request + Send + Sync + 'static,
    ) -> Self {
        self.config.prepare = Some(Arc::new(prepare));
        self
    }

    /// Declares a request the middleware answers itself (missing
    /// credentials, a CORS preflight, over the rate limit). The suite sends
    /// it exactly as built, checks the answer is a complete valid response
    /// and that the inner app was not called (or, with
    /// [`Declare::CallsInnerThenDiscards`], that nothing of it leaked).
    #[must_use]
    pub fn short_circuits(mut self, example: impl Fn() -> Request + Send + Sync + 'static) -> Self {
        self.config.short_circuits.push(Arc::new(example));
        self
    }

    /// Declares a WebSocket handshake the middleware refuses itself. It
    /// must refuse per the spec: `Close` before `Accept` (a 403, rule
    /// `WS-004`) or a complete denial response (when the example's scope
    /// announces `websocket_denial`), without calling the inner app.
    #[must_use]
    pub fn refuses_websocket(
        mut self,
        example: impl Fn() -> Request + Send + Sync + 'static,
    ) -> Self {
        self.config.refuses_websocket.push(Arc::new(example));
        self
    }

    /// Gives a way to build the middleware so that its own startup fails
    /// (say, with an unreachable database), and a part of the message that
    /// failure must carry upstream (rule `LIFE-009`).
    #[must_use]
    pub fn fails_startup<F>(mut self, layer: F, message: &str) -> Self
    where
        F: Fn(BoxApp) -> BoxApp + Send + Sync + 'static,
    {
        self.config.failing_startup = Some((Arc::new(layer), message.to_owned()));
        self
    }

    /// Bounds every wait by `timeout` (default [`DEFAULT_SUITE_TIMEOUT`]).
    /// A check that fails by hanging takes about this long per hang.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = timeout;
        self
    }

    /// Runs every scenario (concurrently, on the current tokio runtime) and
    /// reports every rule checked.
    pub async fn run(self) -> Report {
        let config = &self.config;
        type Scenario<'c> = Pin<Box<dyn Future<Output = Vec<crate::report::Row>> + Send + 'c>>;
        let scenarios: Vec<Scenario<'_>> = vec![
            Box::pin(scenarios::forwards::exchange(config)),
            Box::pin(scenarios::forwards::extension_events(config)),
            Box::pin(scenarios::forwards::streaming_request(config)),
            Box::pin(scenarios::forwards::streaming_response(config)),
            Box::pin(scenarios::forwards::disconnect(config)),
            Box::pin(scenarios::forwards::send_error(config)),
            Box::pin(scenarios::forwards::bodiless(config)),
            Box::pin(scenarios::forwards::backpressure(config)),
            Box::pin(scenarios::varied::several_requests(config)),
            Box::pin(scenarios::varied::concurrent_requests(config)),
            Box::pin(scenarios::forwards::websocket(config)),
            Box::pin(scenarios::forwards::websocket_app_close(config)),
            Box::pin(scenarios::forwards::websocket_unsupported(config)),
            Box::pin(scenarios::forwards::receive_while_sending(config)),
            Box::pin(scenarios::short_circuits::http(config)),
            Box::pin(scenarios::short_circuits::websocket(config)),
            Box::pin(scenarios::lifespan::forwarded(config)),
            Box::pin(scenarios::lifespan::inner_fails(config)),
            Box::pin(scenarios::lifespan::inner_unsupported(config)),
            Box::pin(scenarios::lifespan::own_failure(config)),
            Box::pin(scenarios::lifespan::slow_answers(config)),
            Box::pin(scenarios::lifespan::failing_shutdown(config)),
            Box::pin(scenarios::lifespan::inner_returns_early(config)),
            Box::pin(scenarios::errors::before_start(config)),
            Box::pin(scenarios::errors::after_start(config)),
            Box::pin(scenarios::errors::panic(config)),
            Box::pin(scenarios::errors::cancel(config)),
            Box::pin(scenarios::errors::typed(config)),
            Box::pin(scenarios::errors::no_response(config)),
            Box::pin(scenarios::ordering::stack(config)),
        ];
        let rows = futures::future::join_all(scenarios).await;
        Report {
            rows: rows.into_iter().flatten().collect(),
        }
    }

    /// [`run`](Self::run) on a runtime of its own, for a plain `#[test]`.
    ///
    /// # Panics
    ///
    /// When called inside a tokio runtime (use `run().await` there), or if
    /// the runtime cannot be built.
    pub fn run_blocking(self) -> Report {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rgi-conformance: building a current-thread tokio runtime")
            .block_on(self.run())
    }
}
