//! CORS: answers browsers' preflight requests itself and marks the
//! responses to cross-origin requests from allowed origins, so a page on
//! another origin may read them (the Fetch standard's CORS protocol).
//!
//! ```
//! # use std::time::Duration;
//! # use rgi::http::Method;
//! # use rgi_middleware_examples::Cors;
//! # fn demo(app: rgi::BoxApp) {
//! let app = Cors::new(app)
//!     .allow_origins(["https://app.example"])
//!     .allow_methods([Method::GET, Method::POST, Method::DELETE])
//!     .allow_headers(["content-type", "authorization"])
//!     .max_age(Duration::from_secs(600))
//!     .allow_credentials(true);
//! # }
//! ```
//!
//! tower-http's `CorsLayer` and Starlette's `CORSMiddleware` (the seeds
//! have none). What it does:
//!
//! * **Preflight** (`OPTIONS` with `origin` and
//!   `access-control-request-method`) never reaches the app: `204` with the
//!   allowed origin, methods, headers, max age and credentials; `403` JSON
//!   saying what is not allowed (and no `access-control-allow-origin`).
//! * **Other requests** reach the app; on its response start, an allowed
//!   origin gets `access-control-allow-origin` (the origin itself, or `*`
//!   for any origin without credentials), `access-control-allow-credentials`
//!   and `access-control-expose-headers`. A disallowed origin is never
//!   echoed. `vary: origin` is added whenever the answer depends on the
//!   origin, so caches keep the answers apart.
//! * **WebSocket handshakes** are not covered by CORS in browsers, which
//!   makes cross-site WebSocket hijacking possible: a handshake whose
//!   `origin` is not allowed is refused (a 403). One without `origin` (not
//!   a browser) passes.

use std::time::Duration;

use rgi::http::header::{
    HeaderName, ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS,
    ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS,
    ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN,
    VARY,
};
use rgi::http::{HeaderMap, HeaderValue, Method, StatusCode};
use rgi::{App, AppResult, Conn, HttpConn, HttpSend, MapSend};

use crate::reject::Rejection;

/// Which origins may read the responses.
#[derive(Debug, Clone)]
enum Origins {
    Any,
    List(Vec<HeaderValue>),
}

/// Cross-origin resource sharing for the inner app.
#[derive(Debug, Clone)]
pub struct Cors<A> {
    inner: A,
    origins: Origins,
    methods: Vec<Method>,
    headers: Vec<HeaderName>,
    expose: Vec<HeaderName>,
    max_age: Option<Duration>,
    credentials: bool,
}

impl<A> Cors<A> {
    /// No origin allowed yet; `GET`, `HEAD` and `POST` once one is.
    pub fn new(inner: A) -> Self {
        Self {
            inner,
            origins: Origins::List(Vec::new()),
            methods: vec![Method::GET, Method::HEAD, Method::POST],
            headers: Vec::new(),
            expose: Vec::new(),
            max_age: None,
            credentials: false,
        }
    }

