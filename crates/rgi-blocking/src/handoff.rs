//! The bounded handoff between the handler's thread and the connection's
//! future: one slot, so at most one operation (a response event to send,
//! a request for the next body event) is ever between them. The thread
//! blocks on a condition variable; the future is woken through its waker.
//!
//! A send is *posted*: the thread hands the event over and goes on
//! producing the next one while the connection sends it, and blocks only
//! when it has a second event ready before the first was taken. That keeps
//! backpressure (never more than one event in flight, so a client that
//! does not read stops the handler at its next write) at half the thread
//! switches of waiting for every send. A failed send is reported by the
//! thread's next operation, and by the call's outcome when there is none,
//! the way a socket reports a write error on the next write.
//!
//! A receive waits for its event: a body chunk is received from the
//! connection only when the thread asks for one.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use rgi::{BoxError, HttpReceive, HttpSend};

/// What the handler's thread asks the connection to do.
#[derive(Debug)]
pub(crate) enum Op {
    /// Receive the next request event.
    Recv,
    /// Send one response event.
    Send(HttpSend),
    /// Send a whole response (`HttpConn::respond`).
    Respond {
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
    },
}

/// What the connection's future is told next.
#[derive(Debug)]
pub(crate) enum Next {
    Op(Op),
    /// The handler is done; every event it posted was taken before this.
    Finished(Result<(), BoxError>),
}

/// Why an operation of the thread did not happen.
#[derive(Debug, Clone)]
pub(crate) enum Failed {
    /// The client is gone, or the call was cancelled.
    Disconnected,
    /// An earlier send was refused: the protocol error, shared.
    Refused(Arc<rgi::Error>),
}

#[derive(Default)]
struct State {
    op: Option<Op>,
    received: Option<HttpReceive>,
    /// An operation was placed and is not done yet.
    in_flight: bool,
    /// The connection's side dropped its end.
    closed: bool,
    /// The client went away (`Disconnect`, or a send that failed with
    /// `Error::Disconnected`).
    peer_gone: bool,
    /// A send failed with `Error::Disconnected`: the response is lost.
    lost_send: bool,
    /// The first send the connection refused; every later send fails.
    refused: Option<Arc<rgi::Error>>,
    finished: Option<Result<(), BoxError>>,
    waker: Option<Waker>,
}

impl State {
    fn failure(&self) -> Option<Failed> {
        if self.closed || self.peer_gone {
            Some(Failed::Disconnected)
        } else {
            self.refused.clone().map(Failed::Refused)
        }
    }
}

/// One call's handoff, shared by the handler's [`Body`](crate::Body), its
/// [`Response`](crate::Response), the pool job and the connection's future.
#[derive(Default)]
pub(crate) struct Handoff {
    state: Mutex<State>,
    changed: Condvar,
}

impl std::fmt::Debug for Handoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Handoff")
    }
}

impl Handoff {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; a poisoned one is still
        // consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed
            .wait(guard)
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until the slot is free (the previous operation done), then
    /// places `op`. Fails, placing nothing, once the call is over or a
    /// send failed.
    fn place<'a>(&'a self, op: Op) -> Result<MutexGuard<'a, State>, Failed> {
        let mut state = self.lock();
        while state.in_flight && !state.closed {
            state = self.wait(state);
        }
        // A refused send does not stop the body from being read.
        let failure = match op {
            Op::Recv if state.closed || state.peer_gone => Some(Failed::Disconnected),
            Op::Recv => None,
            _ => state.failure(),
        };
        if let Some(failed) = failure {
            return Err(failed);
        }
        state.in_flight = true;
        state.op = Some(op);
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(self.lock())
    }

    /// The thread's side: hands `op` (a send) over and returns; the
    /// connection sends it while the thread goes on.
    pub(crate) fn post(&self, op: Op) -> Result<(), Failed> {
        self.place(op).map(drop)
    }

    /// The thread's side: waits until every posted send is done, and says
    /// whether they all succeeded.
    pub(crate) fn settle(&self) -> Result<(), Failed> {
        let mut state = self.lock();
        while state.in_flight && !state.closed {
            state = self.wait(state);
        }
        state.failure().map_or(Ok(()), Err)
    }

    /// The thread's side: the next request event (after any posted send).
    pub(crate) fn receive(&self) -> Result<HttpReceive, Failed> {
        let mut state = self.place(Op::Recv)?;
        loop {
            if let Some(event) = state.received.take() {
                return Ok(event);
            }
            if state.closed {
                return Err(Failed::Disconnected);
            }
            state = self.wait(state);
        }
    }

    /// Whether the connection's side is gone.
    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// The thread's side: the handler is done. Posted sends still in the
    /// slot go first.
    pub(crate) fn finish(&self, outcome: Result<(), BoxError>) {
        let mut state = self.lock();
        state.finished = Some(outcome);
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// The connection's side: the next operation, or the outcome.
    pub(crate) fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Next> {
        let mut state = self.lock();
        if let Some(op) = state.op.take() {
            return Poll::Ready(Next::Op(op));
        }
        if let Some(outcome) = state.finished.take() {
            return Poll::Ready(Next::Finished(outcome));
        }
        match &mut state.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// The connection's side: the send it took is done.
    pub(crate) fn sent(&self, result: Result<(), rgi::Error>) {
        let mut state = self.lock();
        match result {
            Ok(()) => {}
            Err(rgi::Error::Disconnected) => {
                state.peer_gone = true;
                state.lost_send = true;
            }
            Err(e) => {
                if state.refused.is_none() {
                    state.refused = Some(Arc::new(e));
                }
            }
        }
        state.in_flight = false;
        drop(state);
        self.changed.notify_all();
    }

    /// The connection's side: the event the thread asked for.
    pub(crate) fn received(&self, event: HttpReceive) {
        let mut state = self.lock();
        if event == HttpReceive::Disconnect {
            state.peer_gone = true;
        }
        state.received = Some(event);
        state.in_flight = false;
        drop(state);
        self.changed.notify_all();
    }

    /// The connection's side, once the thread finished: how the call
    /// ends, given what became of the sends the thread did not wait for.
    pub(crate) fn outcome(&self, finished: Result<(), BoxError>) -> Result<(), BoxError> {
        let state = self.lock();
        match finished {
            // The handler returned before it learnt that a send it posted
            // failed.
            Ok(()) if state.lost_send => Err(rgi::Error::Disconnected.into()),
            Ok(()) => match &state.refused {
                Some(refused) => Err(Box::new(Arc::clone(refused))),
                None => Ok(()),
            },
            // A handler that stopped because the client left is not a
            // failure (rule CORE-044).
            Err(_) if state.peer_gone => Err(rgi::Error::Disconnected.into()),
            Err(e) => Err(e),
        }
    }

    /// The connection's side is gone: every operation waiting or to come
    /// fails.
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.op = None;
        state.waker = None;
        drop(state);
        self.changed.notify_all();
    }
}
