//! # users-api
//!
//! The seeds' MVC users API (seed 000's `Controller`, `Model`, `View` over
//! a database pool) as an rgi app on a real SQLite file:
//!
//! | request | answer |
//! | --- | --- |
//! | `GET /users?limit=20&offset=0` | `200 {"users": [...], "total", "limit", "offset"}` |
//! | `GET /users/{id}` | `200 {"user": {...}}`, `404` |
//! | `POST /users {"name", "email"}` | `201 {"user"}` + `location`, `400` (malformed JSON, missing or invalid field), `409` (email taken) |
//! | `PUT /users/{id}` (both fields) / `PATCH /users/{id}` (either) | `200 {"user"}`, `400`, `404`, `409` |
//! | `DELETE /users/{id}` | `204`, `404` |
//! | `GET /health` | `200 {"status": "ok"}`, no token needed |
//!
//! Every error is `{"error": "..."}`. The stack, outermost first:
//! [`ErrorBoundary`] (a failure is a JSON 500, a body over 16 KiB a 413),
//! [`SetRequestId`], [`AccessLog`], [`JwtAuth`] (HS256, [`Claims`]), and
//! [`Database`], which opens the SQLite file (creating it and the schema
//! on first run) at startup and closes it at shutdown. SQLite calls are
//! blocking; they run on tokio's blocking pool (`spawn_blocking`), never
//! on a worker thread.
//!
//! ```sh
//! cargo run -p users-api            # prints a token to try it with
//! ```

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{EncodingKey, Header};
use rgi::{BoxApp, Stack};
use rgi_middleware_examples::{AccessLog, Database, ErrorBoundary, JwtAuth, JwtKey, SetRequestId};
use serde::{Deserialize, Serialize};

pub mod controller;
pub mod model;
pub mod view;

pub use controller::Controller;
pub use model::SCHEMA;

/// What a token must carry: who, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The subject: who the token was issued to.
    pub sub: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
}

/// The whole app: the middleware stack around the [`Controller`], the
/// database at `db_path`, tokens checked with the HS256 `secret`.
pub fn app(db_path: impl Into<PathBuf>, secret: &[u8]) -> BoxApp {
    let db_path = db_path.into();
    let key = JwtKey::hs256(secret);
    Stack::new()
        .push(|inner: BoxApp| rgi::boxed(ErrorBoundary::new(inner)))
        .push(|inner: BoxApp| rgi::boxed(SetRequestId::new(inner)))
        .push(|inner: BoxApp| rgi::boxed(AccessLog::new(inner)))
        .push(move |inner: BoxApp| {
            rgi::boxed(JwtAuth::<_, Claims>::new(inner, key.clone()).exclude(["/health"]))
        })
        .push(move |inner: BoxApp| {
            rgi::boxed(Database::new(inner, db_path.clone()).init_sql(SCHEMA))
        })
        .build(rgi::boxed(Controller))
}

/// An HS256 token for `subject`, valid for `ttl_secs` from now.
pub fn token(
    secret: &[u8],
    subject: &str,
    ttl_secs: u64,
) -> Result<String, jsonwebtoken::errors::Error> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let claims = Claims {
        sub: subject.to_owned(),
        exp: now + ttl_secs,
    };
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret),
    )
}