    /// These origins (`scheme://host[:port]`, compared exactly); values
    /// that cannot be header values are skipped.
    #[must_use]
    pub fn allow_origins<'a>(mut self, origins: impl IntoIterator<Item = &'a str>) -> Self {
        let list = origins
            .into_iter()
            .filter_map(|origin| HeaderValue::from_str(origin).ok())
            .collect();
        self.origins = Origins::List(list);
        self
    }

    /// Every origin.
    #[must_use]
    pub fn allow_any_origin(mut self) -> Self {
        self.origins = Origins::Any;
        self
    }

    /// The methods a cross-origin request may use.
    #[must_use]
    pub fn allow_methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.methods = methods.into_iter().collect();
        self
    }

    /// The request headers a cross-origin request may send (beyond the
    /// CORS-safelisted ones); names that are not valid are skipped.
    #[must_use]
    pub fn allow_headers<'a>(mut self, headers: impl IntoIterator<Item = &'a str>) -> Self {
        self.headers = header_names(headers);
        self
    }

    /// The response headers a page may read (beyond the safelisted ones).
    #[must_use]
    pub fn expose_headers<'a>(mut self, headers: impl IntoIterator<Item = &'a str>) -> Self {
        self.expose = header_names(headers);
        self
    }

    /// How long a browser may cache a preflight answer.
    #[must_use]
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Whether cross-origin requests may carry cookies and credentials.
    /// With any origin, the origin is then echoed instead of `*`, which
    /// browsers refuse with credentials.
    #[must_use]
    pub fn allow_credentials(mut self, allow: bool) -> Self {
        self.credentials = allow;
        self
    }

    /// The `access-control-allow-origin` value for `origin`, if allowed.
    fn allowed_origin(&self, origin: &HeaderValue) -> Option<HeaderValue> {
        match &self.origins {
            Origins::Any if !self.credentials => Some(HeaderValue::from_static("*")),
            Origins::Any => Some(origin.clone()),
            Origins::List(list) => list.contains(origin).then(|| origin.clone()),
        }
    }

    /// Whether responses depend on the request's origin.
    fn varies(&self) -> bool {
        !matches!(self.origins, Origins::Any) || self.credentials
    }

    /// The preflight answer: 204 with the grants, or 403 saying why not.
    fn preflight(&self, headers: &HeaderMap, origin: &HeaderValue) -> Result<HeaderMap, String> {
        let allow_origin = self
            .allowed_origin(origin)
            .ok_or_else(|| "origin not allowed".to_owned())?;
        let method = headers
            .get(ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|value| Method::from_bytes(value.as_bytes()).ok());
        if !method.is_some_and(|method| self.methods.contains(&method)) {
            return Err("method not allowed".to_owned());
        }
        let requested = headers
            .get_all(ACCESS_CONTROL_REQUEST_HEADERS)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .filter(|name| !name.is_empty());
        for name in requested {
            if !self
                .headers
                .iter()
                .any(|h| h.as_str().eq_ignore_ascii_case(name))
            {
                return Err(format!("header {name:?} not allowed"));
            }
        }
        let mut grants = HeaderMap::with_capacity(8);
        grants.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        insert_list(&mut grants, ACCESS_CONTROL_ALLOW_METHODS, &self.methods);
        insert_list(&mut grants, ACCESS_CONTROL_ALLOW_HEADERS, &self.headers);
        if let Some(max_age) = self.max_age {
            grants.insert(ACCESS_CONTROL_MAX_AGE, max_age.as_secs().into());
        }
        if self.credentials {
            grants.insert(
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        Ok(grants)
    }

    /// Adds the CORS headers for `origin` to a response's headers.
    fn mark(&self, response: &mut HeaderMap, origin: Option<&HeaderValue>) {
        if self.varies() {
            response.append(VARY, HeaderValue::from_static("origin"));
        }
        let Some(allow) = origin.and_then(|origin| self.allowed_origin(origin)) else {
            return;
        };
        if response.contains_key(ACCESS_CONTROL_ALLOW_ORIGIN) {
            // The app answered CORS itself.
            return;
        }
        response.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow);
        if self.credentials {
            response.insert(
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        insert_list(response, ACCESS_CONTROL_EXPOSE_HEADERS, &self.expose);
    }
}

fn header_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<HeaderName> {
    names
        .into_iter()
        .filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok())
        .collect()
}

/// `name: a, b, c`, unless the list is empty.
fn insert_list<T: AsRef<str>>(headers: &mut HeaderMap, name: HeaderName, items: &[T]) {
    if items.is_empty() {
        return;
    }
    let joined = items
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(", ");
    if let Ok(value) = HeaderValue::try_from(joined) {
        headers.insert(name, value);
    }
}

impl<A: App> App for Cors<A> {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        match conn {
            Conn::Http(mut http) => {
                let origin = http.scope.headers.get(ORIGIN).cloned();
                let is_preflight = http.scope.method == Method::OPTIONS
                    && http
                        .scope
                        .headers
                        .contains_key(ACCESS_CONTROL_REQUEST_METHOD);
                match origin {
                    Some(origin) if is_preflight => self.answer_preflight(&mut http, &origin).await,
                    origin => {
                        let (scope, receiver, sender) = http.into_parts();
                        let mut sender = MapSend::new(sender, |mut event: HttpSend| {
                            if let HttpSend::Start(start) = &mut event {
                                self.mark(&mut start.headers, origin.as_ref());
                            }
                            event
                        });
                        self.inner
                            .call(HttpConn::new(scope, receiver, &mut sender).into())
                            .await
                    }
                }
            }
            Conn::WebSocket(mut ws) => {
                let refused = ws
                    .scope
                    .headers
                    .get(ORIGIN)
                    .is_some_and(|origin| self.allowed_origin(origin).is_none());
                if refused {
                    let rejection = Rejection::json(StatusCode::FORBIDDEN, "origin not allowed");
                    return rejection.send_websocket(&mut ws).await;
                }
                self.inner.call(ws.into()).await
            }
            other => self.inner.call(other).await,
        }
    }
}

