//! # rgi: the Rust Gateway Interface
//!
//! One small contract between HTTP servers and the apps and middleware they
//! run, the way WSGI and ASGI are for Python. A middleware written once
//! against this crate runs on every server that speaks rgi.
//!
//! The normative text is the specification in `spec/` (version
//! [`SPEC_VERSION`]); this crate is its Rust form. It has no runtime
//! dependency and does no I/O.
//!
//! * [`App`]: called once per connection-scope with a [`Conn`]; an
//!   `async fn` in every impl, so a stack composed by type is one future.
//! * [`Conn`]: a scope ([`HttpScope`], [`WebSocketScope`], [`LifespanScope`]),
//!   lent to the call, paired with a typed [`Receiver`] and [`Sender`].
//! * Events: [`HttpReceive`] / [`HttpSend`], [`WebSocketReceive`] /
//!   [`WebSocketSend`], [`LifespanReceive`] / [`LifespanSend`].
//! * [`Error`]: the protocol's typed errors.
//! * [`Stack`] / [`BoxApp`] / [`DynApp`]: stacks built at run time (one box
//!   per type-erased layer).
//!
//! The seed middleware patterns, as compiled examples, are in [`patterns`].
#![forbid(unsafe_code)]

mod app;
mod channel;
mod conn;
mod error;
mod event;
pub mod patterns;
mod scope;
mod state;

pub use app::{boxed, App, BoxApp, BoxFuture, DynApp, Layer, Stack};
pub use channel::{
    Flush, InspectSend, MapReceive, MapSend, Prepend, Receiver, ReceiverExt, Recv, SendEvent,
    Sender, SenderExt,
};
pub use conn::{Conn, HttpConn, LifespanConn, Respond, WebSocketConn};
pub use error::{AppResult, BoxError, Error, ScopeKind};
pub use event::{
    Accept, CloseFrame, FileBody, HttpReceive, HttpSend, LifespanReceive, LifespanSend, Message,
    ResponseStart, WebSocketReceive, WebSocketSend,
};
pub use scope::{
    decode_path, decode_path_into, Capabilities, HttpScope, LifespanScope, TlsInfo, WebSocketScope,
};
pub use state::{State, StateBuilder};

/// Re-exported vocabulary: the `http` and `bytes` crates at the versions
/// rgi uses.
pub use bytes;
pub use http;

/// Compiles the README's examples as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

/// The version of the specification this crate implements.
pub const SPEC_VERSION: &str = "2.1";

// The Rust snippets of the specification compile and run as doc tests, so the
// spec cannot drift from the crate. Only built by `cargo test --doc`.
#[cfg(doctest)]
mod spec {
    #[doc = include_str!("../../../spec/README.md")]
    mod readme {}
    #[doc = include_str!("../../../spec/http.md")]
    mod http {}
    #[doc = include_str!("../../../spec/websocket.md")]
    mod websocket {}
    #[doc = include_str!("../../../spec/lifespan.md")]
    mod lifespan {}
    #[doc = include_str!("../../../spec/extensions.md")]
    mod extensions {}
    #[doc = include_str!("../../../spec/asgi.md")]
    mod asgi {}
}
