//! One request/response exchange: the app's [`Receiver`] and [`Sender`],
//! and the per-connection state they share with the connection loop.
//!
//! Both handles and the loop reach the state through one `Mutex` that is
//! never contended: they all run on the connection's task, one at a time.
//! It is what lets the loop push buffered response bytes out while the app
//! is busy, and the receiver queue a `100 Continue`, without channels or
//! extra tasks. The socket is shared as `&Stream`, whose readiness API
//! needs no exclusive access.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{ready, Context, Poll, Waker};

use crate::listen::Stream;
use bytes::Bytes;
use http::header;
use http::{StatusCode, Version};
use rgi::{Capabilities, Error, FileBody, HttpReceive, HttpSend, Receiver, ResponseStart, Sender};

use super::body::{BodyDecoder, BodyError, Decoded};
use super::file::FileSend;
use super::parse::{parse_content_length, tokens};
use crate::ctx::ServerCtx;
use crate::shutdown::ConnWatch;
use crate::wire::encode::{self, is_hop_by_hop, ConnectionHeader, Identity, LengthHeader};
use crate::wire::io::{poll_read_buf, WriteBuf};
use crate::wire::stall::StallClock;

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// What the receiver, the sender and the connection loop share.
pub(crate) struct Shared<'c> {
    pub(crate) stream: &'c Stream,
    pub(crate) ctx: &'c ServerCtx,
    pub(crate) watch: &'c ConnWatch,
    pub(crate) core: Mutex<Core>,
}

impl Shared<'_> {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Core> {
        // Nothing holding the lock calls out to app code, so a poisoned lock
        // can only come from a bug of ours mid-update; the state is still
        // memory-safe and the connection is about to be dropped anyway.
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn core_mut(&mut self) -> &mut Core {
        self.core.get_mut().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Per-connection state; the request and response parts are reset for
/// every request.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) read_buf: bytes::BytesMut,
    pub(crate) out: WriteBuf,
    pub(crate) req: RequestState,
    pub(crate) resp: ResponseState,
    /// The client is gone (a write failed, or the read side ended).
    pub(crate) peer_gone: bool,
    /// The read side reached end of stream.
    pub(crate) read_eof: bool,
    /// The receiver waits for the response to complete.
    rx_waker: Option<Waker>,
    /// The sender waits for the socket to take buffered bytes.
    pub(crate) tx_waiting: bool,
    /// Watches output that cannot be written (`Config::write_timeout`).
    pub(crate) stall: StallClock,
    /// No byte could be written for `write_timeout`: the connection was
    /// given up (and counts as gone).
    pub(crate) write_stalled: bool,
}

impl Core {
    pub(crate) fn new() -> Self {
        Self {
            read_buf: bytes::BytesMut::new(),
            out: WriteBuf::default(),
            req: RequestState::idle(),
            resp: ResponseState::new(),
            peer_gone: false,
            read_eof: false,
            rx_waker: None,
            tx_waiting: false,
            stall: StallClock::default(),
            write_stalled: false,
        }
    }

    /// The client went away: wake a receiver waiting for it.
    pub(crate) fn set_peer_gone(&mut self) {
        self.peer_gone = true;
        self.wake_receiver();
    }

    /// No byte left for `write_timeout`: drop the output and treat the
    /// client as gone, so the app's sends fail and its receive returns
    /// `Disconnect` (rules CORE-010, CORE-032).
    pub(crate) fn give_up_stalled_write(&mut self) {
        self.write_stalled = true;
        self.out.clear();
        self.set_peer_gone();
    }

    fn wake_receiver(&mut self) {
        if let Some(waker) = self.rx_waker.take() {
            waker.wake();
        }
    }
}

