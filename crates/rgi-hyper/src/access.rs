//! The reference server's access log ([`rgi_server::AccessLog`]: entries
//! queued to its writer thread, never written on a request's path) for
//! the requests rgi-hyper serves.
//!
//! rgi-server logs from inside its connection; here the scope exists only
//! inside `RgiService`'s call, so the entry is started and finished around
//! the app's call, and the response is counted by the sender that serves
//! files (`files.rs`): one wrapper on every event for both jobs.

use std::pin::pin;

use rgi::{App, AppResult, Conn};
use rgi_server::AccessLog;

use crate::files::{call_serving_files, Tally};

/// The app as rgi-hyper runs it: `HttpSend::File` served (what
/// [`ServeFiles`](crate::ServeFiles) does) and, with a `log`, every HTTP
/// request logged.
#[derive(Debug)]
pub(crate) struct Served<A> {
    pub(crate) inner: A,
    pub(crate) log: Option<AccessLog>,
}

impl<A: App> App for Served<A> {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        // Each call is pinned and awaited through the pin: this future is
        // in every request's box, and a call awaited by value takes room
        // twice.
        let Some(log) = &self.log else {
            return pin!(call_serving_files(&self.inner, conn, None)).await;
        };
        let Conn::Http(http) = &conn else {
            return pin!(call_serving_files(&self.inner, conn, None)).await;
        };
        // Boxed: the entry (a few hundred bytes of inline text) would
        // otherwise widen this future, and with it every request's box,
        // with the access log off too.
        let entry = Box::new(log.start(http.scope));
        let mut tally = Tally::default();
        let result = pin!(call_serving_files(&self.inner, conn, Some(&mut tally))).await;
        // No start: the server answers 500 for the app (CORE-040, CORE-042).
        log.finish(*entry, tally.status.unwrap_or(500), tally.bytes);
        result
    }
}
