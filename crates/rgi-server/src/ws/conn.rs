//! One WebSocket connection: the app-driven handshake, then frames to and
//! from the app's events, the closing handshake, pings, shutdown.
//!
//! Built like the HTTP connection (`conn/`): the app's future is polled
//! in the connection's task, and its receiver and sender work on the
//! connection's buffers through one uncontended `Mutex`. Reading is pulled
//! by the app: at most one whole message is read ahead of it, so a slow
//! app slows the client (rule `CORE-020`); sending waits while more than
//! `Config::write_buffer_bytes` are unwritten, so a client that does not
//! read slows the app.

use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::{pin, Pin};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{ready, Context, Poll};

use crate::listen::Stream;
use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;
use http::header::{self, HeaderMap, HeaderValue};
use http::StatusCode;
use rgi::{
    App, Capabilities, CloseFrame, Conn, Error, HttpScope, Message, Receiver, ResponseStart,
    Sender, WebSocketConn, WebSocketReceive, WebSocketScope, WebSocketSend,
};
use tokio::time::{Instant, Sleep};

use super::codec::frame::OpCode;
use super::codec::handshake::{self, UpgradeRequest};
use super::codec::{is_sendable_close_code, CloseError, Decoder, EncodedFrame, Encoder, Incoming};
use crate::ctx::ServerCtx;
use crate::shutdown::ConnWatch;
use crate::wire::encode::{
    encode_head, is_hop_by_hop, write_error_response, ConnectionHeader, Identity, LengthHeader,
};
use crate::wire::io::{poll_read_buf, release_read_buf, WriteBuf};
use crate::wire::stall::StallClock;

/// Bytes reserved per read when no frame says it needs more.
const READ_BYTES: usize = 4 * 1024;
/// A read buffer bigger than this is let go once empty: a large message
/// does not pin its memory for the connection's life.
const KEPT_READ_BYTES: usize = 64 * 1024;
/// Longest close reason (a close frame's payload is at most 125 bytes).
const MAX_CLOSE_REASON: usize = 123;

/// How the connection's socket is to be closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// A normal close.
    Close,
    /// A reset: the peer is dead or stopped reading.
    Reset,
}

/// Where the connection is.
#[derive(Debug)]
enum Phase {
    /// `Connect` not answered yet.
    Handshake,
    /// The app is sending a denial response: the start until its first
    /// body event (so a whole body gets a `content-length`), then the
    /// bytes its `content-length` still owes, if it set one.
    Denying {
        /// Boxed: a denial is rare, and the phase lives in every
        /// connection's state.
        start: Option<Box<ResponseStart>>,
        remaining: Option<u64>,
    },
    /// Refused, denied or timed out before the handshake: nothing more.
    Refused,
    /// Open: messages flow both ways.
    Open,
    /// The server sent its close frame and waits for the client's.
    Closing,
    /// Both close frames went, or the connection failed or was lost.
    Closed,
}

struct Core {
    read_buf: BytesMut,
    out: WriteBuf,
    stall: StallClock,
    decoder: Decoder,
    encoder: Encoder,
    upgrade: UpgradeRequest,
    phase: Phase,
    connect_delivered: bool,
    /// The one message read ahead of the app.
    ready: Option<Message>,
    /// What the app's receive returns from now on (rule `WS-008`).
    disconnect: Option<CloseFrame>,
    /// Nothing more can be written (a write failed or stalled).
    peer_gone: bool,
    /// The app's receive is waiting on the socket: the connection's own
    /// read-ahead would only repeat its poll.
    rx_waiting: bool,
    /// The app's send is waiting for the write buffer to drain: the
    /// connection's own writes are what it waits for.
    tx_waiting: bool,
    read_eof: bool,
    /// End with a reset rather than a close.
    reset: bool,
    /// Graceful shutdown was seen.
    shutdown_seen: bool,
    /// When a byte last came from the client, and when the last
    /// unanswered idle ping went.
    last_heard: Instant,
    ping_sent: Option<Instant>,
    /// When the server's close frame (or the handshake) times out.
    deadline: Option<Instant>,
    /// For the access log: the handshake's status and denial body bytes.
    status: u16,
    body_bytes: u64,
}

impl Core {
    fn lose(&mut self, code: u16) {
        self.disconnect.get_or_insert_with(|| CloseFrame::new(code));
        self.phase = Phase::Closed;
    }

