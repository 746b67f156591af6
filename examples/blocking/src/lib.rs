//! # Blocking code in rgi: the example
//!
//! WSGI's way of writing a web app (plain functions that may block)
//! served by rgi through [`rgi_blocking`], next to async routes on the
//! same server:
//!
//! * [`wsgi`]: the seeds' WSGI middleware as blocking handlers wrapping
//!   handlers: seed 004's address onion ([`AllowAddresses`]), seed 001's
//!   environ logger ([`LogScope`], a pre-processor) and body rewriters
//!   ([`Reverse`], [`Capitalize`], post-processors; `Reverse(Reverse(app))`
//!   is the app again).
//! * [`users`]: a users table on SQLite through rusqlite, the blocking
//!   driver, on the `users-api` example's schema.
//! * [`app`]: all of it behind one router with an async route, the
//!   catalogue's async middleware (request id, access log) outside the
//!   blocking handlers, as `cargo run -p rgi-blocking-examples` serves it.
//!
//! [`AllowAddresses`]: wsgi::AllowAddresses
//! [`LogScope`]: wsgi::LogScope
//! [`Reverse`]: wsgi::Reverse
//! [`Capitalize`]: wsgi::Capitalize
#![forbid(unsafe_code)]

pub mod users;
pub mod wsgi;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use http::{HeaderMap, StatusCode};
use rgi::{App, AppResult, BoxApp, Conn, Stack};
use rgi_blocking::{Blocking, Pool};
use rgi_conformance::{Validator, ViolationLog};
use rgi_middleware_examples::{AccessLog, Router, SetRequestId};

use users::Users;
use wsgi::{hello, AllowAddresses, Capitalize, LogScope, Reverse};

/// The example's app: `/users` (rusqlite, blocking), `/hello` (the seed
/// 004 onion around the seed 001 double reverse, blocking), `/shout`
/// (capitalised, blocking), `/` (async). The blocking routes share `pool`.
pub fn app(db: &Path, pool: &Pool) -> rusqlite::Result<BoxApp> {
    build(db, pool, |app| app)
}

/// [`app`] in debug mode (`--validate`): the conformance validator in front
/// of every blocking adapter and outermost, all recording into `log`, and
/// refusing what breaks a rule (as `testbed --validate` does).
pub fn validated_app(db: &Path, pool: &Pool, log: &ViolationLog) -> rusqlite::Result<BoxApp> {
    build(db, pool, |app| {
        rgi::boxed(Validator::with_log(app, log.clone()).fail_fast())
    })
}

/// The app, with `guard` around each blocking adapter and the whole.
fn build(db: &Path, pool: &Pool, guard: impl Fn(BoxApp) -> BoxApp) -> rusqlite::Result<BoxApp> {
    let loopback = [
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ];
    let users = Users::open(db)?;
    let router = Router::new()
        .mount(
            "/users",
            guard(rgi::boxed(Blocking::with_pool(
                LogScope(users),
                pool.clone(),
            ))),
        )
        .mount(
            "/hello",
            guard(rgi::boxed(Blocking::with_pool(
                AllowAddresses::new(Reverse(Reverse(hello)), loopback),
                pool.clone(),
            ))),
        )
        .mount(
            "/shout",
            guard(rgi::boxed(Blocking::with_pool(
                Capitalize(hello),
                pool.clone(),
            ))),
        )
        .mount("/", AsyncHello);
    let app = Stack::new()
        .push(|app: BoxApp| rgi::boxed(AccessLog::new(app)))
        .push(|app: BoxApp| rgi::boxed(SetRequestId::new(app)))
        .build(rgi::boxed(router));
    Ok(guard(app))
}

/// The async route: answers at once, whatever the blocking routes do.
#[derive(Debug)]
pub struct AsyncHello;

impl App for AsyncHello {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        match conn {
            Conn::Http(mut http) => {
                http.respond(StatusCode::OK, HeaderMap::new(), "hello from async\n")
                    .await?;
                Ok(())
            }
            other => other.unsupported(),
        }
    }
}
