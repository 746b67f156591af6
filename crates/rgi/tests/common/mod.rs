//! Test doubles shared by the integration tests: a scripted receiver, a
//! recording sender with scripted backpressure, and a bounded executor.
//!
//! Each test file uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use futures::task::{waker, ArcWake};
use rgi::{Error, Receiver, Sender};

/// Runs `fut` to completion on this thread. Unlike a plain `block_on` it
/// cannot hang: it fails the test when the future returns `Pending` without
/// arranging a wake-up (a lost wake-up would hang a real executor), or when
/// it needs more than `MAX_POLLS` polls.
pub(crate) fn run<F: Future>(fut: F) -> F::Output {
    const MAX_POLLS: usize = 10_000;
    struct Flag(AtomicBool);
    impl ArcWake for Flag {
        fn wake_by_ref(arc_self: &Arc<Self>) {
            arc_self.0.store(true, Ordering::SeqCst);
        }
    }
    let flag = Arc::new(Flag(AtomicBool::new(false)));
    let waker = waker(flag.clone());
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    for _ in 0..MAX_POLLS {
        flag.0.store(false, Ordering::SeqCst);
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        assert!(
            flag.0.load(Ordering::SeqCst),
            "the future returned Pending without waking: it would hang"
        );
    }
    panic!("the future did not complete within {MAX_POLLS} polls");
}

/// A receiver that yields a fixed script of events, then fails the test if
/// polled again (instead of hanging).
pub(crate) struct Script<E> {
    events: VecDeque<E>,
    /// How many times `poll_receive` was called.
    pub(crate) polls: usize,
}

impl<E> Script<E> {
    pub(crate) fn new(events: impl IntoIterator<Item = E>) -> Self {
        Self {
            events: events.into_iter().collect(),
            polls: 0,
        }
    }

    /// Events not taken yet.
    pub(crate) fn remaining(&self) -> usize {
        self.events.len()
    }
}

impl<E: Send> Receiver<E> for Script<E> {
    fn poll_receive(&mut self, _cx: &mut Context<'_>) -> Poll<E> {
        self.polls += 1;
        match self.events.pop_front() {
            Some(event) => Poll::Ready(event),
            None => panic!("receiver polled past the end of its script"),
        }
    }
}

/// A sender that records what it is given and how it is driven.
///
/// `poll_flush` returns `Pending` (waking at once) `pending_per_event` times
/// for each event before it reports the event taken, as a slow transport
/// would. It fails the test on a second `start_send` while an event is still
/// in flight (rule `CORE-021`).
pub(crate) struct Recorder<E> {
    pub(crate) events: Vec<E>,
    pub(crate) start_sends: usize,
    pub(crate) flush_polls: usize,
    pub(crate) pending_per_event: usize,
    pending_left: usize,
    in_flight: bool,
    /// When set, `start_send` refuses every event with this error.
    pub(crate) refuse: Option<fn() -> Error>,
    /// When set, `poll_flush` fails with this error once pending is over.
    pub(crate) fail_flush: Option<fn() -> Error>,
}

impl<E> Recorder<E> {
    pub(crate) fn new() -> Self {
        Self::slow(0)
    }

    pub(crate) fn slow(pending_per_event: usize) -> Self {
        Self {
            events: Vec::new(),
            start_sends: 0,
            flush_polls: 0,
            pending_per_event,
            pending_left: 0,
            in_flight: false,
            refuse: None,
            fail_flush: None,
        }
    }
}

impl<E: Send> Sender<E> for Recorder<E> {
    fn start_send(&mut self, event: E) -> Result<(), Error> {
        self.start_sends += 1;
        assert!(
            !self.in_flight,
            "start_send while an event is in flight (CORE-021)"
        );
        if let Some(refuse) = self.refuse {
            return Err(refuse());
        }
        self.events.push(event);
        self.in_flight = true;
        self.pending_left = self.pending_per_event;
        Ok(())
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.flush_polls += 1;
        if self.pending_left > 0 {
            self.pending_left -= 1;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.in_flight = false;
        match self.fail_flush {
            Some(fail) => Poll::Ready(Err(fail())),
            None => Poll::Ready(Ok(())),
        }
    }
}

/// A log shared between test apps, for ordering assertions.
#[derive(Clone, Default)]
pub(crate) struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub(crate) fn push(&self, entry: impl Into<String>) {
        self.0.lock().unwrap().push(entry.into());
    }

    pub(crate) fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// A waker that does nothing, for polling by hand.
pub(crate) fn noop_waker() -> Waker {
    futures::task::noop_waker()
}