    fn frame(&mut self, frame: EncodedFrame) {
        self.out.extend(frame.header.as_slice());
        self.out.push(frame.payload);
    }

    /// Sends the server's close frame and waits for the client's.
    fn start_close(&mut self, code: u16, reason: &str, timeout: std::time::Duration) {
        self.frame(Encoder::close(Some(code), reason));
        self.phase = Phase::Closing;
        self.deadline = Some(Instant::now() + timeout);
    }

    /// Fails the connection for a bad frame (rule `WS-013`): close frame
    /// with the code, then the socket closes without waiting (the stream
    /// cannot be parsed any further).
    fn fail(&mut self, err: CloseError) {
        tracing::debug!(
            code = err.code,
            reason = err.reason,
            "closing a WebSocket for a bad frame"
        );
        if matches!(self.phase, Phase::Open) {
            self.frame(Encoder::close(Some(err.code), err.reason));
        }
        self.lose(err.code);
    }

    /// Reads and handles frames until a message is ready for the app, the
    /// connection is over, or the socket has nothing more for now.
    fn poll_incoming(&mut self, stream: &Stream, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.ready.is_some() || matches!(self.phase, Phase::Closed) {
                return Poll::Ready(());
            }
            match self.decoder.decode(&mut self.read_buf) {
                Ok(Some(Incoming::Message(message))) => {
                    // After the server's close, messages are dropped.
                    if matches!(self.phase, Phase::Open) {
                        self.ready = Some(message);
                    }
                    continue;
                }
                Ok(Some(Incoming::Ping(payload))) => {
                    if matches!(self.phase, Phase::Open) {
                        self.frame(Encoder::control(OpCode::Pong, payload));
                    }
                    continue;
                }
                Ok(Some(Incoming::Pong)) => continue,
                Ok(Some(Incoming::Close(frame))) => {
                    if matches!(self.phase, Phase::Open) {
                        // Echo the code (rule WS-017, RFC 6455 §5.5.1), then close.
                        let code = frame.as_ref().map(|f| f.code);
                        self.frame(Encoder::close(code, ""));
                    }
                    self.lose(frame.map_or(1005, |f| f.code));
                    continue;
                }
                Ok(None) => {}
                Err(err) => {
                    self.fail(err);
                    continue;
                }
            }
            if self.read_eof {
                self.lose(1006);
                continue;
            }
            if self.read_buf.is_empty() && self.read_buf.capacity() > KEPT_READ_BYTES {
                self.read_buf = BytesMut::new();
            }
            let wanted = self.decoder.wanted(&self.read_buf).max(READ_BYTES);
            let read = poll_read_buf(stream, &mut self.read_buf, wanted, cx);
            if read.is_pending() {
                // Nothing to read: a waiting connection holds no read
                // buffer (the next read takes one once the socket is
                // readable).
                release_read_buf(&mut self.read_buf);
            }
            match ready!(read) {
                Ok(0) | Err(_) => self.read_eof = true,
                Ok(_) => {
                    self.last_heard = Instant::now();
                    self.ping_sent = None;
                }
            }
        }
    }

    /// Before the handshake completes the client should send nothing;
    /// reading (a little) is only to notice that it left.
    fn poll_left(&mut self, stream: &Stream, limit: usize, cx: &mut Context<'_>) -> Poll<()> {
        while !self.read_eof {
            if self.read_buf.len() >= limit {
                return Poll::Pending;
            }
            match ready!(poll_read_buf(stream, &mut self.read_buf, READ_BYTES, cx)) {
                Ok(0) | Err(_) => self.read_eof = true,
                Ok(_) => {}
            }
        }
        self.lose(1006);
        Poll::Ready(())
    }
}

struct Shared<'c> {
    stream: &'c Stream,
    ctx: &'c ServerCtx,
    core: Mutex<Core>,
}

impl Shared<'_> {
    fn lock(&self) -> MutexGuard<'_, Core> {
        // Nothing holding the lock calls app code; see conn/exchange.rs.
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct Rx<'s, 'c> {
    shared: &'s Shared<'c>,
}

