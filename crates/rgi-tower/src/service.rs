//! An rgi app as a tower `Service`: [`RgiService`].
//!
//! No task per request: the app's call is one boxed future, polled by the
//! response future until `Start` and then by the response body, one event
//! per frame, so a body chunk is produced only when hyper (or the layer
//! outside) asks for the next frame: lock-step, bounded by one body event
//! (the `Start` waits beside it, and the last event's send completes at
//! once, so a whole response is one poll of the app; see `Shared`).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http::header::CONTENT_LENGTH;
use http::{Extensions, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use rgi::{
    App, AppResult, BoxError, BoxFuture, Error, HttpConn, HttpReceive, HttpScope, HttpSend,
    Receiver, Sender,
};

use crate::files::{Next, OpenFiles, Sending};
use crate::recycle;
use crate::rules::ResponseRules;
use crate::scope::{fill_scope, scope_from_request, Placement, Transport};

/// How long an rgi call whose tower side went away (the client left, a
/// timeout dropped the response) may go on cleaning up (rule `CORE-032`).
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// An rgi app (or middleware stack) as a tower `Service`, to serve it on
/// hyper or inside axum (`Router::fallback_service`, `nest_service`).
///
/// Each request is one HTTP call of the app. The request body streams to
/// the app's `receive`, pulled as the app asks; each response event becomes
/// one body frame (data, or trailers when `Start` announced them), produced
/// when the frame is asked for. The error type is [`Infallible`], as axum
/// wants: an app that fails before `Start` gives a `500` (rule `CORE-040`),
/// one that fails after it gives a body error, so hyper aborts the
/// connection instead of completing the framing (rule `CORE-041`).
///
/// ```
/// use rgi::{App, AppResult, Conn};
/// use rgi::http::{HeaderMap, StatusCode};
///
/// struct Hello;
/// impl App for Hello {
///     async fn call(&self, conn: Conn<'_>) -> AppResult {
///         let Conn::Http(mut http) = conn else { return conn.unsupported() };
///         Ok(http.respond(StatusCode::OK, HeaderMap::new(), "hello from rgi").await?)
///     }
/// }
///
/// // Mounted in axum under /legacy: the app sees root_path "/legacy".
/// let router: axum::Router = axum::Router::new()
///     .nest_service("/legacy", rgi_tower::RgiService::new(Hello).mounted_at("/legacy"));
/// ```
///
/// What does not cross: WebSocket (an upgrade request reaches the app as a
/// plain HTTP request; tower has no upgraded connection to give it), and
/// the lifespan (a tower stack has no startup: run the app's lifespan with
/// an rgi server, or not at all). Early hints are off in the scope (a tower
/// body has no frame for them), so apps fall back to body chunks (rule
/// `EXT-001`); so is `send_file`, unless a server gives its file reader
/// ([`read_files`](Self::read_files)).
pub struct RgiService<A> {
    called: Arc<Called<A>>,
    placement: Placement,
    grace: Duration,
}

/// What each call holds on to: one count to change per call, not one per
/// part.
struct Called<A> {
    app: Arc<A>,
    /// The server's file reader, for `HttpSend::File` (`read_files`).
    files: Option<Box<dyn OpenFiles>>,
}

impl<A> Clone for RgiService<A> {
    fn clone(&self) -> Self {
        Self {
            called: self.called.clone(),
            placement: self.placement.clone(),
            grace: self.grace,
        }
    }
}

impl<A> std::fmt::Debug for RgiService<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RgiService")
            .field("mount", &self.placement.mount)
            .field("grace", &self.grace)
            .finish_non_exhaustive()
    }
}

impl<A: App> RgiService<A> {
    /// Serves `app`.
    pub fn new(app: A) -> Self {
        Self::from_arc(Arc::new(app))
    }

    /// Serves an app already shared.
    pub fn from_arc(app: Arc<A>) -> Self {
        Self {
            called: Arc::new(Called { app, files: None }),
            placement: Placement::default(),
            grace: DEFAULT_GRACE,
        }
    }

