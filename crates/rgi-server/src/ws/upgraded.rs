//! WebSocket for a server that answers the handshake itself, as an
//! `http::Response`, and gets the connection back once it is upgraded
//! (rgi-hyper: the HTTP/1.1 `101`, or the `200` to an HTTP/2 extended
//! `CONNECT`, RFC 8441). The app's call, the frames, pings, closing,
//! shutdown and backpressure are `conn.rs`'s, as on this server's own
//! sockets; only the [`Link`] differs.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{ready, Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode, Version};
use rgi::{App, WebSocketScope};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::oneshot;

use super::codec::handshake::{self, UpgradeRequest};
use super::conn::{self, Link, Start};
use crate::config::Config;
use crate::shutdown::ConnWatch;
use crate::wire::encode::LengthHeader;
use crate::wire::io::{poll_read_io, WriteBuf};
use crate::WebSocketConfig;

/// The upgraded connection, once the server has it.
type Upgrading<S> = Pin<Box<dyn Future<Output = io::Result<S>> + Send>>;

/// A WebSocket handshake request that passed the server's checks (rule
/// `WS-015`), for a server that writes its own responses: it answers
/// with the [`HandshakeResponse`] and hands the upgraded connection to
/// the [`Session`], which runs the app and the frames.
///
/// ```ignore
/// let upgrade = WebSocketUpgrade::check(&method, version, &headers, has_body, &config.websocket)?;
/// let (response, session) = upgrade.start(async { upgraded_io.await });
/// tokio::spawn(async move { session.run(&*app, &mut scope, &config, &watch, peer).await });
/// response.await // give this response to the client
/// ```
#[derive(Debug)]
pub struct WebSocketUpgrade {
    upgrade: UpgradeRequest,
    http2: bool,
}

impl WebSocketUpgrade {
    /// Whether an HTTP/1.1 request asks for a WebSocket (`Upgrade:
    /// websocket`); other upgrades (`h2c`) are served as HTTP.
    pub fn is_asked(headers: &HeaderMap) -> bool {
        headers
            .get_all(header::UPGRADE)
            .iter()
            .any(handshake::wants_websocket)
    }

    /// Checks a handshake request: an HTTP/1.1 `GET` with `Upgrade:
    /// websocket`, or an HTTP/2 `CONNECT` whose `:protocol` is
    /// `websocket` (the caller checks that pseudo-header). `has_body`:
    /// the request framed a body. `Err` is the response that
    /// refuses it without calling the app: `426` with
    /// `sec-websocket-version: 13` for another version, `400` with the
    /// reason as text otherwise.
    #[allow(clippy::result_large_err)]
    pub fn check(
        method: &Method,
        version: Version,
        headers: &HeaderMap,
        has_body: bool,
        config: &WebSocketConfig,
    ) -> Result<Self, Response<HandshakeBody>> {
        let http2 = version == Version::HTTP_2;
        match handshake::check_upgrade(method, version, headers, has_body, config.deflate) {
            Ok(upgrade) => Ok(Self { upgrade, http2 }),
            Err(refusal) if refusal.status == StatusCode::UPGRADE_REQUIRED => {
                let mut response = head(refusal.status, http2, HeaderMap::new(), Some(0));
                response.headers_mut().insert(
                    header::SEC_WEBSOCKET_VERSION,
                    HeaderValue::from_static("13"),
                );
                Err(response)
            }
            Err(refusal) => Err(error_response(refusal.status, refusal.reason, http2)),
        }
    }

    /// The subprotocols the client offered, in order (the scope's
    /// `subprotocols`).
    pub fn subprotocols(&self) -> &[String] {
        &self.upgrade.subprotocols
    }

    /// Starts the handshake: the response comes once the app answers
    /// `Connect`; `upgraded` resolves to the connection once the server
    /// sent a `101` or `200` (it is polled only then).
    pub fn start<S, F>(self, upgraded: F) -> (HandshakeResponse, Session<S>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        F: Future<Output = io::Result<S>> + Send + 'static,
    {
        let (respond, response) = oneshot::channel();
        let link = UpgradeLink {
            http2: self.http2,
            respond: Some(respond),
            io: Io::Coming(Box::pin(upgraded)),
            denial: None,
            unflushed: false,
        };
        let session = Session {
            link,
            upgrade: self.upgrade,
        };
        (HandshakeResponse(response), session)
    }
}

/// The handshake's answer: resolves once the app answered `Connect` (or
/// the server did for it). `None`: no response at all (the app did not
/// answer within the handshake timeout): close the connection.
#[derive(Debug)]
pub struct HandshakeResponse(oneshot::Receiver<Response<HandshakeBody>>);

impl Future for HandshakeResponse {
    type Output = Option<Response<HandshakeBody>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(Result::ok)
    }
}

/// One WebSocket's app call and frames, to run in a task of its own (it
/// outlives the handshake's response).
pub struct Session<S> {
    link: UpgradeLink<S>,
    upgrade: UpgradeRequest,
}

impl<S> std::fmt::Debug for Session<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").finish_non_exhaustive()
    }
}

