//! Bearer auth: a request without a valid `Authorization: Bearer <token>`
//! is answered `401` with a JSON body, and the inner app never sees it; a
//! valid one reaches the inner app with the user in `scope.extensions`
//! ([`Authenticated`]).
//!
//! Ports seed 002's `BearerAuthMiddleware` (the `verify_token` callable,
//! the two 401 messages, `www-authenticate`) and seed 000's
//! `JWTAuthMiddleware`. The JWT seed decodes an HS256 token with PyJWT; this
//! port deliberately pulls in no JWT or HMAC crate: checking the token is a
//! function you pass in, `Fn(&str) -> Option<User>`. Put your JWT library's
//! decode-and-verify there; the tests use a fixed token table compared with
//! [`constant_time_eq`].
//!
//! The seed's `exclude_paths` is a separate, reusable wrapper here:
//! [`except`](crate::except) (`except(["/health"], auth_layer)`).
//!
//! WebSocket handshakes are checked too (the seed forgets them): a refused
//! one gets the same 401 as a denial response where the server offers
//! denials, else it is closed before `Accept`, which the server answers
//! with `403`.

use rgi::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use rgi::http::{HeaderMap, HeaderValue, StatusCode};
use rgi::{App, AppResult, Conn};

use crate::reject::Rejection;

/// The user a verified token belongs to, as the inner app finds it in
/// `scope.extensions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated<U>(pub U);

/// Lets through only requests whose bearer token `verify` accepts.
#[derive(Debug, Clone)]
pub struct BearerAuth<A, V> {
    inner: A,
    verify: V,
}

impl<A, V> BearerAuth<A, V> {
    /// Guards `inner`; `verify` maps a token to its user, or `None`.
    pub fn new(inner: A, verify: V) -> Self {
        Self { inner, verify }
    }
}

/// Why a request was refused: the seed's two messages.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    Missing,
    Invalid,
}

impl<A, V, U> BearerAuth<A, V>
where
    V: Fn(&str) -> Option<U>,
{
    fn check(&self, headers: &HeaderMap) -> Result<U, Refusal> {
        let token = bearer_token(headers).ok_or(Refusal::Missing)?;
        (self.verify)(token).ok_or(Refusal::Invalid)
    }
}

impl<A, V, U> App for BearerAuth<A, V>
where
    A: App,
    V: Fn(&str) -> Option<U> + Send + Sync + 'static,
    U: Clone + Send + Sync + 'static,
{
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        match conn {
            Conn::Http(mut http) => match self.check(&http.scope.headers) {
                Ok(user) => {
                    http.scope.extensions.insert(Authenticated(user));
                    self.inner.call(http.into()).await
                }
                Err(refusal) => unauthorized(refusal).send_http(&mut http).await,
            },
            Conn::WebSocket(mut ws) => match self.check(&ws.scope.headers) {
                Ok(user) => {
                    ws.scope.extensions.insert(Authenticated(user));
                    self.inner.call(ws.into()).await
                }
                Err(refusal) => unauthorized(refusal).send_websocket(&mut ws).await,
            },
            other => self.inner.call(other).await,
        }
    }
}

/// The token of the first `Authorization` header, when its scheme is
/// `Bearer` (any case, RFC 9110 §11.1).
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The seed's 401: JSON and a `www-authenticate` challenge.
fn unauthorized(refusal: Refusal) -> Rejection {
    let (message, challenge) = match refusal {
        Refusal::Missing => ("Missing Authorization header", r#"Bearer realm="API""#),
        Refusal::Invalid => (
            "Invalid or expired token",
            r#"Bearer realm="API", error="invalid_token""#,
        ),
    };
    Rejection::json(StatusCode::UNAUTHORIZED, message)
        .header(WWW_AUTHENTICATE, HeaderValue::from_static(challenge))
}

/// Compares two secrets in time that depends only on their lengths, so a
/// token table cannot be probed byte by byte through response times.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use rgi::http::StatusCode;
    use rgi_conformance::{Handshake, Request, TestClient};

    use rgi::CloseFrame;

    use super::*;

    #[derive(Debug, Clone, PartialEq, Eq)]
    struct User(&'static str);

    fn verify(token: &str) -> Option<User> {
        constant_time_eq(token.as_bytes(), b"valid-token").then_some(User("alice"))
    }

    /// Says who it is talking to.
    struct WhoAmI;

    impl App for WhoAmI {
        async fn call(&self, conn: Conn<'_>) -> AppResult {
            let Conn::Http(mut http) = conn else {
                return conn.unsupported();
            };
            let user = http
                .scope
                .extensions
                .get::<Authenticated<User>>()
                .map(|u| u.0 .0);
            let body = format!("hello {}", user.unwrap_or("nobody"));
            Ok(http.respond(StatusCode::OK, HeaderMap::new(), body).await?)
        }
    }

    fn client() -> TestClient {
        TestClient::new(BearerAuth::new(WhoAmI, verify))
    }

    #[tokio::test]
    async fn lets_a_valid_token_through_with_its_user() {
        for header in ["Bearer valid-token", "bearer  valid-token"] {
            let request = Request::get("/").header("authorization", header);
            let response = client().send(request).await.unwrap();
            assert_eq!(response.status(), Some(StatusCode::OK), "{header}");
            assert_eq!(response.body(), "hello alice");
        }
    }

    #[tokio::test]
    async fn refuses_missing_and_invalid_tokens_with_json() {
        let cases = [
            (None, "Missing Authorization header"),
            (Some("Basic dXNlcjpwdw=="), "Missing Authorization header"),
            (Some("Bearer "), "Missing Authorization header"),
            (Some("Bearer nope"), "Invalid or expired token"),
            (Some("Bearer valid-token2"), "Invalid or expired token"),
        ];
        for (header, message) in cases {
            let mut request = Request::post("/").body("never read");
            if let Some(header) = header {
                request = request.header("authorization", header);
            }
            let response = client().send(request).await.unwrap();
            assert_eq!(
                response.status(),
                Some(StatusCode::UNAUTHORIZED),
                "{header:?}"
            );
            assert_eq!(response.header("content-type"), Some("application/json"));
            assert!(response
                .header("www-authenticate")
                .unwrap()
                .starts_with("Bearer"));
            let json: serde_json::Value = serde_json::from_slice(&response.body()).unwrap();
            assert_eq!(json, serde_json::json!({ "error": message }));
            // The inner app never ran: it would have said hello.
            assert!(response.exit().is_ok());
        }
    }

    #[tokio::test]
    async fn closes_an_unauthenticated_websocket_before_accepting() {
        let session = client().connect(Request::get("/ws")).await.unwrap();
        let transcript = session.finish().await.unwrap();
        assert_eq!(
            transcript.handshake,
            Handshake::Closed(CloseFrame::new(1008))
        );
        assert_eq!(
            transcript.handshake.refusal_status(),
            Some(StatusCode::FORBIDDEN)
        );
        assert!(transcript.exit.is_ok());
    }
}
