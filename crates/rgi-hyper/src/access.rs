//! The reference server's access log ([`rgi_server::AccessLog`]: entries
//! queued to its writer thread, never written on a request's path) for
//! the HTTP requests rgi-hyper serves.
//!
//! Kept where hyper meets the app, not inside the app's call: the entry
//! starts from the request's head, the status is the response's, and the
//! bytes are the data frames hyper was given (a file's included), counted
//! by a wrapper around the response body. The line is queued once hyper
//! lets the body go; a request whose client left before any response is
//! logged `499` with no bytes, as rgi-server logs it. (WebSocket
//! handshakes are logged by `ws.rs`, when their session ends.)

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::request::Parts;
use http_body::{Body, Frame, SizeHint};
use rgi_server::{AccessLog, PendingEntry};
use rgi_tower::ResponseBody;

/// One request's entry, until its response is over.
pub(crate) struct Entry {
    log: AccessLog,
    /// Boxed: a few hundred bytes of inline text, carried by the response
    /// future and the body.
    pending: Option<Box<PendingEntry>>,
    status: u16,
    bytes: u64,
}

impl Entry {
    /// Starts the entry for the request with head `parts` from `client`.
    // Out of line: only servers that keep a log run it.
    #[inline(never)]
    pub(crate) fn start(log: &AccessLog, parts: &Parts, client: Option<SocketAddr>) -> Self {
        let pending = log.start_head(
            &parts.method,
            &parts.uri,
            parts.version,
            &parts.headers,
            client,
        );
        Self {
            log: log.clone(),
            pending: Some(Box::new(pending)),
            // Until the response says otherwise: the client left first.
            status: 499,
            bytes: 0,
        }
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        if let Some(pending) = self.pending.take() {
            self.log.finish(*pending, self.status, self.bytes);
        }
    }
}

/// The app's response body, its data frames counted for the access log
/// when one is kept; the entry is finished once hyper lets the body go.
pub(crate) struct AppBody {
    body: ResponseBody,
    entry: Option<Entry>,
}

impl AppBody {
    /// `body`, counted for `entry` (when there is one) under `status`.
    pub(crate) fn new(body: ResponseBody, mut entry: Option<Entry>, status: u16) -> Self {
        if let Some(entry) = &mut entry {
            entry.status = status;
        }
        Self { body, entry }
    }
}

impl Body for AppBody {
    type Data = Bytes;
    type Error = <ResponseBody as Body>::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let frame = std::task::ready!(Pin::new(&mut this.body).poll_frame(cx));
        if let Some(entry) = &mut this.entry {
            if let Some(data) = frame.as_ref().and_then(|f| f.as_ref().ok()?.data_ref()) {
                entry.bytes += data.len() as u64;
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
