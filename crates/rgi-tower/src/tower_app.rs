//! A tower `Service` as an rgi app: [`TowerApp`], and [`forward`], the one
//! HTTP exchange it and [`TowerMiddleware`](crate::TowerMiddleware) share.

use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;

use bytes::{Buf, Bytes};
use http::header::{CONTENT_LENGTH, TRAILER};
use http::{Extensions, HeaderMap, Method, Request, Response, StatusCode};
use http_body::Body;
use rgi::{
    App, AppResult, BoxError, Conn, Error, HttpReceive, HttpScope, HttpSend, InspectSend, Receiver,
    ResponseStart, Sender, SenderExt,
};

use crate::request_body::{request_body, RequestBody};
use crate::rules::strip_connection_fields;
use crate::scope::{request_parts, ConnectInfoFn};
use crate::service::{length_value, Failure, Link};

/// A tower `Service` (an axum `Router`, a hyper service, anything wrapped
/// in tower-http layers) as an rgi app, to mount in an rgi stack or serve
/// on an rgi server.
///
/// Each HTTP call becomes one `http::Request<RequestBody>`: method, URI
/// (below `root_path`, so a router mounted at `/api` sees `/users` for
/// `/api/users`, the way axum's `nest_service` hands requests on),
/// headers, version and the scope's extensions are moved in; the rest of the
/// scope rides along as [`ScopeParts`](crate::ScopeParts). The request body
/// streams from `receive` as the service reads it. The response's head
/// becomes `Start`, each data frame one `Body` event (the last with
/// `more: false`), a trailers frame `Trailers`; each is sent and flushed
/// before the next frame is polled.
///
/// `poll_ready` is driven on a clone of the service before every call, as
/// tower asks. Errors keep the spec's meaning: a `poll_ready` or `call`
/// error, or a non-final status, is an error before `Start` (the server
/// answers `500`, rule `CORE-040`); a body error is an error after it (the
/// connection is aborted, rule `CORE-041`); a client that goes away drops
/// the service's future or body, tower's cancellation.
///
/// WebSocket and lifespan calls are answered `Error::Unsupported`: the
/// server refuses the handshake with `403` (rule `WS-010`) and runs without
/// lifespan (rule `LIFE-007`). Mount the service next to rgi apps that
/// handle those (with an rgi router) rather than in front of them.
///
/// ```
/// use std::net::SocketAddr;
/// use axum::{extract::ConnectInfo, routing::get, Json, Router};
///
/// async fn whoami(ConnectInfo(addr): ConnectInfo<SocketAddr>) -> Json<String> {
///     Json(addr.to_string())
/// }
///
/// let api = Router::new().route("/whoami", get(whoami));
/// // `ConnectInfo::<SocketAddr>` is the tuple struct's constructor: the
/// // client address reaches axum's extractor without this crate naming axum.
/// let app = rgi_tower::TowerApp::new(api).connect_info(ConnectInfo::<SocketAddr>);
/// # fn is_app(_: impl rgi::App) {}
/// # is_app(app);
/// ```
#[derive(Clone)]
pub struct TowerApp<S> {
    service: S,
    connect_info: Option<ConnectInfoFn>,
}

impl<S> std::fmt::Debug for TowerApp<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TowerApp")
            .field("connect_info", &self.connect_info.is_some())
            .finish_non_exhaustive()
    }
}

impl<S> TowerApp<S> {
    /// Serves `service` as an rgi app.
    pub fn new(service: S) -> Self {
        Self {
            service,
            connect_info: None,
        }
    }

    /// Inserts `wrap(client address)` into every request's extensions when
    /// the server knows the client. With axum:
    /// `.connect_info(axum::extract::ConnectInfo::<SocketAddr>)`, which is
    /// what axum's `ConnectInfo` extractor reads. (This crate does not
    /// depend on axum, so it cannot insert axum's type by itself; the
    /// constructor costs the user one argument and works for any framework's
    /// wrapper type.)
    #[must_use]
    pub fn connect_info<T>(mut self, wrap: fn(SocketAddr) -> T) -> Self
    where
        T: Clone + Send + Sync + 'static,
    {
        self.connect_info = Some(Arc::new(move |addr, extensions: &mut Extensions| {
            extensions.insert(wrap(addr));
        }));
        self
    }
}