impl Receiver<WebSocketReceive> for Rx<'_, '_> {
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<WebSocketReceive> {
        let shared = self.shared;
        let mut core = shared.lock();
        if !core.connect_delivered {
            core.connect_delivered = true;
            return Poll::Ready(WebSocketReceive::Connect);
        }
        // Until an event is returned (a `Pending` returns with it set).
        core.rx_waiting = true;
        loop {
            if let Some(message) = core.ready.take() {
                core.rx_waiting = false;
                return Poll::Ready(WebSocketReceive::Message(message));
            }
            if let Some(frame) = &core.disconnect {
                let frame = frame.clone();
                core.rx_waiting = false;
                return Poll::Ready(WebSocketReceive::Disconnect(frame));
            }
            match core.phase {
                Phase::Handshake | Phase::Denying { .. } => {
                    let limit = shared.ctx.config.read_chunk_bytes;
                    ready!(core.poll_left(shared.stream, limit, cx));
                }
                Phase::Open | Phase::Closing => ready!(core.poll_incoming(shared.stream, cx)),
                Phase::Refused | Phase::Closed => core.lose(1006),
            }
        }
    }
}

struct Tx<'s, 'c> {
    shared: &'s Shared<'c>,
}

fn protocol(rule: &'static str, message: &'static str) -> Error {
    Error::protocol(rule, message)
}

impl Sender<WebSocketSend> for Tx<'_, '_> {
    fn start_send(&mut self, event: WebSocketSend) -> Result<(), Error> {
        let ctx = self.shared.ctx;
        let mut guard = self.shared.lock();
        let core = &mut *guard;
        if core.peer_gone {
            return Err(Error::Disconnected);
        }
        match (event, &mut core.phase) {
            (WebSocketSend::Accept(accept), Phase::Handshake) => {
                if core.disconnect.is_some() {
                    return Err(Error::Disconnected);
                }
                write_switching_protocols(core, accept, ctx)?;
                core.status = 101;
                core.phase = Phase::Open;
                core.last_heard = Instant::now();
                core.deadline = None;
            }
            (WebSocketSend::Close(_), Phase::Handshake) => {
                // WS-004: 403, no body, no handshake.
                let n = encode_head(
                    core.out.tail(),
                    StatusCode::FORBIDDEN,
                    &HeaderMap::new(),
                    LengthHeader::Length(0),
                    ConnectionHeader::Close,
                    Identity::of(&ctx.config),
                );
                core.out.grew(n);
                core.status = 403;
                core.phase = Phase::Refused;
                core.lose_after_refusal();
            }
            (WebSocketSend::DenyStart(start), Phase::Handshake) => {
                let remaining = check_denial(&start)?;
                core.status = start.status.as_u16();
                core.phase = Phase::Denying {
                    start: Some(Box::new(start)),
                    remaining,
                };
            }
            (WebSocketSend::DenyBody { data, more }, Phase::Denying { start, remaining }) => {
                if let Some(left) = remaining {
                    *left = left.checked_sub(data.len() as u64).ok_or_else(|| {
                        protocol("WS-012", "denial body longer than its content-length")
                    })?;
                }
                if let Some(start) = start.take() {
                    let length = match remaining {
                        Some(_) => LengthHeader::Length(start_length(&start)),
                        None if !more => LengthHeader::Length(data.len() as u64),
                        // Delimited by the close that ends this connection.
                        None => LengthHeader::None,
                    };
                    let n = encode_head(
                        core.out.tail(),
                        start.status,
                        &start.headers,
                        length,
                        ConnectionHeader::Close,
                        Identity::of(&ctx.config),
                    );
                    core.out.grew(n);
                }
                core.body_bytes += data.len() as u64;
                let short = remaining.is_some_and(|left| left > 0);
                core.out.push(data);
                if !more {
                    if short {
                        // Cannot be completed: abort so it cannot pass as whole.
                        core.reset = true;
                    }
                    core.phase = Phase::Refused;
                    core.lose_after_refusal();
                }
            }
            (WebSocketSend::Message(message), Phase::Open) => {
                let frame = core.encoder.message(message);
                core.frame(frame);
            }
            (WebSocketSend::Close(close), Phase::Open) => {
                if !is_sendable_close_code(close.code) {
                    return Err(protocol(
                        "WS-007",
                        "close code not 1000-1003, 1007-1014 or 3000-4999",
                    ));
                }
                if close.reason.len() > MAX_CLOSE_REASON {
                    return Err(protocol("WS-007", "close reason longer than 123 bytes"));
                }
                core.start_close(
                    close.code,
                    &close.reason,
                    ctx.config.websocket.close_timeout,
                );
            }
            (_, Phase::Closing | Phase::Closed | Phase::Refused) => {
                return Err(Error::Disconnected)
            }
            (WebSocketSend::Message(_), Phase::Handshake | Phase::Denying { .. }) => {
                return Err(protocol("WS-003", "Message before Accept"));
            }
            (WebSocketSend::DenyBody { .. }, _) => {
                return Err(protocol("WS-009", "DenyBody without DenyStart"));
            }
            (_, Phase::Open) => {
                return Err(protocol("WS-002", "the handshake was already answered"))
            }
            (_, Phase::Denying { .. }) => {
                return Err(protocol("WS-009", "a denial response is in progress"));
            }
            (_, Phase::Handshake) => {
                return Err(protocol(
                    "WS-002",
                    "Connect must be answered with Accept, Close or DenyStart",
                ));
            }
        }
        Ok(())
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let shared = self.shared;
        let mut core = shared.lock();
        if core.peer_gone {
            return Poll::Ready(Err(Error::Disconnected));
        }
        let limit = shared.ctx.config.write_buffer_bytes;
        let flushed = core.out.poll_flush_to(shared.stream, limit, cx);
        core.tx_waiting = flushed.is_pending();
        match ready!(flushed) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(_) => {
                core.lost_writing();
                Poll::Ready(Err(Error::Disconnected))
            }
        }
    }
}

