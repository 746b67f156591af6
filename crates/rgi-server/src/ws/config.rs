//! The WebSocket settings ([`Config::websocket`](crate::Config::websocket)).

use std::time::Duration;

/// WebSocket settings: limits and timers. Start from the default and change
/// what you need:
///
/// ```
/// let mut config = rgi_server::Config::default();
/// config.websocket.max_message_bytes = 1024 * 1024;
/// config.websocket.deflate = false;
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WebSocketConfig {
    /// Largest message a client may send, in bytes, counted after
    /// permessage-deflate inflated it; a frame or message over it closes
    /// the connection with 1009, before more of it is buffered. It bounds
    /// the memory a connection's reading can take. It is also the frame
    /// limit, and there is no separate limit on fragments: they only add
    /// up to the message, and an empty fragment costs its sender a
    /// header per header the server reads (Autobahn's 9.x sends 65,536 of
    /// them). Default 16 MiB.
    pub max_message_bytes: usize,
    /// Offer permessage-deflate (RFC 7692) to clients that ask for it.
    /// Default `true`.
    pub deflate: bool,
    /// With permessage-deflate on, messages shorter than this many bytes
    /// are sent uncompressed (RFC 7692 lets the sender choose per
    /// message): deflating a short message costs the server and the client
    /// more CPU than the few bytes it saves (a 64-byte echo took twice the
    /// server's CPU with compression). Messages that deflate does not make
    /// smaller are sent uncompressed whatever their size. `0` compresses
    /// every message. Default 1024 bytes, the `threshold` of Node's `ws`.
    pub deflate_min_bytes: usize,
    /// When nothing was heard from the client for this long, the server
    /// sends a ping; when nothing is heard for another interval, the peer
    /// counts as dead: the connection is dropped and the app receives
    /// `Disconnect` with 1006. `None`: no pings. Default 20 s.
    pub ping_interval: Option<Duration>,
    /// How long the app may take to answer `Connect`; then the connection
    /// is closed without a response and the app receives `Disconnect`
    /// with 1006. Default 10 s.
    pub handshake_timeout: Duration,
    /// After the server sent a close frame, how long it waits for the
    /// client's before it closes the connection (the app then receives
    /// `Disconnect` with 1006, rule `WS-014`). Default 5 s.
    pub close_timeout: Duration,
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 16 * 1024 * 1024,
            deflate: true,
            deflate_min_bytes: 1024,
            ping_interval: Some(Duration::from_secs(20)),
            handshake_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
        }
    }
}
