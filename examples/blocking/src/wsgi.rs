//! WSGI middleware from the seeds, as blocking [`Handler`]s that wrap a
//! handler: the onion of seed 004 (a pre-processor that answers `403`
//! itself), the environ logger of seed 001 (a pre-processor that changes
//! nothing), and the body rewriters of seed 001 (post-processors that take
//! the inner response, change it and send it on). Each runs on the pool
//! thread with the handler it wraps, so a chain of them costs one thread
//! hop in all.

use std::net::IpAddr;

use bytes::BytesMut;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use rgi::BoxError;
use rgi_blocking::{Handler, Request, Response};

/// Seed 004's `AuthenticationMiddleware`: passes the request to the inner
/// handler when the client's address is allowed, answers
/// `403 Forbidden` itself otherwise (and for a client with no address).
///
/// ```
/// use rgi_blocking_examples::wsgi::AllowAddresses;
/// # fn app(_: rgi_blocking::Request, _: &mut rgi_blocking::Response) -> std::io::Result<()> { Ok(()) }
/// let onion = AllowAddresses::new(app, ["127.0.0.1".parse().unwrap()]);
/// let served = rgi_blocking::Blocking::new(onion);
/// # let _ = served;
/// ```
#[derive(Debug)]
pub struct AllowAddresses<H> {
    inner: H,
    allowed: Vec<IpAddr>,
}

impl<H: Handler> AllowAddresses<H> {
    /// `inner`, served only to clients at one of `allowed`.
    pub fn new(inner: H, allowed: impl IntoIterator<Item = IpAddr>) -> Self {
        Self {
            inner,
            allowed: allowed.into_iter().map(|ip| ip.to_canonical()).collect(),
        }
    }
}

impl<H: Handler> Handler for AllowAddresses<H> {
    fn handle(&self, request: Request, response: &mut Response) -> Result<(), BoxError> {
        // An IPv4 client of a dual-stack listener arrives as ::ffff:a.b.c.d.
        let client = request.scope.client.map(|addr| addr.ip().to_canonical());
        if client.is_some_and(|ip| self.allowed.contains(&ip)) {
            return self.inner.handle(request, response);
        }
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        response.send(
            StatusCode::FORBIDDEN,
            headers,
            "You are forbidden to view this resource",
        )?;
        Ok(())
    }
}

/// Seed 001's `log_environ`: logs the request's scope (at debug level),
/// then calls the inner handler with it unchanged.
#[derive(Debug)]
pub struct LogScope<H>(pub H);

impl<H: Handler> Handler for LogScope<H> {
    fn handle(&self, request: Request, response: &mut Response) -> Result<(), BoxError> {
        let scope = &request.scope;
        tracing::debug!(
            method = %scope.method,
            path = %scope.path,
            query = %String::from_utf8_lossy(scope.query_string()),
            client = ?scope.client,
            headers = ?scope.headers,
            "request scope"
        );
        self.0.handle(request, response)
    }
}

/// Seed 001's exercise 3: reverses the response body. Twice is the
/// original again: `Reverse(Reverse(app))`.
#[derive(Debug)]
pub struct Reverse<H>(pub H);

impl<H: Handler> Handler for Reverse<H> {
    fn handle(&self, request: Request, response: &mut Response) -> Result<(), BoxError> {
        rewrite_body(&self.0, request, response, |body| body.reverse())
    }
}

/// Seed 001's exercise 2: the response body in capitals (ASCII letters;
/// every other byte unchanged, so UTF-8 stays valid).
#[derive(Debug)]
pub struct Capitalize<H>(pub H);

impl<H: Handler> Handler for Capitalize<H> {
    fn handle(&self, request: Request, response: &mut Response) -> Result<(), BoxError> {
        rewrite_body(&self.0, request, response, |body| {
            body.make_ascii_uppercase()
        })
    }
}

/// The post-processor's frame: run `inner` into memory, `rewrite` the body,
/// send the result on. Buffering is what a whole-body rewrite needs (WSGI's
/// version holds the returned list); the length stays the same, so the
/// inner `content-length`, if any, stays right.
fn rewrite_body<H: Handler>(
    inner: &H,
    request: Request,
    response: &mut Response,
    rewrite: impl FnOnce(&mut BytesMut),
) -> Result<(), BoxError> {
    let mut captured = Response::buffered(response.capabilities());
    inner.handle(request, &mut captured)?;
    let Some(mut inner_response) = captured.into_buffered() else {
        return Ok(());
    };
    // An inner handler that never started: neither do we, and the adapter
    // answers for both (rule CORE-042).
    let Some(start) = inner_response.start.take() else {
        return Ok(());
    };
    for hints in inner_response.early_hints {
        response.early_hints(hints)?;
    }
    rewrite(&mut inner_response.body);
    let body = inner_response.body.freeze();
    if start.trailers {
        response.start_with(start)?;
        response.write_chunk(body)?;
        response.trailers(inner_response.trailers.unwrap_or_default())?;
    } else {
        // `send` keeps the body rules for HEAD, 204 and 304.
        response.send(start.status, start.headers, body)?;
    }
    Ok(())
}

/// The seeds' "Hello World!" app, as a blocking handler.
pub fn hello(_: Request, response: &mut Response) -> std::io::Result<()> {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response.send(StatusCode::OK, headers, "Hello World!\n")
}