/// The request side of the exchange.
#[derive(Debug)]
pub(crate) struct RequestState {
    pub(crate) decoder: BodyDecoder,
    pub(crate) method_is_head: bool,
    pub(crate) version: Version,
    /// The client allows keep-alive.
    pub(crate) keep_alive: bool,
    pub(crate) capabilities: Capabilities,
    /// A `100 Continue` is owed when the app first asks for the body.
    pub(crate) expect_continue: bool,
    /// The last body event (`more: false`) was handed to the app.
    pub(crate) final_delivered: bool,
    /// `Disconnect` was handed to the app.
    pub(crate) disconnect_reported: bool,
    /// The body broke a rule: answer this status if the response has not
    /// started, then close.
    pub(crate) body_error: Option<StatusCode>,
}

impl RequestState {
    pub(crate) fn idle() -> Self {
        Self {
            decoder: BodyDecoder::new(super::parse::BodyFraming::Empty, None),
            method_is_head: false,
            version: Version::HTTP_11,
            keep_alive: false,
            capabilities: Capabilities::NONE,
            expect_continue: false,
            final_delivered: false,
            disconnect_reported: false,
            body_error: None,
        }
    }
}

/// Where the response is.
#[derive(Debug)]
pub(crate) enum Phase {
    /// Nothing sent yet (early hints aside).
    Initial,
    /// `Start` received; the head waits for the first body event so that
    /// a complete body can get a `content-length` and go out in one write.
    /// Kept inline, not boxed: a box here was one allocation per request.
    HeadPending(ResponseStart),
    /// Head written; body in progress.
    Body,
    /// Final body sent; `Trailers` announced and awaited.
    AwaitTrailers,
    /// Done.
    Complete,
}

/// How the response body is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body may be written (HEAD, 204, 304).
    NoBody,
    /// `content-length`; this many bytes still owed.
    Length(u64),
    /// Chunked; `trailers`: the trailer section goes out after the body.
    Chunked { trailers: bool },
    /// Until the connection closes (HTTP/1.0 without a length).
    CloseDelimited,
}

/// The response side of the exchange.
#[derive(Debug)]
pub(crate) struct ResponseState {
    pub(crate) phase: Phase,
    pub(crate) framing: Framing,
    pub(crate) status: StatusCode,
    /// `Start.trailers` was set.
    trailers_announced: bool,
    /// The app's `content-length`, parsed at `Start`.
    app_length: Option<u64>,
    /// The app's Start carried `connection: close`: the one connection
    /// field an app may set, to ask for a close after this response
    /// (rule HTTP-036).
    app_close: bool,
    /// The connection closes after this response (announced in its head).
    pub(crate) close: bool,
    /// Body bytes the app handed over.
    pub(crate) body_bytes: u64,
    /// The app asked for an explicit flush (rule HTTP-027).
    flush_requested: bool,
    /// The body cannot be completed (it ended short of its
    /// `content-length`, or a `File` failed): abort the connection.
    pub(crate) short_body: bool,
    /// The `File` event being sent (rules EXT-020, EXT-021).
    file: Option<Box<FileSend>>,
}

impl ResponseState {
    pub(crate) fn new() -> Self {
        Self {
            phase: Phase::Initial,
            framing: Framing::NoBody,
            status: StatusCode::OK,
            trailers_announced: false,
            app_length: None,
            app_close: false,
            close: false,
            body_bytes: 0,
            flush_requested: false,
            short_body: false,
            file: None,
        }
    }

    pub(crate) fn started(&self) -> bool {
        !matches!(self.phase, Phase::Initial)
    }

    pub(crate) fn complete(&self) -> bool {
        matches!(self.phase, Phase::Complete) && !self.short_body
    }
}

/// The app's receiver for one request.
pub(crate) struct Rx<'s, 'c> {
    pub(crate) shared: &'s Shared<'c>,
}

/// The app's sender for one request.
pub(crate) struct Tx<'s, 'c> {
    shared: &'s Shared<'c>,
    /// `false` right after a `start_send` that left nothing to flush: the
    /// `poll_flush` that follows it returns at once, without the lock
    /// (half of the lock round trips of a small response).
    flush_pending: bool,
}

impl<'s, 'c> Tx<'s, 'c> {
    pub(crate) fn new(shared: &'s Shared<'c>) -> Self {
        Self {
            shared,
            flush_pending: true,
        }
    }
}

