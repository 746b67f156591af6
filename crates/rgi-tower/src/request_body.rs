//! [`RequestBody`]: an rgi call's request body as an `http_body::Body`, and
//! the pump that feeds it from the call's `receive`.
//!
//! A tower service wants a `'static` body, and the call's receiver is lent
//! to the call, so the two meet in a one-chunk pipe: the body asks, the
//! pump (running inside the call's future) receives one event and hands it
//! over. Nothing is read from the client before the service asks for it,
//! which keeps `100-continue` and backpressure as the server meant them.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, Version};
use http_body::{Body, Frame, SizeHint};
use rgi::{BoxError, Error, HttpReceive, Receiver, ReceiverExt};

#[derive(Default)]
struct Pipe {
    /// A chunk received and not yet taken by the body.
    chunk: Option<Bytes>,
    /// The final chunk was received.
    ended: bool,
    /// `Disconnect` was received before the body ended.
    disconnected: bool,
    /// The disconnect was reported to the body as an error.
    reported: bool,
    /// The body is waiting for a chunk.
    wanted: bool,
    body_waker: Option<Waker>,
    pump_waker: Option<Waker>,
}

fn lock(pipe: &Mutex<Pipe>) -> MutexGuard<'_, Pipe> {
    pipe.lock().unwrap_or_else(PoisonError::into_inner)
}

fn wake(waker: &mut Option<Waker>) {
    if let Some(waker) = waker.take() {
        waker.wake();
    }
}

/// The request body a tower service gets from [`TowerApp`](crate::TowerApp)
/// and [`TowerMiddleware`](crate::TowerMiddleware): the rgi call's `Body`
/// events, one data frame each, received only when the service polls. A
/// client that goes away mid-body is an error frame
/// ([`rgi::Error::Disconnected`]); request trailers do not exist in rgi.
pub struct RequestBody {
    pipe: Arc<Mutex<Pipe>>,
    length: Option<u64>,
}

impl std::fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestBody")
            .field("length", &self.length)
            .finish_non_exhaustive()
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut pipe = lock(&self.pipe);
        if let Some(chunk) = pipe.chunk.take() {
            wake(&mut pipe.pump_waker);
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        if pipe.ended {
            return Poll::Ready(None);
        }
        if pipe.disconnected {
            if pipe.reported {
                return Poll::Ready(None);
            }
            pipe.reported = true;
            return Poll::Ready(Some(Err(Error::Disconnected.into())));
        }
        pipe.wanted = true;
        pipe.body_waker = Some(cx.waker().clone());
        wake(&mut pipe.pump_waker);
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        let pipe = lock(&self.pipe);
        pipe.chunk.is_none() && (pipe.ended || pipe.reported)
    }

    fn size_hint(&self) -> SizeHint {
        match self.length {
            Some(n) if !self.is_end_stream() => SizeHint::with_exact(n),
            Some(_) => SizeHint::with_exact(0),
            None => SizeHint::default(),
        }
    }
}

/// The feeding end of a [`RequestBody`].
pub(crate) struct Pump {
    pipe: Arc<Mutex<Pipe>>,
    /// The request has no body: read its one empty event at once, so a
    /// disconnect is noticed even if the service never polls the body.
    eager: bool,
}

/// A request body and its pump, for a request with these headers.
pub(crate) fn request_body(headers: &HeaderMap, version: Version) -> (RequestBody, Pump) {
    let length = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let eager = version < Version::HTTP_2
        && (length == Some(0) || (length.is_none() && !headers.contains_key(TRANSFER_ENCODING)));
    let pipe = Arc::new(Mutex::new(Pipe::default()));
    (
        RequestBody {
            pipe: pipe.clone(),
            length,
        },
        Pump { pipe, eager },
    )
}

impl Pump {
    /// Feeds the body from `receiver` until the call's `Disconnect`, then
    /// returns: the client is gone, or the response is complete.
    pub(crate) async fn run(&self, receiver: &mut (dyn Receiver<HttpReceive> + '_)) {
        let mut body_done = false;
        loop {
            if !body_done {
                poll_fn(|cx| {
                    let mut pipe = lock(&self.pipe);
                    if pipe.chunk.is_none() && (pipe.wanted || self.eager) {
                        Poll::Ready(())
                    } else {
                        pipe.pump_waker = Some(cx.waker().clone());
                        Poll::Pending
                    }
                })
                .await;
            }
            let event = receiver.recv().await;
            let mut pipe = lock(&self.pipe);
            match event {
                HttpReceive::Body { data, more } if !body_done => {
                    body_done = !more;
                    pipe.ended = !more;
                    pipe.wanted = false;
                    pipe.chunk = Some(data);
                    wake(&mut pipe.body_waker);
                }
                HttpReceive::Disconnect => {
                    if !body_done {
                        pipe.disconnected = true;
                    }
                    wake(&mut pipe.body_waker);
                    return;
                }
                // A body event after the last one (a server's bug), or an
                // event a later spec adds: nothing for the body.
                _ => {}
            }
        }
    }
}