    /// Serves `HttpSend::File` with `files` (a server's reader: this crate
    /// does no I/O): the scope announces `send_file`, and each `File` goes
    /// to the client as data frames, a chunk read only once the one before
    /// was taken; the app's send of it completes when the whole range has
    /// been handed on (as on the reference server).
    #[must_use]
    pub fn read_files(mut self, files: impl OpenFiles) -> Self {
        self.called = Arc::new(Called {
            app: self.called.app.clone(),
            files: Some(Box::new(files)),
        });
        self
    }

    /// Tells the app it is mounted at `prefix` (a raw path such as `/api`),
    /// for requests whose URI the tower side already stripped of it (axum's
    /// `nest_service`): the app gets `root_path = prefix` and the whole
    /// path, as an rgi router would give it.
    #[must_use]
    pub fn mounted_at(mut self, prefix: &str) -> Self {
        let prefix = prefix.trim_end_matches('/');
        self.placement.mount = (!prefix.is_empty()).then(|| prefix.into());
        self
    }

    /// Reads the client's address from the request's extensions, for
    /// `scope.client`. Under `axum::serve(listener,
    /// router.into_make_service_with_connect_info::<SocketAddr>())`:
    /// `.client_addr(|ext| ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0))`.
    #[must_use]
    pub fn client_addr(
        mut self,
        read: impl Fn(&Extensions) -> Option<SocketAddr> + Send + Sync + 'static,
    ) -> Self {
        self.placement.client_addr = Some(Arc::new(read));
        self
    }

    /// Gives every request's scope what the server knows of its
    /// connection: addresses, scheme, TLS, lifespan state. A server makes
    /// one service per connection this way (`rgi-hyper` does).
    #[must_use]
    pub fn on_transport(mut self, transport: Transport) -> Self {
        self.placement.transport = Some(Arc::new(transport));
        self
    }

    /// The app this service calls.
    pub fn app(&self) -> &Arc<A> {
        &self.called.app
    }

    /// The scope a call for a request with these `parts` gets (addresses,
    /// scheme, TLS, lifespan state, mount point, `host` from
    /// `:authority`), for a server that serves some requests with the
    /// same app itself (rgi-hyper's WebSocket handshakes); `None` when
    /// [`call_shared`](Self::call_shared) would answer `400`.
    pub fn scope_of(&self, parts: http::request::Parts) -> Option<rgi::HttpScope> {
        scope_from_request(parts, &self.placement).map(|(scope, _)| scope)
    }

    /// How long a call whose response was dropped (the client went away)
    /// may go on, seeing `Disconnect`, before it is dropped in turn
    /// (default [`DEFAULT_GRACE`]; needs a tokio runtime with timers,
    /// without one the call is dropped at once).
    #[must_use]
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }
}

impl<A, B> tower::Service<Request<B>> for RgiService<A>
where
    A: App,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // An rgi app takes every call; backpressure is per event.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> ResponseFuture {
        self.call_shared(request)
    }
}

impl<A: App> RgiService<A> {
    /// [`tower::Service::call`] through a shared reference, for a server
    /// whose service trait takes `&self` (hyper's): nothing is cloned per
    /// request.
    pub fn call_shared<B>(&self, request: Request<B>) -> ResponseFuture
    where
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let (parts, body) = request.into_parts();
        self.call_parts(parts, body)
    }

    /// [`call_shared`](Self::call_shared) for a request already taken
    /// apart: a server that looks at the head before choosing this service
    /// (rgi-hyper, for WebSocket handshakes) need not put it back together.
    pub fn call_parts<B>(&self, parts: http::request::Parts, body: B) -> ResponseFuture
    where
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let mut scope = recycle::scope();
        let Some(link) = fill_scope(&mut scope, parts, &self.placement) else {
            recycle::keep_scope(scope);
            return ResponseFuture(Calling::Refused(Some(StatusCode::BAD_REQUEST)));
        };
        scope.capabilities.send_file = self.called.files.is_some();
        let shared = recycle::slot();
        let head = scope.method == http::Method::HEAD;
        let call = Box::pin(app_call(self.called.clone(), scope, body, shared.clone()));
        ResponseFuture(Calling::Running(Some(Driver {
            call: Some(call),
            shared,
            maybe_event: false,
            returned: None,
            grace: self.grace,
            link,
            head,
        })))
    }
}