fn report_disconnect(core: &mut Core) -> Poll<HttpReceive> {
    core.req.disconnect_reported = true;
    Poll::Ready(HttpReceive::Disconnect)
}

impl Receiver<HttpReceive> for Rx<'_, '_> {
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<HttpReceive> {
        let shared = self.shared;
        let mut guard = shared.lock();
        let core = &mut *guard;
        if core.req.disconnect_reported || core.req.body_error.is_some() || core.write_stalled {
            return report_disconnect(core);
        }
        if !core.req.final_delivered {
            return poll_body(shared, core, cx);
        }
        // The body is over: wait until the response completes or the
        // client leaves (rules HTTP-011, HTTP-012).
        if core.resp.complete() || core.resp.short_body || core.peer_gone {
            return report_disconnect(core);
        }
        if shared.ctx.shutdown.is_started() {
            // The server is shutting this exchange down.
            return report_disconnect(core);
        }
        shared.watch.register(cx.waker());
        match &core.rx_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => core.rx_waker = Some(cx.waker().clone()),
        }
        // Watch the socket for the client closing. Bytes that arrive are
        // the next (pipelined) request: keep them, within the head limit.
        let limit = shared.ctx.config.max_head_bytes;
        while core.read_buf.len() < limit {
            match poll_read_buf(shared.stream, &mut core.read_buf, 4096, cx) {
                Poll::Pending => break,
                Poll::Ready(Ok(n)) if n > 0 => {}
                Poll::Ready(_) => {
                    core.read_eof = true;
                    core.peer_gone = true;
                    return report_disconnect(core);
                }
            }
        }
        Poll::Pending
    }
}

fn poll_body(shared: &Shared<'_>, core: &mut Core, cx: &mut Context<'_>) -> Poll<HttpReceive> {
    if core.req.expect_continue {
        core.req.expect_continue = false;
        // Only before the response starts (rule HTTP-013), and only when
        // there is a body to ask for. The connection loop writes it out
        // as soon as this poll returns pending.
        if !core.resp.started() && !core.req.decoder.is_done() {
            core.out.extend(CONTINUE);
        }
    }
    let chunk = shared.ctx.config.read_chunk_bytes;
    loop {
        match core.req.decoder.decode(&mut core.read_buf, chunk) {
            Ok(Decoded::Data(data)) => {
                let more = !core.req.decoder.is_done();
                core.req.final_delivered = !more;
                return Poll::Ready(HttpReceive::Body { data, more });
            }
            Ok(Decoded::Done) => {
                core.req.final_delivered = true;
                return Poll::Ready(HttpReceive::Body {
                    data: Bytes::new(),
                    more: false,
                });
            }
            Ok(Decoded::NeedMore) => {
                if core.read_eof {
                    core.peer_gone = true;
                    return report_disconnect(core);
                }
                match poll_read_buf(shared.stream, &mut core.read_buf, chunk, cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(n)) if n > 0 => {}
                    Poll::Ready(_) => {
                        // The client left in the middle of the body.
                        core.read_eof = true;
                        core.peer_gone = true;
                        return report_disconnect(core);
                    }
                }
            }
            Err(e) => {
                // The rest of the body cannot be read: for the app the
                // client is gone; the loop answers the status (or aborts).
                core.req.body_error = Some(match e {
                    BodyError::Malformed(_) => StatusCode::BAD_REQUEST,
                    BodyError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                });
                tracing::debug!(error = ?e, "bad request body");
                return report_disconnect(core);
            }
        }
    }
}