impl<A> Cors<A> {
    async fn answer_preflight(&self, http: &mut HttpConn<'_>, origin: &HeaderValue) -> AppResult {
        let mut vary = HeaderMap::new();
        if self.varies() {
            vary.append(VARY, HeaderValue::from_static("origin"));
        }
        vary.append(
            VARY,
            HeaderValue::from_static("access-control-request-method"),
        );
        vary.append(
            VARY,
            HeaderValue::from_static("access-control-request-headers"),
        );
        match self.preflight(&http.scope.headers, origin) {
            Ok(mut grants) => {
                grants.extend(vary);
                Ok(http.respond(StatusCode::NO_CONTENT, grants, "").await?)
            }
            Err(why) => {
                let mut rejection = Rejection::json(StatusCode::FORBIDDEN, &format!("CORS: {why}"));
                for value in vary.get_all(VARY) {
                    rejection = rejection.header(VARY, value.clone());
                }
                rejection.send_http(http).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rgi::{Capabilities, CloseFrame};
    use rgi_conformance::{Handshake, Request, Response, TestClient};

    use super::*;
    use crate::testing::Hello;

    const SITE: &str = "https://app.example";

    fn client() -> TestClient {
        let cors = Cors::new(Hello)
            .allow_origins([SITE])
            .allow_methods([Method::GET, Method::PUT])
            .allow_headers(["content-type", "x-token"])
            .expose_headers(["x-request-id"])
            .max_age(Duration::from_secs(600))
            .allow_credentials(true);
        TestClient::new(cors)
    }

    fn preflight(origin: &str, method: &str, headers: Option<&str>) -> Request {
        let mut request = Request::new(Method::OPTIONS, "/things")
            .header("origin", origin)
            .header("access-control-request-method", method);
        if let Some(headers) = headers {
            request = request.header("access-control-request-headers", headers);
        }
        request
    }

    fn varies(response: &Response) -> Vec<String> {
        response
            .headers()
            .unwrap()
            .get_all(VARY)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    #[tokio::test]
    async fn answers_an_allowed_preflight_itself() {
        let response = client()
            .send(preflight(SITE, "PUT", Some("Content-Type, X-Token")))
            .await
            .unwrap();
        assert_eq!(response.status(), Some(StatusCode::NO_CONTENT));
        assert_eq!(response.header("access-control-allow-origin"), Some(SITE));
        assert_eq!(
            response.header("access-control-allow-methods"),
            Some("GET, PUT")
        );
        assert_eq!(
            response.header("access-control-allow-headers"),
            Some("content-type, x-token")
        );
        assert_eq!(response.header("access-control-max-age"), Some("600"));
        assert_eq!(
            response.header("access-control-allow-credentials"),
            Some("true")
        );
        assert!(varies(&response).contains(&"origin".to_owned()));
        // `Hello` never ran: it would have said hello.
        assert!(response.body().is_empty());
    }

    #[tokio::test]
    async fn refuses_a_preflight_from_elsewhere_or_for_more_without_echoing() {
        for (request, why) in [
            (
                preflight("https://evil.example", "GET", None),
                "CORS: origin not allowed",
            ),
            (preflight(SITE, "DELETE", None), "CORS: method not allowed"),
            (
                preflight(SITE, "PUT", Some("x-other")),
                "CORS: header \"x-other\" not allowed",
            ),
        ] {
            let response = client().send(request).await.unwrap();
            assert_eq!(response.status(), Some(StatusCode::FORBIDDEN), "{why}");
            assert_eq!(response.header("access-control-allow-origin"), None);
            let json: serde_json::Value = serde_json::from_slice(&response.body()).unwrap();
            assert_eq!(json["error"], why);
        }
    }

    #[tokio::test]
    async fn marks_responses_for_allowed_origins_only() {
        let allowed = client()
            .send(Request::get("/").header("origin", SITE))
            .await
            .unwrap();
        assert_eq!(allowed.body(), "hello");
        assert_eq!(allowed.header("access-control-allow-origin"), Some(SITE));
        assert_eq!(
            allowed.header("access-control-allow-credentials"),
            Some("true")
        );
        assert_eq!(
            allowed.header("access-control-expose-headers"),
            Some("x-request-id")
        );
        assert_eq!(varies(&allowed), ["origin"]);

        let other = client()
            .send(Request::get("/").header("origin", "https://evil.example"))
            .await
            .unwrap();
        assert_eq!(other.body(), "hello");
        assert_eq!(other.header("access-control-allow-origin"), None);
        assert_eq!(other.header("access-control-allow-credentials"), None);
        assert_eq!(varies(&other), ["origin"]);

        // Same origin (no `origin` header): untouched but for `vary`.
        let plain = client().get("/").await.unwrap();
        assert_eq!(plain.header("access-control-allow-origin"), None);
        assert_eq!(varies(&plain), ["origin"]);
    }

    #[tokio::test]
    async fn any_origin_is_a_star_without_credentials_and_echoed_with_them() {
        let star = TestClient::new(Cors::new(Hello).allow_any_origin());
        let response = star
            .send(Request::get("/").header("origin", SITE))
            .await
            .unwrap();
        assert_eq!(response.header("access-control-allow-origin"), Some("*"));
        assert!(varies(&response).is_empty());

        let echo = TestClient::new(Cors::new(Hello).allow_any_origin().allow_credentials(true));
        let response = echo
            .send(Request::get("/").header("origin", SITE))
            .await
            .unwrap();
        assert_eq!(response.header("access-control-allow-origin"), Some(SITE));
        assert_eq!(varies(&response), ["origin"]);
    }

    #[tokio::test]
    async fn refuses_websocket_handshakes_from_other_origins() {
        let client = client();
        let session = client
            .connect(Request::get("/ws").header("origin", "https://evil.example"))
            .await
            .unwrap();
        assert_eq!(
            session.finish().await.unwrap().handshake,
            Handshake::Closed(CloseFrame::new(1008))
        );
        let denial = Request::get("/ws")
            .header("origin", "https://evil.example")
            .capabilities(Capabilities::ALL);
        let session = client.connect(denial).await.unwrap();
        let handshake = session.finish().await.unwrap().handshake;
        assert_eq!(handshake.refusal_status(), Some(StatusCode::FORBIDDEN));
        // `Hello` declines WebSocket: an allowed origin reaches it.
        let session = client
            .connect(Request::get("/ws").header("origin", SITE))
            .await
            .unwrap();
        let transcript = session.finish().await.unwrap();
        assert!(transcript.exit.is_unsupported());
    }
}
