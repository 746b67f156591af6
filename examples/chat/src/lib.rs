//! # chat: a room over WebSocket, behind the middleware catalogue
//!
//! The seed's WebSocket middleware (`shared/seeds/000…`) tracks connection
//! ids and then cannot broadcast: "this is a simplified example, in
//! practice you'd need to store the actual send callable". This is the
//! practice: a [`Room`] where every member has a bounded queue, a
//! connection that both reads its client and writes its queue, and a page
//! at `/` a person can use from a browser.
//!
//! | route | what |
//! | --- | --- |
//! | `GET /` | the page: inline HTML, CSS and JS, nothing fetched from elsewhere |
//! | `POST /login` | body: the name (1 to 24 characters, no control characters); stored in the session, whose cookie the browser then sends with the handshake |
//! | `GET /me` | `{"name": …}`, or `401` without a name |
//! | `POST /logout` | forgets the name |
//! | `GET /ws` (WebSocket) | joins the room. **Guarded**: without a name in the session the handshake is refused (`401` JSON as a denial response where the server announces `websocket_denial`, `403` elsewhere) |
//!
//! Over the socket the client sends text (at most [`MAX_MESSAGE`] bytes;
//! binary is closed with 1003, longer text with 1009) and receives JSON:
//! `welcome` (its name and who is present), `join`, `leave`, `message`
//! (`from`, `text`). A member whose queue overflows is dropped from the
//! room and its socket closed with 1008.
//!
//! The stack ([`app`]), outermost first: `ErrorBoundary`, `SetRequestId`
//! (the id is in the `101` too), `AccessLog` (one line per request and per
//! socket), `RateLimit` (handshakes count), `SecurityHeaders`,
//! `SessionLayer` (the handshake finds its session by cookie), then
//! [`Chat`].

#![forbid(unsafe_code)]

pub mod room;

use std::sync::Arc;

use rgi::bytes::Bytes;
use rgi::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use rgi::http::{HeaderMap, HeaderValue, Method, StatusCode};
use rgi::{
    Accept, App, AppResult, BoxApp, CloseFrame, Conn, HttpConn, Message, ReceiverExt, SenderExt,
    Stack, WebSocketConn, WebSocketReceive, WebSocketSend,
};
use rgi_middleware_examples::{
    refuse_handshake, AccessLog, ErrorBoundary, RateLimit, SecurityHeaders, Session, SessionLayer,
    SetRequestId,
};
use serde_json::json;

pub use room::{Membership, Room};

/// The longest text message a client may send, in bytes.
pub const MAX_MESSAGE: usize = 4096;

/// The page at `/`.
pub const PAGE: &str = include_str!("page.html");

/// The chat app: the page, the login, and the room's sockets.
#[derive(Debug, Clone)]
pub struct Chat {
    room: Arc<Room>,
}

impl Chat {
    /// A chat app for `room`.
    pub fn new(room: Arc<Room>) -> Self {
        Self { room }
    }
}

/// The chat app behind the catalogue's middleware (see the crate docs for
/// the order), on a room of at most 1,000 members with 64 events queued
/// each.
pub fn app() -> BoxApp {
    stack(Arc::new(Room::new(1000, 64)))
}

/// [`app`] on a room of your own (tests look into it).
pub fn stack(room: Arc<Room>) -> BoxApp {
    Stack::new()
        .push(|inner: BoxApp| rgi::boxed(ErrorBoundary::new(inner)))
        .push(|inner: BoxApp| rgi::boxed(SetRequestId::new(inner)))
        .push(|inner: BoxApp| rgi::boxed(AccessLog::new(inner)))
        // Ten handshakes or requests a second per address, in bursts of 120.
        .push(|inner: BoxApp| rgi::boxed(RateLimit::new(inner, 600, 120)))
        .push(|inner: BoxApp| rgi::boxed(SecurityHeaders::new(inner)))
        .push(|inner: BoxApp| rgi::boxed(SessionLayer::new(inner)))
        .build(rgi::boxed(Chat::new(room)))
}

impl App for Chat {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        match conn {
            Conn::Http(http) => self.http(http).await,
            Conn::WebSocket(ws) => self.socket(ws).await,
            other => other.unsupported(),
        }
    }
}

/// The name the session holds, if the visitor logged in.
fn session_name(extensions: &rgi::http::Extensions) -> Option<String> {
    extensions.get::<Session>()?.get("name")
}

