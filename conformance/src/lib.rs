//! # rgi-conformance
//!
//! The conformance kit for rgi:
//!
//! * the middleware suite: [`check`] a middleware, get a [`Report`] listing
//!   every rule of `spec/rules.md` it was checked against, pass or fail
//!   with a readable reason;
//! * the [`Validator`], the Rack::Lint of rgi: an [`rgi::App`] wrapper that
//!   checks every event in both directions;
//! * the in-process [`TestClient`]: HTTP, WebSocket and lifespan, with
//!   bounded queues and a timeout on every wait.
//!
//! Checking a middleware is one line in a `#[tokio::test]` (or
//! `.run_blocking()` in a plain `#[test]`):
//!
//! ```
//! # use rgi::{App, AppResult, BoxApp, Conn};
//! # struct MyMiddleware(BoxApp);
//! # impl MyMiddleware { fn new(inner: BoxApp) -> Self { Self(inner) } }
//! # impl App for MyMiddleware {
//! #     async fn call(&self, conn: Conn<'_>) -> AppResult { self.0.call(conn).await }
//! # }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! rgi_conformance::check(|inner| rgi::boxed(MyMiddleware::new(inner))).run().await.assert_clean();
//! # }
//! ```
//!
//! Declare what it legitimately changes with [`Check::declare`] and
//! [`Declare`]; see the README for every scenario and rule.
#![forbid(unsafe_code)]

pub mod client;

pub use client::{
    AppExit, ClientError, DisconnectAt, Handshake, HttpExchange, Lifespan, LifespanTranscript,
    Request, Response, ShutdownOutcome, StartupOutcome, TestClient, Trace, TraceEntry,
    WebSocketSession, WebSocketTranscript,
};
pub mod validator;

pub use validator::{Side, Validator, Violation, ViolationLog};
pub mod declare;
pub mod report;
pub mod suite;

pub use declare::{Declare, ScopeField};
pub use report::{Outcome, Report, Row};
pub use suite::{check, Check};