impl Core {
    /// Nothing more to read or write: the connection is done.
    fn is_over(&self) -> bool {
        matches!(self.phase, Phase::Closed | Phase::Refused)
            && (self.out.is_empty() || self.peer_gone)
    }

    /// Answers the handshake with the server's own error response.
    fn refuse(&mut self, status: StatusCode, ctx: &ServerCtx) {
        write_error_response(&mut self.out, status, "", Identity::of(&ctx.config));
        self.status = status.as_u16();
        self.phase = Phase::Refused;
        self.lose_after_refusal();
    }

    /// After a refusal or a denial the app's receive says 1006 (`WS-014`).
    fn lose_after_refusal(&mut self) {
        self.disconnect.get_or_insert_with(|| CloseFrame::new(1006));
    }

    fn lost_writing(&mut self) {
        self.peer_gone = true;
        self.out.clear();
        self.lose(1006);
    }
}

/// Writes the `101` for the app's `Accept` (rule `WS-006`).
fn write_switching_protocols(
    core: &mut Core,
    accept: rgi::Accept,
    ctx: &ServerCtx,
) -> Result<(), Error> {
    let mut headers = accept.headers;
    if headers
        .keys()
        .any(|name| name.as_str().starts_with("sec-websocket-"))
    {
        return Err(protocol(
            "WS-006",
            "Accept.headers carries a sec-websocket-* field",
        ));
    }
    if let Some(chosen) = &accept.subprotocol {
        if !core.upgrade.subprotocols.iter().any(|p| p == chosen) {
            return Err(protocol(
                "WS-006",
                "Accept.subprotocol is not one the client offered",
            ));
        }
        let value = HeaderValue::from_str(chosen)
            .map_err(|_| protocol("WS-006", "Accept.subprotocol is not a header value"))?;
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, value);
    }
    headers.insert(header::SEC_WEBSOCKET_ACCEPT, core.upgrade.accept.clone());
    if let Some(params) = &core.upgrade.deflate {
        headers.insert(header::SEC_WEBSOCKET_EXTENSIONS, params.response());
    }
    // A buffer of its own, freed once written: the write buffer's tail,
    // which an idle connection keeps, stays unallocated until a frame.
    let mut head = BytesMut::new();
    encode_head(
        &mut head,
        StatusCode::SWITCHING_PROTOCOLS,
        &headers,
        LengthHeader::None,
        ConnectionHeader::UpgradeWebSocket,
        Identity::of(&ctx.config),
    );
    core.out.queue(head.freeze());
    Ok(())
}

