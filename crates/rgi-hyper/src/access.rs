//! The reference server's access log ([`rgi_server::AccessLog`]: entries
//! queued to its writer thread, never written on a request's path) for
//! the requests rgi-hyper serves.
//!
//! rgi-server logs from inside its connection; here the scope exists only
//! inside `RgiService`'s call, so the entry is started and finished around
//! the app's call, and the response is counted by the sender that serves
//! files (`files.rs`): one wrapper on every event for both jobs.

use std::future::Future;
use std::pin::pin;

use futures_util::future::Either;
use rgi::{App, AppResult, Conn};
use rgi_server::{AccessLog, PendingEntry};

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
    fn call(&self, conn: Conn<'_>) -> impl Future<Output = AppResult> + Send {
        // Without a log the call is `call_serving_files`' future itself:
        // no state machine of this layer's own around it on every poll.
        match (&self.log, &conn) {
            (Some(log), Conn::Http(http)) => {
                // Boxed: the entry (a few hundred bytes of inline text)
                // would otherwise widen every request's future.
                let entry = Box::new(log.start(http.scope));
                Either::Right(self.logged(log, entry, conn))
            }
            _ => Either::Left(call_serving_files(&self.inner, conn, None)),
        }
    }
}

impl<A: App> Served<A> {
    /// The call, with the access log's entry finished once it returns.
    async fn logged(&self, log: &AccessLog, entry: Box<PendingEntry>, conn: Conn<'_>) -> AppResult {
        let mut tally = Tally::default();
        // Pinned and awaited through the pin: awaited by value, the call
        // would take room twice in this future.
        let result = pin!(call_serving_files(&self.inner, conn, Some(&mut tally))).await;
        // No start: the server answers 500 for the app (CORE-040, CORE-042).
        log.finish(*entry, tally.status.unwrap_or(500), tally.bytes);
        result
    }
}
