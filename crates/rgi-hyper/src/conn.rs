//! One connection: TLS if configured, then hyper's automatic HTTP/1.1 or
//! HTTP/2 connection, serving the app through `rgi-tower`'s `RgiService`,
//! and WebSocket handshakes through `ws.rs`.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{CONNECTION, SERVER};
use http::request::Parts;
use http::{HeaderValue, Request, Response, StatusCode, Version};
use http_body_util::{Either, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::Watcher;
use rgi::{App, State};
use rgi_server::shared::{check_no_tunnel, check_target_and_host, count_hosts, HeadError};
use rgi_server::{AccessLog, Config};
use rgi_tower::{ResponseBody, ResponseFuture, RgiService, Transport};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::access::{AppBody, Entry};
use crate::files::ServerFiles;
use crate::ws::{self, DenialBody, Handshake, Sessions};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A response's body: the app's through `RgiService` (counted for the
/// access log when one is kept), or a WebSocket handshake's.
pub(crate) type Body = Either<AppBody, DenialBody>;

/// How connections are spoken.
#[derive(Clone)]
pub(crate) enum Protocol {
    /// HTTP/1.1 and h2c (prior knowledge) on plain TCP.
    Plain,
    /// TLS first; ALPN picks `h2` or `http/1.1`.
    #[cfg(feature = "tls")]
    Tls(tokio_rustls::TlsAcceptor, Option<String>),
}

impl std::fmt::Debug for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Protocol::Plain => "Plain",
            #[cfg(feature = "tls")]
            Protocol::Tls(..) => "Tls",
        })
    }
}

/// What every connection of one running server shares.
pub(crate) struct ConnCtx {
    config: Arc<Config>,
    /// The WebSockets, which outlive their connection's hyper service.
    pub(crate) sessions: Arc<Sessions>,
    state: State,
    protocol: Protocol,
    builder: auto::Builder<TokioExecutor>,
    /// The listener's address when it names one IP (then it is every
    /// connection's local address, without a `getsockname` each).
    bound_addr: Option<SocketAddr>,
}

impl ConnCtx {
    pub(crate) fn new(
        config: Config,
        state: State,
        protocol: Protocol,
        local_addr: SocketAddr,
    ) -> Self {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(config.head_timeout)
            .max_buf_size(config.max_head_bytes.max(8192));
        builder
            .http2()
            .timer(TokioTimer::new())
            // RFC 8441: WebSocket over HTTP/2 arrives as extended CONNECT.
            .enable_connect_protocol();
        Self {
            config: Arc::new(config),
            sessions: Arc::default(),
            state,
            protocol,
            builder,
            bound_addr: Some(local_addr).filter(|a| !a.ip().is_unspecified() && a.port() != 0),
        }
    }

    pub(crate) fn scheme(&self) -> &'static str {
        match self.protocol {
            Protocol::Plain => "http",
            #[cfg(feature = "tls")]
            Protocol::Tls(..) => "https",
        }
    }
}

/// Serves one accepted connection until it closes, the client goes away,
/// or graceful shutdown has let it finish.
pub(crate) async fn serve<A: App>(
    stream: TcpStream,
    peer: SocketAddr,
    ctx: Arc<ConnCtx>,
    app: Arc<A>,
    watcher: Watcher,
) {
    if ctx.config.nodelay {
        let _ = stream.set_nodelay(true);
    }
    let local = ctx.bound_addr.or_else(|| stream.local_addr().ok());
    let transport = Transport::new(Some(peer), local).with_state(ctx.state.clone());
    match &ctx.protocol {
        Protocol::Plain => serve_io(stream, transport, &ctx, app, watcher).await,
        #[cfg(feature = "tls")]
        Protocol::Tls(acceptor, server_cert) => {
            let handshake = tokio::time::timeout(ctx.config.head_timeout, acceptor.accept(stream));
            let stream = match handshake.await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
            };
            let info = crate::tls::info(stream.get_ref().1, server_cert.clone());
            let transport = transport.with_tls(Arc::new(info));
            serve_io(stream, transport, &ctx, app, watcher).await;
        }
    }
}

