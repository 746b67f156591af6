//! WebSocket (RFC 6455, RFC 7692; spec: `spec/websocket.md`).
//!
//! `codec/` is the protocol as bytes in, events out, with no socket and no
//! server state, for any server to reuse; `conn.rs` serves one connection
//! with it over a `Link`: `raw.rs` is this server's (its own socket, the
//! handshake written as raw HTTP), `upgraded.rs` is for a server that
//! answers the handshake as an `http::Response` and hands over the
//! upgraded connection after it (rgi-hyper); `config.rs` holds the
//! settings.

pub(crate) mod codec;
mod config;
mod conn;
mod raw;
pub(crate) mod upgraded;

pub use config::WebSocketConfig;
pub(crate) use raw::{serve, Ending};
