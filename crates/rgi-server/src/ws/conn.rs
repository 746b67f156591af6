//! One WebSocket connection: the app-driven handshake, then frames to and
//! from the app's events, the closing handshake, pings, shutdown. It runs
//! over a [`Link`]: this server's own socket (`raw.rs`), or a connection
//! another server upgraded after answering the handshake itself
//! (`upgraded.rs`, rgi-hyper's), so both servers share one frame loop.
//!
//! Built like the HTTP connection (`conn/`): the app's future is polled
//! in the connection's task, and its receiver and sender work on the
//! connection's buffers through one uncontended `Mutex`. Reading is pulled
//! by the app: at most one whole message is read ahead of it, so a slow
//! app slows the client (rule `CORE-020`); sending waits while more than
//! `Config::write_buffer_bytes` are unwritten, so a client that does not
//! read slows the app.

use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::{pin, Pin};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;
use http::header::{self, HeaderMap, HeaderValue};
use http::StatusCode;
use rgi::{
    App, CloseFrame, Conn, Error, Message, Receiver, ResponseStart, Sender, WebSocketConn,
    WebSocketReceive, WebSocketScope, WebSocketSend,
};
use tokio::time::{Instant, Sleep};

use super::codec::frame::OpCode;
use super::codec::handshake::UpgradeRequest;
use super::codec::{is_sendable_close_code, CloseError, Decoder, EncodedFrame, Encoder, Incoming};
use crate::config::Config;
use crate::shutdown::ConnWatch;
use crate::wire::encode::{is_hop_by_hop, LengthHeader};
use crate::wire::io::WriteBuf;
use crate::wire::stall::StallClock;

/// Where a WebSocket's bytes come from and go to, and how its handshake
/// is answered. Called with the connection's lock held.
pub(crate) trait Link: Send {
    /// Reads once into `buf`, reserving `reserve` bytes first; `Ok(0)` is
    /// the end of the stream.
    fn poll_read(
        &mut self,
        buf: &mut BytesMut,
        reserve: usize,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>>;
    /// Writes `out` until at most `limit` bytes wait.
    fn poll_write(
        &mut self,
        out: &mut WriteBuf,
        limit: usize,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>>;
    /// Whether bytes taken by [`poll_write`](Self::poll_write) may still
    /// wait in the link (a TLS record not flushed yet).
    fn unflushed(&self) -> bool {
        false
    }
    /// Before the handshake is complete: ready once the client is gone.
    /// `limit`: how much it may read ahead meanwhile.
    fn poll_left(&mut self, buf: &mut BytesMut, limit: usize, cx: &mut Context<'_>) -> Poll<()>;
    /// Completes the handshake (rule `WS-006`): `headers` are the app's
    /// plus the chosen subprotocol and the extension answer.
    fn accept(&mut self, out: &mut WriteBuf, headers: HeaderMap, upgrade: &UpgradeRequest);
    /// The head of an HTTP response that refuses the handshake (the
    /// app's `Close` or denial); the connection ends after it.
    fn respond(
        &mut self,
        out: &mut WriteBuf,
        status: StatusCode,
        headers: &HeaderMap,
        length: LengthHeader,
    );
    /// Bytes of that response's body; `last`: no more follow.
    fn body(&mut self, out: &mut WriteBuf, data: Bytes, last: bool);
    /// The server's own answer to a handshake the app did not answer.
    fn refuse(&mut self, out: &mut WriteBuf, status: StatusCode);
    /// The handshake timed out: the connection ends without a response.
    fn abandon(&mut self, out: &mut WriteBuf);
}

/// Bytes reserved per read when no frame says it needs more.
pub(super) const READ_BYTES: usize = 4 * 1024;
/// A read buffer bigger than this is let go once empty: a large message
/// does not pin its memory for the connection's life.
const KEPT_READ_BYTES: usize = 64 * 1024;
/// Longest close reason (a close frame's payload is at most 125 bytes).
const MAX_CLOSE_REASON: usize = 123;

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

/// What the handshake asked for, and the link it came over: the start
/// of a [`run`].
pub(crate) struct Start<L> {
    pub(crate) link: L,
    /// Bytes already read after the request.
    pub(crate) read_buf: BytesMut,
    /// Bytes already waiting to be written.
    pub(crate) out: WriteBuf,
    pub(crate) upgrade: UpgradeRequest,
}

/// How a connection ended, for the server's access log and socket.
pub(crate) struct Finished<L> {
    pub(crate) link: L,
    /// The handshake's status (101 once accepted, even over HTTP/2, where
    /// the wire says 200).
    pub(crate) status: u16,
    /// Bytes of a denial response's body.
    pub(crate) body_bytes: u64,
    /// End with a reset (or an aborted response) rather than a close.
    pub(crate) reset: bool,
}

struct Core<L> {
    link: L,
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

impl<L: Link> Core<L> {
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
    fn poll_incoming(&mut self, cx: &mut Context<'_>) -> Poll<()> {
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
            // Room for the rest of the frame and then some: a read that
            // fills the buffer exactly cannot tell that the socket is
            // drained, and costs a `recvfrom` that finds nothing.
            let wanted = self.decoder.wanted(&self.read_buf) + READ_BYTES;
            match ready!(self.link.poll_read(&mut self.read_buf, wanted, cx)) {
                Ok(0) | Err(_) => self.read_eof = true,
                Ok(_) => {
                    self.last_heard = Instant::now();
                    self.ping_sent = None;
                }
            }
        }
    }

    /// Before the handshake completes: notices a client that left.
    fn poll_left(&mut self, limit: usize, cx: &mut Context<'_>) -> Poll<()> {
        if !self.read_eof {
            ready!(self.link.poll_left(&mut self.read_buf, limit, cx));
            self.read_eof = true;
        }
        self.lose(1006);
        Poll::Ready(())
    }
}

struct Shared<'c, L> {
    config: &'c Config,
    watch: &'c ConnWatch,
    core: Mutex<Core<L>>,
}

impl<L> Shared<'_, L> {
    fn lock(&self) -> MutexGuard<'_, Core<L>> {
        // Nothing holding the lock calls app code; see conn/exchange.rs.
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct Rx<'s, 'c, L> {
    shared: &'s Shared<'c, L>,
}

impl<L: Link> Receiver<WebSocketReceive> for Rx<'_, '_, L> {
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
                    let limit = shared.config.read_chunk_bytes;
                    ready!(core.poll_left(limit, cx));
                }
                Phase::Open | Phase::Closing => ready!(core.poll_incoming(cx)),
                Phase::Refused | Phase::Closed => core.lose(1006),
            }
        }
    }
}

