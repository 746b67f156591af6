//! What a handler is given: the request's scope and its body as a
//! `std::io::Read`.

use std::io;
use std::sync::Arc;

use bytes::{Buf, Bytes};
use rgi::{HttpReceive, HttpScope};

use crate::handoff::Handoff;

/// One request, as a blocking handler gets it: WSGI's `environ` and
/// `wsgi.input`, typed.
#[derive(Debug)]
#[non_exhaustive]
pub struct Request {
    /// The request's scope, owned: the handler's own copy, which it may
    /// keep, change or move to another thread. (Changes are not seen by
    /// the middleware outside the adapter.)
    pub scope: HttpScope,
    /// The request body.
    pub body: Body,
}

impl Request {
    /// A request with this scope whose body reads from `handoff`.
    pub(crate) fn new(scope: HttpScope, handoff: Arc<Handoff>) -> Self {
        Self {
            scope,
            body: Body::new(Some(handoff)),
        }
    }

    /// A request with this scope and the body given whole, for calling a
    /// handler directly (from a test, or from a middleware that builds a
    /// request of its own). Never blocks, never fails.
    pub fn with_body(scope: HttpScope, body: impl Into<Bytes>) -> Self {
        let mut reader = Body::new(None);
        reader.chunk = body.into();
        reader.state = BodyState::Ended;
        Self {
            scope,
            body: reader,
        }
    }
}

/// The request body, read as the client sends it: each `read` that finds
/// nothing buffered pulls one `receive` event from the connection, so a
/// body of any size is never held whole and an unread body is never
/// received at all.
///
/// `read` returns `Ok(0)` at the end of the body, and an error of kind
/// [`ConnectionAborted`](io::ErrorKind::ConnectionAborted) when the client
/// went away (or the call was cancelled) before the end. Wrap it in a
/// `BufReader` for line-wise reading, or use
/// `read_to_end` through `Read::take(limit)` to read a bounded body whole.
#[derive(Debug)]
pub struct Body {
    handoff: Option<Arc<Handoff>>,
    chunk: Bytes,
    state: BodyState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyState {
    Reading,
    Ended,
    Aborted,
}

impl Body {
    fn new(handoff: Option<Arc<Handoff>>) -> Self {
        Self {
            handoff,
            chunk: Bytes::new(),
            state: BodyState::Reading,
        }
    }

    /// The next non-empty chunk as the connection delivered it, without a
    /// copy; `None` at the end of the body. Bytes already buffered by a
    /// `read` come first.
    pub fn next_chunk(&mut self) -> io::Result<Option<Bytes>> {
        loop {
            if !self.chunk.is_empty() {
                return Ok(Some(std::mem::take(&mut self.chunk)));
            }
            match self.state {
                BodyState::Ended => return Ok(None),
                BodyState::Aborted => return Err(aborted()),
                BodyState::Reading => self.pull()?,
            }
        }
    }

    /// Whether the whole body has been read.
    pub fn is_done(&self) -> bool {
        self.state == BodyState::Ended && self.chunk.is_empty()
    }

    fn pull(&mut self) -> io::Result<()> {
        let Some(handoff) = &self.handoff else {
            self.state = BodyState::Ended;
            return Ok(());
        };
        match handoff.receive() {
            Ok(HttpReceive::Body { data, more }) => {
                self.chunk = data;
                if !more {
                    self.state = BodyState::Ended;
                }
                Ok(())
            }
            // `Disconnect` (or an event a later spec adds), or the call
            // cancelled: the body will not be completed.
            Ok(_) | Err(_) => {
                self.state = BodyState::Aborted;
                Err(aborted())
            }
        }
    }
}

fn aborted() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "the client disconnected before the end of the request body",
    )
}

impl io::Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.chunk.is_empty() {
            match self.state {
                BodyState::Ended => return Ok(0),
                BodyState::Aborted => return Err(aborted()),
                BodyState::Reading => self.pull()?,
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk.advance(n);
        Ok(n)
    }
}
