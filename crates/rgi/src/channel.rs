//! The receive and send handles: two object-safe, poll-based traits, the
//! futures that await them, and adapters for middleware.
//!
//! Both traits are poll-based so that a `&mut dyn Sender<E>` costs a virtual
//! call per event and no allocation: awaiting a `dyn` async method would box
//! a future per event (spec: `spec/README.md`, "Performance contract").

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::Error;

/// The app's side of the events coming from the server (ASGI's `receive`).
pub trait Receiver<E>: Send {
    /// Polls for the next event. Never fails: a broken connection is an
    /// event of its own (`Disconnect`).
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<E>;
}

/// The app's side of the events going to the server (ASGI's `send`).
///
/// Sending is two steps, like a one-slot `Sink`: [`start_send`] hands the
/// event over (it is checked here and refused with a typed error if it
/// breaks the protocol); [`poll_flush`] completes once the transport has
/// taken it. Call `poll_flush` to completion before the next `start_send`;
/// [`SenderExt::send`] does both. This is the backpressure contract: a slow
/// client keeps `poll_flush` pending (rule `CORE-020`).
///
/// [`start_send`]: Sender::start_send
/// [`poll_flush`]: Sender::poll_flush
pub trait Sender<E>: Send {
    /// Hands `event` over. Errors: [`Error::Disconnected`] when the peer is
    /// gone; [`Error::Protocol`] when the event is out of order.
    fn start_send(&mut self, event: E) -> Result<(), Error>;

    /// Completes when every event handed over has been taken by the
    /// transport (written, or accepted into its bounded buffer).
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>>;
}

impl<E, R: Receiver<E> + ?Sized> Receiver<E> for &mut R {
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<E> {
        (**self).poll_receive(cx)
    }
}

impl<E, R: Receiver<E> + ?Sized> Receiver<E> for Box<R> {
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<E> {
        (**self).poll_receive(cx)
    }
}

impl<E, S: Sender<E> + ?Sized> Sender<E> for &mut S {
    fn start_send(&mut self, event: E) -> Result<(), Error> {
        (**self).start_send(event)
    }
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        (**self).poll_flush(cx)
    }
}

impl<E, S: Sender<E> + ?Sized> Sender<E> for Box<S> {
    fn start_send(&mut self, event: E) -> Result<(), Error> {
        (**self).start_send(event)
    }
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        (**self).poll_flush(cx)
    }
}

/// `async` methods for every [`Receiver`], `dyn` ones included.
pub trait ReceiverExt<E>: Receiver<E> {
    /// The next event.
    fn recv(&mut self) -> Recv<'_, Self, E> {
        Recv {
            receiver: self,
            _event: PhantomData,
        }
    }
}

impl<E, R: Receiver<E> + ?Sized> ReceiverExt<E> for R {}

/// `async` methods for every [`Sender`], `dyn` ones included.
pub trait SenderExt<E>: Sender<E> {
    /// Sends `event` and waits until the transport has taken it.
    fn send(&mut self, event: E) -> SendEvent<'_, Self, E> {
        SendEvent {
            sender: self,
            event: Some(event),
        }
    }

    /// Waits until every event handed over has been taken.
    fn flush(&mut self) -> Flush<'_, Self, E> {
        Flush {
            sender: self,
            _event: PhantomData,
        }
    }
}

impl<E, S: Sender<E> + ?Sized> SenderExt<E> for S {}

/// The future of [`ReceiverExt::recv`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Recv<'a, R: ?Sized, E> {
    receiver: &'a mut R,
    _event: PhantomData<fn() -> E>,
}

impl<E, R: Receiver<E> + ?Sized> Future for Recv<'_, R, E> {
    type Output = E;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<E> {
        self.get_mut().receiver.poll_receive(cx)
    }
}

/// The future of [`SenderExt::send`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct SendEvent<'a, S: ?Sized, E> {
    sender: &'a mut S,
    event: Option<E>,
}