struct Tx<'s, 'c, L> {
    shared: &'s Shared<'c, L>,
}

fn protocol(rule: &'static str, message: &'static str) -> Error {
    Error::protocol(rule, message)
}

impl<L: Link> Sender<WebSocketSend> for Tx<'_, '_, L> {
    fn start_send(&mut self, event: WebSocketSend) -> Result<(), Error> {
        let config = self.shared.config;
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
                accept_handshake(core, accept)?;
                core.status = 101;
                core.phase = Phase::Open;
                core.last_heard = Instant::now();
                core.deadline = None;
            }
            (WebSocketSend::Close(_), Phase::Handshake) => {
                // WS-004: 403, no body, no handshake.
                core.link.respond(
                    &mut core.out,
                    StatusCode::FORBIDDEN,
                    &HeaderMap::new(),
                    LengthHeader::Length(0),
                );
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
                    core.link
                        .respond(&mut core.out, start.status, &start.headers, length);
                }
                core.body_bytes += data.len() as u64;
                let short = remaining.is_some_and(|left| left > 0);
                core.link.body(&mut core.out, data, !more);
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
                core.start_close(close.code, &close.reason, config.websocket.close_timeout);
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
        let limit = shared.config.write_buffer_bytes;
        let core = &mut *core;
        let flushed = core.link.poll_write(&mut core.out, limit, cx);
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

impl<L: Link> Core<L> {
    /// Nothing more to read or write: the connection is done.
    fn is_over(&self) -> bool {
        matches!(self.phase, Phase::Closed | Phase::Refused)
            && ((self.out.is_empty() && !self.link.unflushed()) || self.peer_gone)
    }

