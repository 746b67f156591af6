//! # rgi-server: the reference rgi server
//!
//! HTTP/1.1 over TCP on tokio (RFC 9112), parsing with httparse and framing
//! responses itself, and WebSocket (RFC 6455) with permessage-deflate
//! (RFC 7692); it runs any [`rgi::App`], with lifespan and graceful
//! shutdown.
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
//! rgi_server::Server::bind("127.0.0.1:8000").await?.serve(Hello).await
//! # }
//! ```
//!
//! ## Protocol
//!
//! * `HTTP/1.x` with x > 1 is served as HTTP/1.1 (RFC 9112 §2.3).
//! * Header values reach the app as the bytes received, obs-text
//!   (0x80-0xFF) included.
//! * Keep-alive, HTTP/1.0 (close unless `Connection: keep-alive`),
//!   pipelining (responses in order; responses to requests already
//!   buffered are written together).
//! * Request bodies by `Content-Length` or chunked (extensions and trailers
//!   accepted and dropped), streamed to the app in pieces of at most
//!   [`Config::read_chunk_bytes`], read only when the app asks.
//! * Responses framed by the server: the app's `content-length` (a body
//!   that goes past it is refused with `HTTP-024`; one that ends short
//!   aborts the connection); otherwise a body sent whole in its first
//!   event gets a `content-length`, a streamed one is chunked on HTTP/1.1
//!   and close-delimited on HTTP/1.0. HEAD, 204 and 304 get no body: a
//!   `Body` with bytes or a `File` for them is refused with `HTTP-025`.
//!   The head waits for the first body event (an empty `more: true` body
//!   flushes it).
//! * `Expect: 100-continue` is answered when the app first polls receive,
//!   and never once the response started.
//! * `date` (rendered at most once a second) and `server` are added unless
//!   the app set them; a `Start` with a connection-specific field
//!   (`connection`, `keep-alive`, `transfer-encoding`, `upgrade`,
//!   `proxy-connection`, `te`) is refused with `HTTP-023`, leaving the
//!   response unstarted; `connection: close` alone is the exception: it
//!   closes the connection after the response (`HTTP-036`).
//! * A request with an absolute-form target (`GET http://a/p`) has its
//!   `host` header set to the target's authority (`HTTP-033`); an HTTP/1.0
//!   request without `Host` gets an empty `host`.
//! * Response trailers are sent when the request had `TE: trailers`
//!   (capability `trailers`); `103 Early Hints` on HTTP/1.1 (capability
//!   `early_hints`). WebSocket upgrade requests are served as WebSocket
//!   (below); other upgrades (`h2c`) are ignored and served as HTTP.
//! * `HttpSend::File` (capability `send_file`, always on): the server opens
//!   the file with `tokio::fs`, checks the range, seeks to its start and
//!   reads it in chunks of at most 64 KiB, each framed like `Body` bytes
//!   (counted towards `content-length`; a `File` that is the whole body
//!   gets a `content-length` of its length) and written within
//!   [`Config::write_buffer_bytes`]: `send` completes once the whole range
//!   is read and taken into that bounded write path. A relative path or a
//!   range with `start > end` is refused by `start_send` (`EXT-022`); a
//!   file that cannot be opened or read, a range past its end, or a file
//!   that shrank fail the `send` (`EXT-021`) and the response is aborted.
//!
//! ## WebSocket
//!
//! A request with `Upgrade: websocket` becomes one `Conn::WebSocket` call
//! (spec: `spec/websocket.md`):
//!
//! * The handshake is the app's: `Connect` is delivered and the `101`
//!   (with `Sec-WebSocket-Accept`, the app's subprotocol and headers, and
//!   the negotiated extension) is written only on its `Accept`. `Close`
//!   before `Accept`, or returning `Error::Unsupported`, is `403` without a
//!   body; returning anything else unanswered is `500`; a `DenyStart` /
//!   `DenyBody` response (capability `websocket_denial`, always on) goes
//!   out as it is, with `connection: close`. An app that does not answer
//!   within [`WebSocketConfig::handshake_timeout`] has the connection
//!   closed.
//! * Upgrade requests the server cannot serve never reach the app: a
//!   `Sec-WebSocket-Version` other than 13 is `426` with
//!   `Sec-WebSocket-Version: 13`; a missing or malformed key, a method
//!   other than `GET`, HTTP/1.0, no `Connection: upgrade` or a body is
//!   `400` (`WS-015`).
//! * Frames are the server's: unmasking, reassembly (control frames may
//!   come between fragments), pings answered, text checked as UTF-8 per
//!   fragment (`1007` as soon as a fragment holds an invalid sequence),
//!   `1002` for every framing error (unmasked frame, reserved bits or
//!   opcodes, a fragmented or oversized control frame, a 64-bit length
//!   with its top bit set, a bad close code), `1009` for a message over
//!   [`WebSocketConfig::max_message_bytes`] (decided from the frame
//!   header, before its payload is buffered). The app sees whole messages
//!   and `Disconnect` with the code.
//! * permessage-deflate is negotiated unless [`WebSocketConfig::deflate`]
//!   is off: `server_no_context_takeover`, `client_no_context_takeover`,
//!   `server_max_window_bits` (9 to 15 compress with that window; 8, which
//!   zlib cannot compress with, is honoured by sending uncompressed) and
//!   `client_max_window_bits` (any). Offers with unknown, repeated or bad
//!   parameters are declined. Inflating stops at the message limit: a
//!   decompression bomb costs at most that much memory and ends with 1009.
//!   Outgoing messages are compressed whole, one frame each.
//! * Closing: the client's close is echoed with its code and the
//!   connection closed (the app gets the code, 1005 for none); after the
//!   app's `Close` the server waits [`WebSocketConfig::close_timeout`] for
//!   the client's, then reports 1006. An app that returns while open gets
//!   a close with 1000 (`Ok`) or 1011 (error). A lost connection is 1006.
//!   Sends after the close fail with `Error::Disconnected`.
//! * An idle connection (nothing heard for
//!   [`WebSocketConfig::ping_interval`]) gets a ping; one that stays
//!   silent for another interval is dropped (1006).
//! * Backpressure: one message is read ahead of the app's `receive`; a
//!   `send` waits while more than [`Config::write_buffer_bytes`] are
//!   unwritten, and [`Config::write_timeout`] drops a client that reads
//!   nothing.
//! * Graceful shutdown sends 1001 to every open WebSocket, and the app
//!   receives `Disconnect` with 1001.
//!
//! ## Bad input
//!
//! Answered with a status and `connection: close`, never passed to the app:
//!
//! | input | status |
//! | --- | --- |
//! | malformed request line, malformed version | 400 |
//! | a version other than HTTP/1 (`HTTP/2.0`, `HTTP/0.9`, the HTTP/2 preface) | **505** |
//! | `CONNECT` (no tunnels here) | **501** |
//! | authority-form target without `CONNECT`, asterisk-form without `OPTIONS`, userinfo or a bad authority in an absolute-form target | 400 |
//! | HTTP/1.1 without `Host`, several `Host` | 400 |
//! | both `Content-Length` and `Transfer-Encoding` | 400 |
//! | malformed or differing `Content-Length` (`+5`, `5,5`, `-1`, overflow) | 400 |
//! | `Transfer-Encoding` naming a coding other than `chunked` | **501** |
//! | `Transfer-Encoding` where `chunked` is repeated or not last, or on HTTP/1.0 | 400 |
//! | obs-fold, invalid header name, CR/LF/NUL in a value | 400 |
//! | path not UTF-8 once percent-decoded | 400 |
//! | head over [`Config::max_head_bytes`], more than [`Config::max_headers`] fields | 431 |
//! | request target over [`Config::max_target_bytes`] | 414 |
//! | bad chunk size or framing | 400 |
//! | body over [`Config::max_body_bytes`] | 413 |
//! | head not complete within [`Config::head_timeout`] | 408 (silent close if nothing arrived) |
//!
//! On unknown transfer codings: RFC 9112 §6.1 asks for 501 ("SHOULD") for a
//! coding the server does not understand, and for 400 ("MUST") when
//! `chunked` is not the final coding. We answer 501 whenever a coding other
//! than `chunked` appears (`gzip`, `gzip, chunked`), because it names the
//! actual problem, and 400 for lists that are malformed whatever the server
//! supports (`chunked, gzip`, `chunked, chunked`). Either way the body is
//! never read and the connection closes, so framing cannot be smuggled.
//!
//! A body error found while the app reads the body (bad chunk, over the
//! limit) ends the app's body with `Disconnect`; the server answers the
//! status if the response has not started and closes.
//!
//! ## App failures
//!
//! An app that fails or panics before `Start` gets a `500` (logged with
//! `tracing::error!`); after `Start`, the connection is closed without
//! completing the framing (no final chunk; a reset for close-delimited
//! bodies) so the truncated body cannot pass as whole. An app that returns
//! `Ok` without a response gets a `500`. Other connections are unaffected.
//!
//! ## Disconnects
//!
//! `Disconnect` is delivered once the body was read and the client closes
//! its side (or a write fails), or the response is complete, or graceful
//! shutdown begins (`HTTP-035`: then a response not yet started is answered
//! `503` by the server, one started is aborted, and the connection
//! closes); after it, `send` fails with `Error::Disconnected`.
//!
//! ## Timeouts
//!
//! * [`Config::head_timeout`]: a request head must arrive in time (`408`,
//!   or a silent close when nothing arrived).
//! * [`Config::keep_alive_timeout`]: an idle keep-alive connection closes.
//! * [`Config::write_timeout`]: when output is waiting and no byte could be
//!   written for this long (a client that stopped reading), the connection
//!   is aborted with a reset; the app's pending or next `send` fails with
//!   `Error::Disconnected` and its receive returns `Disconnect`. It covers
//!   every write, error answers and pipelined responses included. It
//!   costs nothing while writes complete: the timer is armed only when a
//!   write would block.
//! * [`Config::disconnect_grace`]: once the client is gone, how long the
//!   app is still polled (to see `Disconnect` and clean up) before its
//!   future is dropped (`CORE-032`).
//! * [`Config::drain_timeout`]: how long graceful shutdown waits.
//!
//! ## Logs
//!
//! `tracing` events for the server's own messages, among them the startup
//! line `rgi listening on http://ADDR` (target `rgi_server`). The access
//! log ([`Config::access_log`], an [`AccessLog`]) is not a tracing event:
//! one line per request (common, combined or JSON) queued to a writer
//! thread without waiting, so it costs the request a few clones and no
//! formatting or I/O.
//!
//! ## Performance notes
//!
//! One task per connection; the app's future is polled inside it, and its
//! receiver and sender read and write the connection's buffers directly
//! (no channel, no task per request). Heads are parsed in place and never
//! copied; small responses leave in one write with their head; large
//! bodies are written with `writev` without copying.
#![forbid(unsafe_code)]