/// Checks a denial's start (rules `WS-012`, `HTTP-021`, `HTTP-023`);
/// returns the `content-length` it promises, if any.
fn check_denial(start: &ResponseStart) -> Result<Option<u64>, Error> {
    if start.trailers {
        return Err(protocol("WS-012", "a denial response has no trailers"));
    }
    if start.status.is_informational() {
        return Err(protocol("HTTP-021", "a denial needs a final status"));
    }
    if start.headers.keys().any(is_hop_by_hop) {
        return Err(protocol(
            "HTTP-023",
            "connection-specific header in a denial",
        ));
    }
    match start.headers.get(header::CONTENT_LENGTH) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .ok()
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse().ok())
            .map(Some)
            .ok_or_else(|| protocol("HTTP-023", "malformed content-length in a denial")),
    }
}

fn start_length(start: &ResponseStart) -> u64 {
    check_denial(start).ok().flatten().unwrap_or(0)
}

/// Serves an upgrade request: checks it, runs the app's call, and carries
/// the connection to its close. `scope` is the request's, filled by the
/// HTTP parser; `has_body`: the request framed a body (refused: a
/// handshake has none).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn serve<A: App>(
    stream: &Stream,
    ctx: &ServerCtx,
    watch: &ConnWatch,
    read_buf: BytesMut,
    out: &mut WriteBuf,
    scope: &mut HttpScope,
    has_body: bool,
    peer: Option<SocketAddr>,
    local: Option<SocketAddr>,
    app: &A,
) -> Ending {
    let config = &ctx.config.websocket;
    scope.client = peer;
    scope.server = local;
    crate::proxy::adjust_scope(&ctx.config, scope);
    let access_log = ctx.config.access_log.as_ref();
    let log = access_log.map(|log| log.start(scope));
    let upgrade = match handshake::check_request(
        &scope.method,
        scope.version,
        &scope.headers,
        config.deflate,
    ) {
        Ok(_) if has_body => Err(handshake::Refusal {
            status: StatusCode::BAD_REQUEST,
            reason: "a WebSocket handshake has no body",
        }),
        other => other,
    };
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(refusal) => {
            if let (Some(access_log), Some(entry)) = (access_log, log) {
                access_log.finish(entry, refusal.status.as_u16(), 0);
            }
            if refusal.status == StatusCode::UPGRADE_REQUIRED {
                let mut headers = HeaderMap::new();
                headers.insert(
                    header::SEC_WEBSOCKET_VERSION,
                    HeaderValue::from_static("13"),
                );
                let n = encode_head(
                    out.tail(),
                    refusal.status,
                    &headers,
                    LengthHeader::Length(0),
                    ConnectionHeader::Close,
                    Identity::of(&ctx.config),
                );
                out.grew(n);
            } else {
                write_error_response(
                    out,
                    refusal.status,
                    refusal.reason,
                    Identity::of(&ctx.config),
                );
            }
            return Ending::Close;
        }
    };
    let mut capabilities = Capabilities::NONE;
    capabilities.websocket_denial = true;
    scope.state = ctx.state.clone();
    scope.capabilities = capabilities;
    let mut ws_scope = WebSocketScope::new(std::mem::take(scope), upgrade.subprotocols.clone());
    let now = Instant::now();
    let shared = Shared {
        stream,
        ctx,
        core: Mutex::new(Core {
            read_buf,
            out: std::mem::take(out),
            stall: StallClock::default(),
            decoder: Decoder::new(config.max_message_bytes, upgrade.deflate.as_ref()),
            encoder: Encoder::new(upgrade.deflate.as_ref(), config.deflate_min_bytes),
            upgrade,
            phase: Phase::Handshake,
            connect_delivered: false,
            ready: None,
            disconnect: None,
            peer_gone: false,
            rx_waiting: false,
            tx_waiting: false,
            read_eof: false,
            reset: false,
            shutdown_seen: false,
            last_heard: now,
            ping_sent: None,
            deadline: Some(now + config.handshake_timeout),
            status: 0,
            body_bytes: 0,
        }),
    };
    let mut timer = pin!(tokio::time::sleep_until(now + config.handshake_timeout));
    let mut stall_timer = pin!(tokio::time::sleep_until(now));
    let outcome = {
        let mut rx = Rx { shared: &shared };
        let mut tx = Tx { shared: &shared };
        let call = pin!(
            AssertUnwindSafe(app.call(Conn::WebSocket(WebSocketConn::new(
                &mut ws_scope,
                &mut rx,
                &mut tx
            ))))
            .catch_unwind()
        );
        drive(
            &shared,
            watch,
            timer.as_mut(),
            stall_timer.as_mut(),
            Some(call),
        )
        .await
    };
    let failed = match &outcome {
        None => {
            tracing::warn!(client = ?peer, "WebSocket app still running after its connection ended: dropped (CORE-032)");
            false
        }
        Some(Ok(Ok(()))) => false,
        Some(Ok(Err(e))) if Error::is_disconnect(&**e) => false,
        Some(Ok(Err(e))) if Error::is_unsupported(&**e) => true,
        Some(Ok(Err(e))) => {
            tracing::error!(client = ?peer, error = %e, "WebSocket app failed");
            true
        }
        Some(Err(_)) => {
            tracing::error!(client = ?peer, "WebSocket app panicked");
            true
        }
    };
    {
        let mut core = shared.lock();
        let unsupported = matches!(&outcome, Some(Ok(Err(e))) if Error::is_unsupported(&**e));
        finish_call(&mut core, ctx, failed, unsupported);
    }
    drive::<std::future::Ready<()>>(&shared, watch, timer.as_mut(), stall_timer.as_mut(), None)
        .await;
    let core = shared
        .core
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    if let (Some(access_log), Some(entry)) = (access_log, log) {
        access_log.finish(entry, core.status, core.body_bytes);
    }
    if core.reset {
        Ending::Reset
    } else {
        Ending::Close
    }
}

