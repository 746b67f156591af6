//! WebSocket (RFC 6455, RFC 7692; spec: `spec/websocket.md`).
//!
//! `codec/` is the protocol as bytes in, events out, with no socket and no
//! server state, for any server to reuse; `conn.rs` serves one upgraded
//! connection of this server with it; `config.rs` holds the settings.

pub(crate) mod codec;
mod config;
mod conn;

pub use config::WebSocketConfig;
pub(crate) use conn::{serve, Ending};