/// The app's call on `scope`, with `body` as its `receive` and `shared` as
/// the slot its `send` fills: the future [`RgiService`] boxes, one per
/// request. The scope is kept for the next call on the thread when the app
/// returns (`recycle.rs`).
///
/// Its size is the box's, so it is kept to the app's own future plus
/// what the call needs: the scope is boxed apart (and kept for the next
/// call; the whole box then stays under glibc's per-thread cache limit of
/// 1032 bytes for a small app), each capture is used in place (`&mut
/// scope`, the receiver and sender built from what was moved in), and the
/// app's call is pinned and awaited through the pin: a capture moved into
/// a local, or a call awaited by value, takes room twice.
fn app_call<A, B>(
    called: Arc<Called<A>>,
    mut scope: Box<HttpScope>,
    body: B,
    shared: Arc<Shared>,
) -> impl Future<Output = AppResult> + Send + 'static
where
    A: App,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let rules = ResponseRules::new(&scope.method);
    async move {
        let body = std::pin::pin!(body);
        // One reference for both handles, lent (no count to change).
        let mut receiver = BodyReceiver {
            body,
            ended: false,
            shared: &shared,
        };
        let mut sender = SlotSender {
            rules,
            shared: &shared,
            files: called.files.as_deref(),
            file: None,
            roomy: true,
        };
        let result = {
            let call = std::pin::pin!(called
                .app
                .call(HttpConn::new(&mut scope, &mut receiver, &mut sender).into()));
            call.await
        };
        recycle::keep_scope(scope);
        result
    }
}

/// What the app's handles and the driver share. The app runs inside the
/// driver's poll, so the buffer needs no waker: whoever took an event
/// polls the app again for the next one.
///
/// The buffer is bounded (rule `CORE-020`): the response's `Start` and at
/// most one body event. The `Start` takes no room from the body, so its
/// `send` completes at once; so does the send of the response's last
/// event, after which the app may send nothing more. A plain `respond`
/// thus runs to its end in one poll of the app.
///
/// The lock is taken only to move an event in or out (three times for a
/// `respond`: two puts, and one take of the `Start` with the body behind
/// it): each side knows when the other cannot have changed
/// anything (`SlotSender::roomy`, `Driver::maybe_event`), and the one
/// thing either may learn at any time, a disconnect, is a flag of its own.
#[derive(Default)]
pub(crate) struct Shared {
    pub(crate) events: Mutex<Events>,
    /// The tower side went away, or the request body failed.
    disconnected: AtomicBool,
}

/// The events in flight, behind `Shared`'s lock.
#[derive(Default)]
pub(crate) struct Events {
    /// The `Start`, until the tower side takes it.
    start: Option<HttpSend>,
    /// The one body event (or trailers) waiting to be taken.
    slot: Option<HttpSend>,
    /// The response's last event was sent.
    pub(crate) complete: bool,
    /// Why the request body failed, when it did: `413` for a body over a
    /// limit (tower-http's `RequestBodyLimitLayer`), else `400`.
    body_failed: Option<StatusCode>,
}

impl Shared {
    fn events(&self) -> MutexGuard<'_, Events> {
        self.events.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn disconnected(&self) -> bool {
        self.disconnected.load(Ordering::Acquire)
    }

    fn disconnect(&self) {
        self.disconnected.store(true, Ordering::Release);
    }
}

impl Events {
    fn take(&mut self) -> Option<HttpSend> {
        self.start.take().or_else(|| self.slot.take())
    }

    fn is_empty(&self) -> bool {
        self.start.is_none() && self.slot.is_none()
    }

    fn clear(&mut self) {
        self.start = None;
        self.slot = None;
    }
}

/// The app's `receive`: the request body, pulled as the app polls.
struct BodyReceiver<'b, B> {
    body: Pin<&'b mut B>,
    ended: bool,
    shared: &'b Shared,
}