impl Sender<HttpSend> for Tx<'_, '_> {
    fn start_send(&mut self, event: HttpSend) -> Result<(), Error> {
        self.flush_pending = true;
        let shared = self.shared;
        let mut guard = shared.lock();
        let core = &mut *guard;
        if core.peer_gone || core.req.disconnect_reported {
            // A broken event is refused with its rule whatever the
            // network did (CORE-012); only a valid one learns the client
            // is gone (CORE-010).
            check_event(core, &event)?;
            return Err(Error::Disconnected);
        }
        if core.resp.file.is_some() {
            // The file's bytes are unaccounted for: the response is lost.
            fail_response(core);
            return Err(Error::protocol(
                "CORE-021",
                "an event was sent before the previous File was flushed",
            ));
        }
        core.tx_waiting = false;
        let result = match event {
            HttpSend::Start(start) => on_start(core, start),
            HttpSend::Body { data, more } => on_body(shared, core, data, more),
            HttpSend::Trailers(trailers) => {
                check_trailers(core)?;
                if core.resp.framing == (Framing::Chunked { trailers: true }) {
                    let n = encode::encode_trailers(core.out.tail(), &trailers);
                    core.out.grew(n);
                }
                complete(core);
                Ok(())
            }
            HttpSend::EarlyHints(hints) => {
                check_early_hints(core)?;
                let n = encode::encode_early_hints(core.out.tail(), &hints);
                core.out.grew(n);
                // Early hints are worth nothing late: push them out now.
                core.resp.flush_requested = true;
                Ok(())
            }
            HttpSend::File(file) => on_file(core, file),
            _ => Err(Error::protocol("HTTP-020", "unknown HTTP event")),
        };
        // What `poll_flush` would find to do, decided while the lock is
        // held anyway. Between this and the `poll_flush` of the same
        // `send` nothing else runs, so nothing can change it.
        self.flush_pending = result.is_err()
            || core.resp.file.is_some()
            || core.resp.flush_requested
            || core.out.len() > shared.ctx.config.write_buffer_bytes;
        result
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if !self.flush_pending {
            // Once: a flush without a new event takes the full path.
            self.flush_pending = true;
            return Poll::Ready(Ok(()));
        }
        let shared = self.shared;
        let mut guard = shared.lock();
        let core = &mut *guard;
        loop {
            if core.peer_gone {
                return Poll::Ready(Err(Error::Disconnected));
            }
            let sending_file = core.resp.file.is_some();
            let limit = if core.resp.flush_requested && !sending_file {
                0
            } else {
                shared.ctx.config.write_buffer_bytes
            };
            if core.out.len() > limit {
                match core.out.poll_flush_to(shared.stream, limit, cx) {
                    Poll::Pending => {
                        core.tx_waiting = true;
                        return Poll::Pending;
                    }
                    Poll::Ready(Err(_)) => {
                        core.set_peer_gone();
                        return Poll::Ready(Err(Error::Disconnected));
                    }
                    Poll::Ready(Ok(())) => {}
                }
            }
            if !sending_file {
                break;
            }
            // Waiting on the file is not waiting on the socket: the
            // connection loop keeps writing meanwhile.
            core.tx_waiting = false;
            ready!(poll_file(shared, core, cx))?;
        }
        core.tx_waiting = false;
        core.resp.flush_requested = false;
        Poll::Ready(Ok(()))
    }
}

/// The rule checks of [`Tx::start_send`], without acting on the event: for
/// events sent once the client is gone.
fn check_event(core: &Core, event: &HttpSend) -> Result<(), Error> {
    match event {
        HttpSend::Start(start) => check_start(core, start).map(|_| ()),
        HttpSend::Body { data, .. } => {
            check_body_allowed(core, "Body")?;
            if !data.is_empty() && no_body_allowed(core) {
                return Err(no_body_bytes("Body"));
            }
            let remaining = match core.resp.phase {
                Phase::HeadPending(_) => core.resp.app_length,
                _ => match core.resp.framing {
                    Framing::Length(n) => Some(n),
                    _ => None,
                },
            };
            remaining.map_or(Ok(()), |n| check_excess(n, data.len() as u64))
        }
        HttpSend::File(file) => check_file(core, file),
        HttpSend::Trailers(_) => check_trailers(core),
        HttpSend::EarlyHints(_) => check_early_hints(core),
        _ => Err(Error::protocol("HTTP-020", "unknown HTTP event")),
    }
}

fn check_trailers(core: &Core) -> Result<(), Error> {
    match core.resp.phase {
        Phase::AwaitTrailers => Ok(()),
        _ => Err(Error::protocol(
            "HTTP-030",
            "Trailers is only allowed once, after the final body, when Start.trailers was set",
        )),
    }
}

