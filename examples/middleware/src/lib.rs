//! # The rgi middleware catalogue
//!
//! The middleware of the Python seeds (`shared/seeds/`), ported to rgi: one
//! module per middleware, each short enough to read in one sitting and
//! correct for streaming. They are examples to copy, not a framework: each
//! takes its inner app by value (`Layer<A>(A)`) or as a [`BoxApp`](rgi::BoxApp)
//! and passes every scope kind it does not handle through unchanged.
//!
//! | module | what it shows | seed |
//! | --- | --- | --- |
//! | [`access_log`] | wrap `send`, read the status and count bytes | 002 timing, 000 request/response capture |
//! | [`request_id`] | change the scope, add a response header, pass a value down | 002 request id, 003 correlation id |
//! | [`bearer_auth`] | short-circuit with 401 and a JSON body | 002 bearer auth, 000 JWT auth |
//! | [`jwt_auth`] | verify HS256/RS256 JWTs, claims as a typed extension | 000 JWT auth |
//! | [`rate_limit`] | per-client token bucket, 429 with `retry-after` | 000 rate limiting |
//! | [`security_headers`] | add response headers the app did not set | 003 security headers |
//! | [`cors`] | answer preflight, mark cross-origin responses | tower-http CORS |
//! | [`timeout`] | a deadline per response: 503/408, or abort after the start | tower-http timeout |
//! | [`body_limit`] | 413 by length, or while streaming without buffering | tower-http body limit |
//! | [`static_files`] | files under a root: send_file, 304, 206/416, no escapes | Starlette static files |
//! | [`error_boundary`] | turn an inner failure into a 500, or abort | 003 error boundary |
//! | [`except`] | apply a middleware except on some paths | 003 conditional middleware |
//! | [`gzip`] | rewrite a streamed body chunk by chunk | 002 GZip |
//! | [`session`] | cookie session over a bounded in-memory store | 000 session |
//! | [`signed_session`] | the session in an HMAC-signed cookie, key rotation | 000 session, Starlette |
//! | [`event_bus`] | publish events to bounded, isolated async subscribers | 000 event bus |
//! | [`address_check`] | 403 unless the client is in an allow-list of addresses and CIDRs | 004 WSGI onion |
//! | [`hooks`] | named hooks at request start, before the response (may edit it), at the end | 000 plugin manager |
//! | [`transform`] | capitalise and reverse text bodies chunk by chunk | 001 capitalise, reverser |
//! | [`scope_logger`] | log every scope field at debug, change nothing | 001 log environ |
//! | [`database`] | open a real SQLite pool at startup, share it through lifespan state, close it at shutdown | 002 database lifespan |
//! | [`router`] | mount apps under prefixes; lifespan fans out to all of them | 000 MVC controller, spec `lifespan.md` |
//! | [`refuse`] | refuse a WebSocket handshake: a denial response where the server carries one, else `Close` (403) | spec `websocket.md` |
#![forbid(unsafe_code)]

pub mod access_log;
pub mod address_check;
pub mod bearer_auth;
pub mod body_limit;
pub mod cors;
pub mod database;
pub mod error_boundary;
pub mod event_bus;
pub mod except;
pub mod gzip;
pub mod hooks;
pub mod jwt_auth;
mod lifespan_resource;
pub mod rate_limit;
pub mod refuse;
mod reject;
pub mod request_id;
pub mod router;
pub mod scope_logger;
pub mod security_headers;
pub mod session;
pub mod signed_session;
pub mod static_files;
pub mod timeout;
pub mod transform;
mod watch;

pub use access_log::AccessLog;
pub use address_check::{AddressCheck, IpRange};
pub use bearer_auth::BearerAuth;
pub use body_limit::BodyLimit;
pub use cors::Cors;
pub use database::{Database, DbError, Pool};
pub use error_boundary::ErrorBoundary;
pub use event_bus::{Event, EventBus, Published, Publisher, SubscriberStats};
pub use except::{except, Except, Prefixes};
pub use gzip::Gzip;
pub use hooks::{Hooks, Outcome, Plugin, RequestInfo, WithHooks};
pub use jwt_auth::{JwtAuth, JwtKey};
pub use rate_limit::{Limiter, RateLimit};
pub use refuse::refuse_handshake;
pub use request_id::{RequestId, SetRequestId};
pub use router::Router;
pub use scope_logger::ScopeLogger;
pub use security_headers::SecurityHeaders;
pub use session::{CookieSettings, SameSite, Session, SessionLayer};
pub use signed_session::SignedCookieSession;
pub use static_files::StaticFiles;
pub use timeout::{TimedOut, Timeout};
pub use transform::BodyMap;

#[cfg(test)]
mod testing;
