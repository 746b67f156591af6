//! [`Blocking`]: a blocking handler as an [`rgi::App`].

use std::future::poll_fn;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use http::{header, HeaderMap, HeaderValue, StatusCode};
use rgi::{App, AppResult, BoxError, Conn, HttpConn};

use crate::handoff::{Handoff, Next, Op};
use crate::pool::{Pool, Saturated};
use crate::request::Request;
use crate::response::{Incomplete, Response};

/// A blocking request handler: WSGI's application callable, typed. It
/// gets the [`Request`] (its scope, owned, and its body as a
/// `std::io::Read`) and the [`Response`] to start and write, and may block
/// as long as it likes: it runs on a thread of the adapter's [`Pool`],
/// never on the server's runtime.
///
/// Any `Fn(Request, &mut Response) -> Result<(), E>` whose error converts
/// into a [`BoxError`] (an `io::Error`, a database driver's error, a
/// `String`) is a handler:
///
/// ```
/// use std::io::{Read, Write};
/// use rgi_blocking::{Request, Response};
///
/// fn echo(mut request: Request, response: &mut Response) -> std::io::Result<()> {
///     response.start(http::StatusCode::OK, http::HeaderMap::new())?;
///     std::io::copy(&mut request.body, response)?;
///     Ok(())
/// }
/// let app = rgi_blocking::Blocking::new(echo);
/// # let _ = app;
/// ```
///
/// A handler that wraps a handler is WSGI middleware: implement the trait
/// on a struct holding the inner one (see the `blocking` example).
pub trait Handler: Send + Sync + 'static {
    /// Handles one request. Return `Ok` once the response is written (the
    /// adapter ends the body if the handler did not); `Err` before the
    /// start makes the server answer `500`, after it aborts the response.
    fn handle(&self, request: Request, response: &mut Response) -> Result<(), BoxError>;
}

impl<F, E> Handler for F
where
    F: Fn(Request, &mut Response) -> Result<(), E> + Send + Sync + 'static,
    E: Into<BoxError>,
{
    fn handle(&self, request: Request, response: &mut Response) -> Result<(), BoxError> {
        self(request, response).map_err(Into::into)
    }
}

impl<H: Handler + ?Sized> Handler for Arc<H> {
    fn handle(&self, request: Request, response: &mut Response) -> Result<(), BoxError> {
        (**self).handle(request, response)
    }
}

/// Why a handler's call failed, as the adapter reports it to the server
/// (and to the middleware outside).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandlerError {
    /// The handler panicked; the message is the panic's, when it had one.
    #[error("the blocking handler panicked: {0}")]
    Panicked(String),
    /// The handler returned `Ok` without starting a response (rule
    /// `CORE-042`: the server answers `500`).
    #[error("the blocking handler returned without starting a response")]
    NoResponse,
}

/// A [`Handler`] served as an [`rgi::App`]: each HTTP request runs the
/// handler on a thread of a bounded [`Pool`], and the call's future relays
/// between that thread and the connection, one event at a time.
///
/// WebSocket and lifespan scopes are not handled (`Error::Unsupported`:
/// the server refuses the WebSocket with `403` and runs without lifespan);
/// put the adapter behind a router or a lifespan middleware for those.
#[derive(Debug)]
pub struct Blocking<H> {
    handler: Arc<H>,
    pool: Pool,
}

impl<H: Handler> Blocking<H> {
    /// `handler` on a pool of its own with the default settings.
    pub fn new(handler: H) -> Self {
        Self::with_pool(handler, Pool::default())
    }

    /// `handler` on `pool`, which other adapters may share.
    pub fn with_pool(handler: H, pool: Pool) -> Self {
        Self {
            handler: Arc::new(handler),
            pool,
        }
    }

    /// The pool the handler runs on (for its [`stats`](Pool::stats)).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }
}

impl<H: Handler> App for Blocking<H> {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let mut conn = match conn {
            Conn::Http(conn) => conn,
            other => return other.unsupported(),
        };
        let permit = match self.pool.acquire().await {
            Ok(permit) => permit,
            Err(Saturated) => return busy(&mut conn, self.pool.config().retry_after_secs).await,
        };
        let handoff = Arc::new(Handoff::default());
        // Dropping this future (cancellation) fails the thread's next read
        // or write instead of leaving it blocked.
        let _close = CloseOnDrop(handoff.clone());
        let request = Request::new(conn.scope.clone(), handoff.clone());
        let head = conn.scope.method == http::Method::HEAD;
        let response = Response::new(handoff.clone(), conn.scope.capabilities, head);
        let (handler, job_handoff) = (self.handler.clone(), handoff.clone());
        self.pool.submit(
            permit,
            Box::new(move || run(&*handler, request, response, &job_handoff)),
        )?;
        loop {
            match poll_fn(|cx| handoff.poll_next(cx)).await {
                Next::Finished(outcome) => return handoff.outcome(outcome),
                Next::Op(Op::Recv) => handoff.received(conn.recv().await),
                Next::Op(Op::Send(event)) => handoff.sent(conn.send(event).await),
                Next::Op(Op::Respond {
                    status,
                    headers,
                    body,
                }) => handoff.sent(conn.respond(status, headers, body).await),
            }
        }
    }
}

/// The pool job: the handler, its panic caught, then the response
/// completed or the failure reported.
fn run<H: Handler + ?Sized>(
    handler: &H,
    request: Request,
    mut response: Response,
    handoff: &Handoff,
) {
    // Cancelled while it waited in the queue: nobody to answer.
    if handoff.is_closed() {
        handoff.finish(Err(rgi::Error::Disconnected.into()));
        return;
    }
    let result = catch_unwind(AssertUnwindSafe(|| handler.handle(request, &mut response)));
    let outcome = match result {
        Ok(Ok(())) => match response.complete() {
            Ok(()) => Ok(()),
            Err(Incomplete::NotStarted) => Err(HandlerError::NoResponse.into()),
            Err(Incomplete::Io(e)) => Err(e.into()),
        },
        Ok(Err(e)) => Err(e),
        Err(panic) => Err(HandlerError::Panicked(panic_message(&*panic)).into()),
    };
    handoff.finish(outcome);
}

pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_owned()
    }
}

/// Every thread stayed busy for the whole wait: `503` with `retry-after`,
/// as gunicorn's full backlog would get a refused connection.
async fn busy(conn: &mut HttpConn<'_>, retry_after_secs: u32) -> AppResult {
    let mut headers = HeaderMap::new();
    headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    conn.respond(
        StatusCode::SERVICE_UNAVAILABLE,
        headers,
        "every worker thread is busy; retry later\n",
    )
    .await?;
    Ok(())
}

struct CloseOnDrop(Arc<Handoff>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}
