//! Error boundary: the outermost layer. When anything inside fails (returns
//! an error or panics) before the response started, it logs the failure
//! and answers a clean JSON `500` itself (`413` for
//! [`Error::BodyTooLarge`]); after the response started it logs and returns
//! the error, so the server aborts the connection and the client cannot take
//! a truncated body for a whole one (rule `CORE-041`).
//!
//! Ports seed 003's `ErrorBoundaryMiddleware`: catch, log with context,
//! answer `{"error": "Internal server error"}`. Python's exception classes
//! become a downcast of the error (`BodyTooLarge` → 413, where the seed maps
//! `ValueError` → 400), and Rust's other way to fail, a panic, is caught
//! too. A client that went away is not a failure: that error passes through
//! unlogged.
//!
//! "Started" means the server *accepted* `Start`: the boundary watches the
//! result of `start_send`, not just what the app tried to send.

use std::any::Any;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use rgi::bytes::Bytes;
use rgi::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use rgi::http::{HeaderValue, Method, StatusCode};
use rgi::{App, AppResult, BoxError, Conn, Error, HttpConn, HttpSend, ResponseStart, SenderExt};

use crate::watch::WatchStart;

/// Turns inner failures before the response into a `500`.
#[derive(Debug, Clone)]
pub struct ErrorBoundary<A> {
    inner: A,
}

impl<A> ErrorBoundary<A> {
    /// Guards `inner`. Put it outermost so it covers every other layer.
    pub fn new(inner: A) -> Self {
        Self { inner }
    }
}

impl<A: App> App for ErrorBoundary<A> {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(http) = conn else {
            return self.inner.call(conn).await;
        };
        let (scope, receiver, sender) = http.into_parts();
        let (method, uri) = (scope.method.clone(), scope.uri.clone());
        let mut sender = WatchStart::new(sender);
        let call = self
            .inner
            .call(HttpConn::new(scope, receiver, &mut sender).into());
        let error: BoxError = match AssertUnwindSafe(call).catch_unwind().await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(err)) if Error::is_disconnect(&*err) => return Err(err),
            Ok(Err(err)) => err,
            Err(panic) => format!("panicked: {}", panic_message(&*panic)).into(),
        };
        let path = uri.path();
        if sender.started {
            tracing::error!(%method, path, error = %error, "failed after the response started; aborting");
            return Err(error);
        }
        tracing::error!(%method, path, error = %error, "failed; answering with an error response");
        let (status, body): (_, &'static str) = match error.downcast_ref::<Error>() {
            Some(Error::BodyTooLarge { .. }) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                r#"{"error":"Request body too large"}"#,
            ),
            _ => (
                StatusCode::INTERNAL_SERVER_ERROR,
                r#"{"error":"Internal server error"}"#,
            ),
        };
        let sender = &mut sender.inner;
        // The inner app may have left an event (early hints) in flight.
        if sender.flush().await.is_err() {
            return Err(error);
        }
        let mut start = ResponseStart::new(status);
        start
            .headers
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        start
            .headers
            .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        let body = if method == Method::HEAD { "" } else { body };
        if sender.send(HttpSend::Start(start)).await.is_err()
            || sender
                .send(HttpSend::body(Bytes::from_static(body.as_bytes())))
                .await
                .is_err()
        {
            return Err(error);
        }
        Ok(())
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a non-string payload")
}

#[cfg(test)]
mod tests {
    use rgi::http::HeaderMap;
    use rgi_conformance::{Request, TestClient};

    use super::*;
    use crate::testing::{Fails, Hello};

    /// Fails in the way the path says.
    struct Trouble;

    impl App for Trouble {
        async fn call(&self, conn: Conn<'_>) -> AppResult {
            let Conn::Http(mut http) = conn else {
                return conn.unsupported();
            };
            match http.scope.path.as_str() {
                // Unwinds like `panic!`, without the hook printing it.
                "/panic" => std::panic::resume_unwind(Box::new("kaboom (on purpose)")),
                "/too-large" => {
                    http.read_body(4).await?;
                    Ok(())
                }
                "/after-start" => {
                    http.send(HttpSend::Start(ResponseStart::new(StatusCode::OK)))
                        .await?;
                    http.send(HttpSend::chunk("partial")).await?;
                    Err("failed mid-body".into())
                }
                "/gone" => Err(Error::Disconnected.into()),
                _ => Ok(http
                    .respond(StatusCode::OK, HeaderMap::new(), "fine")
                    .await?),
            }
        }
    }

    #[tokio::test]
    async fn an_error_before_start_becomes_a_500() {
        let response = TestClient::new(ErrorBoundary::new(Fails))
            .get("/")
            .await
            .unwrap();
        assert_eq!(response.status(), Some(StatusCode::INTERNAL_SERVER_ERROR));
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert_eq!(response.body(), r#"{"error":"Internal server error"}"#);
        assert!(response.is_complete());
        assert!(response.exit().is_ok());
    }

    #[tokio::test]
    async fn a_panic_before_start_becomes_a_500() {
        let client = TestClient::new(ErrorBoundary::new(Trouble));
        let response = client.get("/panic").await.unwrap();
        assert_eq!(response.status(), Some(StatusCode::INTERNAL_SERVER_ERROR));
        assert!(response.exit().is_ok());
    }

    #[tokio::test]
    async fn a_body_over_the_limit_becomes_a_413() {
        let client = TestClient::new(ErrorBoundary::new(Trouble));
        let response = client
            .send(Request::post("/too-large").body("12345"))
            .await
            .unwrap();
        assert_eq!(response.status(), Some(StatusCode::PAYLOAD_TOO_LARGE));
    }

    #[tokio::test]
    async fn head_gets_the_status_without_body_bytes() {
        let client = TestClient::new(ErrorBoundary::new(Fails));
        let response = client.send(Request::head("/")).await.unwrap();
        assert_eq!(response.status(), Some(StatusCode::INTERNAL_SERVER_ERROR));
        assert!(response.body().is_empty());
        assert!(response.is_complete());
    }

    #[tokio::test]
    async fn after_start_the_error_goes_on_so_the_server_aborts() {
        let client = TestClient::new(ErrorBoundary::new(Trouble));
        let response = client.get("/after-start").await.unwrap();
        assert_eq!(response.status(), Some(StatusCode::OK));
        assert_eq!(response.body(), "partial");
        assert!(!response.is_complete());
        let error = response.exit().error().map(ToString::to_string);
        assert_eq!(error.as_deref(), Some("failed mid-body"));
    }

    #[tokio::test]
    async fn a_departed_client_and_success_pass_through() {
        let client = TestClient::new(ErrorBoundary::new(Trouble));
        let response = client.get("/gone").await.unwrap();
        assert_eq!(response.status(), None);
        assert!(response.exit().is_disconnect());

        let response = TestClient::new(ErrorBoundary::new(Hello))
            .get("/")
            .await
            .unwrap();
        assert_eq!(response.body(), "hello");
    }
}
