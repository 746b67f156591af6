//! The in-process transport: two bounded queues between the test and the
//! app, plus the app's ends of them as rgi [`Receiver`] / [`Sender`].
//!
//! One mutex guards both queues and every waker: the link is used by two
//! tasks at most (the test and the app), so contention is nil, and a single
//! lock makes the cross-queue facts (the client is gone, the response is
//! complete, the app returned) atomic with the queue operations.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use rgi::{Error, Receiver, Sender};

/// Why the client could not hand an event to the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushRefused {
    /// The client already disconnected.
    ClientGone,
    /// The app's future has returned (or was dropped); nobody will read.
    AppDone,
}

struct LinkState<In, Out> {
    to_app: VecDeque<In>,
    to_client: VecDeque<Out>,
    capacity: usize,
    /// Returned by the app's receiver, again and again, once `to_app` is
    /// empty: the protocol's "it is over" event (HTTP `Disconnect`, ...).
    ended: Option<In>,
    client_gone: bool,
    app_done: bool,
    app_rx: Option<Waker>,
    app_tx: Option<Waker>,
    client_push: Option<Waker>,
    client_pull: Option<Waker>,
}

/// A bounded duplex link between the test (client side) and the app.
pub(crate) struct Link<In, Out> {
    state: Mutex<LinkState<In, Out>>,
}

fn wake(slot: &mut Option<Waker>) {
    if let Some(w) = slot.take() {
        w.wake();
    }
}

fn register(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

impl<In: Clone + Send, Out: Send> Link<In, Out> {
    /// A link whose queues hold at most `capacity` events each (at least 1).
    pub(crate) fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(LinkState {
                to_app: VecDeque::new(),
                to_client: VecDeque::new(),
                capacity: capacity.max(1),
                ended: None,
                client_gone: false,
                app_done: false,
                app_rx: None,
                app_tx: None,
                client_push: None,
                client_pull: None,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, LinkState<In, Out>> {
        // Every critical section is a few queue operations that cannot
        // panic half-way, so a poisoned lock still holds consistent data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    // ---- client side ----

    /// Queues `event` for the app once there is room.
    pub(crate) fn poll_push(
        &self,
        cx: &Context<'_>,
        event: &mut Option<In>,
    ) -> Poll<Result<(), PushRefused>> {
        let mut s = self.lock();
        if s.client_gone {
            return Poll::Ready(Err(PushRefused::ClientGone));
        }
        if s.app_done {
            return Poll::Ready(Err(PushRefused::AppDone));
        }
        if s.to_app.len() < s.capacity {
            if let Some(ev) = event.take() {
                s.to_app.push_back(ev);
                wake(&mut s.app_rx);
            }
            return Poll::Ready(Ok(()));
        }
        register(&mut s.client_push, cx);
        Poll::Pending
    }

    /// The next event the app sent; `None` once the app is done and every
    /// event it sent has been taken.
    pub(crate) fn poll_pull(&self, cx: &Context<'_>) -> Poll<Option<Out>> {
        let mut s = self.lock();
        if let Some(ev) = s.to_client.pop_front() {
            wake(&mut s.app_tx);
            return Poll::Ready(Some(ev));
        }
        if s.app_done {
            return Poll::Ready(None);
        }
        register(&mut s.client_pull, cx);
        Poll::Pending
    }

    /// The client goes away: the app's receiver yields `ended` (after any
    /// event already queued) and its sends fail with `Disconnected`.
    pub(crate) fn disconnect(&self, ended: In) {
        let mut s = self.lock();
        s.client_gone = true;
        s.ended = Some(ended);
        wake(&mut s.app_rx);
        wake(&mut s.app_tx);
    }

    /// Whether the client disconnected.
    pub(crate) fn client_gone(&self) -> bool {
        self.lock().client_gone
    }

    /// Whether the app's future has returned or was dropped.
    pub(crate) fn app_done(&self) -> bool {
        self.lock().app_done
    }

    // ---- app side ----

    fn poll_receive(&self, cx: &Context<'_>) -> Poll<In> {
        let mut s = self.lock();
        if let Some(ev) = s.to_app.pop_front() {
            wake(&mut s.client_push);
            return Poll::Ready(ev);
        }
        if let Some(ev) = &s.ended {
            return Poll::Ready(ev.clone());
        }
        register(&mut s.app_rx, cx);
        Poll::Pending
    }

    fn poll_hand_over(&self, cx: &Context<'_>, event: &mut Option<Out>) -> Poll<Result<(), Error>> {
        let mut s = self.lock();
        if s.client_gone {
            event.take();
            return Poll::Ready(Err(Error::Disconnected));
        }
        if s.to_client.len() < s.capacity {
            if let Some(ev) = event.take() {
                s.to_client.push_back(ev);
                wake(&mut s.client_pull);
            }
            return Poll::Ready(Ok(()));
        }
        register(&mut s.app_tx, cx);
        Poll::Pending
    }

    /// The exchange is over from the app's side (response complete, socket
    /// closed): later receives yield `ended`.
    fn end(&self, ended: In) {
        let mut s = self.lock();
        if s.ended.is_none() {
            s.ended = Some(ended);
        }
        wake(&mut s.app_rx);
    }

    fn app_finished(&self) {
        let mut s = self.lock();
        s.app_done = true;
        wake(&mut s.client_push);
        wake(&mut s.client_pull);
    }
}

/// The app's receiving end of a [`Link`].
pub(crate) struct AppReceiver<In, Out> {
    link: Arc<Link<In, Out>>,
}

impl<In, Out> AppReceiver<In, Out> {
    pub(crate) fn new(link: Arc<Link<In, Out>>) -> Self {
        Self { link }
    }
}

impl<In: Clone + Send, Out: Send> Receiver<In> for AppReceiver<In, Out> {
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<In> {
        self.link.poll_receive(cx)
    }
}

/// Decides, per event the app sends, whether it ends the exchange and what
/// the app's receiver yields from then on.
pub(crate) type Ender<In, Out> = Box<dyn FnMut(&Out) -> Option<In> + Send>;

/// The app's sending end of a [`Link`]: one event in flight, as the
/// [`Sender`] contract says.
pub(crate) struct AppSender<In, Out> {
    link: Arc<Link<In, Out>>,
    in_flight: Option<Out>,
    ender: Ender<In, Out>,
}

impl<In, Out> AppSender<In, Out> {
    pub(crate) fn new(link: Arc<Link<In, Out>>, ender: Ender<In, Out>) -> Self {
        Self {
            link,
            in_flight: None,
            ender,
        }
    }
}

impl<In: Clone + Send, Out: Send> Sender<Out> for AppSender<In, Out> {
    fn start_send(&mut self, event: Out) -> Result<(), Error> {
        if self.link.client_gone() {
            return Err(Error::Disconnected);
        }
        if self.in_flight.is_some() {
            return Err(Error::protocol(
                "CORE-021",
                "start_send was called while the previous event was not flushed",
            ));
        }
        if let Some(ended) = (self.ender)(&event) {
            self.link.end(ended);
        }
        self.in_flight = Some(event);
        Ok(())
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.in_flight.is_none() {
            return Poll::Ready(Ok(()));
        }
        self.link.poll_hand_over(cx, &mut self.in_flight)
    }
}

/// Marks the app done when dropped: when its future returns, panics, or is
/// cancelled. Lives inside the app's task.
pub(crate) struct DoneGuard<In: Clone + Send, Out: Send>(pub(crate) Arc<Link<In, Out>>);

impl<In: Clone + Send, Out: Send> Drop for DoneGuard<In, Out> {
    fn drop(&mut self) {
        self.0.app_finished();
    }
}
