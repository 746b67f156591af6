//! [`Conn`]: one call of an app, a scope paired with its typed handles.
//!
//! The pairing is what makes the protocol typed: an HTTP call carries a
//! `Sender<HttpSend>`, so a WebSocket message cannot even be written in an
//! HTTP scope.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use http::{header, Extensions, HeaderMap, HeaderValue, Method, StatusCode};

use crate::channel::{Receiver, ReceiverExt, Recv, SendEvent, Sender, SenderExt};
use crate::error::{AppResult, Error, ScopeKind};
use crate::event::{
    HttpReceive, HttpSend, LifespanReceive, LifespanSend, ResponseStart, WebSocketReceive,
    WebSocketSend,
};
use crate::scope::{HttpScope, LifespanScope, WebSocketScope};

/// One call of an app: one HTTP request, one WebSocket, or the lifespan.
///
/// Match on it to handle the kinds you care about and pass the rest on
/// unchanged, including kinds a later spec adds (rule `CORE-003`).
#[derive(Debug)]
#[non_exhaustive]
pub enum Conn<'a> {
    /// One HTTP request.
    Http(HttpConn<'a>),
    /// One WebSocket connection.
    WebSocket(WebSocketConn<'a>),
    /// The server's lifespan.
    Lifespan(LifespanConn<'a>),
}

impl Conn<'_> {
    /// Which kind of scope this is.
    pub fn kind(&self) -> ScopeKind {
        match self {
            Self::Http(_) => ScopeKind::Http,
            Self::WebSocket(_) => ScopeKind::WebSocket,
            Self::Lifespan(_) => ScopeKind::Lifespan,
        }
    }

    /// The answer of an app that does not handle this kind of scope:
    /// `Err(Error::Unsupported(kind))`. For lifespan this tells the server
    /// to go on without it (rule `LIFE-007`); for a WebSocket not yet
    /// accepted, to refuse it with HTTP 403 (rule `WS-010`).
    pub fn unsupported(self) -> AppResult {
        Err(Error::Unsupported(self.kind()).into())
    }
}

macro_rules! conn_type {
    ($(#[$doc:meta])* $name:ident, $scope:ty, $recv:ty, $send:ty, $kind:ident) => {
        $(#[$doc])*
        pub struct $name<'a> {
            /// What the server knows about this call, lent for the call:
            /// change it in place before handing the call on. Lent, not
            /// given: the call stays three references wide (48 bytes as a
            /// `Conn`) however far it travels, and the scope is the
            /// caller's again when the call returns, with whatever the
            /// inner app left in it (rule `CORE-008`).
            pub scope: &'a mut $scope,
            /// Where the events from the server come from.
            pub receiver: &'a mut dyn Receiver<$recv>,
            /// Where the app's events go.
            pub sender: &'a mut dyn Sender<$send>,
        }

        impl<'a> $name<'a> {
            /// A call from its scope and handles.
            pub fn new(
                scope: &'a mut $scope,
                receiver: &'a mut dyn Receiver<$recv>,
                sender: &'a mut dyn Sender<$send>,
            ) -> Self {
                Self { scope, receiver, sender }
            }

            /// The scope and handles, to wrap a handle and build a new call
            /// with [`new`](Self::new).
            pub fn into_parts(
                self,
            ) -> (&'a mut $scope, &'a mut dyn Receiver<$recv>, &'a mut dyn Sender<$send>) {
                (self.scope, self.receiver, self.sender)
            }

            /// The next event from the server.
            pub fn recv(&mut self) -> Recv<'_, dyn Receiver<$recv> + 'a, $recv> {
                self.receiver.recv()
            }

            /// Sends an event; completes when the transport has taken it.
            pub fn send(&mut self, event: $send) -> SendEvent<'_, dyn Sender<$send> + 'a, $send> {
                self.sender.send(event)
            }
        }

        impl<'a> From<$name<'a>> for Conn<'a> {
            fn from(conn: $name<'a>) -> Self {
                Conn::$kind(conn)
            }
        }

        impl std::fmt::Debug for $name<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name)).field("scope", &self.scope).finish_non_exhaustive()
            }
        }
    };
}

conn_type!(
    /// One HTTP request: its scope, the request events, the response events.
    HttpConn, HttpScope, HttpReceive, HttpSend, Http
);
conn_type!(
    /// One WebSocket connection.
    WebSocketConn, WebSocketScope, WebSocketReceive, WebSocketSend, WebSocket
);
conn_type!(
    /// The lifespan: startup, then shutdown.
    LifespanConn, LifespanScope, LifespanReceive, LifespanSend, Lifespan
);