async fn serve_io<I, A>(io: I, transport: Transport, ctx: &ConnCtx, app: Arc<A>, watcher: Watcher)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    A: App,
{
    let client = transport.client;
    let service = RequestService {
        rgi: RgiService::from_arc(app)
            .on_transport(transport)
            .grace(ctx.config.disconnect_grace)
            .read_files(ServerFiles),
        max_body: ctx
            .config
            .max_body_bytes
            .map_or(usize::MAX, |max| usize::try_from(max).unwrap_or(usize::MAX)),
        server_header: ctx.config.server_header.clone(),
        access_log: ctx.config.access_log.clone(),
        client,
        config: ctx.config.clone(),
        sessions: ctx.sessions.clone(),
    };
    let conn = ctx
        .builder
        .serve_connection_with_upgrades(TokioIo::new(io), service);
    if let Err(e) = watcher.watch(conn.into_owned()).await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// The per-connection hyper service: the body limit on the way in, the
/// `server` header and the access log on the way out, `RgiService` in
/// between, and WebSocket handshakes to `ws.rs`; a head rgi-server would
/// refuse is answered before any of them.
struct RequestService<A> {
    rgi: RgiService<A>,
    max_body: usize,
    server_header: Option<HeaderValue>,
    access_log: Option<AccessLog>,
    /// The connection's client, for the access log.
    client: Option<SocketAddr>,
    config: Arc<Config>,
    sessions: Arc<Sessions>,
}

impl<A: App> hyper::service::Service<Request<Incoming>> for RequestService<A> {
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = WithServerHeader;

    fn call(&self, request: Request<Incoming>) -> WithServerHeader {
        let (mut parts, body) = request.into_parts();
        let mut entry = None;
        // Before anything else: a WebSocket handshake is an HTTP/1.1 GET
        // like any other.
        let response = if let Err(refusal) = check_http1_head(&mut parts) {
            self.refuse(&parts, refusal, &mut entry)
        } else if ws::is_websocket(&parts) {
            self.websocket(Request::from_parts(parts, body))
        } else if let Err(refusal) = check_no_tunnel(&parts.method) {
            // An HTTP/2 CONNECT that is not RFC 8441's WebSocket (HTTP/1's
            // was refused above).
            self.refuse(&parts, refusal, &mut entry)
        } else {
            if let Some(log) = &self.access_log {
                entry = Some(Entry::start(log, &parts, self.client));
            }
            // Taken apart once: each move of the whole request is a copy of
            // a few hundred bytes.
            Answer::Http(
                self.rgi
                    .call_parts(parts, Limited::new(body, self.max_body)),
            )
        };
        WithServerHeader {
            response,
            server_header: self.server_header.clone(),
            entry,
        }
    }
}

impl<A: App> RequestService<A> {
    /// The answer to a request the head rules refuse: the status, no
    /// body, and on HTTP/1 `connection: close`, as rgi-server answers a
    /// bad head. The app never sees the request; it is logged (when a log
    /// is kept) with its status.
    #[cold]
    #[inline(never)]
    fn refuse(&self, parts: &Parts, refusal: HeadError, entry: &mut Option<Entry>) -> Answer {
        tracing::debug!(
            client = ?self.client,
            status = %refusal.status,
            reason = refusal.reason,
            "request refused before the app"
        );
        if let Some(log) = &self.access_log {
            *entry = Some(Entry::start(log, parts, self.client));
        }
        Answer::Refused {
            status: refusal.status,
            close: parts.version < Version::HTTP_2,
        }
    }

    /// A WebSocket handshake's answer: apart from the code every request
    /// runs.
    #[cold]
    #[inline(never)]
    fn websocket(&self, request: Request<Incoming>) -> Answer {
        Answer::WebSocket(Box::new(ws::serve(
            request,
            &self.rgi,
            &self.config,
            &self.sessions,
        )))
    }
}

/// rgi-server's rules for an HTTP/1 request's target and `Host` (RFC 9112
/// §3.2), which hyper's parser does not apply: it passes on a request
/// without Host, with two, or a CONNECT. Settles `host` as rgi-server does
/// (rules `HTTP-008`, `HTTP-033`). HTTP/2 has none of these.
#[inline]
fn check_http1_head(parts: &mut Parts) -> Result<(), HeadError> {
    if parts.version >= Version::HTTP_2 {
        return Ok(());
    }
    let hosts = count_hosts(&parts.headers)?;
    check_target_and_host(
        &parts.method,
        &parts.uri,
        parts.version,
        &mut parts.headers,
        hosts,
    )
}

enum Answer {
    Http(ResponseFuture),
    /// Boxed: the few handshakes should not make every request's future,
    /// moved by hyper between its states, larger.
    WebSocket(Box<Handshake>),
    /// Refused before the app (`RequestService::refuse`): this status,
    /// with `connection: close` when `close`.
    Refused {
        status: StatusCode,
        close: bool,
    },
}

/// The response future, with the `server` header added unless the app set
/// one.
struct WithServerHeader {
    response: Answer,
    server_header: Option<HeaderValue>,
    /// The access log's entry, when one is kept.
    entry: Option<Entry>,
}

impl Future for WithServerHeader {
    type Output = Result<Response<Body>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut response = match &mut this.response {
            Answer::Http(response) => {
                let Ok(response) = std::task::ready!(Pin::new(response).poll(cx));
                let status = response.status().as_u16();
                response.map(|body| Either::Left(AppBody::new(body, this.entry.take(), status)))
            }
            Answer::WebSocket(handshake) => match std::task::ready!(handshake.poll_response(cx)) {
                Some(response) => response.map(|body| Either::Right(DenialBody(body))),
                // An error makes hyper close the connection (or reset the
                // stream) without a response, as rgi-server does.
                None => return Poll::Ready(Err("WebSocket handshake not answered in time".into())),
            },
            Answer::Refused { status, close } => {
                // An empty body, logged as any other with its status.
                let body =
                    AppBody::new(ResponseBody::default(), this.entry.take(), status.as_u16());
                let mut response = Response::new(Either::Left(body));
                *response.status_mut() = *status;
                if *close {
                    // hyper closes the connection after this response.
                    response
                        .headers_mut()
                        .insert(CONNECTION, HeaderValue::from_static("close"));
                }
                response
            }
        };
        if let Some(server) = this.server_header.take() {
            response.headers_mut().entry(SERVER).or_insert(server);
        }
        Poll::Ready(Ok(response))
    }
}
