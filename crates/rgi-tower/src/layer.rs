//! Layers across the border: a tower `Layer` as rgi middleware
//! ([`TowerLayer`], [`TowerMiddleware`]) and rgi middleware as a tower
//! `Layer` ([`RgiLayer`]).

use std::sync::Arc;

use http::{Request, Response};
use http_body::Body;
use rgi::{App, AppResult, BoxApp, BoxError, Conn};

use crate::request_body::RequestBody;
use crate::service::{Link, RgiService};
use crate::tower_app::{Exchange, TowerApp};

/// A tower `Layer` (tower-http's `CompressionLayer`, `CorsLayer`,
/// `TraceLayer`, `TimeoutLayer`, ...) as rgi middleware.
///
/// ```
/// use rgi::{App, AppResult, BoxApp, Conn, Stack};
/// use rgi_tower::TowerLayer;
/// use tower_http::compression::CompressionLayer;
///
/// struct Hello;
/// impl App for Hello {
///     async fn call(&self, conn: Conn<'_>) -> AppResult { conn.unsupported() }
/// }
///
/// // By type: one app, no box.
/// let app = TowerLayer::new(CompressionLayer::new()).wrap(Hello);
/// # fn is_app(_: impl rgi::App) {}
/// # is_app(app);
/// // Or in a stack built at run time (it is an `rgi::Layer`).
/// let app: BoxApp = Stack::new()
///     .push(TowerLayer::new(CompressionLayer::new()))
///     .build(rgi::boxed(Hello));
/// ```
///
/// The layer wraps the inner app as an [`RgiService`], so it sees each HTTP
/// request whole (URI with the mount point) and the inner app gets its
/// scope back from [`ScopeParts`](crate::ScopeParts): root path, addresses,
/// lifespan state, TLS. The request and response bodies stream through as
/// far as the layer streams them. WebSocket and lifespan calls go to the
/// inner app directly (rule `CORE-003`): a tower layer has no notion of
/// either. The inner app's scope announces neither early hints nor
/// `send_file` (rule `EXT-002`): the layer's body has no frame for them.
#[derive(Debug, Clone)]
pub struct TowerLayer<L> {
    layer: L,
}

impl<L> TowerLayer<L> {
    /// Adapts `layer`.
    pub fn new(layer: L) -> Self {
        Self { layer }
    }

    /// Wraps `inner` in the layer.
    pub fn wrap<A: App>(&self, inner: A) -> TowerMiddleware<L::Service, A>
    where
        L: tower::Layer<RgiService<A>>,
    {
        let inner = Arc::new(inner);
        TowerMiddleware {
            service: self.layer.layer(RgiService::from_arc(inner.clone())),
            inner,
        }
    }
}

impl<L, S, B> rgi::Layer for TowerLayer<L>
where
    L: tower::Layer<RgiService<BoxApp>, Service = S> + Send + Sync,
    TowerMiddleware<S, BoxApp>: App,
    S: tower::Service<Request<RequestBody>, Response = Response<B>>,
{
    fn wrap(&self, inner: BoxApp) -> BoxApp {
        rgi::boxed(TowerLayer::wrap(self, inner))
    }
}

/// An rgi app wrapped in a tower layer; see [`TowerLayer`].
pub struct TowerMiddleware<S, A> {
    service: S,
    inner: Arc<A>,
}

impl<S, A> std::fmt::Debug for TowerMiddleware<S, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TowerMiddleware")
    }
}

impl<S, A, B> App for TowerMiddleware<S, A>
where
    A: App,
    S: tower::Service<Request<RequestBody>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: Body + Send,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(http) = conn else {
            return self.inner.call(conn).await;
        };
        let (scope, receiver, sender) = http.into_parts();
        let mut service = self.service.clone();
        let link = Link::inline();
        let exchange = Exchange {
            strip_mount: false,
            connect_info: None,
            link: link.clone(),
        };
        let result = exchange.run(&mut service, scope, receiver, sender).await;
        // If the layer let go of the inner call before it returned (the
        // client left, a timeout answered), it finishes here, seeing
        // `Disconnect`: inside this future, so dropping the middleware still
        // drops it (rule CORE-030).
        link.finish().await;
        result
    }
}

/// rgi middleware (anything `Fn(BoxApp) -> BoxApp`, such as the
/// catalogue's bearer auth or session) as a tower `Layer`, to put in front
/// of an axum router or any tower service.
///
/// ```
/// use axum::{routing::get, Router};
/// use rgi::{App, AppResult, BoxApp, Conn};
/// use rgi_tower::RgiLayer;
///
/// /// rgi middleware that adds a response header.
/// struct Tag(BoxApp);
/// impl App for Tag {
///     async fn call(&self, conn: Conn<'_>) -> AppResult {
///         let Conn::Http(http) = conn else { return self.0.call(conn).await };
///         let (scope, receiver, sender) = http.into_parts();
///         let mut sender = rgi::MapSend::new(sender, |mut event| {
///             if let rgi::HttpSend::Start(start) = &mut event {
///                 start.headers.insert("x-tag", rgi::http::HeaderValue::from_static("rgi"));
///             }
///             event
///         });
///         self.0.call(rgi::HttpConn::new(scope, receiver, &mut sender).into()).await
///     }
/// }
///
/// let router: Router = Router::new()
///     .route("/", get(|| async { "hello from axum" }))
///     .layer(RgiLayer::new(|inner: BoxApp| rgi::boxed(Tag(inner))));
/// ```
///
/// The service it makes is an [`RgiService`] around the middleware around a
/// [`TowerApp`] around the inner service: the request's extensions reach the
/// inner service (axum's own among them), and an rgi middleware that
/// answers a request itself (a `401`) never calls it.
#[derive(Clone)]
pub struct RgiLayer<F> {
    middleware: Arc<F>,
}

impl<F> std::fmt::Debug for RgiLayer<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RgiLayer")
    }
}

impl<F: Fn(BoxApp) -> BoxApp> RgiLayer<F> {
    /// The layer that wraps services in `middleware`.
    pub fn new(middleware: F) -> Self {
        Self {
            middleware: Arc::new(middleware),
        }
    }
}

impl<F, S> tower::Layer<S> for RgiLayer<F>
where
    F: Fn(BoxApp) -> BoxApp,
    TowerApp<S>: App,
{
    type Service = RgiService<BoxApp>;

    fn layer(&self, inner: S) -> RgiService<BoxApp> {
        RgiService::new((self.middleware)(rgi::boxed(TowerApp::new(inner))))
    }
}
