//! Server settings: limits, timeouts, lifespan mode, identity.

use std::time::Duration;

use http::HeaderValue;

use crate::ws::WebSocketConfig;

/// Whether the server runs the app's lifespan scope (spec: `spec/lifespan.md`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum LifespanMode {
    /// Run it; an app that answers `Error::Unsupported` is served without
    /// lifespan, with a log line (LIFE-007). One that returns `Ok` without
    /// answering startup is a startup failure (LIFE-015).
    #[default]
    Auto,
    /// Run it and require it: an app without lifespan support makes `serve`
    /// fail with [`ServeError::StartupFailed`](crate::ServeError::StartupFailed).
    On,
    /// Never call the app with a lifespan scope.
    Off,
}

/// Every setting of the server. Start from [`Config::default`] and change
/// the fields you need:
///
/// ```
/// let mut config = rgi_server::Config::default();
/// config.keep_alive_timeout = std::time::Duration::from_secs(2);
/// config.max_body_bytes = None; // no server-side body limit
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Largest request head (request line and header section) the server
    /// reads, in bytes. Over it: `431 Request Header Fields Too Large`
    /// (`414 URI Too Long` when the request line alone is over
    /// [`max_target_bytes`](Self::max_target_bytes)). Default 16 KiB.
    pub max_head_bytes: usize,
    /// Longest request target (the URI in the request line), in bytes. Over
    /// it: `414 URI Too Long`. Default 8 KiB.
    pub max_target_bytes: usize,
    /// Most header fields in one request. Over it: `431`. Default 100.
    pub max_headers: usize,
    /// Largest request body, in bytes, or `None` for no limit. A declared
    /// `Content-Length` over it is answered `413 Content Too Large` before
    /// the app is called; a chunked body that grows past it ends the app's
    /// body with `Disconnect` and is answered `413` (if the response has not
    /// started) on a closed connection. Default 16 MiB.
    pub max_body_bytes: Option<u64>,
    /// How long a client may take to send a request head, counted from the
    /// connection's start (first request) or from the head's first byte
    /// (later requests). When it passes: `408 Request Timeout` if part of a
    /// head arrived, a silent close if nothing did. Default 10 s.
    pub head_timeout: Duration,
    /// How long output may wait for the client to read: when the
    /// connection has bytes to write and none could be written for this
    /// long, the connection is aborted, the app's pending or next `send`
    /// fails with `Error::Disconnected` and its receive returns
    /// `Disconnect`. Covers every write: streamed bodies blocked on a
    /// client that stopped reading, responses held for pipelining, error
    /// answers before a close. Default 30 s.
    pub write_timeout: Duration,
    /// How long an idle keep-alive connection is kept open waiting for the
    /// next request. Default 5 s.
    pub keep_alive_timeout: Duration,
    /// At graceful shutdown, how long in-flight requests may take to finish
    /// before their connections are dropped (and their app futures with
    /// them); also bounds the lifespan shutdown. Default 30 s.
    pub drain_timeout: Duration,
    /// How long an app is still polled after its client is gone (so it
    /// can see `Disconnect` and clean up) before its future is dropped
    /// (rule CORE-032). Default 5 s.
    pub disconnect_grace: Duration,
    /// Whether to run the lifespan scope. Default [`LifespanMode::Auto`].
    pub lifespan: LifespanMode,
    /// The `server` header added to responses that have none, or `None` to
    /// add none. Default `rgi`.
    pub server_header: Option<HeaderValue>,
    /// Set `TCP_NODELAY` on accepted connections. Default `true`.
    pub nodelay: bool,
    /// Response bytes buffered per connection before a `send` waits for
    /// the client to read: the bound on write-side memory. Default 64 KiB.
    pub write_buffer_bytes: usize,
    /// Most request-body bytes read from the socket at once: the bound on
    /// read-side memory and the largest `Body` chunk the app receives.
    /// Default 64 KiB.
    pub read_chunk_bytes: usize,
    /// WebSocket limits and timers.
    pub websocket: WebSocketConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_head_bytes: 16 * 1024,
            max_target_bytes: 8 * 1024,
            max_headers: 100,
            max_body_bytes: Some(16 * 1024 * 1024),
            head_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            keep_alive_timeout: Duration::from_secs(5),
            drain_timeout: Duration::from_secs(30),
            disconnect_grace: Duration::from_secs(5),
            lifespan: LifespanMode::Auto,
            server_header: Some(HeaderValue::from_static("rgi")),
            nodelay: true,
            write_buffer_bytes: 64 * 1024,
            read_chunk_bytes: 64 * 1024,
            websocket: WebSocketConfig::default(),
        }
    }
}