/// How a [`Session`] ended, for the access log.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Served {
    /// The handshake's status: `101` when accepted (also over HTTP/2,
    /// where the wire says `200`), else the refusal's or denial's.
    pub status: u16,
    /// Bytes of a denial response's body.
    pub body_bytes: u64,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Session<S> {
    /// Calls `app` with `scope` (the handshake request's, with the
    /// capabilities the server honours) and serves the connection to its
    /// close: the app-driven handshake, frames, pings, the closing
    /// handshake, `1001` once `watch` sees graceful shutdown. `config`:
    /// its [`websocket`](Config::websocket) settings, `write_buffer_bytes`,
    /// `write_timeout`, `read_chunk_bytes` and `disconnect_grace`. `peer`
    /// names the client in logs.
    pub async fn run<A: App>(
        self,
        app: &A,
        scope: &mut WebSocketScope,
        config: &Config,
        watch: &ConnWatch,
        peer: Option<SocketAddr>,
    ) -> Served {
        let start = Start {
            link: self.link,
            read_buf: BytesMut::new(),
            out: WriteBuf::default(),
            upgrade: self.upgrade,
        };
        let finished = conn::run(app, scope, start, config, watch, peer).await;
        let mut link = finished.link;
        if let Some(pipe) = link.denial.take() {
            // A denial cut short must not pass as whole (rule WS-012).
            pipe.lock().abort_unless_done();
        }
        if let Io::Ready(io) = &mut link.io {
            if !finished.reset {
                // The close frame went; end the stream cleanly (the TCP
                // connection on HTTP/1.1, END_STREAM on HTTP/2).
                let _ = tokio::time::timeout(config.write_timeout, io.shutdown()).await;
            }
        }
        Served {
            status: finished.status,
            body_bytes: finished.body_bytes,
        }
    }
}

enum Io<S> {
    Coming(Upgrading<S>),
    Ready(S),
    Gone,
}