impl<B> Receiver<HttpReceive> for BodyReceiver<'_, B>
where
    B: Body + Send,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<HttpReceive> {
        loop {
            if self.ended {
                // After the body: nothing until the response is complete or
                // the client is gone (rule HTTP-011). The driver polls the
                // app again on either.
                return if self.shared.disconnected() || self.shared.events().complete {
                    Poll::Ready(HttpReceive::Disconnect)
                } else {
                    Poll::Pending
                };
            }
            if self.shared.disconnected() {
                return Poll::Ready(HttpReceive::Disconnect);
            }
            match self.body.as_mut().poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(mut data) = frame.into_data() {
                        let data = data.copy_to_bytes(data.remaining());
                        let more = !self.body.is_end_stream();
                        self.ended = !more;
                        return Poll::Ready(HttpReceive::Body { data, more });
                    }
                    // Request trailers: rgi has no event for them.
                }
                Poll::Ready(None) => {
                    self.ended = true;
                    return Poll::Ready(HttpReceive::Body {
                        data: Bytes::new(),
                        more: false,
                    });
                }
                Poll::Ready(Some(Err(error))) => {
                    let error: BoxError = error.into();
                    self.shared.disconnect();
                    self.shared.events().body_failed = Some(if is_length_limit(&*error) {
                        StatusCode::PAYLOAD_TOO_LARGE
                    } else {
                        StatusCode::BAD_REQUEST
                    });
                    // As a server does with a body over its limit or with
                    // broken framing (rule HTTP-014).
                    return Poll::Ready(HttpReceive::Disconnect);
                }
            }
        }
    }
}

fn is_length_limit(mut error: &(dyn std::error::Error + 'static)) -> bool {
    loop {
        if error.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        match error.source() {
            Some(source) => error = source,
            None => return false,
        }
    }
}

/// The app's `send`: checks each event (rule CORE-012) and leaves it in the
/// slot for the driver; a `File` is handed on as `Body` chunks, each read
/// once the one before has been taken.
struct SlotSender<'s> {
    rules: ResponseRules,
    shared: &'s Shared,
    /// The server's file reader, when the scope announces `send_file`.
    files: Option<&'s dyn OpenFiles>,
    /// The `File` being handed on.
    file: Option<Sending>,
    /// The slot had room when the last event was put (a `Start` takes
    /// none, and nothing follows the last event). Only the app fills the
    /// slot, so it still has: the flush needs no lock unless the client
    /// left.
    roomy: bool,
}

impl SlotSender<'_> {
    /// Leaves `event` in the slot, checked.
    fn put(&mut self, event: HttpSend) -> Result<(), Error> {
        let mut events = self.shared.events();
        if events.slot.is_some() && !self.rules.complete() {
            return Err(unflushed());
        }
        self.rules.accept(&event)?;
        if self.shared.disconnected() {
            return Err(Error::Disconnected);
        }
        events.complete = self.rules.complete();
        if matches!(event, HttpSend::Start(_)) {
            events.start = Some(event);
        } else {
            events.slot = Some(event);
        }
        self.roomy = events.slot.is_none() || events.complete;
        Ok(())
    }

    /// Ready once the slot has room for the next event.
    fn poll_slot(&mut self) -> Poll<Result<(), Error>> {
        if self.roomy && !self.shared.disconnected() {
            return Poll::Ready(Ok(()));
        }
        let mut events = self.shared.events();
        if self.shared.disconnected() && !events.is_empty() {
            events.clear();
            Poll::Ready(Err(Error::Disconnected))
        } else if events.slot.is_none() || events.complete {
            // Room for the next event, or no next event (see `Shared`).
            Poll::Ready(Ok(()))
        } else {
            // Taken when the tower side asks for the next frame.
            Poll::Pending
        }
    }
}

impl Sender<HttpSend> for SlotSender<'_> {
    fn start_send(&mut self, event: HttpSend) -> Result<(), Error> {
        if self.file.is_some() {
            return Err(unflushed());
        }
        // Matched without a tuple: every event (112 bytes) passes here,
        // and is moved once, into the slot.
        let HttpSend::File(file) = event else {
            return self.put(event);
        };
        let Some(files) = &self.files else {
            // No reader: the rules refuse it (EXT-001).
            return self.put(HttpSend::File(file));
        };
        self.rules.check_file()?;
        if !self.roomy && self.shared.events().slot.is_some() {
            // As `put` refuses any event while one waits unflushed.
            return Err(unflushed());
        }
        if self.shared.disconnected() {
            return Err(Error::Disconnected);
        }
        self.file = Some(Sending::start(*files, file)?);
        Ok(())
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.file.is_none() {
            return self.poll_slot();
        }
        self.poll_flush_file(cx)
    }
}

