//! Handles that watch the events going by without changing them: whether
//! the response has started, whether the request body has ended. The
//! middleware that must answer differently before and after a point
//! (error boundary, timeout, body limit) share them.

use std::task::{Context, Poll};

use rgi::{Error, HttpReceive, HttpSend, Receiver, Sender};

/// Passes every event on and remembers whether a `Start` was accepted.
/// "Started" means the server took it: the result of `start_send` counts,
/// not what the app tried.
pub(crate) struct WatchStart<S> {
    pub(crate) inner: S,
    pub(crate) started: bool,
}

impl<S> WatchStart<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self {
            inner,
            started: false,
        }
    }
}

impl<S: Sender<HttpSend>> Sender<HttpSend> for WatchStart<S> {
    fn start_send(&mut self, event: HttpSend) -> Result<(), Error> {
        let is_start = matches!(event, HttpSend::Start(_));
        self.inner.start_send(event)?;
        self.started |= is_start;
        Ok(())
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_flush(cx)
    }
}

/// Passes every request event on and remembers whether the body has
/// ended (its last chunk, or a disconnect, was received).
pub(crate) struct WatchBody<R> {
    pub(crate) inner: R,
    pub(crate) ended: bool,
}

impl<R> WatchBody<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            ended: false,
        }
    }
}

impl<R: Receiver<HttpReceive>> Receiver<HttpReceive> for WatchBody<R> {
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<HttpReceive> {
        let event = std::task::ready!(self.inner.poll_receive(cx));
        self.ended |= !matches!(event, HttpReceive::Body { more: true, .. });
        Poll::Ready(event)
    }
}