/// A name a person could have typed: trimmed, 1 to 24 characters, no
/// control characters.
fn valid_name(body: &[u8]) -> Option<&str> {
    let name = std::str::from_utf8(body).ok()?.trim();
    let chars = name.chars().count();
    ((1..=24).contains(&chars) && !name.chars().any(char::is_control)).then_some(name)
}

fn json_response(value: serde_json::Value) -> (HeaderMap, Bytes) {
    let mut headers = HeaderMap::with_capacity(2);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    (headers, Bytes::from(value.to_string()))
}

impl Chat {
    async fn http(&self, mut http: HttpConn<'_>) -> AppResult {
        let route = (http.scope.method.clone(), http.scope.route_path());
        let (status, (headers, body)) = match (&route.0, route.1) {
            (&Method::GET | &Method::HEAD, "/") => {
                let mut headers = HeaderMap::with_capacity(2);
                headers.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                );
                headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                (
                    StatusCode::OK,
                    (headers, Bytes::from_static(PAGE.as_bytes())),
                )
            }
            (&Method::POST, "/login") => {
                let body = http.read_body(256).await?;
                match (valid_name(&body), http.scope.extensions.get::<Session>()) {
                    (Some(name), Some(session)) => {
                        session.insert("name", name);
                        (StatusCode::OK, json_response(json!({ "name": name })))
                    }
                    (None, _) => (
                        StatusCode::BAD_REQUEST,
                        json_response(json!({ "error": "a name is 1 to 24 characters" })),
                    ),
                    (_, None) => return Err("chat needs the SessionLayer in front".into()),
                }
            }
            (&Method::GET, "/me") => match session_name(&http.scope.extensions) {
                Some(name) => (StatusCode::OK, json_response(json!({ "name": name }))),
                None => (
                    StatusCode::UNAUTHORIZED,
                    json_response(json!({ "error": "not logged in" })),
                ),
            },
            (&Method::POST, "/logout") => {
                if let Some(session) = http.scope.extensions.get::<Session>() {
                    session.remove("name");
                }
                (StatusCode::NO_CONTENT, (HeaderMap::new(), Bytes::new()))
            }
            _ => (
                StatusCode::NOT_FOUND,
                json_response(json!({ "error": "not found" })),
            ),
        };
        Ok(http.respond(status, headers, body).await?)
    }

    async fn socket(&self, mut ws: WebSocketConn<'_>) -> AppResult {
        if ws.scope.route_path() != "/ws" {
            let (headers, body) = json_response(json!({ "error": "not found" }));
            return refuse_handshake(&mut ws, StatusCode::NOT_FOUND, headers, body).await;
        }
        // The guard: a browser cannot send `Authorization` with a
        // handshake, but it does send the session cookie.
        let Some(name) = session_name(&ws.scope.extensions) else {
            let (headers, body) = json_response(json!({ "error": "log in first" }));
            return refuse_handshake(&mut ws, StatusCode::UNAUTHORIZED, headers, body).await;
        };
        if ws.recv().await != WebSocketReceive::Connect {
            return Ok(());
        }
        let Ok(mut membership) = self.room.join(&name) else {
            let mut full = CloseFrame::new(1013);
            full.reason = "the room is full".into();
            ws.send(WebSocketSend::Accept(Accept::new())).await?;
            return Ok(ws.send(WebSocketSend::Close(full)).await?);
        };
        ws.send(WebSocketSend::Accept(Accept::new())).await?;
        let (_, receiver, sender) = ws.into_parts();
        loop {
            tokio::select! {
                event = receiver.recv() => match event {
                    WebSocketReceive::Message(Message::Text(text)) => {
                        if text.len() > MAX_MESSAGE {
                            return close(sender, 1009, "message too long").await;
                        }
                        if !text.trim().is_empty() {
                            self.room.say(&name, &text);
                        }
                    }
                    WebSocketReceive::Message(Message::Binary(_)) => {
                        return close(sender, 1003, "text only").await;
                    }
                    // Disconnect: the client left (or the server is going).
                    _ => return Ok(()),
                },
                event = membership.next() => match event {
                    // One copy per member: the interface's text is a String.
                    Some(event) => {
                        sender
                            .send(WebSocketSend::Message(Message::Text(event.to_string())))
                            .await?;
                    }
                    None => return close(sender, 1008, "too slow: messages were dropped").await,
                },
            }
        }
    }
}

async fn close(sender: &mut dyn rgi::Sender<WebSocketSend>, code: u16, reason: &str) -> AppResult {
    let mut frame = CloseFrame::new(code);
    frame.reason = reason.into();
    Ok(sender.send(WebSocketSend::Close(frame)).await?)
}
