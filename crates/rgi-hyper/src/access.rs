//! The reference server's access log ([`rgi_server::AccessLog`]: entries
//! queued to its writer thread, never written on a request's path) for
//! the requests rgi-hyper serves.
//!
//! rgi-server logs from inside its connection; here the scope exists only
//! inside `RgiService`'s call, so the entry is started and finished by a
//! thin layer around the app that watches `Start` and counts body bytes.

use rgi::{App, AppResult, Conn, HttpConn, HttpSend, InspectSend};
use rgi_server::AccessLog;

/// Logs every HTTP request of the app it wraps to `log`.
#[derive(Debug)]
pub(crate) struct Logged<A> {
    pub(crate) inner: A,
    pub(crate) log: Option<AccessLog>,
}

impl<A: App> App for Logged<A> {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Some(log) = &self.log else {
            return self.inner.call(conn).await;
        };
        let Conn::Http(http) = conn else {
            return self.inner.call(conn).await;
        };
        let entry = log.start(http.scope);
        let (scope, receiver, sender) = http.into_parts();
        let (mut status, mut bytes) = (None, 0u64);
        let mut sender = InspectSend::new(sender, |event: &HttpSend| match event {
            HttpSend::Start(start) => status = Some(start.status.as_u16()),
            HttpSend::Body { data, .. } => bytes += data.len() as u64,
            _ => {}
        });
        let result = self
            .inner
            .call(HttpConn::new(scope, receiver, &mut sender).into())
            .await;
        // No start: the server answers 500 for the app (CORE-040, CORE-042).
        let status = status.unwrap_or(500);
        log.finish(entry, status, bytes);
        result
    }
}