impl<S, B> App for TowerApp<S>
where
    S: tower::Service<Request<RequestBody>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: Body + Send,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(http) = conn else {
            return conn.unsupported();
        };
        let (scope, receiver, sender) = http.into_parts();
        let mut service = self.service.clone();
        let exchange = Exchange {
            strip_mount: true,
            connect_info: self.connect_info.as_ref(),
            link: Link::default(),
        };
        exchange.run(&mut service, scope, receiver, sender).await
    }
}

/// How one HTTP call crosses into a tower service.
pub(crate) struct Exchange<'a> {
    /// The service sees the URI below `root_path` (a mounted service) or
    /// whole (a layer around an rgi app).
    pub(crate) strip_mount: bool,
    pub(crate) connect_info: Option<&'a ConnectInfoFn>,
    /// What an `RgiService` behind the service shares with this call; an
    /// inline link (`TowerMiddleware`) also means the rgi app inside goes
    /// on after a disconnect.
    pub(crate) link: Link,
}

impl Exchange<'_> {
    /// Calls `service` with the call's request and sends its response.
    pub(crate) async fn run<S, B>(
        self,
        service: &mut S,
        scope: &mut HttpScope,
        receiver: &mut dyn Receiver<HttpReceive>,
        sender: &mut dyn Sender<HttpSend>,
    ) -> AppResult
    where
        S: tower::Service<Request<RequestBody>, Response = Response<B>>,
        S::Error: Into<BoxError>,
        B: Body,
        B::Error: Into<BoxError>,
    {
        let head = scope.method == Method::HEAD;
        let trailers_capability = scope.capabilities.trailers;
        let (body, pump) = request_body(&scope.headers, scope.version);
        let inline = !self.strip_mount;
        let mut parts = request_parts(scope, self.strip_mount, Some(self.link.clone()));
        if let (Some(insert), Some(client)) = (self.connect_info, scope.client) {
            insert(client, &mut parts.extensions);
        }
        poll_fn(|cx| service.poll_ready(cx))
            .await
            .map_err(Into::into)?;
        let future = service.call(Request::from_parts(parts, body));
        // Whether the final event was handed over: a `Disconnect` after it
        // says the response is complete, not that the client left.
        let complete = AtomicBool::new(false);
        let mut trailers = false;
        let mut sender = InspectSend::new(sender, |event: &HttpSend| {
            let last = match event {
                HttpSend::Start(start) => {
                    trailers = start.trailers;
                    false
                }
                HttpSend::Body { more: false, .. } => !trailers,
                HttpSend::Trailers(_) => true,
                _ => false,
            };
            if last {
                complete.store(true, Ordering::Relaxed);
            }
        });
        let link = &self.link;
        let respond = async {
            let response = future.await.map_err(Into::into)?;
            let from_rgi = link.take_trailers();
            send_response(response, from_rgi, &mut sender, head, trailers_capability).await
        };
        let pump = pump.run(receiver);
        // The response is the exchange; the pump runs beside it until the
        // call's `Disconnect`.
        let (mut respond, mut pump) = (pin!(respond), pin!(pump));
        let mut pumping = true;
        poll_fn(|cx| {
            if let Poll::Ready(result) = respond.as_mut().poll(cx) {
                return Poll::Ready(result);
            }
            if pumping && pump.as_mut().poll(cx).is_ready() {
                pumping = false;
                if !complete.load(Ordering::Relaxed) && !inline {
                    // The client left: drop the service's future or body,
                    // tower's cancellation.
                    return Poll::Ready(Err(Error::Disconnected.into()));
                }
                // An rgi app inside goes on, sees the disconnect through its
                // body and its sends, and returns; the server outside
                // bounds how long (rule CORE-032).
            }
            Poll::Pending
        })
        .await
    }
}

