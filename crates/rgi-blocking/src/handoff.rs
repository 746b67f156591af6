//! The bounded handoff between the handler's thread and the connection's
//! future: one slot each way, so at most one operation (a chunk to send,
//! a request for the next body chunk) is ever in flight. The thread
//! blocks on a condition variable; the future is woken through its waker.
//!
//! Backpressure holds both ways because nothing is queued: the thread's
//! `write` returns only once the connection's `send` completed (the
//! transport took the chunk), and a body chunk is received from the
//! connection only when the thread asks for one.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
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

/// The connection's answer to an [`Op`].
#[derive(Debug)]
pub(crate) enum Reply {
    Received(HttpReceive),
    Sent(Result<(), rgi::Error>),
}

/// What the connection's future is told next.
#[derive(Debug)]
pub(crate) enum Next {
    Op(Op),
    /// The handler is done (and has sent everything it will send).
    Finished(Result<(), BoxError>),
}

/// The connection's future is gone (the call was cancelled), so no
/// operation can complete any more.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Closed;

#[derive(Default)]
struct State {
    op: Option<Op>,
    reply: Option<Reply>,
    /// An operation was placed and its reply not yet taken.
    in_flight: bool,
    /// The connection's side dropped its end.
    closed: bool,
    /// The connection reported the client gone (`Disconnect`, or a send
    /// that failed with `Error::Disconnected`).
    peer_gone: bool,
    finished: Option<Result<(), BoxError>>,
    waker: Option<Waker>,
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

    /// The thread's side: hands `op` to the connection and blocks until it
    /// is done. One operation at a time: a second caller (the body read
    /// from another thread while the response writes) waits its turn.
    pub(crate) fn exchange(&self, op: Op) -> Result<Reply, Closed> {
        let mut state = self.lock();
        while state.in_flight && !state.closed {
            state = self.wait(state);
        }
        if state.closed {
            return Err(Closed);
        }
        state.in_flight = true;
        state.op = Some(op);
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        let mut state = self.lock();
        loop {
            if let Some(reply) = state.reply.take() {
                state.in_flight = false;
                drop(state);
                self.changed.notify_all();
                return Ok(reply);
            }
            if state.closed {
                return Err(Closed);
            }
            state = self.wait(state);
        }
    }

    /// Whether the connection's side is gone.
    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Whether the client went away, or the call was cancelled.
    pub(crate) fn is_disconnected(&self) -> bool {
        let state = self.lock();
        state.closed || state.peer_gone
    }

    /// The thread's side: the handler is done.
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

    /// The connection's side: the answer to the operation it took.
    pub(crate) fn reply(&self, reply: Reply) {
        let mut state = self.lock();
        if matches!(
            reply,
            Reply::Received(HttpReceive::Disconnect) | Reply::Sent(Err(rgi::Error::Disconnected))
        ) {
            state.peer_gone = true;
        }
        state.reply = Some(reply);
        drop(state);
        self.changed.notify_all();
    }

    /// The connection's side is gone: every operation waiting or to come
    /// fails with [`Closed`].
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.op = None;
        state.waker = None;
        drop(state);
        self.changed.notify_all();
    }
}
