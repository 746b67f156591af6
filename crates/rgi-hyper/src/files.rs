//! `HttpSend::File` on a server whose response body carries only data
//! frames: [`ServeFiles`] reads the file's range with the reference
//! server's [`FileSend`] and hands it on as `Body` events, one chunk each.

use std::pin::pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::{Method, StatusCode};
use rgi::{App, AppResult, Conn, Error, HttpConn, HttpSend, Sender};
use rgi_server::shared::FileSend;

/// Middleware that serves `HttpSend::File` for the app it wraps: it
/// announces the `send_file` capability and turns each `File` into `Body`
/// events for the server outside, which then only has to carry bytes.
///
/// `rgi-hyper` wraps every app in it. The file is read as the client takes
/// it: a chunk (at most 64 KiB) is read only once the previous one has
/// left, so the app's `send` of a `File` completes when the whole range has
/// been handed on (as on the reference server).
#[derive(Debug, Clone)]
pub struct ServeFiles<A>(pub A);

impl<A: App> App for ServeFiles<A> {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        // Pinned and awaited through the pin: awaiting it by value would
        // give it room twice in this future.
        pin!(call_serving_files(&self.0, conn, None)).await
    }
}

/// What a response came to, for the access log: the status of its
/// `Start` and its body bytes (a file's included).
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) status: Option<u16>,
    pub(crate) bytes: u64,
}

/// Calls `app` serving `HttpSend::File` for it (what [`ServeFiles`] does);
/// with a `tally`, counts what the response came to on the way out, in
/// the same sender: one wrapper per event for both jobs.
pub(crate) async fn call_serving_files<A: App>(
    app: &A,
    conn: Conn<'_>,
    tally: Option<&mut Tally>,
) -> AppResult {
    let Conn::Http(http) = conn else {
        return pin!(app.call(conn)).await;
    };
    let (scope, receiver, sender) = http.into_parts();
    scope.capabilities.send_file = true;
    let mut sender = FileSender {
        inner: sender,
        head: scope.method == Method::HEAD,
        bodiless_status: false,
        file: None,
        tally,
    };
    // Pinned here and awaited through the pin: awaiting the call by
    // value would give it room twice in this future (rustc keeps the
    // moved-from local), and this future is in every request's box.
    let result = {
        let call = pin!(app.call(HttpConn::new(scope, receiver, &mut sender).into()));
        call.await
    };
    scope.capabilities.send_file = false;
    result
}

struct FileSender<'t, S> {
    inner: S,
    head: bool,
    /// The response is a 204 or 304.
    bodiless_status: bool,
    /// Boxed: rarely there, and this sender lives in every request's
    /// future.
    file: Option<Box<FileSend>>,
    tally: Option<&'t mut Tally>,
}

impl<S: Sender<HttpSend>> FileSender<'_, S> {
    /// Hands `event` on, counting it.
    fn forward(&mut self, event: HttpSend) -> Result<(), Error> {
        if let Some(tally) = self.tally.as_deref_mut() {
            match &event {
                HttpSend::Start(start) => tally.status = Some(start.status.as_u16()),
                HttpSend::Body { data, .. } => tally.bytes += data.len() as u64,
                _ => {}
            }
        }
        self.inner.start_send(event)
    }
}

impl<S: Sender<HttpSend>> Sender<HttpSend> for FileSender<'_, S> {
    fn start_send(&mut self, event: HttpSend) -> Result<(), Error> {
        if self.file.is_some() {
            return Err(Error::protocol(
                "CORE-021",
                "start_send before the last send was flushed",
            ));
        }
        match event {
            HttpSend::File(file) => {
                if self.head || self.bodiless_status {
                    return Err(Error::protocol(
                        "HTTP-025",
                        "a File in a response to HEAD, or a 204 or 304",
                    ));
                }
                if !file.path.is_absolute() {
                    return Err(Error::protocol("EXT-022", "a File with a relative path"));
                }
                if file.range.as_ref().is_some_and(|r| r.start > r.end) {
                    return Err(Error::protocol("EXT-022", "a File range with start > end"));
                }
                self.file = Some(Box::new(FileSend::new(file.path, file.range, file.more)));
                Ok(())
            }
            event => {
                if let HttpSend::Start(start) = &event {
                    self.bodiless_status = matches!(
                        start.status,
                        StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED
                    );
                }
                self.forward(event)
            }
        }
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            // Whatever was handed on leaves first: one chunk at a time.
            ready!(self.inner.poll_flush(cx))?;
            let Some(file) = self.file.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            let failed = |e: String| {
                tracing::error!(error = %e, "send_file failed; aborting the response");
                Error::protocol("EXT-021", e)
            };
            if !file.is_open() {
                if let Err(e) = ready!(file.poll_open(cx)) {
                    self.file = None;
                    return Poll::Ready(Err(failed(e)));
                }
            }
            if file.remaining() == 0 {
                let more = file.more;
                self.file = None;
                if !more {
                    self.forward(HttpSend::Body {
                        data: Bytes::new(),
                        more: false,
                    })?;
                }
                continue;
            }
            let chunk = match ready!(file.poll_read(cx)) {
                Ok(chunk) => Bytes::copy_from_slice(chunk),
                Err(e) => {
                    self.file = None;
                    return Poll::Ready(Err(failed(e)));
                }
            };
            let more = file.remaining() > 0 || file.more;
            if !more {
                self.file = None;
            }
            self.forward(HttpSend::Body { data: chunk, more })?;
        }
    }
}