impl SlotSender<'_> {
    /// `poll_flush` while a `File` is handed on, chunk by chunk.
    #[inline(never)]
    fn poll_flush_file(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            std::task::ready!(self.poll_slot())?;
            let Some(file) = self.file.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            let next = std::task::ready!(file.poll_next(cx)).inspect_err(|_| self.file = None)?;
            match next {
                Next::Chunk(data, more) => {
                    if !more {
                        self.file = None;
                    }
                    self.put(HttpSend::Body { data, more })?;
                }
                Next::Done(final_body) => {
                    self.file = None;
                    if final_body {
                        self.put(HttpSend::Body {
                            data: Bytes::new(),
                            more: false,
                        })?;
                    }
                }
            }
        }
    }
}

/// A send started before the one before it was flushed (rule `CORE-021`).
fn unflushed() -> Error {
    Error::protocol("CORE-021", "start_send before the last send was flushed")
}

/// One step of the app's call.
enum Step {
    Event(HttpSend),
    Returned(AppResult),
    Finished,
}

/// The app's call, polled from outside.
struct Driver {
    call: Option<BoxFuture<'static, AppResult>>,
    shared: Arc<Shared>,
    /// The app ran since the events were last found taken (only the app
    /// puts them, and only while it is polled).
    maybe_event: bool,
    returned: Option<AppResult>,
    grace: Duration,
    /// The rgi side that called through tower, when one did.
    link: Option<Link>,
    /// A response to HEAD: its length is the app's to say.
    head: bool,
}

/// What an rgi call that crosses into tower (`TowerApp`,
/// `TowerMiddleware`) shares with an `RgiService` behind it, carried in
/// [`ScopeParts`](crate::ScopeParts): one allocation per crossing for what
/// the response head cannot say.
#[derive(Clone, Default)]
pub(crate) struct Link(Arc<Mutex<LinkState>>);

#[derive(Default)]
struct LinkState {
    /// Whether the rgi app's `Start` announced trailers (set when it
    /// became a tower response).
    trailers: Option<bool>,
    /// Finish a dropped call in the caller's future (`TowerMiddleware`)
    /// rather than on a task.
    inline: bool,
    /// The dropped call, left for the caller to finish.
    drain: Option<BoxFuture<'static, AppResult>>,
}

impl Link {
    fn lock(&self) -> MutexGuard<'_, LinkState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A link whose dropped calls are finished by the caller.
    pub(crate) fn inline() -> Self {
        let link = Self::default();
        link.lock().inline = true;
        link
    }

    /// Whether the response came from an rgi app, and if so whether it
    /// announced trailers.
    pub(crate) fn take_trailers(&self) -> Option<bool> {
        self.lock().trailers.take()
    }

    /// Runs the call left here, if any, to its end.
    pub(crate) async fn finish(&self) {
        let call = self.lock().drain.take();
        if let Some(call) = call {
            let _ = call.await;
        }
    }
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Link")
    }
}

impl Driver {
    fn poll_step(&mut self, cx: &mut Context<'_>) -> Poll<Step> {
        self.poll_step_ahead(cx, None)
    }

    /// [`poll_step`](Self::poll_step), and when the step is the `Start`
    /// and a body event waits behind it (a `respond`), that event too, in
    /// `ahead`: one turn of the lock for both.
    fn poll_step_ahead(
        &mut self,
        cx: &mut Context<'_>,
        mut ahead: Option<&mut Peeked>,
    ) -> Poll<Step> {
        if self.maybe_event {
            if let Some(event) = self.take_event(cx, ahead.as_deref_mut()) {
                return Poll::Ready(Step::Event(event));
            }
        }
        if let Some(result) = self.returned.take() {
            return Poll::Ready(Step::Returned(result));
        }
        let Some(call) = self.call.as_mut() else {
            return Poll::Ready(Step::Finished);
        };
        let polled = call.as_mut().poll(cx);
        self.maybe_event = true;
        match polled {
            Poll::Ready(result) => {
                self.call = None;
                match self.take_event(cx, ahead) {
                    Some(event) => {
                        self.returned = Some(result);
                        Poll::Ready(Step::Event(event))
                    }
                    None => Poll::Ready(Step::Returned(result)),
                }
            }
            Poll::Pending => match self.take_event(cx, ahead) {
                Some(event) => Poll::Ready(Step::Event(event)),
                None => Poll::Pending,
            },
        }
    }