    /// Answers the handshake with the server's own error response.
    fn refuse(&mut self, status: StatusCode) {
        self.link.refuse(&mut self.out, status);
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

/// Answers the app's `Accept` (rule `WS-006`).
fn accept_handshake<L: Link>(core: &mut Core<L>, accept: rgi::Accept) -> Result<(), Error> {
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
    if let Some(params) = &core.upgrade.deflate {
        headers.insert(header::SEC_WEBSOCKET_EXTENSIONS, params.response());
    }
    core.link.accept(&mut core.out, headers, &core.upgrade);
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

/// Runs the app's call on an upgrade request that passed the checks
/// (`WS-015`), and carries the connection to its close. `scope` is ready
/// for the app; `peer` only names the client in logs.
///
/// Not an `async fn`: the connection's state is built here, before the
/// future, so that the future holds it once (an `async fn` would keep
/// `start` beside it: about 460 bytes more per WebSocket).
pub(crate) fn run<'a, A: App, L: Link + 'a>(
    app: &'a A,
    scope: &'a mut WebSocketScope,
    start: Start<L>,
    config: &'a Config,
    watch: &'a ConnWatch,
    peer: Option<SocketAddr>,
) -> impl Future<Output = Finished<L>> + 'a {
    let ws = &config.websocket;
    let now = Instant::now();
    let handshake_deadline = now + ws.handshake_timeout;
    let shared = Shared {
        config,
        watch,
        core: Mutex::new(Core {
            link: start.link,
            read_buf: start.read_buf,
            out: start.out,
            stall: StallClock::default(),
            decoder: Decoder::new(ws.max_message_bytes, start.upgrade.deflate.as_ref()),
            encoder: Encoder::new(start.upgrade.deflate.as_ref(), ws.deflate_min_bytes),
            upgrade: start.upgrade,
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
            deadline: Some(handshake_deadline),
            status: 0,
            body_bytes: 0,
        }),
    };
    async move {
        let mut timer = pin!(tokio::time::sleep_until(handshake_deadline));
        let mut stall_timer = pin!(tokio::time::sleep_until(now));
        let outcome = {
            let mut rx = Rx { shared: &shared };
            let mut tx = Tx { shared: &shared };
            let call = pin!(AssertUnwindSafe(
                app.call(Conn::WebSocket(WebSocketConn::new(scope, &mut rx, &mut tx)))
            )
            .catch_unwind());
            drive(&shared, timer.as_mut(), stall_timer.as_mut(), Some(call)).await
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
            finish_call(&mut core, config, failed, unsupported);
        }
        drive::<std::future::Ready<()>, L>(&shared, timer.as_mut(), stall_timer.as_mut(), None)
            .await;
        let core = shared
            .core
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        Finished {
            link: core.link,
            status: core.status,
            body_bytes: core.body_bytes,
            reset: core.reset,
        }
    }
}

/// What the server owes once the app's call is over (rules `WS-010`,
/// `WS-011`).
fn finish_call<L: Link>(core: &mut Core<L>, config: &Config, failed: bool, unsupported: bool) {
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
            core.refuse(status);
        }
        Phase::Denying { start: Some(_), .. } => {
            core.refuse(StatusCode::INTERNAL_SERVER_ERROR);
        }
        Phase::Denying { start: None, .. } => {
            // Head and part of the body went: cut it off visibly.
            core.reset = true;
            core.phase = Phase::Refused;
        }
        Phase::Open => {
            let code = if failed { 1011 } else { 1000 };
            core.start_close(code, "", config.websocket.close_timeout);
        }
        Phase::Refused | Phase::Closing | Phase::Closed => {}
    }
}

/// Polls the app's call; in its pauses, writes what it sent, reads one
/// message ahead, and runs the timers. `None` when the call was dropped:
/// still running `disconnect_grace` after the connection ended. Without a
/// call (it returned): carries the connection to its end (the closing
/// handshake, the last writes), bounded by the close and write timeouts.
async fn drive<F: Future, L: Link>(
    shared: &Shared<'_, L>,
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
        let at = *grace.get_or_insert_with(|| Instant::now() + shared.config.disconnect_grace);
        if timer.deadline() != at {
            timer.as_mut().reset(at);
        }
        return timer.as_mut().poll(cx).map(|()| None);
    })
    .await
}

/// One round of the connection's own work; `true` when something changed
/// that the app (or the caller) should look at.
fn step<L: Link>(
    shared: &Shared<'_, L>,
    core: &mut Core<L>,
    mut timer: Pin<&mut Sleep>,
    stall_timer: Pin<&mut Sleep>,
    app_running: bool,
    cx: &mut Context<'_>,
) -> bool {
    let (watch, server) = (shared.watch, shared.config);
    let config = &server.websocket;
    let mut changed = false;

    // Graceful shutdown: 1001 to an open WebSocket (rule CORE-033).
    if !core.shutdown_seen {
        watch.register(cx.waker());
        if watch.is_started() {
            core.shutdown_seen = true;
            match core.phase {
                Phase::Open => {
                    core.start_close(1001, "server shutting down", config.close_timeout);
                    core.disconnect = Some(CloseFrame::new(1001));
                }
                Phase::Handshake => core.refuse(StatusCode::SERVICE_UNAVAILABLE),
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
            let _ = core.poll_incoming(cx);
        }
        Phase::Handshake | Phase::Denying { .. } if core.disconnect.is_none() => {
            let _ = core.poll_left(server.read_chunk_bytes, cx);
        }
        _ => {}
    }
    changed |= !had_event && (core.ready.is_some() || core.disconnect.is_some());

    // Write what is waiting; give up on a client that reads nothing for
    // `write_timeout`.
    if (!core.out.is_empty() || core.link.unflushed()) && !core.peer_gone {
        let before = core.out.written();
        match core.link.poll_write(&mut core.out, 0, cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(_)) => {
                core.lost_writing();
                changed = true;
            }
            Poll::Pending => {
                let written = core.out.written();
                if core
                    .stall
                    .poll_stalled(stall_timer, written, server.write_timeout, cx)
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
            core.link.abandon(&mut core.out);
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