mod access_log;
#[doc(hidden)]
pub mod bench_support;
pub mod cli;
mod config;
mod conn;
mod ctx;
mod date;
mod error;
#[doc(hidden)]
pub mod fuzz_support;
mod head_rules;
mod lifecycle;
mod lifespan;
mod limit;
pub mod listen;
pub mod proxy;
mod server;
mod shutdown;
mod wire;
mod ws;

pub use access_log::{AccessLog, AccessLogFormat, PendingEntry};
/// What every rgi server needs and none should copy: the lifespan driver,
/// the shutdown signal and the file sender. `rgi-hyper` serves apps with
/// these very pieces, so both servers start, stop and send files alike.
/// For WebSocket, a server that answers the handshake itself gets the
/// checks, the app's call and the frame loop of this server's own
/// WebSockets from [`WebSocketUpgrade`](shared::WebSocketUpgrade), and
/// tells its sessions about graceful shutdown with
/// [`Shutdown`](shared::Shutdown). A server whose HTTP/1 parser is more
/// lenient than RFC 9112 §3.2 (hyper's) refuses the request targets and
/// `Host` fields this one refuses, and settles `host` alike, with
/// [`check_target_and_host`](shared::check_target_and_host).
pub mod shared {
    pub use crate::conn::file::FileSend;
    pub use crate::head_rules::{check_no_tunnel, check_target_and_host, count_hosts, HeadError};
    pub use crate::lifecycle::Lifecycle;
    pub use crate::lifespan::{startup as start_lifespan, Lifespan};
    pub use crate::server::shutdown_signal;
    pub use crate::shutdown::{ConnWatch, Shutdown};
    pub use crate::ws::upgraded::{
        HandshakeBody, HandshakeResponse, Served, Session, WebSocketUpgrade,
    };
}
pub use config::{Config, LifespanMode};
pub use error::ServeError;
pub use server::Server;
pub use ws::WebSocketConfig;