    fn take_event(&mut self, cx: &mut Context<'_>, ahead: Option<&mut Peeked>) -> Option<HttpSend> {
        let (event, complete) = {
            let mut events = self.shared.events();
            let event = events.take();
            if let (Some(HttpSend::Start(_)), Some(ahead)) = (&event, ahead) {
                let body = events.slot.take_if(|e| matches!(e, HttpSend::Body { .. }));
                if let Some(HttpSend::Body { data, more }) = body {
                    *ahead = Peeked::Body(data, more);
                }
            }
            self.maybe_event = !events.is_empty();
            (event?, events.complete && events.slot.is_none())
        };
        if complete {
            // The last event: let the app see its send complete and return
            // now, rather than from a cleanup task once the body is dropped.
            // (It can send nothing more: `maybe_event` stays as it is.)
            if let Some(call) = self.call.as_mut() {
                if let Poll::Ready(result) = call.as_mut().poll(cx) {
                    self.call = None;
                    self.returned = Some(result);
                }
            }
        }
        Some(event)
    }

    fn body_failed(&self) -> Option<StatusCode> {
        self.shared.events().body_failed
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        match self.call.take() {
            // The call is over and its handles with it.
            None => recycle::keep_slot(&mut self.shared),
            Some(call) => self.abandon(call),
        }
    }
}

impl Driver {
    /// Leaves a call whose tower side went away to finish on its own.
    #[cold]
    #[inline(never)]
    fn abandon(&mut self, call: BoxFuture<'static, AppResult>) {
        self.shared.disconnect();
        self.shared.events().clear();
        // The tower side is gone (the client left, a timeout fired): the app
        // now sees `Disconnect` and failing sends, and gets its grace period
        // to clean up (rule CORE-032): in the rgi middleware outside, or on
        // a task of its own.
        if let Some(link) = self.link.as_ref().filter(|link| link.lock().inline) {
            link.lock().drain = Some(call);
        } else if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let grace = self.grace;
            runtime.spawn(async move {
                let _ = tokio::time::timeout(grace, call).await;
            });
        }
    }
}

/// Set on the `500` an [`RgiService`] makes of its app's error, so that
/// [`TowerApp`](crate::TowerApp) (rgi → tower → rgi) returns the error
/// itself; a layer that replaces the response drops it with the response.
#[derive(Clone)]
pub(crate) struct Failure(Arc<Mutex<Option<BoxError>>>);

