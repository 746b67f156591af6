//! The handler's response: start it, then stream the body as a
//! `std::io::Write`, then (when announced) the trailers.

use std::io;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, StatusCode};
use rgi::{Capabilities, HttpSend, ResponseStart};

use crate::handoff::{Failed, Handoff, Op};

/// The response writer a handler gets: WSGI's `start_response` and the
/// body it returns, as one value.
///
/// [`start`](Self::start) sends the status and headers; every
/// [`write`](io::Write::write) then sends one body chunk. At most one
/// event is ever between the handler and the connection: a write hands
/// its chunk over and returns while the connection sends it, and the next
/// write waits until that chunk was taken. A handler writing faster than
/// the client reads is held back by one chunk, and each chunk reaches the
/// connection before the one after the next is produced. Each write is a
/// handoff to the connection's task: wrap the writer in a `BufWriter` to
/// send many small pieces as fewer chunks (one `write!` is one chunk).
/// [`flush`](io::Write::flush) asks the server to put everything on the
/// wire now and waits until the connection has taken it.
///
/// For a body known whole, [`send`](Self::send) does it in one step (and
/// lets the server add `content-length`).
///
/// The response is completed when the handler returns `Ok`: the final
/// (empty) body chunk is sent, and empty trailers if some were announced
/// and none were sent. A handler that returns `Err` or panics after
/// starting gets the connection aborted, never a clean-looking truncated
/// response (rule `CORE-041`); one that returns `Ok` without starting gets
/// a `500` (rule `CORE-042`).
///
/// Errors, like a socket's, come with the operation after the one that
/// failed (or with `flush`): once the client is gone (or the call was
/// cancelled) every operation fails with
/// [`BrokenPipe`](io::ErrorKind::BrokenPipe); once the server refused an
/// event the protocol forbids (bytes past the `content-length`, a body for
/// `HEAD`), every later one fails with
/// [`InvalidInput`](io::ErrorKind::InvalidInput). Misuse this writer can
/// see itself (a body before the start, a second start) fails at once. A
/// handler that returns `Ok` although a send failed gets the failure as
/// the call's outcome.
#[derive(Debug)]
pub struct Response {
    sink: Sink,
    capabilities: Capabilities,
    phase: Phase,
    trailers_announced: bool,
    gone: bool,
    /// The request was `HEAD`.
    head: bool,
    /// The response may carry no body bytes (HEAD, 204, 304): writes are
    /// discarded, as WSGI servers do, instead of refused.
    bodiless: bool,
}

#[derive(Debug)]
enum Sink {
    Connection(Arc<Handoff>),
    Buffer(Box<Buffered>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing sent but early hints.
    Idle,
    /// Started; body chunks may follow.
    Started,
    /// The final body chunk was sent; only announced trailers may follow.
    BodyEnded,
    /// Nothing more may be sent.
    Complete,
}

/// A response a handler wrote into memory: what a post-processing
/// middleware gets back from [`Response::buffered`] to rewrite before it
/// sends it on.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Buffered {
    /// The start, if the handler started the response.
    pub start: Option<ResponseStart>,
    /// Every early-hints header block, in order.
    pub early_hints: Vec<HeaderMap>,
    /// The body bytes, concatenated.
    pub body: BytesMut,
    /// The trailers, if any were sent.
    pub trailers: Option<HeaderMap>,
}

impl Response {
    pub(crate) fn new(handoff: Arc<Handoff>, capabilities: Capabilities, head: bool) -> Self {
        let mut response = Self::with_sink(Sink::Connection(handoff), capabilities);
        response.head = head;
        response
    }

    /// A response that writes into memory: give it to an inner handler,
    /// then take what it wrote with [`into_buffered`](Self::into_buffered).
    /// The post-processing middleware's tool (WSGI middleware that
    /// rewrites the iterable an app returned).
    pub fn buffered(capabilities: Capabilities) -> Self {
        Self::with_sink(Sink::Buffer(Box::default()), capabilities)
    }

    fn with_sink(sink: Sink, capabilities: Capabilities) -> Self {
        Self {
            sink,
            capabilities,
            phase: Phase::Idle,
            trailers_announced: false,
            gone: false,
            head: false,
            bodiless: false,
        }
    }

