//! Event types, one enum per protocol and direction (spec: `spec/http.md`,
//! `spec/websocket.md`, `spec/lifespan.md`). Names follow ASGI's
//! `receive` / `send` split so the two read side by side.

use std::ops::Range;
use std::path::PathBuf;

use bytes::Bytes;
use http::{Extensions, HeaderMap, HeaderValue, StatusCode};

use crate::error::Error;

/// An HTTP event the app receives (ASGI `http.request` / `http.disconnect`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpReceive {
    /// A chunk of the request body, de-chunked and de-framed. `more` is
    /// `false` on the last one; a request without a body yields exactly one
    /// `Body { data: empty, more: false }` (rule `HTTP-010`). Chunk
    /// boundaries carry no meaning.
    Body {
        /// The bytes.
        data: Bytes,
        /// Whether more body follows.
        more: bool,
    },
    /// The client went away, or the response is complete and the scope is
    /// over. Once returned, every later receive returns it again; it is never
    /// returned while the body is still being read or while the client is
    /// still connected and the response unfinished (rules `HTTP-011`,
    /// `HTTP-012`).
    Disconnect,
}

/// An HTTP event the app sends (ASGI `http.response.*`).
#[derive(Debug)]
#[non_exhaustive]
pub enum HttpSend {
    /// `103 Early Hints` with these headers (typically `link`). Only before
    /// [`Start`](Self::Start), only with
    /// [`Capabilities::early_hints`](crate::Capabilities::early_hints)
    /// (rules `EXT-001`, `EXT-010`).
    EarlyHints(HeaderMap),
    /// The response status and headers. Exactly once, before any body
    /// (rule `HTTP-020`).
    Start(ResponseStart),
    /// A chunk of the response body. `more: false` completes the response
    /// (unless trailers were announced). An empty chunk with `more: true`
    /// asks the server to put the head (and anything buffered) on the wire
    /// now: the explicit flush (rule `HTTP-027`).
    Body {
        /// The bytes.
        data: Bytes,
        /// Whether more body follows.
        more: bool,
    },
    /// A byte range of a file the server reads and sends itself, as if the
    /// app had sent those bytes as body chunks. Only with
    /// [`Capabilities::send_file`](crate::Capabilities::send_file), and
    /// never for HEAD, 204 or 304 (rule `HTTP-025`). The server reads the
    /// file when the event is flushed: a file it cannot read fails that
    /// send and aborts the response (rule `EXT-021`).
    File(FileBody),
    /// Trailer fields, after the final body, only when
    /// [`ResponseStart::trailers`] was `true` (rule `HTTP-030`).
    Trailers(HeaderMap),
}

impl HttpSend {
    /// A final body chunk: `Body { data, more: false }`.
    pub fn body(data: impl Into<Bytes>) -> Self {
        Self::Body {
            data: data.into(),
            more: false,
        }
    }

    /// A body chunk with more to follow: `Body { data, more: true }`.
    pub fn chunk(data: impl Into<Bytes>) -> Self {
        Self::Body {
            data: data.into(),
            more: true,
        }
    }

    /// The explicit flush: an empty chunk with more to follow.
    pub fn flush() -> Self {
        Self::chunk(Bytes::new())
    }
}

/// The start of an HTTP response.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct ResponseStart {
    /// The final status, 200-599 (rule `HTTP-021`). Informational responses
    /// are not sent with `Start`: `103` goes through
    /// [`HttpSend::EarlyHints`], `100 Continue` is the server's (`HTTP-013`).
    pub status: StatusCode,
    /// The response headers. The server adds `date`, `server` and framing
    /// (`content-length` or `transfer-encoding`). Connection-specific
    /// fields (`connection`, `keep-alive`, `transfer-encoding`, `upgrade`,
    /// `proxy-connection`, `te`) are the server's: a `Start` carrying one
    /// is refused (rules `HTTP-023`, `CORE-012`).
    pub headers: HeaderMap,
    /// Whether [`HttpSend::Trailers`] will follow the final body.
    pub trailers: bool,
    /// Per-request values passed back up to outer middleware (the
    /// counterpart of [`HttpScope::extensions`](crate::HttpScope::extensions)).
    /// Servers ignore values of types they do not define.
    pub extensions: Extensions,
}

impl ResponseStart {
    /// A start with `status` and no headers.
    pub fn new(status: StatusCode) -> Self {
        Self {
            status,
            ..Self::default()
        }
    }

    /// Appends a header (builder style). A value that does not convert to a
    /// [`HeaderValue`] (one with a newline, say) is skipped, never sent
    /// half-formed and never a panic; append to
    /// [`headers`](Self::headers) yourself when you need to know.
    #[must_use]
    pub fn header(
        mut self,
        name: http::header::HeaderName,
        value: impl TryInto<HeaderValue>,
    ) -> Self {
        if let Ok(value) = value.try_into() {
            self.headers.append(name, value);
        }
        self
    }

