//! JWT auth: a request must carry `Authorization: Bearer <JWT>` signed
//! with the configured key (HS256 or RS256), not expired and already valid
//! (`exp`, `nbf`, with a leeway for clock skew). The inner app finds the
//! token's claims, deserialized into your type, in `scope.extensions`.
//!
//! ```
//! # use rgi_middleware_examples::{JwtAuth, JwtKey};
//! #[derive(Clone, serde::Deserialize)]
//! struct Claims { sub: String, exp: u64 }
//!
//! # fn demo(app: rgi::BoxApp) {
//! let app = JwtAuth::<_, Claims>::new(app, JwtKey::hs256(b"a long random secret"))
//!     .leeway(30)
//!     .exclude(["/health", "/login"]);
//! // In a request: `scope.extensions.get::<Claims>()`.
//! # }
//! ```
//!
//! Ports seed 000's `JWTAuthMiddleware` (PyJWT's `decode` with HS256, the
//! token in `scope['user']`, `protected_paths`), through the `jsonwebtoken`
//! crate. Differences, each for a reason:
//!
//! * **Every path is protected unless excluded** (the seed protects only
//!   listed prefixes: a forgotten route is open). Exclusions match whole
//!   segments ([`Prefixes`]).
//! * **The 401 says why**, in JSON and in `www-authenticate` (RFC 6750):
//!   a missing token gets the bare challenge; a malformed, expired, not yet
//!   valid or wrongly signed one gets `error="invalid_token"` and a
//!   description.
//! * **`exp` is required**: a token that never expires is refused.
//! * **WebSocket handshakes are checked too** (the seed lets them all
//!   through): refused with the same 401 as a denial response where the
//!   server offers one, else closed before `Accept` (HTTP 403).

use std::marker::PhantomData;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rgi::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use rgi::http::{HeaderMap, StatusCode};
use rgi::{App, AppResult, Conn};
use serde::de::DeserializeOwned;

use crate::except::Prefixes;
use crate::reject::Rejection;

/// The key that verifies tokens, and so the one algorithm accepted.
#[derive(Clone)]
pub struct JwtKey {
    key: DecodingKey,
    algorithm: Algorithm,
}

impl JwtKey {
    /// HS256 with a shared secret (use 32 random bytes or more).
    pub fn hs256(secret: &[u8]) -> Self {
        Self {
            key: DecodingKey::from_secret(secret),
            algorithm: Algorithm::HS256,
        }
    }