    /// What a buffered response holds; `None` for a response that writes to
    /// a connection.
    pub fn into_buffered(self) -> Option<Buffered> {
        match self.sink {
            Sink::Buffer(buffered) => Some(*buffered),
            Sink::Connection(_) => None,
        }
    }

    /// What the connection can do beyond plain HTTP (trailers, early
    /// hints): the scope's capabilities.
    pub fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    /// Whether the response has started.
    pub fn is_started(&self) -> bool {
        self.phase != Phase::Idle
    }

    /// Whether the client went away (or the call was cancelled): every
    /// later operation fails with `BrokenPipe`.
    pub fn is_disconnected(&self) -> bool {
        self.gone
    }

    /// Starts the response with `status` and `headers`.
    pub fn start(&mut self, status: StatusCode, headers: HeaderMap) -> io::Result<()> {
        let mut start = ResponseStart::new(status);
        start.headers = headers;
        self.start_with(start)
    }

    /// Starts the response with a whole [`ResponseStart`]: with
    /// `trailers: true` to send [`trailers`](Self::trailers) after the
    /// body (they reach the client only with the `trailers` capability,
    /// see [`capabilities`](Self::capabilities)), or with response
    /// extensions for the middleware outside.
    pub fn start_with(&mut self, start: ResponseStart) -> io::Result<()> {
        if self.phase != Phase::Idle {
            return Err(refused("the response has already started (HTTP-020)"));
        }
        let trailers = start.trailers;
        let bodiless = self.head
            || start.status == StatusCode::NO_CONTENT
            || start.status == StatusCode::NOT_MODIFIED;
        self.exchange(HttpSend::Start(start))?;
        self.trailers_announced = trailers;
        self.bodiless = bodiless;
        self.phase = Phase::Started;
        Ok(())
    }

    /// Sends `103 Early Hints` with `headers` (typically `link`), before
    /// the start; only with the `early_hints` capability.
    pub fn early_hints(&mut self, headers: HeaderMap) -> io::Result<()> {
        if self.phase != Phase::Idle {
            return Err(refused("early hints only before the start (EXT-001)"));
        }
        self.exchange(HttpSend::EarlyHints(headers))
    }

    /// Sends a whole response: status, headers and body, in one step. The
    /// body rules are kept whatever is given (no body bytes for `HEAD`,
    /// `204`, `304`), as [`rgi::HttpConn::respond`] does.
    pub fn send(
        &mut self,
        status: StatusCode,
        headers: HeaderMap,
        body: impl Into<Bytes>,
    ) -> io::Result<()> {
        if self.phase != Phase::Idle {
            return Err(refused("the response has already started (HTTP-020)"));
        }
        let body = body.into();
        match &mut self.sink {
            Sink::Buffer(buffered) => {
                let mut start = ResponseStart::new(status);
                start.headers = headers;
                buffered.start = Some(start);
                buffered.body.extend_from_slice(&body);
            }
            Sink::Connection(handoff) => {
                let handoff = handoff.clone();
                self.complete_op(
                    &handoff,
                    Op::Respond {
                        status,
                        headers,
                        body,
                    },
                )?;
            }
        }
        self.phase = Phase::Complete;
        Ok(())
    }

    /// Sends `data` as one body chunk, without a copy.
    pub fn write_chunk(&mut self, data: Bytes) -> io::Result<()> {
        if !self.body_allowed()? || data.is_empty() {
            return Ok(());
        }
        self.exchange(HttpSend::chunk(data))
    }

    /// Sends the final (empty) body chunk. Optional: returning `Ok` from
    /// the handler does it.
    pub fn finish(&mut self) -> io::Result<()> {
        self.body_allowed()?;
        self.exchange(HttpSend::body(Bytes::new()))?;
        self.phase = if self.trailers_announced {
            Phase::BodyEnded
        } else {
            Phase::Complete
        };
        Ok(())
    }