struct UpgradeLink<S> {
    http2: bool,
    respond: Option<oneshot::Sender<Response<HandshakeBody>>>,
    io: Io<S>,
    /// The denial response's body, while it is being sent.
    denial: Option<Arc<Pipe>>,
    unflushed: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> UpgradeLink<S> {
    fn poll_io(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&mut S>> {
        if let Io::Coming(upgrading) = &mut self.io {
            self.io = match ready!(upgrading.as_mut().poll(cx)) {
                Ok(io) => Io::Ready(io),
                Err(e) => {
                    self.io = Io::Gone;
                    return Poll::Ready(Err(e));
                }
            };
        }
        match &mut self.io {
            Io::Ready(io) => Poll::Ready(Ok(io)),
            _ => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn send(&mut self, response: Response<HandshakeBody>) {
        if let Some(respond) = self.respond.take() {
            if respond.send(response).is_err() {
                // The request is gone: so is the connection.
                self.io = Io::Gone;
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Link for UpgradeLink<S> {
    fn poll_read(
        &mut self,
        buf: &mut BytesMut,
        reserve: usize,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        let io = ready!(self.poll_io(cx))?;
        poll_read_io(io, buf, reserve, cx)
    }

    fn poll_write(
        &mut self,
        out: &mut WriteBuf,
        limit: usize,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(pipe) = &self.denial {
            return pipe.lock().poll_room(limit, cx);
        }
        if out.len() > limit || self.unflushed {
            // Whatever the writer takes from here on needs its flush.
            self.unflushed = true;
            let io = ready!(self.poll_io(cx))?;
            ready!(out.poll_write_to(io, limit, cx))?;
            ready!(Pin::new(io).poll_flush(cx))?;
            self.unflushed = false;
        }
        Poll::Ready(Ok(()))
    }

    fn unflushed(&self) -> bool {
        self.unflushed
    }

    fn poll_left(&mut self, _: &mut BytesMut, _: usize, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(pipe) = &self.denial {
            let mut pipe = pipe.lock();
            if pipe.reader_gone {
                return Poll::Ready(());
            }
            pipe.writer = Some(cx.waker().clone());
            return Poll::Pending;
        }
        match &mut self.respond {
            // The server dropped the request's response: the client left.
            Some(respond) => respond.poll_closed(cx),
            None => Poll::Pending,
        }
    }

    fn accept(&mut self, _: &mut WriteBuf, mut headers: HeaderMap, upgrade: &UpgradeRequest) {
        let status = if self.http2 {
            // RFC 8441 §5: a 2xx, and no Sec-WebSocket-Accept.
            StatusCode::OK
        } else {
            headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            if let Some(accept) = &upgrade.accept {
                headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept.clone());
            }
            StatusCode::SWITCHING_PROTOCOLS
        };
        let mut response = Response::new(HandshakeBody::empty());
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        self.send(response);
    }

    fn respond(
        &mut self,
        _: &mut WriteBuf,
        status: StatusCode,
        headers: &HeaderMap,
        length: LengthHeader,
    ) {
        let length = match length {
            LengthHeader::Length(n) => Some(n),
            _ => None,
        };
        let mut response = head(status, self.http2, headers.clone(), length);
        if length != Some(0) {
            let pipe = Arc::new(Pipe::default());
            *response.body_mut() = HandshakeBody {
                pipe: Some(pipe.clone()),
            };
            self.denial = Some(pipe);
        }
        self.send(response);
    }

    fn body(&mut self, _: &mut WriteBuf, data: Bytes, last: bool) {
        if let Some(pipe) = &self.denial {
            pipe.lock().push(data, last);
        }
        if last {
            self.denial = None;
        }
    }

    fn refuse(&mut self, _: &mut WriteBuf, status: StatusCode) {
        let response = error_response(status, "", self.http2);
        self.send(response);
    }

    fn abandon(&mut self, _: &mut WriteBuf) {
        self.respond = None;
        if let Some(pipe) = self.denial.take() {
            pipe.lock().abort_unless_done();
        }
    }
}

/// A refusal's head: `content-length` when known, and `connection: close`
/// on HTTP/1.1 (the connection was asked to become a WebSocket: it ends
/// with the refusal, as on rgi-server).
fn head(
    status: StatusCode,
    http2: bool,
    mut headers: HeaderMap,
    length: Option<u64>,
) -> Response<HandshakeBody> {
    if let Some(n) = length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    if !http2 {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    let mut response = Response::new(HandshakeBody::empty());
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// The server's own error answer, worded as rgi-server's
/// (`wire::encode::write_error_response`): `Reason` or `Reason: detail`.
fn error_response(status: StatusCode, detail: &str, http2: bool) -> Response<HandshakeBody> {
    let reason = status.canonical_reason().unwrap_or("Error");
    let text = if detail.is_empty() {
        format!("{reason}\n")
    } else {
        format!("{reason}: {detail}\n")
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    let mut response = head(status, http2, headers, Some(text.len() as u64));
    let pipe = Pipe::default();
    pipe.lock().push(Bytes::from(text), true);
    *response.body_mut() = HandshakeBody {
        pipe: Some(Arc::new(pipe)),
    };
    response
}

/// The body of a handshake response: empty for `101`/`200`, the server's
/// text for its own refusals, and the app's `DenyBody` bytes for a denial
/// (rule `WS-012`), handed over one chunk at a time: the app's `send`
/// waits while more than `Config::write_buffer_bytes` wait here.
#[derive(Debug, Default)]
pub struct HandshakeBody {
    pipe: Option<Arc<Pipe>>,
}

impl HandshakeBody {
    fn empty() -> Self {
        Self { pipe: None }
    }

    /// The next chunk; `None` at the end; an error when the denial was cut
    /// short (the app failed mid-body, or its `content-length` was not
    /// met): the server must abort the response.
    pub fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        let Some(pipe) = &self.pipe else {
            return Poll::Ready(None);
        };
        let mut pipe = pipe.lock();
        if let Some(chunk) = pipe.chunks.pop_front() {
            pipe.len -= chunk.len();
            if let Some(writer) = pipe.writer.take() {
                writer.wake();
            }
            return Poll::Ready(Some(Ok(chunk)));
        }
        if pipe.aborted {
            return Poll::Ready(Some(Err(io::Error::other(
                "WebSocket denial response cut short",
            ))));
        }
        if pipe.done {
            return Poll::Ready(None);
        }
        pipe.reader = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Whether no chunk will come.
    pub fn is_end_stream(&self) -> bool {
        self.pipe.as_ref().map_or(true, |pipe| {
            let pipe = pipe.lock();
            pipe.done && pipe.chunks.is_empty()
        })
    }
}

impl Drop for HandshakeBody {
    fn drop(&mut self) {
        if let Some(pipe) = &self.pipe {
            let mut pipe = pipe.lock();
            pipe.reader_gone = true;
            if let Some(writer) = pipe.writer.take() {
                writer.wake();
            }
        }
    }
}

/// A denial body between the session (writer) and the server's response
/// (reader).
#[derive(Debug, Default)]
struct Pipe(Mutex<PipeState>);

#[derive(Debug, Default)]
struct PipeState {
    chunks: VecDeque<Bytes>,
    len: usize,
    done: bool,
    aborted: bool,
    reader_gone: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

impl Pipe {
    fn lock(&self) -> MutexGuard<'_, PipeState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl PipeState {
    fn push(&mut self, data: Bytes, last: bool) {
        if !data.is_empty() {
            self.len += data.len();
            self.chunks.push_back(data);
        }
        self.done |= last;
        self.wake_reader();
    }

    fn abort_unless_done(&mut self) {
        if !self.done {
            self.aborted = true;
            self.wake_reader();
        }
    }

    fn wake_reader(&mut self) {
        if let Some(reader) = self.reader.take() {
            reader.wake();
        }
    }

    /// Ready once at most `limit` bytes wait; an error once the reader is
    /// gone.
    fn poll_room(&mut self, limit: usize, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.reader_gone {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if self.len <= limit {
            return Poll::Ready(Ok(()));
        }
        self.writer = Some(cx.waker().clone());
        Poll::Pending
    }
}