impl Failure {
    pub(crate) fn take(&self) -> Option<BoxError> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// The future of [`RgiService::call`]: runs the app until it sends `Start`.
pub struct ResponseFuture(Calling);

enum Calling {
    /// The app is running.
    Running(Option<Driver>),
    /// The request never reached the app.
    Refused(Option<StatusCode>),
}

impl std::fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseFuture")
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response<ResponseBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let driver = match &mut self.get_mut().0 {
            Calling::Refused(status) => {
                let status = status.take().unwrap_or(StatusCode::BAD_REQUEST);
                return Poll::Ready(Ok(empty(status, None)));
            }
            Calling::Running(driver) => driver,
        };
        let Some(running) = driver.as_mut() else {
            return Poll::Ready(Ok(empty(StatusCode::INTERNAL_SERVER_ERROR, None)));
        };
        let running_head = running.head;
        let running_link = running.link.clone();
        let mut ahead = Peeked::Nothing;
        loop {
            match std::task::ready!(running.poll_step_ahead(cx, Some(&mut ahead))) {
                Step::Event(HttpSend::Start(start)) => {
                    let mut headers = start.headers;
                    let status = start.status;
                    let mut body = ResponseBody {
                        driver: driver.take(),
                        trailers: start.trailers,
                        data_done: false,
                        done: false,
                        peeked: Peeked::Nothing,
                        failed: None,
                    };
                    // One look ahead: a whole body in one event (what
                    // `respond` sends) gets a content-length instead of
                    // chunked framing, as the reference server does (rule
                    // HTTP-034). Only the Start's flush is completed early.
                    // The body taken with the Start, or else the next step.
                    body.peeked = match std::mem::take(&mut ahead) {
                        Peeked::Nothing => match body.driver.as_mut().map(|d| d.poll_step(cx)) {
                            Some(Poll::Ready(step)) => Peeked::from(step),
                            _ => Peeked::Nothing,
                        },
                        taken => taken,
                    };
                    if let Peeked::Body(data, false) = &body.peeked {
                        let bodiless = running_head
                            || status == StatusCode::NO_CONTENT
                            || status == StatusCode::NOT_MODIFIED;
                        if !bodiless && !start.trailers && !headers.contains_key(CONTENT_LENGTH) {
                            headers.insert(CONTENT_LENGTH, length_value(data.len() as u64));
                        }
                    }
                    if let Some(link) = &running_link {
                        link.lock().trailers = Some(start.trailers);
                    }
                    let mut response = Response::new(body);
                    *response.status_mut() = status;
                    *response.headers_mut() = headers;
                    *response.extensions_mut() = start.extensions;
                    return Poll::Ready(Ok(response));
                }
                // Nothing else passes the rules before Start.
                Step::Event(_) => continue,
                Step::Returned(result) => {
                    let status = running.body_failed();
                    driver.take();
                    return Poll::Ready(Ok(failed_before_start(result, status)));
                }
                Step::Finished => {
                    driver.take();
                    return Poll::Ready(Ok(empty(StatusCode::INTERNAL_SERVER_ERROR, None)));
                }
            }
        }
    }
}

/// The response for a call that ended without `Start`.
#[cold]
#[inline(never)]
fn failed_before_start(
    result: AppResult,
    body_failed: Option<StatusCode>,
) -> Response<ResponseBody> {
    if let Some(status) = body_failed {
        // The request body broke (a limit, the framing): the server's answer
        // (rule HTTP-014), whatever the app made of it.
        return empty(status, None);
    }
    let error: BoxError = match result {
        Ok(()) => {
            Error::protocol("CORE-042", "the app returned Ok(()) without sending Start").into()
        }
        Err(error) => error,
    };
    if !Error::is_disconnect(&*error) {
        tracing::error!(error = %error, "rgi app failed before the response started");
    }
    empty(StatusCode::INTERNAL_SERVER_ERROR, Some(error))
}

#[cold]
#[inline(never)]
fn empty(status: StatusCode, failure: Option<BoxError>) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::default());
    *response.status_mut() = status;
    if let Some(error) = failure {
        response
            .extensions_mut()
            .insert(Failure(Arc::new(Mutex::new(Some(error)))));
    }
    response
}

/// The step taken ahead while the head was made: nearly always the body
/// (`respond`'s one chunk), kept as its bytes; anything else boxed. A
/// `Step` holds a whole `HttpSend` (112 bytes, for a `Start`), and the
/// body is moved several times on its way through hyper.
#[derive(Default)]
enum Peeked {
    #[default]
    Nothing,
    Body(Bytes, bool),
    Other(Box<Step>),
}

impl From<Step> for Peeked {
    fn from(step: Step) -> Self {
        match step {
            Step::Event(HttpSend::Body { data, more }) => Peeked::Body(data, more),
            step => Peeked::Other(Box::new(step)),
        }
    }
}