impl<E: Unpin, S: Sender<E> + ?Sized> Future for SendEvent<'_, S, E> {
    type Output = Result<(), Error>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(event) = this.event.take() {
            this.sender.start_send(event)?;
        }
        this.sender.poll_flush(cx)
    }
}

/// The future of [`SenderExt::flush`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Flush<'a, S: ?Sized, E> {
    sender: &'a mut S,
    _event: PhantomData<fn(E)>,
}

impl<E, S: Sender<E> + ?Sized> Future for Flush<'_, S, E> {
    type Output = Result<(), Error>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().sender.poll_flush(cx)
    }
}

/// A [`Sender`] that shows every event to a closure before passing it on:
/// the observing middleware's tool (timing, access logs, metrics).
/// Allocates nothing.
pub struct InspectSend<S, F> {
    inner: S,
    inspect: F,
}

impl<S, F> InspectSend<S, F> {
    /// Wraps `inner`; `inspect` sees each event once, when it is handed over.
    pub fn new(inner: S, inspect: F) -> Self {
        Self { inner, inspect }
    }

    /// The wrapped sender.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<E, S: Sender<E>, F: FnMut(&E) + Send> Sender<E> for InspectSend<S, F> {
    fn start_send(&mut self, event: E) -> Result<(), Error> {
        (self.inspect)(&event);
        self.inner.start_send(event)
    }
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_flush(cx)
    }
}

/// A [`Sender`] that rewrites every event with a closure before passing it
/// on: the changing middleware's tool (add a response header, rewrite a
/// status). Allocates nothing.
pub struct MapSend<S, F> {
    inner: S,
    map: F,
}

impl<S, F> MapSend<S, F> {
    /// Wraps `inner`; `map` runs once per event, when it is handed over.
    pub fn new(inner: S, map: F) -> Self {
        Self { inner, map }
    }
}

impl<E, S: Sender<E>, F: FnMut(E) -> E + Send> Sender<E> for MapSend<S, F> {
    fn start_send(&mut self, event: E) -> Result<(), Error> {
        let event = (self.map)(event);
        self.inner.start_send(event)
    }
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_flush(cx)
    }
}

/// A [`Receiver`] that rewrites (or just looks at) every event the inner
/// app receives. Allocates nothing.
pub struct MapReceive<R, F> {
    inner: R,
    map: F,
}

impl<R, F> MapReceive<R, F> {
    /// Wraps `inner`; `map` runs once per event.
    pub fn new(inner: R, map: F) -> Self {
        Self { inner, map }
    }
}

impl<E, R: Receiver<E>, F: FnMut(E) -> E + Send> Receiver<E> for MapReceive<R, F> {
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<E> {
        self.inner.poll_receive(cx).map(&mut self.map)
    }
}

/// A [`Receiver`] that first yields events a middleware already took from
/// its own receiver, then continues with that receiver. This is how a
/// middleware that had to look at an event (the lifespan `Startup`, the
/// first body chunk) hands it on unchanged.
pub struct Prepend<R, E> {
    first: Option<E>,
    inner: R,
}

impl<R, E> Prepend<R, E> {
    /// `event` first, then `inner`.
    pub fn new(event: E, inner: R) -> Self {
        Self {
            first: Some(event),
            inner,
        }
    }
}

impl<E: Send, R: Receiver<E>> Receiver<E> for Prepend<R, E> {
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<E> {
        match self.first.take() {
            Some(event) => Poll::Ready(event),
            None => self.inner.poll_receive(cx),
        }
    }
}

macro_rules! opaque_debug {
    ($($ty:ident<$($p:ident),*>),*) => {$(
        impl<$($p),*> std::fmt::Debug for $ty<$($p),*> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(stringify!($ty))
            }
        }
    )*};
}
opaque_debug!(InspectSend<S, F>, MapSend<S, F>, MapReceive<R, F>, Prepend<R, E>);
