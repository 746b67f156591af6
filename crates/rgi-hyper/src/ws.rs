//! WebSocket on hyper: the HTTP/1.1 upgrade and RFC 8441's extended
//! `CONNECT` over HTTP/2, recognised before `RgiService` (which has no
//! WebSocket: a tower service has no upgraded connection).
//!
//! Everything but hyper's part is the reference server's
//! ([`WebSocketUpgrade`]): the handshake checks (`WS-015`), the app-driven
//! handshake, the frames, pings, closing, `1001` at shutdown and
//! backpressure. This module builds the scope (with `RgiService`'s own
//! [`scope_of`](rgi_tower::RgiService::scope_of)), spawns the session
//! (the app's call outlives the service call that answers the
//! handshake), and gives hyper the handshake's response and, once hyper
//! has sent it, the upgraded connection.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, Request, Response, Version};
use http_body::{Body, Frame};
use hyper::body::Incoming;
use hyper::ext::Protocol;
use hyper_util::rt::TokioIo;
use rgi::{App, Capabilities, WebSocketScope};
use rgi_server::shared::{HandshakeBody, HandshakeResponse, Shutdown, WebSocketUpgrade};
use rgi_server::Config;
use rgi_tower::RgiService;
use tokio::task::JoinSet;

/// Whether `request` asks for a WebSocket: an HTTP/1.1 `Upgrade:
/// websocket` (any method: the checks answer a `POST` with 400), or an
/// HTTP/2 `CONNECT` with `:protocol websocket`.
pub(crate) fn is_websocket(request: &http::request::Parts) -> bool {
    if request.version == Version::HTTP_2 {
        request.method == Method::CONNECT
            && request
                .extensions
                .get::<Protocol>()
                .is_some_and(|p| p.as_str().eq_ignore_ascii_case("websocket"))
    } else {
        WebSocketUpgrade::is_asked(&request.headers)
    }
}

/// What the WebSockets of one running server share: their tasks, so that
/// graceful shutdown can wait for them, and the shutdown signal they
/// watch.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    tasks: Mutex<JoinSet<()>>,
    shutdown: Arc<Shutdown>,
}

impl Sessions {
    fn spawn(&self, session: impl Future<Output = ()> + Send + 'static) {
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        // Finished sessions are reaped here, as connections are on accept.
        while tasks.try_join_next().is_some() {}
        tasks.spawn(session);
    }

    /// Tells every session that shutdown began: open WebSockets close
    /// with 1001 (rule `CORE-033`), handshakes not answered get 503.
    pub(crate) fn start_shutdown(&self) {
        self.shutdown.start();
    }

    /// Waits until every session has ended (bounded by the caller).
    pub(crate) async fn drained(&self) {
        loop {
            let mut tasks =
                std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
            if tasks.is_empty() {
                return;
            }
            while tasks.join_next().await.is_some() {}
        }
    }

    /// Drops the sessions still running (their futures, as `CORE-033`
    /// asks after the drain timeout).
    pub(crate) fn abort(&self) {
        self.tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .abort_all();
    }
}

/// Answers a WebSocket handshake request: refuses it at once (`426`,
/// `400`), or spawns the session and returns the response the app's
/// answer to `Connect` becomes.
pub(crate) fn serve<A: App>(
    mut request: Request<Incoming>,
    rgi: &RgiService<A>,
    config: &Arc<Config>,
    sessions: &Arc<Sessions>,
) -> Handshake {
    let has_body = !request.body().is_end_stream();
    let upgraded = hyper::upgrade::on(&mut request);
    let (parts, _) = request.into_parts();
    let Some(mut scope) = rgi.scope_of(parts) else {
        return Handshake::Ready(Some(
            Response::builder()
                .status(http::StatusCode::BAD_REQUEST)
                .body(HandshakeBody::default())
                .unwrap_or_default(),
        ));
    };
    let access_log = config.access_log.clone();
    let entry = access_log.as_ref().map(|log| log.start(&scope));
    let upgrade = match WebSocketUpgrade::check(
        &scope.method,
        scope.version,
        &scope.headers,
        has_body,
        &config.websocket,
    ) {
        Ok(upgrade) => upgrade,
        Err(refusal) => {
            if let (Some(log), Some(entry)) = (access_log, entry) {
                log.finish(entry, refusal.status().as_u16(), 0);
            }
            return Handshake::Ready(Some(refusal));
        }
    };
    // The same request as an HTTP/1.1 handshake's, whatever carried it
    // (spec/websocket.md: method GET); `http_version` tells them apart.
    scope.method = Method::GET;
    let mut capabilities = Capabilities::NONE;
    capabilities.websocket_denial = true;
    scope.capabilities = capabilities;
    let peer = scope.client;
    let mut scope = WebSocketScope::new(scope, upgrade.subprotocols().to_vec());
    let (response, session) =
        upgrade.start(async move { upgraded.await.map(TokioIo::new).map_err(io::Error::other) });
    let app = rgi.app().clone();
    let config = config.clone();
    let watch = sessions.shutdown.watch();
    sessions.spawn(async move {
        let served = session.run(&*app, &mut scope, &config, &watch, peer).await;
        if let (Some(log), Some(entry)) = (access_log, entry) {
            log.finish(entry, served.status, served.body_bytes);
        }
    });
    Handshake::Waiting(response)
}

/// The response to a handshake request, as a future.
pub(crate) enum Handshake {
    /// Refused by the checks.
    Ready(Option<Response<HandshakeBody>>),
    /// The app's answer, when it comes.
    Waiting(HandshakeResponse),
}

impl Handshake {
    /// The response; `None` when the app did not answer in time: the
    /// connection closes without one.
    pub(crate) fn poll_response(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Response<HandshakeBody>>> {
        match self {
            Handshake::Ready(response) => Poll::Ready(response.take()),
            Handshake::Waiting(response) => Pin::new(response).poll(cx),
        }
    }
}

/// [`HandshakeBody`] as hyper's body: empty, the server's refusal text,
/// or the app's denial (rule `WS-012`).
#[derive(Debug)]
pub(crate) struct DenialBody(pub(crate) HandshakeBody);

impl Body for DenialBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.0
            .poll_chunk(cx)
            .map(|chunk| chunk.map(|chunk| chunk.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }
}
