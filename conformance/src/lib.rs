//! # rgi-conformance
//!
//! The conformance kit for rgi: an in-process [`TestClient`], a protocol
//! [`Validator`] (the Rack::Lint of rgi), and the middleware suite.
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
