//! What an exchange left behind: the raw event trace and how the app's
//! future ended.

use rgi::{
    BoxError, Error, HttpReceive, HttpSend, LifespanReceive, LifespanSend, Message,
    WebSocketReceive, WebSocketSend,
};

/// One entry of an exchange's trace, in the order the client saw it.
#[derive(Debug)]
#[non_exhaustive]
pub enum TraceEntry<In, Out> {
    /// The client handed this event to the app (it entered the bounded
    /// queue towards the app).
    ToApp(In),
    /// The app sent this event (the client took it from the queue).
    FromApp(Out),
    /// The client disconnected here.
    ClientDisconnected,
}

impl<In, Out> TraceEntry<In, Out> {
    /// The event the app sent, if this entry is one.
    pub fn as_from_app(&self) -> Option<&Out> {
        match self {
            Self::FromApp(out) => Some(out),
            _ => None,
        }
    }

    /// The event the client sent, if this entry is one.
    pub fn as_to_app(&self) -> Option<&In> {
        match self {
            Self::ToApp(ev) => Some(ev),
            _ => None,
        }
    }
}

/// The raw event trace of one exchange, both directions interleaved.
#[derive(Debug)]
pub struct Trace<In, Out> {
    pub(crate) entries: Vec<TraceEntry<In, Out>>,
}

impl<In, Out> Default for Trace<In, Out> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
        }
    }
}

impl<In, Out> Trace<In, Out> {
    /// Every entry, in order.
    pub fn entries(&self) -> &[TraceEntry<In, Out>] {
        &self.entries
    }

    /// The events the client sent, in order.
    pub fn to_app(&self) -> impl Iterator<Item = &In> {
        self.entries.iter().filter_map(TraceEntry::as_to_app)
    }

    /// The events the app sent, in order.
    pub fn from_app(&self) -> impl Iterator<Item = &Out> {
        self.entries.iter().filter_map(TraceEntry::as_from_app)
    }

    /// Whether the client disconnected during the exchange.
    pub fn client_disconnected(&self) -> bool {
        self.entries
            .iter()
            .any(|e| matches!(e, TraceEntry::ClientDisconnected))
    }
}

impl<In: Summary, Out: Summary> Trace<In, Out> {
    /// A one-line summary, for error messages: `> Body(3 bytes, more) < Start(200)`.
    pub fn summary(&self) -> String {
        if self.entries.is_empty() {
            return "no events yet".to_owned();
        }
        let mut out = String::new();
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            match e {
                TraceEntry::ToApp(ev) => {
                    out.push_str("client→app ");
                    out.push_str(&ev.summary());
                }
                TraceEntry::FromApp(ev) => {
                    out.push_str("app→client ");
                    out.push_str(&ev.summary());
                }
                TraceEntry::ClientDisconnected => out.push_str("client disconnected"),
            }
        }
        out
    }
}

/// How the app's future ended.
#[derive(Debug)]
#[non_exhaustive]
pub enum AppExit {
    /// It returned `Ok(())`.
    Ok,
    /// It returned an error.
    Err(BoxError),
    /// It panicked; the payload's message.
    Panicked(String),
    /// It was dropped before it finished (by [`cancel`](crate::HttpExchange::cancel)).
    Cancelled,
}

impl AppExit {
    /// Whether the app returned `Ok(())`.
    pub fn is_ok(&self) -> bool {
        matches!(self, Self::Ok)
    }

    /// The error the app returned, if it did.
    pub fn error(&self) -> Option<&BoxError> {
        match self {
            Self::Err(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the app returned [`Error::Disconnected`].
    pub fn is_disconnect(&self) -> bool {
        self.error().is_some_and(|e| Error::is_disconnect(&**e))
    }

    /// Whether the app returned [`Error::Unsupported`].
    pub fn is_unsupported(&self) -> bool {
        self.error().is_some_and(|e| Error::is_unsupported(&**e))
    }

    /// Whether the app panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, Self::Panicked(_))
    }
}

impl std::fmt::Display for AppExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ok => f.write_str("returned Ok(())"),
            Self::Err(e) => write!(f, "returned Err({e})"),
            Self::Panicked(m) => write!(f, "panicked: {m}"),
            Self::Cancelled => f.write_str("was cancelled"),
        }
    }
}

/// A short human description of an event, for messages and traces.
pub trait Summary {
    /// One short line, e.g. `Body(12 bytes, final)`.
    fn summary(&self) -> String;
}

fn more(more: bool) -> &'static str {
    if more {
        "more"
    } else {
        "final"
    }
}

impl Summary for HttpReceive {
    fn summary(&self) -> String {
        match self {
            Self::Body { data, more: m } => format!("Body({} bytes, {})", data.len(), more(*m)),
            Self::Disconnect => "Disconnect".to_owned(),
            other => format!("{other:?}"),
        }
    }
}

impl Summary for HttpSend {
    fn summary(&self) -> String {
        match self {
            Self::EarlyHints(h) => format!("EarlyHints({} headers)", h.len()),
            Self::Start(s) => format!(
                "Start({}{})",
                s.status.as_u16(),
                if s.trailers { ", trailers" } else { "" }
            ),
            Self::Body { data, more: m } => format!("Body({} bytes, {})", data.len(), more(*m)),
            Self::File(f) => format!(
                "File({}, {:?}, {})",
                f.path.display(),
                f.range,
                more(f.more)
            ),
            Self::Trailers(h) => format!("Trailers({} fields)", h.len()),
            other => format!("{other:?}"),
        }
    }
}

fn message(m: &Message) -> String {
    match m {
        Message::Text(t) => format!("Text({} bytes)", t.len()),
        Message::Binary(b) => format!("Binary({} bytes)", b.len()),
    }
}

impl Summary for WebSocketReceive {
    fn summary(&self) -> String {
        match self {
            Self::Connect => "Connect".to_owned(),
            Self::Message(m) => message(m),
            Self::Disconnect(f) => format!("Disconnect({})", f.code),
            other => format!("{other:?}"),
        }
    }
}

impl Summary for WebSocketSend {
    fn summary(&self) -> String {
        match self {
            Self::Accept(a) => format!("Accept({:?})", a.subprotocol),
            Self::Message(m) => message(m),
            Self::Close(f) => format!("Close({})", f.code),
            Self::DenyStart(s) => format!("DenyStart({})", s.status.as_u16()),
            Self::DenyBody { data, more: m } => {
                format!("DenyBody({} bytes, {})", data.len(), more(*m))
            }
            other => format!("{other:?}"),
        }
    }
}

impl Summary for LifespanReceive {
    fn summary(&self) -> String {
        format!("{self:?}")
    }
}

impl Summary for LifespanSend {
    fn summary(&self) -> String {
        format!("{self:?}")
    }
}
