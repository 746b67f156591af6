//! # rgi-blocking: WSGI's half of rgi
//!
//! A handler written as a plain blocking function, served as an
//! [`rgi::App`] behind any rgi middleware on any rgi server, the way
//! asgiref's `WsgiToAsgi` serves a WSGI app to an ASGI server:
//!
//! ```no_run
//! use std::io::Write;
//! use http::{HeaderMap, StatusCode};
//! use rgi_blocking::{Blocking, PoolConfig, Pool, Request, Response};
//!
//! fn report(request: Request, response: &mut Response) -> std::io::Result<()> {
//!     std::thread::sleep(std::time::Duration::from_millis(100)); // a blocking query
//!     response.start(StatusCode::OK, HeaderMap::new())?;
//!     writeln!(response, "you asked for {}", request.scope.path)?;
//!     Ok(())
//! }
//!
//! # async fn serve() -> Result<(), Box<dyn std::error::Error>> {
//! let app = Blocking::with_pool(report, Pool::new(PoolConfig::with_size(64)));
//! rgi_server::Server::bind("127.0.0.1:8080").await?.serve(app).await?;
//! # Ok(()) }
//! ```
//!
//! * [`Handler`]: any `Fn(Request, &mut Response) -> Result<(), E>`.
//! * [`Request`]: the scope (owned) and the [`Body`], a `std::io::Read`
//!   that pulls one `receive` event per empty buffer: a 100 MiB upload is
//!   never held whole.
//! * [`Response`]: `start`, then body chunks as `std::io::Write` (at most
//!   one chunk between the thread and the connection), then trailers.
//! * [`Blocking`]: the adapter; [`Pool`] / [`PoolConfig`] / [`PoolStats`]:
//!   the bounded threads it runs handlers on.
//!
//! ## How a call runs
//!
//! The call's future waits up to [`PoolConfig::wait`] for one of the
//! pool's `size` threads (past that: `503` with `retry-after`), hands the
//! handler to it, then relays: the thread asks for one operation at a time
//! (receive the next body event, send one response event) through a
//! one-slot handoff. A receive blocks until the event is there; a send is
//! handed over and the thread goes on, blocking at its next operation
//! until the connection has taken the previous one. Nothing is queued
//! beyond that one slot, so backpressure holds both ways.
//!
//! Faults: a client that leaves makes the next `write` fail with
//! `BrokenPipe` and the next `read` with `ConnectionAborted`; a cancelled
//! call (its future dropped) does the same, so the thread is never left
//! blocked. A panic or `Err` before the start becomes the server's `500`,
//! after the start an aborted response (rules `CORE-040`, `CORE-041`); a
//! handler that returns without starting gets `500` (`CORE-042`).
//!
//! ## Why a pool of its own, not `spawn_blocking`
//!
//! Measured (`cargo bench -p rgi-blocking --bench hop`; BENCHMARKS.md,
//! "Blocking handlers"): one call hopped to a warm thread of this pool and
//! back costs the same as tokio's `spawn_blocking` behind a semaphore
//! within the noise (36.5 µs against 33.4 µs on a loaded machine; 21
//! against 41 in another run), and 64 calls at once finished in half the
//! time (0.75 ms against 1.54 ms). The rest is what the numbers do not
//! show: tokio's blocking pool is shared with `tokio::fs` and every other
//! `spawn_blocking` in the process (the server's file sends among them), so
//! a saturated handler pool would delay them, and its size is one
//! runtime-wide setting; here each adapter (or group of adapters) has a
//! bounded pool with exact busy and idle counts ([`Pool::stats`]), and
//! threads that stay warm instead of ending after tokio's 10 s keep-alive.
//!
//! ## What it costs
//!
//! Server CPU per request against the same route written async, on the
//! reference server: 1.8 times for plaintext (about 7 µs more), 2.9 times
//! for a 4 KiB echo. Keep routes that only answer async; use this for code
//! that blocks.
#![forbid(unsafe_code)]

mod app;
mod handoff;
mod pool;
mod request;
mod response;

pub use app::{Blocking, Handler, HandlerError};
pub use pool::{Pool, PoolConfig, PoolStats, RunError};
pub use request::{Body, Request};
pub use response::{Buffered, Response};
