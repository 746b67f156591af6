//! The access log: one `info` line per request on target
//! `rgi_server::access`. When that target is disabled nothing is captured
//! or formatted.

use std::net::SocketAddr;
use std::time::Instant;

use http::{Method, Uri};

/// The target of access-log events.
pub const TARGET: &str = "rgi_server::access";

/// What is kept from a request for its log line.
#[derive(Debug)]
pub(crate) struct AccessLog {
    start: Instant,
    method: Method,
    uri: Uri,
}

impl AccessLog {
    /// Starts timing a request, if the access log is enabled.
    pub(crate) fn start(method: &Method, uri: &Uri) -> Option<Self> {
        tracing::enabled!(target: TARGET, tracing::Level::INFO).then(|| Self {
            start: Instant::now(),
            method: method.clone(),
            uri: uri.clone(),
        })
    }

    /// Logs the finished request.
    pub(crate) fn finish(self, client: SocketAddr, status: u16, bytes: u64) {
        let path = self.uri.path_and_query().map_or("-", |p| p.as_str());
        let duration_ms = self.start.elapsed().as_secs_f64() * 1000.0;
        tracing::info!(
            target: TARGET,
            %client,
            method = %self.method,
            path = %path,
            status,
            bytes,
            duration_ms,
            "{client} \"{} {path}\" {status} {bytes} {duration_ms:.3}ms",
            self.method,
        );
    }
}

/// Logs a request refused before it reached the app.
pub(crate) fn rejected(client: SocketAddr, status: u16, reason: &str) {
    tracing::info!(
        target: TARGET,
        %client,
        method = "-",
        path = "-",
        status,
        bytes = 0u64,
        reason,
        "{client} \"- -\" {status} 0 ({reason})",
    );
}