/// Sends a tower response as rgi events, one frame at a time.
async fn send_response<B>(
    response: Response<B>,
    from_rgi: Option<bool>,
    sender: &mut dyn Sender<HttpSend>,
    head: bool,
    trailers_capability: bool,
) -> AppResult
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let (parts, body) = response.into_parts();
    let mut extensions = parts.extensions;
    if let Some(failure) = extensions.remove::<Failure>().and_then(|f| f.take()) {
        // The 500 an `RgiService` made of its app's error: the error itself
        // goes on, for the server outside to answer (rule CORE-040).
        return Err(failure);
    }
    let status = parts.status;
    if !(200..=599).contains(&status.as_u16()) {
        return Err(Error::protocol(
            "HTTP-021",
            format!("the tower service answered {status}, not a final status"),
        )
        .into());
    }
    let mut headers = parts.headers;
    strip_connection_fields(&mut headers);
    let bodiless = head || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
    let mut body = pin!(body);
    // rgi announces trailers in `Start`; http-body only sends them. An rgi
    // response says; otherwise they are announced when the response names
    // them (`trailer`) or when they could reach the client and the length
    // is open. Trailers not announced are dropped.
    let trailers = !bodiless
        && match from_rgi {
            Some(announced) => announced,
            None => {
                headers.contains_key(TRAILER)
                    || (trailers_capability
                        && !headers.contains_key(CONTENT_LENGTH)
                        && !body.is_end_stream())
            }
        };
    if !bodiless && !trailers && !headers.contains_key(CONTENT_LENGTH) {
        // As hyper does: a body that knows its length gets it on the wire.
        if let Some(length) = body.size_hint().exact().filter(|_| from_rgi.is_none()) {
            headers.insert(CONTENT_LENGTH, length_value(length));
        }
    }
    let mut start = ResponseStart::new(status);
    start.headers = headers;
    start.trailers = trailers;
    start.extensions = extensions;
    sender.send(HttpSend::Start(start)).await?;
    if bodiless {
        return Ok(sender.send(HttpSend::body(Bytes::new())).await?);
    }
    let mut final_sent = false;
    loop {
        let next = poll_fn(|cx| body.as_mut().poll_frame(cx)).await;
        // The error converted at once: `B::Error` need not be `Send`.
        match next.map(|frame| frame.map_err(Into::<BoxError>::into)) {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(mut data) => {
                    let data = data.copy_to_bytes(data.remaining());
                    if final_sent {
                        return Err(Error::protocol(
                            "HTTP-022",
                            "the tower body sent data after saying it had no more",
                        )
                        .into());
                    }
                    let more = !(body.is_end_stream() || body.size_hint().exact() == Some(0));
                    sender.send(HttpSend::Body { data, more }).await?;
                    final_sent = !more;
                    // With trailers announced, the body is polled on for
                    // them whatever `is_end_stream` says: a wrapper may
                    // hold the inner body's trailers frame.
                    if final_sent && !trailers {
                        return Ok(());
                    }
                }
                Err(frame) => {
                    if let Ok(fields) = frame.into_trailers() {
                        return finish(sender, trailers, final_sent, fields).await;
                    }
                }
            },
            Some(Err(error)) => return Err(error),
            None => return finish(sender, trailers, final_sent, HeaderMap::new()).await,
        }
    }
}

/// Ends a response: the final body unless it went out, then the trailers
/// when they were announced.
async fn finish(
    sender: &mut dyn Sender<HttpSend>,
    trailers: bool,
    final_sent: bool,
    fields: HeaderMap,
) -> AppResult {
    if !final_sent {
        sender.send(HttpSend::body(Bytes::new())).await?;
    }
    if trailers {
        sender.send(HttpSend::Trailers(fields)).await?;
    }
    Ok(())
}
