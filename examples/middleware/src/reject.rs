//! The one way the catalogue's middleware answer a request themselves: a
//! small JSON error (`{"error": "..."}`) with a status and a few headers,
//! sent as an HTTP response, or, for a WebSocket handshake, as a denial
//! response where the server offers one and a close before `Accept` (HTTP
//! 403) where it does not.

use rgi::bytes::Bytes;
use rgi::http::header::{HeaderName, CONTENT_TYPE};
use rgi::http::{HeaderMap, HeaderValue, StatusCode};
use rgi::{AppResult, HttpConn, WebSocketConn};

/// A short-circuit answer: status, headers, JSON body.
#[derive(Debug)]
pub(crate) struct Rejection {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Rejection {
    /// `status` with `{"error": message}` as `application/json`.
    pub(crate) fn json(status: StatusCode, message: &str) -> Self {
        let body = serde_json::json!({ "error": message }).to_string();
        let mut headers = HeaderMap::with_capacity(4);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Self {
            status,
            headers,
            body: Bytes::from(body),
        }
    }

    /// Adds a header; a value that is not a valid header value is skipped.
    #[must_use]
    pub(crate) fn header(mut self, name: HeaderName, value: impl TryInto<HeaderValue>) -> Self {
        if let Ok(value) = value.try_into() {
            self.headers.append(name, value);
        }
        self
    }

    /// The answer to an HTTP request. The request body is left unread: the
    /// server drains or closes, as it must for any response.
    pub(crate) async fn send_http(self, http: &mut HttpConn<'_>) -> AppResult {
        Ok(http.respond(self.status, self.headers, self.body).await?)
    }

    /// The answer to a WebSocket handshake: this response as a denial where
    /// the server carries one, else a close before `Accept` (HTTP 403;
    /// [`refuse_handshake`](crate::refuse_handshake)).
    pub(crate) async fn send_websocket(self, ws: &mut WebSocketConn<'_>) -> AppResult {
        crate::refuse::refuse_handshake(ws, self.status, self.headers, self.body).await
    }
}
