//! # rgi-hyper: rgi apps on hyper
//!
//! The second rgi server. It serves any [`rgi::App`] on hyper 1.x with
//! hyper-util's automatic connection builder: HTTP/1.1, HTTP/2 with prior
//! knowledge (h2c) on the same port, and, with the `tls` feature, HTTPS
//! with ALPN `h2` and `http/1.1` (rustls).
//!
//! ```no_run
//! use rgi::{App, AppResult, Conn};
//!
//! struct Hello;
//!
//! impl App for Hello {
//!     async fn call(&self, conn: Conn<'_>) -> AppResult {
//!         let Conn::Http(mut http) = conn else { return conn.unsupported() };
//!         http.respond(http::StatusCode::OK, http::HeaderMap::new(), "Hello, world!").await?;
//!         Ok(())
//!     }
//! }
//!
//! # async fn run() -> Result<(), rgi_server::ServeError> {
//! rgi_hyper::Server::bind("127.0.0.1:8000").await?.serve(Hello).await
//! # }
//! ```
//!
//! ## What it shares, and with whom
//!
//! Each piece exists once:
//!
//! * the request ↔ event bridge is `rgi-tower`'s [`RgiService`]
//!   (one service per connection, given the connection's addresses, scheme,
//!   TLS and lifespan state as a [`Transport`]): the request body is pulled
//!   from hyper as the app receives, and each response event becomes one
//!   body frame when hyper asks for it, so at most one body event (and the
//!   `Start`) is buffered between the app and the client, and a client
//!   that stops reading stalls the app's `send` (rule `CORE-020`);
//! * the lifespan driver, the shutdown signal, the [`rgi_server::Config`]
//!   and the file sender are the reference server's
//!   ([`rgi_server::shared`]);
//! * so is WebSocket, all but hyper's part: the checks, the app-driven
//!   handshake and the frame loop are
//!   [`WebSocketUpgrade`](rgi_server::shared::WebSocketUpgrade)'s (below).
//!
//! ## The scope
//!
//! `http_version` is `1.0`, `1.1` or `2`; on HTTP/2 the `:authority`
//! becomes the `host` header when the request has none (rule `HTTP-008`).
//! HTTP/1 heads go through rgi-server's own target and Host rules
//! ([`check_target_and_host`](rgi_server::shared::check_target_and_host))
//! before the app, which hyper's parser does not apply: no `Host` on
//! HTTP/1.1, more than one, or an invalid one, a `*` target without
//! `OPTIONS`, an authority-form target without `CONNECT` are answered
//! `400`, and `CONNECT` (also over HTTP/2, unless it is a WebSocket's)
//! `501`, with an empty body and, on HTTP/1, `connection: close`; an
//! HTTP/1.0 request without `Host` gets an empty `host`, and an
//! absolute-form target's authority is the `host` (rule `HTTP-033`).
//! Capabilities: `trailers` on HTTP/2 and on HTTP/1.1 with `TE: trailers`;
//! `send_file` always (the file's range is streamed in chunks of at most
//! 64 KiB, one chunk per body frame); `early_hints` never (hyper's server
//! has no way to send a `103`); `websocket_denial` on every WebSocket
//! scope.
//!
//! ## WebSocket
//!
//! An HTTP/1.1 request with `Upgrade: websocket`, or an HTTP/2 `CONNECT`
//! with `:protocol websocket` (RFC 8441; the server announces
//! `SETTINGS_ENABLE_CONNECT_PROTOCOL`), becomes one `Conn::WebSocket`
//! call, served as rgi-server serves it (its crate docs list the rules):
//! requests it cannot serve are `426` (with `sec-websocket-version: 13`)
//! or `400` before the app is called; the app answers `Connect`, and only
//! its `Accept` sends the `101` (with `Sec-WebSocket-Accept`) or, over
//! HTTP/2, the `200` (no accept key), with the chosen subprotocol, the
//! permessage-deflate answer and the app's headers; `Close` first is
//! `403`; a `DenyStart`/`DenyBody` response is sent as the app streams it.
//! Then the frames, pings, the closing handshake and backpressure both
//! ways run in rgi-server's frame loop over hyper's upgraded connection,
//! in a task of its own. Over HTTP/2 the scope's method is `GET`, as for
//! HTTP/1.1 (`http_version` is `2`). Graceful shutdown closes every open
//! WebSocket with 1001 at once and waits for them within the drain
//! timeout.
//!
//! ## Shutdown
//!
//! On Ctrl-C or SIGTERM (or the future given to
//! [`Server::serve_with_shutdown`]) the server stops accepting, asks every
//! connection to finish (HTTP/1.1 connections close once idle, HTTP/2 ones
//! get `GOAWAY`), waits up to [`rgi_server::Config::drain_timeout`], then
//! runs lifespan shutdown.
//!
//! [`RgiService`]: rgi_tower::RgiService
//! [`Transport`]: rgi_tower::Transport
#![forbid(unsafe_code)]

mod access;
pub mod cli;
mod conn;
mod files;
mod server;
#[cfg(feature = "tls")]
mod tls;
mod ws;

pub use server::Server;
#[cfg(feature = "tls")]
pub use tls::{TlsConfig, TlsError};