impl<'a> HttpConn<'a> {
    /// Sends a whole response in two events: a start with `status` and
    /// `headers`, then `body` as the final chunk. The server has the whole
    /// body before it writes the head, so it can send both in one write
    /// with a `content-length` of its own (rule `HTTP-034`; `rgi-server`
    /// does). The short-circuiting middleware's tool.
    ///
    /// It keeps the body rules (rule `HTTP-025`) whatever it is given: a
    /// response to `HEAD` gets the `content-length` of `body` (or keeps the
    /// one in `headers` when `body` is empty: a `HEAD` handler that knows
    /// the length without the bytes) but no body bytes; a `204` or `304`
    /// gets no body bytes, and `content-length` only if `headers` has one
    /// (a `304` may repeat the representation's, rule `HTTP-026`).
    pub fn respond(
        &mut self,
        status: StatusCode,
        mut headers: HeaderMap,
        body: impl Into<Bytes>,
    ) -> Respond<'_, 'a> {
        let mut body = body.into();
        let no_content = status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
        if no_content {
            body = Bytes::new();
        } else if self.scope.method == Method::HEAD {
            // The length a GET would get, which the server cannot know.
            if !body.is_empty() || !headers.contains_key(header::CONTENT_LENGTH) {
                headers.insert(header::CONTENT_LENGTH, length_value(body.len()));
            }
            body = Bytes::new();
        } else if let Some(stale) = headers.get_mut(header::CONTENT_LENGTH) {
            // Left to the server unless the caller gave one; then it must
            // be right.
            *stale = length_value(body.len());
        }
        // Built whole: `ResponseStart::new` would make an empty map only to
        // drop it for `headers`.
        let start = ResponseStart {
            status,
            headers,
            trailers: false,
            extensions: Extensions::new(),
        };
        Respond {
            sender: &mut *self.sender,
            next: Some(HttpSend::Start(start)),
            body: Some(body),
        }
    }

    /// Reads the whole request body, failing with
    /// [`Error::BodyTooLarge`] past `limit` bytes and with
    /// [`Error::Disconnected`] if the client goes away first. A body that
    /// arrives as one non-empty chunk (with any number of empty ones, as a
    /// chunked request's terminator gives) is returned without copying.
    pub async fn read_body(&mut self, limit: usize) -> Result<Bytes, Error> {
        // `first` holds the only non-empty chunk so far, uncopied; `buf`
        // takes over once a second one arrives.
        let mut first: Option<Bytes> = None;
        let mut buf = BytesMut::new();
        loop {
            match self.recv().await {
                HttpReceive::Body { data, more } => {
                    if !data.is_empty() {
                        let len = first.as_ref().map_or(0, Bytes::len) + buf.len() + data.len();
                        if len > limit {
                            return Err(Error::BodyTooLarge { limit });
                        }
                        match first.take() {
                            None if buf.is_empty() => first = Some(data),
                            None => buf.extend_from_slice(&data),
                            Some(f) => {
                                buf.reserve(f.len() + data.len());
                                buf.extend_from_slice(&f);
                                buf.extend_from_slice(&data);
                            }
                        }
                    }
                    if !more {
                        return Ok(first.unwrap_or_else(|| buf.freeze()));
                    }
                }
                HttpReceive::Disconnect => return Err(Error::Disconnected),
            }
        }
    }
}

/// The future of [`HttpConn::respond`]: hands over the start, waits until
/// it is taken, then the body, and waits again.
///
/// Written out rather than `async`: an `async fn` would keep the headers
/// and the body twice over (as arguments and inside the events) across
/// its awaits, and this future is inside every request's future that
/// answers with `respond` (160 bytes instead of 520).
#[must_use = "futures do nothing unless awaited"]
pub struct Respond<'c, 'a> {
    sender: &'c mut (dyn Sender<HttpSend> + 'a),
    /// The event to hand over next.
    next: Option<HttpSend>,
    /// The body, until its event is made (once the start is taken).
    body: Option<Bytes>,
}

impl std::fmt::Debug for Respond<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Respond")
            .field("next", &self.next)
            .field("body", &self.body)
            .finish_non_exhaustive()
    }
}

impl Future for Respond<'_, '_> {
    type Output = Result<(), Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            let sent = match this.next.take() {
                Some(event) => this.sender.start_send(event),
                None => Ok(()),
            };
            let sent = match sent {
                Ok(()) => ready!(this.sender.poll_flush(cx)),
                Err(error) => Err(error),
            };
            if let Err(error) = sent {
                // Nothing more goes out after a failed send, however often
                // this is polled again.
                this.body = None;
                return Poll::Ready(Err(error));
            }
            match this.body.take() {
                Some(body) => this.next = Some(HttpSend::body(body)),
                None => return Poll::Ready(Ok(())),
            }
        }
    }
}

/// `n` as a header value, with one allocation (`HeaderValue::from(usize)`
/// makes two: a `BytesMut` with spare room, then a shared `Bytes` on freeze).
fn length_value(n: usize) -> HeaderValue {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut rest = n;
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    // Digits are always a valid value: the fallback, which never runs, is
    // kept out of line.
    #[cold]
    fn slow(n: usize) -> HeaderValue {
        HeaderValue::from(n)
    }
    HeaderValue::from_bytes(&digits[start..]).unwrap_or_else(|_| slow(n))
}