fn check_early_hints(core: &Core) -> Result<(), Error> {
    if !core.req.capabilities.early_hints {
        return Err(Error::protocol(
            "EXT-001",
            "EarlyHints sent without the early_hints capability",
        ));
    }
    if core.resp.started() {
        return Err(Error::protocol("EXT-010", "EarlyHints sent after Start"));
    }
    Ok(())
}

fn on_start(core: &mut Core, start: ResponseStart) -> Result<(), Error> {
    let (app_length, app_close) = check_start(core, &start)?;
    core.resp.status = start.status;
    core.resp.app_length = app_length;
    core.resp.app_close = app_close;
    core.resp.trailers_announced = start.trailers;
    core.resp.phase = Phase::HeadPending(start);
    Ok(())
}

/// Checks `Start` (rules HTTP-020, HTTP-021, HTTP-023, HTTP-024, HTTP-036);
/// returns the app's `content-length` and whether it asked for a close.
fn check_start(core: &Core, start: &ResponseStart) -> Result<(Option<u64>, bool), Error> {
    if core.resp.started() {
        return Err(Error::protocol("HTTP-020", "Start sent twice"));
    }
    let status = start.status.as_u16();
    if !(200..=599).contains(&status) {
        return Err(Error::protocol(
            "HTTP-021",
            format!("Start.status must be 200-599 (this server offers no upgrade), got {status}"),
        ));
    }
    // One pass over the app's fields for the one the server acts on and
    // the ones it refuses, instead of a hashed lookup for each (this runs
    // for every response).
    let mut app_length = None;
    let mut app_close = false;
    for (name, value) in &start.headers {
        if *name == header::CONTENT_LENGTH {
            let n = parse_content_length(value.as_bytes())
                .ok_or_else(|| Error::protocol("HTTP-024", "invalid content-length in Start"))?;
            if app_length.is_some_and(|m| m != n) {
                return Err(Error::protocol(
                    "HTTP-024",
                    "conflicting content-length values in Start",
                ));
            }
            app_length = Some(n);
        } else if *name == header::CONNECTION && is_close_only(value.as_bytes()) {
            app_close = true;
        } else if is_hop_by_hop(name) {
            // Refused, not dropped (CORE-012): an app bug shows the same
            // way on every server.
            return Err(Error::protocol(
                "HTTP-023",
                format!(
                    "connection-specific field `{name}` in Start: the server frames the response"
                ),
            ));
        }
    }
    Ok((app_length, app_close))
}

/// `connection: close` and nothing else (HTTP-036); any other token is a
/// connection-specific field the app may not set (HTTP-023).
fn is_close_only(value: &[u8]) -> bool {
    let mut tokens = tokens(value).peekable();
    tokens.peek().is_some() && tokens.all(|t| t.eq_ignore_ascii_case(b"close"))
}

fn on_body(shared: &Shared<'_>, core: &mut Core, data: Bytes, more: bool) -> Result<(), Error> {
    let len = data.len();
    begin_body(shared, core, len as u64, more, "Body")?;
    append_body(core, len, |out| out.push(data));
    if more {
        core.resp.flush_requested |= len == 0;
        return Ok(());
    }
    end_body(core)
}

/// Checks that a body event of `len` bytes may come now and fits the
/// `content-length`; the first one chooses the framing and writes the head.
fn begin_body(
    shared: &Shared<'_>,
    core: &mut Core,
    len: u64,
    more: bool,
    event: &str,
) -> Result<(), Error> {
    check_body_allowed(core, event)?;
    if len > 0 && no_body_allowed(core) {
        return Err(no_body_bytes(event));
    }
    if let Phase::HeadPending(_) = core.resp.phase {
        let framing = choose_framing(core, len, more);
        if let Framing::Length(n) = framing {
            check_excess(n, len)?;
        }
        let Phase::HeadPending(start) = std::mem::replace(&mut core.resp.phase, Phase::Body) else {
            unreachable!("checked above");
        };
        // A whole response sent while a Content-Length body is still on
        // its way: the connection will close after it (HTTP-015), so the
        // head says so (HTTP-029, RFC 9112 §9.6).
        let body_left_behind = !more && core.req.decoder.needs_more_than(core.read_buf.len());
        write_head(shared, core, &start, framing, body_left_behind);
    } else if let Framing::Length(n) = core.resp.framing {
        check_excess(n, len)?;
    }
    Ok(())
}