/// The body of an [`RgiService`] response: the app's events after `Start`,
/// one frame per event, produced when asked for.
pub struct ResponseBody {
    driver: Option<Driver>,
    trailers: bool,
    /// The final body event went out; only trailers may follow.
    data_done: bool,
    done: bool,
    /// A step taken while the head was made.
    peeked: Peeked,
    /// The app failed after its start: the error is given on the next
    /// poll, once the server has had a turn to write what came before it.
    failed: Option<BoxError>,
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody")
            .field("trailers", &self.trailers)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl Default for ResponseBody {
    /// An empty body, for responses a tower layer makes itself (a CORS
    /// preflight, a timeout's `408`).
    fn default() -> Self {
        Self {
            driver: None,
            trailers: false,
            data_done: true,
            done: true,
            peeked: Peeked::Nothing,
            failed: None,
        }
    }
}

impl ResponseBody {
    /// The app failed after its start.
    #[cold]
    #[inline(never)]
    fn fail(
        &mut self,
        error: BoxError,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.done = true;
        self.data_done = true;
        if !Error::is_disconnect(&*error) {
            tracing::error!(error = %error, "rgi app failed after the response started");
        }
        // hyper aborts the connection on a body error without flushing
        // what it buffered: the client would see no response at all
        // instead of the truncated one (whose missing end tells it the
        // body broke). One turn first lets hyper write the head and the
        // data sent so far.
        self.failed = Some(error);
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let Some(driver) = this.driver.as_mut() else {
            return Poll::Ready(None);
        };
        loop {
            if let Some(error) = this.failed.take() {
                return Poll::Ready(Some(Err(error)));
            }
            if this.done {
                // Complete: an app still running (work after its response)
                // finishes on its own when the body is dropped (`Driver`).
                return Poll::Ready(None);
            }
            let step = match std::mem::take(&mut this.peeked) {
                Peeked::Body(data, more) => Step::Event(HttpSend::Body { data, more }),
                Peeked::Other(step) => *step,
                Peeked::Nothing => std::task::ready!(driver.poll_step(cx)),
            };
            match step {
                Step::Event(HttpSend::Body { data, more }) => {
                    if !more {
                        this.data_done = true;
                        this.done = !this.trailers;
                    }
                    if data.is_empty() && !more {
                        continue;
                    }
                    // An empty chunk with more to come is rgi's flush; an
                    // empty data frame is the nearest thing tower has.
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Step::Event(HttpSend::Trailers(trailers)) => {
                    this.done = true;
                    return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
                }
                Step::Event(_) => continue,
                Step::Returned(Ok(())) if this.done => {
                    this.driver = None;
                    return Poll::Ready(None);
                }
                Step::Returned(Ok(())) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(Error::protocol(
                        "CORE-042",
                        "the app returned Ok(()) with its response unfinished",
                    )
                    .into())));
                }
                Step::Returned(Err(error)) => return this.fail(error, cx),
                Step::Finished => {
                    this.driver = None;
                    return Poll::Ready(None);
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        if self.data_done {
            // No data will follow; trailers may (what tells `TowerApp` that
            // the last data frame was the final body).
            SizeHint::with_exact(0)
        } else {
            SizeHint::default()
        }
    }
}

/// `n` as a header value, with one allocation (`HeaderValue::from(n)`
/// makes two).
pub(crate) fn length_value(n: u64) -> http::HeaderValue {
    // Digits are always a valid value: the fallback, which never runs, is
    // kept out of line.
    #[cold]
    fn slow(n: u64) -> http::HeaderValue {
        n.into()
    }
    http::HeaderValue::from_bytes(itoa::Buffer::new().format(n).as_bytes())
        .unwrap_or_else(|_| slow(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An app whose future is a known size.
    struct Padded;

    /// Room that the future holds (and reads once, so that it is kept).
    struct PaddedCall([u8; 400]);

    impl Future for PaddedCall {
        type Output = AppResult;
        fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<AppResult> {
            std::hint::black_box(&self.0);
            Poll::Ready(Ok(()))
        }
    }

    impl App for Padded {
        fn call(&self, _conn: rgi::Conn<'_>) -> impl Future<Output = AppResult> + Send {
            PaddedCall([0; 400])
        }
    }

    /// The boxed future of a request is the app's own plus a little: the
    /// scope is not in it (it is boxed apart), and nothing is in it twice.
    #[test]
    fn the_call_future_is_the_apps_plus_a_little() {
        let shared = Arc::new(Shared::default());
        let called = Arc::new(Called {
            app: Arc::new(Padded),
            files: None,
        });
        let call = app_call(
            called,
            Box::default(),
            http_body_util::Empty::<Bytes>::new(),
            shared,
        );
        let overhead = std::mem::size_of_val(&call) - std::mem::size_of::<PaddedCall>();
        assert!(
            overhead < std::mem::size_of::<HttpScope>() && overhead <= 320,
            "{overhead} bytes besides the app's future"
        );
    }
}
