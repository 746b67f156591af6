//! Errors shared by apps, middleware and servers.

use std::borrow::Cow;

/// Any error an app returns. Apps use `?` on whatever they like; the server
/// downcasts to [`Error`] to tell the protocol's own outcomes (for example
/// [`Error::Unsupported`]) apart from a crash.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What [`App::call`](crate::App::call) returns.
pub type AppResult = Result<(), BoxError>;

/// The kinds of scope an app can be called with. Used in messages and in
/// [`Error::Unsupported`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ScopeKind {
    /// One HTTP request.
    Http,
    /// One WebSocket connection.
    WebSocket,
    /// The server's lifespan (startup and shutdown).
    Lifespan,
}

impl std::fmt::Display for ScopeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Http => "http",
            Self::WebSocket => "websocket",
            Self::Lifespan => "lifespan",
        })
    }
}

/// The protocol's typed errors (spec: `spec/README.md`, "Errors").
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer has gone away: the client closed the connection, or the
    /// server is shutting it down. Returned by `send` after the disconnect
    /// (rule `CORE-010`). Apps may stop work when they see it; servers never
    /// log it as an app failure.
    #[error("the client disconnected")]
    Disconnected,
    /// The app (or a middleware) sent an event the spec forbids at this
    /// point. `rule` is the id from `spec/rules.md`.
    #[error("protocol violation [{rule}]: {message}")]
    Protocol {
        /// The rule id, for example `HTTP-002`.
        rule: &'static str,
        /// What happened and what was expected.
        message: Cow<'static, str>,
    },
    /// The app does not handle this kind of scope. Returning this from a
    /// lifespan scope before answering startup tells the server "no lifespan
    /// support" (rule `LIFE-007`), which is not a failure.
    #[error("this app does not support {0} scopes")]
    Unsupported(ScopeKind),
    /// The request body is larger than the limit the reader gave.
    #[error("the request body exceeds the limit of {limit} bytes")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
}

impl Error {
    /// A protocol violation of `rule`, with a message.
    // Cold: only refusals make one, so the code that leads to it is laid
    // out away from the paths every event takes.
    #[cold]
    pub fn protocol(rule: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::Protocol {
            rule,
            message: message.into(),
        }
    }

    /// The rule id of a protocol violation, if this is one.
    pub fn rule(&self) -> Option<&'static str> {
        match self {
            Self::Protocol { rule, .. } => Some(rule),
            _ => None,
        }
    }

    /// Whether this error (or a [`BoxError`] holding one) says the peer went
    /// away.
    pub fn is_disconnect(err: &(dyn std::error::Error + 'static)) -> bool {
        matches!(err.downcast_ref::<Self>(), Some(Self::Disconnected))
    }

    /// Whether `err` is [`Error::Unsupported`].
    pub fn is_unsupported(err: &(dyn std::error::Error + 'static)) -> bool {
        matches!(err.downcast_ref::<Self>(), Some(Self::Unsupported(_)))
    }
}