/// Whether a body event (`Body` or `File`) may come now (rules HTTP-020,
/// HTTP-022, EXT-020).
fn check_body_allowed(core: &Core, event: &str) -> Result<(), Error> {
    match core.resp.phase {
        Phase::Initial => Err(Error::protocol(
            "HTTP-020",
            format!("{event} sent before Start"),
        )),
        Phase::AwaitTrailers | Phase::Complete => Err(Error::protocol(
            "HTTP-022",
            format!("{event} sent after the final body"),
        )),
        Phase::HeadPending(_) | Phase::Body => Ok(()),
    }
}

/// Frames `len` body bytes that `put` appends to the output (checked
/// against the `content-length` by [`begin_body`]).
fn append_body(core: &mut Core, len: usize, put: impl FnOnce(&mut WriteBuf)) {
    core.resp.body_bytes += len as u64;
    match &mut core.resp.framing {
        Framing::NoBody => {}
        Framing::Length(remaining) => {
            *remaining -= len as u64;
            put(&mut core.out);
        }
        Framing::Chunked { .. } if len == 0 => {}
        Framing::Chunked { .. } => {
            let n = encode::encode_chunk_size(core.out.tail(), len);
            core.out.grew(n);
            put(&mut core.out);
            core.out.extend(b"\r\n");
        }
        Framing::CloseDelimited => put(&mut core.out),
    }
}

/// The final body event went out: close the framing, or fail a body short
/// of its `content-length`.
fn end_body(core: &mut Core) -> Result<(), Error> {
    match core.resp.framing {
        Framing::Length(remaining) if remaining > 0 => {
            fail_response(core);
            return Err(Error::protocol(
                "HTTP-024",
                format!("the body ended {remaining} bytes short of its content-length"),
            ));
        }
        Framing::Chunked { trailers: false } => core.out.extend(b"0\r\n\r\n"),
        _ => {}
    }
    if core.resp.trailers_announced {
        core.resp.phase = Phase::AwaitTrailers;
    } else {
        complete(core);
    }
    Ok(())
}

/// The response cannot be completed: the connection is aborted once the
/// app returns (rule CORE-041), and its receive says `Disconnect`.
fn fail_response(core: &mut Core) {
    core.resp.short_body = true;
    core.resp.file = None;
    core.resp.phase = Phase::Complete;
    core.wake_receiver();
}

fn on_file(core: &mut Core, file: FileBody) -> Result<(), Error> {
    check_file(core, &file)?;
    core.resp.file = Some(Box::new(FileSend::new(file.path, file.range, file.more)));
    Ok(())
}

/// Checks a `File` event (rules EXT-001, HTTP-020, HTTP-022, HTTP-025,
/// EXT-022); the file itself is read at flush (EXT-021).
fn check_file(core: &Core, file: &FileBody) -> Result<(), Error> {
    if !core.req.capabilities.send_file {
        return Err(Error::protocol(
            "EXT-001",
            "File sent without the send_file capability",
        ));
    }
    check_body_allowed(core, "File")?;
    if no_body_allowed(core) {
        return Err(no_body_bytes("File"));
    }
    file.check()
}

/// Moves the `File` being sent one step on: opened (then the head may be
/// written), one chunk framed into the output, or finished.
fn poll_file(
    shared: &Shared<'_>,
    core: &mut Core,
    cx: &mut Context<'_>,
) -> Poll<Result<(), Error>> {
    let Some(mut file) = core.resp.file.take() else {
        return Poll::Ready(Ok(()));
    };
    let step = poll_file_step(shared, core, &mut file, cx);
    match step {
        Poll::Pending | Poll::Ready(Ok(false)) => {
            core.resp.file = Some(file);
            step.map(|_| Ok(()))
        }
        Poll::Ready(Ok(true)) => Poll::Ready(Ok(())),
        Poll::Ready(Err(e)) => {
            fail_response(core);
            Poll::Ready(Err(e))
        }
    }
}