/// What the server owes once the app's call is over (rules `WS-010`,
/// `WS-011`).
fn finish_call(core: &mut Core, ctx: &ServerCtx, failed: bool, unsupported: bool) {
    match &core.phase {
        Phase::Handshake => {
            let status = if unsupported {
                StatusCode::FORBIDDEN
            } else {
                if !failed {
                    tracing::error!("WebSocket app returned without answering Connect (WS-010)");
                }
                StatusCode::INTERNAL_SERVER_ERROR
            };
            core.refuse(status, ctx);
        }
        Phase::Denying { start: Some(_), .. } => {
            core.refuse(StatusCode::INTERNAL_SERVER_ERROR, ctx);
        }
        Phase::Denying { start: None, .. } => {
            // Head and part of the body went: cut it off visibly.
            core.reset = true;
            core.phase = Phase::Refused;
        }
        Phase::Open => {
            let code = if failed { 1011 } else { 1000 };
            core.start_close(code, "", ctx.config.websocket.close_timeout);
        }
        Phase::Refused | Phase::Closing | Phase::Closed => {}
    }
}

/// Polls the app's call; in its pauses, writes what it sent, reads one
/// message ahead, and runs the timers. `None` when the call was dropped:
/// still running `disconnect_grace` after the connection ended. Without a
/// call (it returned): carries the connection to its end (the closing
/// handshake, the last writes), bounded by the close and write timeouts.
async fn drive<F: Future>(
    shared: &Shared<'_>,
    watch: &ConnWatch,
    mut timer: Pin<&mut Sleep>,
    mut stall_timer: Pin<&mut Sleep>,
    mut call: Option<Pin<&mut F>>,
) -> Option<F::Output> {
    let mut grace: Option<Instant> = None;
    poll_fn(|cx| loop {
        if let Some(call) = call.as_mut() {
            if let Poll::Ready(output) = call.as_mut().poll(cx) {
                return Poll::Ready(Some(output));
            }
        }
        let app_running = call.is_some();
        let mut core = shared.lock();
        if !app_running {
            // Messages that arrive now have no one to go to.
            core.ready = None;
        }
        if step(
            shared,
            &mut core,
            watch,
            timer.as_mut(),
            stall_timer.as_mut(),
            app_running,
            cx,
        ) {
            continue;
        }
        if !core.is_over() {
            return Poll::Pending;
        }
        if !app_running {
            return Poll::Ready(None);
        }
        let at = *grace.get_or_insert_with(|| Instant::now() + shared.ctx.config.disconnect_grace);
        if timer.deadline() != at {
            timer.as_mut().reset(at);
        }
        return timer.as_mut().poll(cx).map(|()| None);
    })
    .await
}