    /// Ends the body (if not yet) and sends the trailers announced with
    /// [`start_with`](Self::start_with).
    pub fn trailers(&mut self, trailers: HeaderMap) -> io::Result<()> {
        if !self.trailers_announced {
            return Err(refused(
                "trailers were not announced in the start (HTTP-030)",
            ));
        }
        if self.phase == Phase::Started {
            self.finish()?;
        }
        if self.phase != Phase::BodyEnded {
            return Err(refused("trailers only once, after the body (HTTP-030)"));
        }
        self.exchange(HttpSend::Trailers(trailers))?;
        self.phase = Phase::Complete;
        Ok(())
    }

    /// After the handler returned `Ok`: completes what it left open.
    pub(crate) fn complete(&mut self) -> Result<(), Incomplete> {
        match self.phase {
            Phase::Idle => return Err(Incomplete::NotStarted),
            Phase::Started => self.finish().map_err(Incomplete::Io)?,
            Phase::BodyEnded | Phase::Complete => {}
        }
        if self.phase == Phase::BodyEnded {
            self.trailers(HeaderMap::new()).map_err(Incomplete::Io)?;
        }
        Ok(())
    }

    /// Whether body bytes may be sent now: an error for a body out of
    /// place, `false` for one to discard.
    fn body_allowed(&self) -> io::Result<bool> {
        match self.phase {
            Phase::Started => Ok(!self.bodiless),
            Phase::Idle => Err(refused("a body before the start (HTTP-020)")),
            Phase::BodyEnded | Phase::Complete => {
                Err(refused("a body after the final chunk (HTTP-022)"))
            }
        }
    }

    fn exchange(&mut self, event: HttpSend) -> io::Result<()> {
        match &mut self.sink {
            Sink::Buffer(buffered) => {
                buffered.take(event);
                Ok(())
            }
            Sink::Connection(handoff) => {
                let handoff = handoff.clone();
                self.complete_op(&handoff, Op::Send(event))
            }
        }
    }

    fn complete_op(&mut self, handoff: &Handoff, op: Op) -> io::Result<()> {
        if self.gone {
            return Err(broken_pipe());
        }
        handoff.post(op).map_err(|failed| self.failed(failed))
    }

    fn failed(&mut self, failed: Failed) -> io::Error {
        match failed {
            Failed::Disconnected => {
                self.gone = true;
                broken_pipe()
            }
            Failed::Refused(error) => io::Error::new(io::ErrorKind::InvalidInput, error),
        }
    }
}

impl Buffered {
    fn take(&mut self, event: HttpSend) {
        match event {
            HttpSend::EarlyHints(headers) => self.early_hints.push(headers),
            HttpSend::Start(start) => self.start = Some(start),
            HttpSend::Body { data, .. } => self.body.extend_from_slice(&data),
            HttpSend::Trailers(trailers) => self.trailers = Some(trailers),
            // `File` is not offered through the writer; any other event a
            // later spec adds is not one this writer makes.
            _ => {}
        }
    }
}

/// What [`Response::complete`] found.
#[derive(Debug)]
pub(crate) enum Incomplete {
    NotStarted,
    Io(io::Error),
}

impl io::Write for Response {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.body_allowed()? || buf.is_empty() {
            return Ok(buf.len());
        }
        self.exchange(HttpSend::chunk(Bytes::copy_from_slice(buf)))?;
        Ok(buf.len())
    }

    /// One `write!` is one chunk (the default would send each formatted
    /// piece as a chunk of its own, a round trip each).
    fn write_fmt(&mut self, args: std::fmt::Arguments<'_>) -> io::Result<()> {
        if !self.body_allowed()? {
            return Ok(());
        }
        let data = match args.as_str() {
            Some(s) => Bytes::from_static(s.as_bytes()),
            None => Bytes::from(std::fmt::format(args)),
        };
        if data.is_empty() {
            return Ok(());
        }
        self.exchange(HttpSend::chunk(data))
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.phase == Phase::Started {
            // The explicit flush (HTTP-027).
            self.exchange(HttpSend::flush())?;
        }
        match &self.sink {
            // Everything written is with the connection.
            Sink::Connection(handoff) => {
                let settled = handoff.settle();
                settled.map_err(|failed| self.failed(failed))
            }
            Sink::Buffer(_) => Ok(()),
        }
    }
}

fn broken_pipe() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the client disconnected")
}

fn refused(why: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, why)
}
