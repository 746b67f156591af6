//! Security headers: adds `x-content-type-options`, `x-frame-options` and
//! `referrer-policy` (and any you choose) to every HTTP response whose app
//! did not set them.
//!
//! Ports seed 003's Django `SecurityHeadersMiddleware`. The seed overwrites
//! whatever the view set; this one leaves a header the app chose alone, so a
//! page that must be framed can say so. The headers are built once; per
//! response the work is a lookup and a reference-count increment per
//! header, on `Start` only: body events pass through untouched.

use rgi::http::header::{REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS};
use rgi::http::{HeaderName, HeaderValue};
use rgi::{App, AppResult, Conn, HttpConn, HttpSend, MapSend};

/// Adds a fixed set of response headers unless the app set them.
#[derive(Debug, Clone)]
pub struct SecurityHeaders<A> {
    inner: A,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl<A> SecurityHeaders<A> {
    /// The seed's three headers: `x-content-type-options: nosniff`,
    /// `x-frame-options: DENY`, `referrer-policy:
    /// strict-origin-when-cross-origin`.
    pub fn new(inner: A) -> Self {
        Self {
            inner,
            headers: vec![
                (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
                (X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
                (
                    REFERRER_POLICY,
                    HeaderValue::from_static("strict-origin-when-cross-origin"),
                ),
            ],
        }
    }

    /// Adds (or replaces the default value of) `name`, for example
    /// `strict-transport-security` or `content-security-policy`.
    #[must_use]
    pub fn with(mut self, name: HeaderName, value: HeaderValue) -> Self {
        match self.headers.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => *v = value,
            None => self.headers.push((name, value)),
        }
        self
    }
}

impl<A: App> App for SecurityHeaders<A> {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(http) = conn else {
            return self.inner.call(conn).await;
        };
        let (scope, receiver, sender) = http.into_parts();
        let mut sender = MapSend::new(sender, |mut event: HttpSend| {
            if let HttpSend::Start(start) = &mut event {
                for (name, value) in &self.headers {
                    if !start.headers.contains_key(name) {
                        start.headers.insert(name.clone(), value.clone());
                    }
                }
            }
            event
        });
        self.inner
            .call(HttpConn::new(scope, receiver, &mut sender).into())
            .await
    }
}

#[cfg(test)]
mod tests {
    use rgi::http::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE};
    use rgi::http::{HeaderMap, StatusCode};
    use rgi_conformance::TestClient;

    use super::*;
    use crate::testing::Hello;

    /// Allows framing by its own origin, on purpose.
    struct Framed;

    impl App for Framed {
        async fn call(&self, conn: Conn<'_>) -> AppResult {
            let Conn::Http(mut http) = conn else {
                return conn.unsupported();
            };
            let mut headers = HeaderMap::new();
            headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("SAMEORIGIN"));
            Ok(http.respond(StatusCode::OK, headers, "framed").await?)
        }
    }

    #[tokio::test]
    async fn adds_the_defaults_and_keeps_the_rest() {
        let client = TestClient::new(SecurityHeaders::new(Hello));
        let response = client.get("/").await.unwrap();
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(response.header("x-frame-options"), Some("DENY"));
        assert_eq!(
            response.header("referrer-policy"),
            Some("strict-origin-when-cross-origin")
        );
        assert_eq!(response.header("content-type"), Some("text/plain"));
        assert_eq!(response.body(), "hello");
    }

    #[tokio::test]
    async fn leaves_the_apps_own_choice_alone() {
        let client = TestClient::new(SecurityHeaders::new(Framed));
        let response = client.get("/").await.unwrap();
        let values: Vec<_> = response
            .headers()
            .unwrap()
            .get_all(X_FRAME_OPTIONS)
            .iter()
            .collect();
        assert_eq!(values, ["SAMEORIGIN"]);
    }

    #[tokio::test]
    async fn takes_extra_headers_and_overrides() {
        let app = SecurityHeaders::new(Hello)
            .with(
                CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'self'"),
            )
            .with(X_FRAME_OPTIONS, HeaderValue::from_static("SAMEORIGIN"))
            .with(CONTENT_TYPE, HeaderValue::from_static("text/html"));
        let response = TestClient::new(app).get("/").await.unwrap();
        assert_eq!(
            response.header("content-security-policy"),
            Some("default-src 'self'")
        );
        assert_eq!(response.header("x-frame-options"), Some("SAMEORIGIN"));
        // Only missing headers are added: the app's content type stands.
        assert_eq!(response.header("content-type"), Some("text/plain"));
    }
}