/// One round of the connection's own work; `true` when something changed
/// that the app (or the caller) should look at.
fn step(
    shared: &Shared<'_>,
    core: &mut Core,
    watch: &ConnWatch,
    mut timer: Pin<&mut Sleep>,
    stall_timer: Pin<&mut Sleep>,
    app_running: bool,
    cx: &mut Context<'_>,
) -> bool {
    let ctx = shared.ctx;
    let config = &ctx.config.websocket;
    let mut changed = false;

    // Graceful shutdown: 1001 to an open WebSocket (rule CORE-033).
    if !core.shutdown_seen {
        watch.register(cx.waker());
        if ctx.shutdown.is_started() {
            core.shutdown_seen = true;
            match core.phase {
                Phase::Open => {
                    core.start_close(1001, "server shutting down", config.close_timeout);
                    core.disconnect = Some(CloseFrame::new(1001));
                }
                Phase::Handshake => core.refuse(StatusCode::SERVICE_UNAVAILABLE, ctx),
                _ => {}
            }
            changed = true;
        }
    }

    // Read ahead (or, before the handshake, notice a client that left),
    // unless the app's receive just polled the socket.
    let had_event = core.ready.is_some() || core.disconnect.is_some();
    match core.phase {
        _ if app_running && core.rx_waiting => {}
        Phase::Open | Phase::Closing
            if core.ready.is_none() && (core.disconnect.is_none() || !app_running) =>
        {
            let _ = core.poll_incoming(shared.stream, cx);
        }
        Phase::Handshake | Phase::Denying { .. } if core.disconnect.is_none() => {
            let _ = core.poll_left(shared.stream, ctx.config.read_chunk_bytes, cx);
        }
        _ => {}
    }
    changed |= !had_event && (core.ready.is_some() || core.disconnect.is_some());

    // Write what is waiting; give up on a client that reads nothing for
    // `write_timeout`.
    if !core.out.is_empty() && !core.peer_gone {
        let before = core.out.written();
        match core.out.poll_flush(shared.stream, cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(_)) => {
                core.lost_writing();
                changed = true;
            }
            Poll::Pending => {
                let written = core.out.written();
                if core
                    .stall
                    .poll_stalled(stall_timer, written, ctx.config.write_timeout, cx)
                    .is_ready()
                {
                    tracing::debug!("WebSocket client read nothing for write_timeout: dropped");
                    core.lost_writing();
                    core.reset = true;
                    changed = true;
                }
            }
        }
        // Progress matters to the app only when its send waits for it.
        changed |= app_running && core.tx_waiting && core.out.written() != before;
    }

    // Timers: the handshake or close deadline, else the idle ping.
    let deadline = match core.phase {
        Phase::Handshake | Phase::Denying { .. } | Phase::Closing => core.deadline,
        Phase::Open => config.ping_interval.map(|every| match core.ping_sent {
            Some(sent) => sent + every,
            None => core.last_heard + every,
        }),
        Phase::Refused | Phase::Closed => None,
    };
    let Some(deadline) = deadline else {
        return changed;
    };
    // The timer is only moved earlier: a later deadline (every message
    // moves the idle ping's) leaves it armed where it is, and when it fires
    // early it is re-armed here. Moving it per message cost a timer-wheel
    // removal and insertion, and the clock is read only when it fired.
    if timer.deadline() > deadline {
        timer.as_mut().reset(deadline);
    }
    if timer.as_mut().poll(cx).is_pending() {
        return changed;
    }
    let now = Instant::now();
    if now < deadline {
        timer.as_mut().reset(deadline);
        if timer.as_mut().poll(cx).is_pending() {
            return changed;
        }
    }
    match core.phase {
        Phase::Handshake | Phase::Denying { .. } => {
            tracing::debug!("WebSocket handshake not answered in time: closed");
            core.deadline = None;
            core.out.clear();
            core.phase = Phase::Refused;
            core.lose_after_refusal();
        }
        // WS-014: no answer to the server's close.
        Phase::Closing => core.lose(1006),
        Phase::Open if core.ping_sent.is_some() && core.ready.is_none() => {
            tracing::debug!("WebSocket peer answered no ping: dropped");
            core.reset = true;
            core.lose(1006);
        }
        Phase::Open => {
            core.frame(Encoder::control(OpCode::Ping, Bytes::new()));
            core.ping_sent = Some(now);
            core.last_heard = now;
        }
        Phase::Refused | Phase::Closed => {}
    }
    true
}
