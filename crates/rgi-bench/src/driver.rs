//! An in-process driver: runs an app on plain structs, polled with a no-op
//! waker, without a runtime, a socket or an allocation of its own. The
//! criterion benches use it to measure what the interface and middleware
//! cost, apart from any server.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::StatusCode;
use rgi::{
    App, AppResult, Conn, HttpConn, HttpReceive, HttpScope, HttpSend, Receiver, ResponseStart,
    Sender,
};

/// How many times [`poll_ready_future`] polls before giving up. Every
/// driver event is ready at once, so an app finishes in one poll unless it
/// waits on something else; the bound keeps a test from spinning forever.
pub const MAX_POLLS: usize = 64;

/// Polls `future` with a no-op waker until it completes, at most
/// [`MAX_POLLS`] times; `None` if it is still pending.
pub fn poll_ready_future<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    let waker = futures::task::noop_waker_ref();
    let mut cx = Context::from_waker(waker);
    for _ in 0..MAX_POLLS {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return Some(output);
        }
    }
    None
}

/// Calls `app` with one HTTP request and drives it to completion; `None`
/// if it did not complete within [`MAX_POLLS`] polls.
pub fn run_http<A: App + ?Sized>(
    app: &A,
    scope: HttpScope,
    receiver: &mut dyn Receiver<HttpReceive>,
    sender: &mut dyn Sender<HttpSend>,
) -> Option<AppResult> {
    let mut scope = scope;
    poll_ready_future(app.call(Conn::Http(HttpConn::new(&mut scope, receiver, sender))))
}

/// A request body already in memory, handed out one chunk per receive and
/// then `Disconnect` forever. An empty script yields the single empty final
/// chunk of a request without a body. Cloning a chunk is a reference-count
/// increment (none at all for static bytes).
#[derive(Debug)]
pub struct ScriptedReceiver<'a> {
    chunks: &'a [Bytes],
    next: usize,
}

impl<'a> ScriptedReceiver<'a> {
    /// A receiver that yields `chunks` in order.
    pub fn new(chunks: &'a [Bytes]) -> Self {
        Self { chunks, next: 0 }
    }

    /// A request without a body.
    pub fn empty() -> Self {
        Self::new(&[])
    }
}

impl Receiver<HttpReceive> for ScriptedReceiver<'_> {
    fn poll_receive(&mut self, _cx: &mut Context<'_>) -> Poll<HttpReceive> {
        let event = if self.chunks.is_empty() && self.next == 0 {
            HttpReceive::Body {
                data: Bytes::new(),
                more: false,
            }
        } else if let Some(data) = self.chunks.get(self.next) {
            HttpReceive::Body {
                data: data.clone(),
                more: self.next + 1 < self.chunks.len(),
            }
        } else {
            HttpReceive::Disconnect
        };
        self.next += 1;
        Poll::Ready(event)
    }
}

/// A sender that takes every event at once and keeps only counts: the
/// benches' sink. Allocates nothing.
#[derive(Debug, Default)]
pub struct CountingSender {
    /// The response status, once `Start` was sent.
    pub status: Option<StatusCode>,
    /// How many events were sent.
    pub events: usize,
    /// How many body bytes were sent.
    pub body_bytes: usize,
}

impl Sender<HttpSend> for CountingSender {
    fn start_send(&mut self, event: HttpSend) -> Result<(), rgi::Error> {
        self.events += 1;
        match event {
            HttpSend::Start(start) => self.status = Some(start.status),
            HttpSend::Body { data, .. } => self.body_bytes += data.len(),
            _ => {}
        }
        Ok(())
    }

    fn poll_flush(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), rgi::Error>> {
        Poll::Ready(Ok(()))
    }
}

/// A sender that keeps the whole response, for tests. Refuses a body before
/// `Start` and anything after the final chunk, as a server would.
#[derive(Debug, Default)]
pub struct RecordingSender {
    /// The response start.
    pub start: Option<ResponseStart>,
    /// The body bytes, concatenated.
    pub body: Vec<u8>,
    /// How many body events were sent.
    pub body_events: usize,
    /// Whether the final chunk (`more: false`) was sent.
    pub complete: bool,
}

impl Sender<HttpSend> for RecordingSender {
    fn start_send(&mut self, event: HttpSend) -> Result<(), rgi::Error> {
        if self.complete {
            return Err(rgi::Error::protocol(
                "HTTP-020",
                "event after the response ended",
            ));
        }
        match event {
            HttpSend::Start(start) if self.start.is_none() => self.start = Some(start),
            HttpSend::Body { data, more } if self.start.is_some() => {
                self.body.extend_from_slice(&data);
                self.body_events += 1;
                self.complete = !more;
            }
            _ => return Err(rgi::Error::protocol("HTTP-020", "event out of order")),
        }
        Ok(())
    }

    fn poll_flush(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), rgi::Error>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rgi::ReceiverExt;

    #[test]
    fn scripted_receiver_marks_last_chunk_then_disconnects() {
        let chunks = [Bytes::from_static(b"a"), Bytes::from_static(b"b")];
        let mut receiver = ScriptedReceiver::new(&chunks);
        let events: Vec<_> = (0..4)
            .map(|_| poll_ready_future(receiver.recv()).unwrap())
            .collect();
        assert_eq!(
            events,
            [
                HttpReceive::Body {
                    data: chunks[0].clone(),
                    more: true
                },
                HttpReceive::Body {
                    data: chunks[1].clone(),
                    more: false
                },
                HttpReceive::Disconnect,
                HttpReceive::Disconnect,
            ]
        );
        let mut empty = ScriptedReceiver::empty();
        assert_eq!(
            poll_ready_future(empty.recv()).unwrap(),
            HttpReceive::Body {
                data: Bytes::new(),
                more: false
            }
        );
        assert_eq!(
            poll_ready_future(empty.recv()).unwrap(),
            HttpReceive::Disconnect
        );
    }

    #[test]
    fn poll_bound_gives_up_on_a_future_that_never_completes() {
        assert!(poll_ready_future(std::future::pending::<()>()).is_none());
    }

    #[test]
    fn recording_sender_refuses_out_of_order_events() {
        let mut sender = RecordingSender::default();
        assert!(sender.start_send(HttpSend::body("early")).is_err());
        sender
            .start_send(HttpSend::Start(ResponseStart::new(StatusCode::OK)))
            .unwrap();
        sender.start_send(HttpSend::body("done")).unwrap();
        assert!(sender.start_send(HttpSend::body("late")).is_err());
        assert_eq!(sender.body, b"done");
    }
}