    /// RS256 with the issuer's RSA public key, PEM (`BEGIN PUBLIC KEY` or
    /// `BEGIN RSA PUBLIC KEY`).
    pub fn rs256_pem(public_key: &[u8]) -> Result<Self, jsonwebtoken::errors::Error> {
        Ok(Self {
            key: DecodingKey::from_rsa_pem(public_key)?,
            algorithm: Algorithm::RS256,
        })
    }
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("JwtKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// Lets through only requests with a valid JWT; the claims `C` go into
/// `scope.extensions`.
pub struct JwtAuth<A, C> {
    inner: A,
    key: JwtKey,
    validation: Validation,
    excluded: Prefixes,
    _claims: PhantomData<fn() -> C>,
}

impl<A, C> JwtAuth<A, C> {
    /// Guards `inner` with `key`: `exp` required and checked, `nbf`
    /// checked, 60 seconds of leeway.
    pub fn new(inner: A, key: JwtKey) -> Self {
        let mut validation = Validation::new(key.algorithm);
        validation.validate_nbf = true;
        validation.leeway = 60;
        Self {
            inner,
            key,
            validation,
            excluded: Prefixes::default(),
            _claims: PhantomData,
        }
    }

    /// Seconds of clock skew allowed on `exp` and `nbf`.
    #[must_use]
    pub fn leeway(mut self, seconds: u64) -> Self {
        self.validation.leeway = seconds;
        self
    }

    /// Paths (whole segments) that need no token.
    #[must_use]
    pub fn exclude<P: Into<String>>(mut self, prefixes: impl IntoIterator<Item = P>) -> Self {
        self.excluded = Prefixes::new(prefixes);
        self
    }

    /// Requires `aud` to be one of `audiences`.
    #[must_use]
    pub fn audience(mut self, audiences: &[&str]) -> Self {
        self.validation.set_audience(audiences);
        self
    }

    /// Requires `iss` to be one of `issuers`.
    #[must_use]
    pub fn issuer(mut self, issuers: &[&str]) -> Self {
        self.validation.set_issuer(issuers);
        self
    }
}

impl<A, C: DeserializeOwned> JwtAuth<A, C> {
    /// The claims of the request's token, or why there are none.
    fn verify(&self, headers: &HeaderMap) -> Result<C, Refusal> {
        let Some(token) = crate::bearer_auth::bearer_token(headers) else {
            // A header that is there but not text is not a missing one.
            let unreadable = headers
                .get(AUTHORIZATION)
                .is_some_and(|value| value.to_str().is_err());
            return Err(match unreadable {
                true => Refusal::Invalid("the token is malformed"),
                false => Refusal::Missing,
            });
        };
        jsonwebtoken::decode::<C>(token, &self.key.key, &self.validation)
            .map(|data| data.claims)
            .map_err(|err| {
                let why = match err.kind() {
                    ErrorKind::ExpiredSignature => "the token has expired",
                    ErrorKind::ImmatureSignature => "the token is not valid yet",
                    ErrorKind::InvalidSignature => "the token's signature does not verify",
                    ErrorKind::InvalidAlgorithm => "the token is signed with another algorithm",
                    ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
                    ErrorKind::InvalidAudience => "the token is for another audience",
                    ErrorKind::InvalidIssuer => "the token is from another issuer",
                    _ => "the token is malformed",
                };
                Refusal::Invalid(why)
            })
    }
}

impl<A, C> App for JwtAuth<A, C>
where
    A: App,
    C: DeserializeOwned + Clone + Send + Sync + 'static,
{
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        if self.excluded.matches_conn(&conn) {
            return self.inner.call(conn).await;
        }
        match conn {
            Conn::Http(mut http) => match self.verify(&http.scope.headers) {
                Ok(claims) => {
                    http.scope.extensions.insert(claims);
                    self.inner.call(http.into()).await
                }
                Err(refusal) => unauthorized(refusal).send_http(&mut http).await,
            },
            Conn::WebSocket(mut ws) => match self.verify(&ws.scope.headers) {
                Ok(claims) => {
                    ws.scope.extensions.insert(claims);
                    self.inner.call(ws.into()).await
                }
                Err(refusal) => unauthorized(refusal).send_websocket(&mut ws).await,
            },
            other => self.inner.call(other).await,
        }
    }
}

/// Why a request has no valid token.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    Missing,
    Invalid(&'static str),
}

/// The 401: JSON saying why, and the RFC 6750 challenge, with
/// `error="invalid_token"` when a token was given.
fn unauthorized(refusal: Refusal) -> Rejection {
    let (message, challenge) = match refusal {
        Refusal::Missing => ("missing bearer token", r#"Bearer realm="api""#.to_owned()),
        Refusal::Invalid(why) => (
            why,
            format!(r#"Bearer realm="api", error="invalid_token", error_description="{why}""#),
        ),
    };
    Rejection::json(StatusCode::UNAUTHORIZED, message).header(WWW_AUTHENTICATE, challenge)
}

impl<A: std::fmt::Debug, C> std::fmt::Debug for JwtAuth<A, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtAuth")
            .field("inner", &self.inner)
            .field("key", &self.key)
            .field("leeway", &self.validation.leeway)
            .field("excluded", &self.excluded)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{SystemTime, UNIX_EPOCH};

    use jsonwebtoken::{encode, EncodingKey, Header};
    use rgi::http::HeaderMap;
    use rgi::{Capabilities, CloseFrame};
    use rgi_conformance::{Handshake, Request, Response, TestClient};
    use serde::{Deserialize, Serialize};

    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const RSA_PRIVATE: &[u8] = include_bytes!("../testdata/rs256-private.pem");
    const RSA_PUBLIC: &[u8] = include_bytes!("../testdata/rs256-public.pem");

    #[derive(Debug, Clone, Serialize, Deserialize)]
    struct Claims {
        sub: String,
        exp: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        nbf: Option<u64>,
    }

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn claims(exp: u64, nbf: Option<u64>) -> Claims {
        Claims {
            sub: "alice".into(),
            exp,
            nbf,
        }
    }

    fn hs256(claims: &Claims, secret: &[u8]) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    fn rs256(claims: &Claims) -> String {
        let key = EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap();
        encode(&Header::new(Algorithm::RS256), claims, &key).unwrap()
    }

    /// Says whose claims it got.
    struct WhoAmI;

    impl App for WhoAmI {
        async fn call(&self, conn: Conn<'_>) -> AppResult {
            let Conn::Http(mut http) = conn else {
                return conn.unsupported();
            };
            let who = http.scope.extensions.get::<Claims>().map(|c| c.sub.clone());
            let body = format!("hello {}", who.as_deref().unwrap_or("nobody"));
            Ok(http.respond(StatusCode::OK, HeaderMap::new(), body).await?)
        }
    }

    fn client(key: JwtKey) -> TestClient {
        TestClient::new(
            JwtAuth::<_, Claims>::new(WhoAmI, key)
                .leeway(5)
                .exclude(["/health"]),
        )
    }

    async fn get(client: &TestClient, token: Option<&str>) -> Response {
        let mut request = Request::get("/me");
        if let Some(token) = token {
            request = request.header("authorization", &format!("Bearer {token}"));
        }
        client.send(request).await.unwrap()
    }

    fn assert_refused(response: &Response, message: &str, invalid_token: bool) {
        assert_eq!(response.status(), Some(StatusCode::UNAUTHORIZED));
        assert_eq!(response.header("content-type"), Some("application/json"));
        let json: serde_json::Value = serde_json::from_slice(&response.body()).unwrap();
        assert_eq!(json, serde_json::json!({ "error": message }));
        let challenge = response.header("www-authenticate").unwrap();
        assert!(
            challenge.starts_with(r#"Bearer realm="api""#),
            "{challenge}"
        );
        assert_eq!(
            challenge.contains(r#"error="invalid_token""#),
            invalid_token,
            "{challenge}"
        );
    }

    #[tokio::test]
    async fn a_valid_hs256_token_passes_with_its_claims() {
        let token = hs256(&claims(now() + 60, None), SECRET);
        let response = get(&client(JwtKey::hs256(SECRET)), Some(&token)).await;
        assert_eq!(response.status(), Some(StatusCode::OK));
        assert_eq!(response.body(), "hello alice");
    }

    #[tokio::test]
    async fn a_valid_rs256_token_passes() {
        let key = JwtKey::rs256_pem(RSA_PUBLIC).unwrap();
        let token = rs256(&claims(now() + 60, Some(now() - 1)));
        let response = get(&client(key), Some(&token)).await;
        assert_eq!(response.status(), Some(StatusCode::OK));
        assert_eq!(response.body(), "hello alice");
    }

    #[tokio::test]
    async fn a_missing_token_is_refused_with_the_bare_challenge() {
        let client = client(JwtKey::hs256(SECRET));
        assert_refused(&get(&client, None).await, "missing bearer token", false);
        let basic = Request::get("/me").header("authorization", "Basic YTpi");
        let response = client.send(basic).await.unwrap();
        assert_refused(&response, "missing bearer token", false);
    }

    #[tokio::test]
    async fn malformed_tokens_are_refused() {
        let client = client(JwtKey::hs256(SECRET));
        for token in ["nope", "a.b.c", "é.é.é", "...."] {
            let response = get(&client, Some(token)).await;
            assert_refused(&response, "the token is malformed", true);
        }
    }

    #[tokio::test]
    async fn an_expired_token_is_refused_beyond_the_leeway_only() {
        let client = client(JwtKey::hs256(SECRET));
        let expired = hs256(&claims(now() - 60, None), SECRET);
        assert_refused(
            &get(&client, Some(&expired)).await,
            "the token has expired",
            true,
        );
        // Two seconds late, inside the five seconds of leeway.
        let within = hs256(&claims(now() - 2, None), SECRET);
        let response = get(&client, Some(&within)).await;
        assert_eq!(response.status(), Some(StatusCode::OK));
    }

    #[tokio::test]
    async fn a_token_not_valid_yet_is_refused() {
        let client = client(JwtKey::hs256(SECRET));
        let early = hs256(&claims(now() + 600, Some(now() + 300)), SECRET);
        assert_refused(
            &get(&client, Some(&early)).await,
            "the token is not valid yet",
            true,
        );
    }

    #[tokio::test]
    async fn a_token_signed_with_another_key_is_refused() {
        let client = client(JwtKey::hs256(SECRET));
        let forged = hs256(
            &claims(now() + 60, None),
            b"another secret, also long enough",
        );
        assert_refused(
            &get(&client, Some(&forged)).await,
            "the token's signature does not verify",
            true,
        );
        // An RS256 token where HS256 is expected: no algorithm confusion.
        let rs = rs256(&claims(now() + 60, None));
        assert_refused(
            &get(&client, Some(&rs)).await,
            "the token is signed with another algorithm",
            true,
        );
        // A signature flipped by one character under RS256.
        let rs_client = self::client(JwtKey::rs256_pem(RSA_PUBLIC).unwrap());
        let mut tampered = rs256(&claims(now() + 60, None));
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        let response = get(&rs_client, Some(&tampered)).await;
        assert_eq!(response.status(), Some(StatusCode::UNAUTHORIZED));
    }

    #[tokio::test]
    async fn a_token_without_exp_is_refused() {
        /// Claims without `exp`: the requirement is the middleware's, not
        /// the claims type's.
        #[derive(Clone, Deserialize)]
        struct Subject {
            #[allow(dead_code)]
            sub: String,
        }
        let client = TestClient::new(JwtAuth::<_, Subject>::new(WhoAmI, JwtKey::hs256(SECRET)));
        let token = encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({ "sub": "alice" }),
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert_refused(
            &get(&client, Some(&token)).await,
            "the token lacks a required claim",
            true,
        );
    }

    #[tokio::test]
    async fn audience_and_issuer_are_checked_when_set() {
        let client = TestClient::new(
            JwtAuth::<_, Claims>::new(WhoAmI, JwtKey::hs256(SECRET))
                .audience(&["api"])
                .issuer(&["auth.example"]),
        );
        let token = |aud: &str, iss: &str| {
            let claims = serde_json::json!({
                "sub": "alice", "exp": now() + 60, "aud": aud, "iss": iss,
            });
            encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(SECRET),
            )
            .unwrap()
        };
        let right = get(&client, Some(&token("api", "auth.example"))).await;
        assert_eq!(right.body(), "hello alice");
        let other_audience = get(&client, Some(&token("billing", "auth.example"))).await;
        assert_refused(&other_audience, "the token is for another audience", true);
        let other_issuer = get(&client, Some(&token("api", "evil.example"))).await;
        assert_refused(&other_issuer, "the token is from another issuer", true);
    }

    #[tokio::test]
    async fn excluded_paths_need_no_token() {
        let client = client(JwtKey::hs256(SECRET));
        for path in ["/health", "/health/db"] {
            let response = client.get(path).await.unwrap();
            assert_eq!(response.body(), "hello nobody", "{path}");
        }
        let response = client.get("/healthz").await.unwrap();
        assert_eq!(response.status(), Some(StatusCode::UNAUTHORIZED));
    }

    #[tokio::test]
    async fn websocket_handshakes_are_refused_the_same_way() {
        let client = client(JwtKey::hs256(SECRET));
        // Without denial support: closed before Accept, a 403.
        let session = client.connect(Request::get("/ws")).await.unwrap();
        assert_eq!(
            session.finish().await.unwrap().handshake,
            Handshake::Closed(CloseFrame::new(1008))
        );
        // With it: the same 401 as HTTP.
        let expired = hs256(&claims(now() - 60, None), SECRET);
        let request = Request::get("/ws")
            .header("authorization", &format!("Bearer {expired}"))
            .capabilities(Capabilities::ALL);
        let session = client.connect(request).await.unwrap();
        let Handshake::Denied {
            status,
            headers,
            body,
            complete,
        } = session.finish().await.unwrap().handshake
        else {
            panic!("expected a denial")
        };
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(complete);
        assert!(headers.contains_key("www-authenticate"));
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"], "the token has expired");
    }
}
