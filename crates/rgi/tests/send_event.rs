//! `SenderExt::send` (the `SendEvent` future): one `start_send`, then
//! `poll_flush` until the transport has taken the event (rules `CORE-020`,
//! `CORE-021`); `flush` and errors.

mod common;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};

use common::{noop_waker, run, Recorder};
use rgi::{Error, LifespanSend, SenderExt};

#[test]
fn send_hands_over_once_then_flushes_until_ready() {
    let mut sender = Recorder::slow(3);
    run(sender.send(LifespanSend::StartupComplete)).unwrap();
    assert_eq!(sender.start_sends, 1);
    assert_eq!(sender.flush_polls, 4, "3 times Pending, then Ready");
    assert_eq!(sender.events, [LifespanSend::StartupComplete]);
}

#[test]
fn send_stays_pending_while_the_transport_has_not_taken_the_event() {
    let mut sender = Recorder::slow(2);
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    {
        let mut fut = pin!(sender.send(LifespanSend::ShutdownComplete));
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert!(matches!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok(()))));
    }
    assert_eq!(
        sender.start_sends, 1,
        "re-polling did not hand the event over again"
    );
    assert_eq!(sender.events.len(), 1);
}

#[test]
fn consecutive_sends_keep_one_event_in_flight() {
    // The recorder fails the test on a start_send while an event is in flight.
    let mut sender = Recorder::slow(1);
    for _ in 0..3 {
        run(sender.send(LifespanSend::StartupComplete)).unwrap();
    }
    assert_eq!(sender.start_sends, 3);
    assert_eq!(sender.flush_polls, 6);
}

#[test]
fn a_refused_event_is_an_error_and_is_not_flushed() {
    let mut sender = Recorder::new();
    sender.refuse = Some(|| Error::protocol("LIFE-002", "answered twice"));
    let err = run(sender.send(LifespanSend::StartupComplete)).unwrap_err();
    assert_eq!(err.rule(), Some("LIFE-002"));
    assert_eq!(sender.flush_polls, 0);
    assert!(sender.events.is_empty());
}

#[test]
fn a_flush_error_is_returned() {
    let mut sender = Recorder::slow(1);
    sender.fail_flush = Some(|| Error::Disconnected);
    let err = run(sender.send(LifespanSend::StartupComplete)).unwrap_err();
    assert!(matches!(err, Error::Disconnected));
    assert_eq!(sender.flush_polls, 2);
}

#[test]
fn flush_only_polls_flush() {
    let mut sender = Recorder::<LifespanSend>::slow(0);
    run(sender.flush()).unwrap();
    assert_eq!(sender.start_sends, 0);
    assert_eq!(sender.flush_polls, 1);
}

#[test]
fn send_works_through_a_dyn_sender() {
    let mut recorder = Recorder::slow(2);
    let sender: &mut dyn rgi::Sender<LifespanSend> = &mut recorder;
    run(sender.send(LifespanSend::StartupComplete)).unwrap();
    assert_eq!(recorder.start_sends, 1);
    assert_eq!(recorder.flush_polls, 3);
}