/// One step of [`poll_file`]; ready with `true` when the file is done.
fn poll_file_step(
    shared: &Shared<'_>,
    core: &mut Core,
    file: &mut FileSend,
    cx: &mut Context<'_>,
) -> Poll<Result<bool, Error>> {
    if !file.is_open() {
        let len = ready!(file.poll_open(cx)).map_err(|e| Error::protocol("EXT-021", e))?;
        begin_body(shared, core, len, file.more, "File")?;
        if core.resp.framing == Framing::NoBody {
            core.resp.body_bytes += len;
            file.skip();
        }
    }
    if file.remaining() == 0 {
        if !file.more {
            end_body(core)?;
        }
        return Poll::Ready(Ok(true));
    }
    let chunk = ready!(file.poll_read(cx)).map_err(|e| Error::protocol("EXT-021", e))?;
    append_body(core, chunk.len(), |out| out.extend(chunk));
    Poll::Ready(Ok(false))
}

fn check_excess(remaining: u64, len: u64) -> Result<(), Error> {
    if len > remaining {
        return Err(Error::protocol(
            "HTTP-024",
            format!("{len} body bytes sent where {remaining} remain of the content-length"),
        ));
    }
    Ok(())
}

fn complete(core: &mut Core) {
    core.resp.phase = Phase::Complete;
    core.wake_receiver();
}

/// Whether the response may carry no body bytes: HEAD, 204, 304
/// (rules HTTP-025, HTTP-026).
fn no_body_allowed(core: &Core) -> bool {
    let status = core.resp.status;
    core.req.method_is_head
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
}

fn no_body_bytes(event: &str) -> Error {
    Error::protocol(
        "HTTP-025",
        format!(
            "{event} with body bytes for HEAD, 204 or 304: only an empty final Body may be sent"
        ),
    )
}

/// Chooses the response framing, once, when the head is written
/// (rules HTTP-026, HTTP-028).
fn choose_framing(core: &Core, first_len: u64, more: bool) -> Framing {
    if no_body_allowed(core) {
        return Framing::NoBody;
    }
    if let Some(n) = core.resp.app_length {
        return Framing::Length(n);
    }
    if core.resp.trailers_announced && core.req.capabilities.trailers {
        return Framing::Chunked { trailers: true };
    }
    if !more {
        return Framing::Length(first_len);
    }
    if core.req.version == Version::HTTP_11 {
        Framing::Chunked { trailers: false }
    } else {
        Framing::CloseDelimited
    }
}

fn write_head(
    shared: &Shared<'_>,
    core: &mut Core,
    start: &ResponseStart,
    framing: Framing,
    body_left_behind: bool,
) {
    let status = start.status;
    let length = match framing {
        Framing::NoBody if status == StatusCode::NO_CONTENT => LengthHeader::None,
        Framing::NoBody => core
            .resp
            .app_length
            .map_or(LengthHeader::None, LengthHeader::Length),
        Framing::Length(n) => LengthHeader::Length(n),
        Framing::Chunked { .. } => LengthHeader::Chunked,
        Framing::CloseDelimited => LengthHeader::None,
    };
    let close = !core.req.keep_alive
        || core.resp.app_close
        || framing == Framing::CloseDelimited
        || core.read_eof
        || body_left_behind
        || shared.ctx.shutdown.is_started();
    let connection = if close {
        ConnectionHeader::Close
    } else if core.req.version == Version::HTTP_10 {
        ConnectionHeader::KeepAlive
    } else {
        ConnectionHeader::None
    };
    core.resp.framing = framing;
    core.resp.close = close;
    let n = encode::encode_head(
        core.out.tail(),
        status,
        &start.headers,
        length,
        connection,
        Identity::of(&shared.ctx.config),
    );
    core.out.grew(n);
}