    /// Sets [`trailers`](Self::trailers) (builder style).
    #[must_use]
    pub fn with_trailers(mut self) -> Self {
        self.trailers = true;
        self
    }
}

/// A file region for [`HttpSend::File`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileBody {
    /// The file to read, absolute (rule `EXT-022`).
    pub path: PathBuf,
    /// The byte range to send; `None` for the whole file. The range must
    /// lie inside the file or the server fails the response (rule `EXT-021`).
    pub range: Option<Range<u64>>,
    /// Whether more body follows.
    pub more: bool,
}

impl FileBody {
    /// The whole of `path`, as the final body.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            range: None,
            more: false,
        }
    }

    /// Only `range` of the file (builder style).
    #[must_use]
    pub fn range(mut self, range: Range<u64>) -> Self {
        self.range = Some(range);
        self
    }

    /// Rule `EXT-022`: the path is absolute and the range, if any, does
    /// not end before it starts. What a server (or bridge) that reads
    /// files checks when the event is sent, before any file is opened.
    pub fn check(&self) -> Result<(), Error> {
        if !self.path.is_absolute() {
            return Err(Error::protocol(
                "EXT-022",
                format!(
                    "FileBody.path must be absolute, got {}",
                    self.path.display()
                ),
            ));
        }
        match &self.range {
            Some(range) if range.start > range.end => Err(Error::protocol(
                "EXT-022",
                format!(
                    "FileBody.range {}..{} has start > end",
                    range.start, range.end
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// A whole WebSocket message. The server reassembles fragments and answers
/// pings itself; apps only ever see whole messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message (always valid UTF-8).
    Text(String),
    /// A binary message.
    Binary(Bytes),
}

/// A WebSocket close code and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CloseFrame {
    /// The close code (RFC 6455 §7.4): 1000 normal; 1005 when the peer sent
    /// none; 1006 when the connection dropped without a close frame.
    pub code: u16,
    /// The reason, at most 123 bytes of UTF-8.
    pub reason: String,
}

impl CloseFrame {
    /// A close frame with `code` and an empty reason.
    pub fn new(code: u16) -> Self {
        Self {
            code,
            reason: String::new(),
        }
    }

    /// Code 1000, normal closure.
    pub fn normal() -> Self {
        Self::new(1000)
    }
}

/// A WebSocket event the app receives.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebSocketReceive {
    /// The client asks to connect; answer with `Accept`, `Close` or a denial
    /// (rule `WS-001`). Always the first event.
    Connect,
    /// A message from the client.
    Message(Message),
    /// The connection is over (client close, server close or loss). Repeated
    /// on every later receive.
    Disconnect(CloseFrame),
}

/// A WebSocket event the app sends.
#[derive(Debug)]
#[non_exhaustive]
pub enum WebSocketSend {
    /// Complete the handshake.
    Accept(Accept),
    /// Send a message (only after `Accept`).
    Message(Message),
    /// Close the connection. Before `Accept` this refuses the handshake with
    /// HTTP 403 (rule `WS-004`).
    Close(CloseFrame),
    /// Refuse the handshake with this HTTP response instead (needs
    /// [`Capabilities::websocket_denial`](crate::Capabilities::websocket_denial)).
    DenyStart(ResponseStart),
    /// Body of the denial response, as [`HttpSend::Body`].
    DenyBody {
        /// The bytes.
        data: Bytes,
        /// Whether more body follows.
        more: bool,
    },
}

/// The answer that completes a WebSocket handshake.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Accept {
    /// The chosen subprotocol, one of those the client offered.
    pub subprotocol: Option<String>,
    /// Extra response headers for the `101` (not `sec-websocket-protocol`:
    /// use `subprotocol`).
    pub headers: HeaderMap,
}

impl Accept {
    /// Accept with no subprotocol and no extra headers.
    pub fn new() -> Self {
        Self::default()
    }
}

/// A lifespan event the app receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LifespanReceive {
    /// The server is about to accept connections.
    Startup,
    /// The server has stopped accepting and drained every connection.
    Shutdown,
}

/// A lifespan answer the app sends.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LifespanSend {
    /// Startup succeeded; the server starts accepting.
    StartupComplete,
    /// Startup failed; the server does not accept and `serve` returns this
    /// message as its error.
    StartupFailed {
        /// Why.
        message: String,
    },
    /// Shutdown finished.
    ShutdownComplete,
    /// Shutdown failed; the server logs the message and stops anyway.
    ShutdownFailed {
        /// Why.
        message: String,
    },
}
