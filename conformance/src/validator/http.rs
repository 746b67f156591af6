//! The HTTP rules: what a response may look like, event by event.

use http::{header, HeaderMap, Method, StatusCode};
use rgi::{AppResult, Capabilities, FileBody, HttpReceive, HttpScope, HttpSend};

use super::{Found, Machine};

/// Response header fields that describe the connection, not the message
/// (rule `HTTP-023`): the server frames the response.
pub(crate) const CONNECTION_HEADERS: [&str; 6] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "upgrade",
    "proxy-connection",
    "te",
];

/// The first connection-specific header in `headers`, if any.
/// `connection: close` alone is allowed: it asks the server to close after
/// the response (rule `HTTP-036`).
pub(crate) fn connection_header(headers: &HeaderMap) -> Option<&'static str> {
    CONNECTION_HEADERS.into_iter().find(|name| {
        let mut values = headers.get_all(*name).iter().peekable();
        values.peek().is_some() && !(*name == "connection" && values.all(is_close_only))
    })
}

fn is_close_only(value: &http::HeaderValue) -> bool {
    let mut tokens = value
        .as_bytes()
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
        .peekable();
    tokens.peek().is_some() && tokens.all(|t| t.eq_ignore_ascii_case(b"close"))
}

/// The `content-length` of `headers`: `Ok(None)` when absent, `Err` when
/// present but not exactly one non-negative integer.
pub(crate) fn content_length(headers: &HeaderMap) -> Result<Option<u64>, String> {
    let mut values = headers.get_all(header::CONTENT_LENGTH).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err("more than one content-length field".to_owned());
    }
    first
        .to_str()
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| format!("content-length {first:?} is not a non-negative integer"))
}

/// What is wrong with the scope's `root_path`, if anything: it must be
/// empty or start with `/` and not end with `/` (rule `HTTP-004`), be a
/// prefix of `path` (`HTTP-004`) and end at a segment boundary of it
/// (`HTTP-016`).
pub(crate) fn root_path_violation(scope: &HttpScope) -> Option<Found> {
    let (root, path) = (scope.root_path.as_str(), scope.path.as_str());
    let shaped = root.is_empty() || (root.starts_with('/') && !root.ends_with('/'));
    if !shaped {
        return Some(Found::server(
            "HTTP-004",
            format!("the scope's root_path {root:?} (path {path:?})"),
            "root_path empty, or starting with '/' and not ending with '/'",
        ));
    }
    let Some(rest) = path.strip_prefix(root) else {
        return Some(Found::server(
            "HTTP-004",
            format!("the scope's path {path:?} does not start with its root_path {root:?}"),
            "path to start with root_path",
        ));
    };
    (!rest.is_empty() && !rest.starts_with('/')).then(|| {
        Found::server(
            "HTTP-016",
            format!("the scope's root_path {root:?} ends inside a segment of its path {path:?}"),
            "path == root_path, or the rest of path after root_path starting with '/'",
        )
    })
}

#[derive(Debug)]
pub(crate) struct HttpMachine {
    head: bool,
    capabilities: Capabilities,
    // What the caller delivered.
    body_done: bool,
    disconnect_received: bool,
    // What the app sent.
    status: Option<StatusCode>,
    content_length: Option<u64>,
    /// Body bytes sent, when every one could be counted.
    sent: Option<u64>,
    trailers_announced: bool,
    final_sent: bool,
    trailers_sent: bool,
}

impl HttpMachine {
    pub(crate) fn new(scope: &HttpScope) -> Self {
        Self {
            head: scope.method == Method::HEAD,
            capabilities: scope.capabilities,
            body_done: false,
            disconnect_received: false,
            status: None,
            content_length: None,
            sent: Some(0),
            trailers_announced: false,
            final_sent: false,
            trailers_sent: false,
        }
    }

    fn complete(&self) -> bool {
        self.final_sent && (!self.trailers_announced || self.trailers_sent)
    }

    /// HEAD, 204 and 304 carry no body bytes (rule `HTTP-025`).
    fn bodiless(&self) -> Option<String> {
        if self.head {
            return Some("a response to HEAD".to_owned());
        }
        match self.status {
            Some(s) if s == StatusCode::NO_CONTENT || s == StatusCode::NOT_MODIFIED => {
                Some(format!("a {} response", s.as_u16()))
            }
            _ => None,
        }
    }

    fn progress(&self) -> String {
        match (self.status, self.sent) {
            (None, _) => "no Start was sent".to_owned(),
            (Some(s), Some(n)) => format!(
                "Start({}) and {n} body bytes were sent, no final body",
                s.as_u16()
            ),
            (Some(s), None) => format!("Start({}) was sent, no final body", s.as_u16()),
        }
    }

    /// Checks a body event of `len` bytes (`None`: unknown) with `more`.
    fn check_body(&self, what: &str, len: Option<u64>, more: bool) -> Option<Found> {
        if self.status.is_none() {
            return Some(Found::app(
                "HTTP-020",
                format!("{what} was sent before Start"),
                "Start exactly once, before any Body, File or Trailers",
            ));
        }
        if self.trailers_sent {
            return Some(Found::app(
                "HTTP-022",
                format!("{what} was sent after Trailers"),
                "nothing after Trailers",
            ));
        }
        if self.final_sent {
            return Some(Found::app(
                "HTTP-022",
                format!("{what} was sent after the final body (more: false)"),
                "nothing after the final body except announced Trailers",
            ));
        }
        if let Some(kind) = self.bodiless() {
            if len.is_some_and(|n| n > 0) {
                return Some(Found::app(
                    "HTTP-025",
                    format!("{what} carried body bytes in {kind}"),
                    "no body bytes for HEAD, 204 and 304 (an empty final Body only)",
                ));
            }
            // HEAD and 304 keep the length of the body they do not carry.
            return None;
        }
        if let (Some(limit), Some(sent), Some(len)) = (self.content_length, self.sent, len) {
            let total = sent + len;
            if total > limit {
                return Some(Found::app(
                    "HTTP-024",
                    format!("{total} body bytes were sent against content-length {limit}"),
                    "body bytes totalling exactly the content-length",
                ));
            }
            if !more && total < limit {
                return Some(Found::app(
                    "HTTP-024",
                    format!("the final body left the total at {total} bytes against content-length {limit}"),
                    "body bytes totalling exactly the content-length",
                ));
            }
        }
        None
    }
}

fn file_len(file: &FileBody) -> Option<u64> {
    match &file.range {
        Some(r) => Some(r.end.saturating_sub(r.start)),
        None => std::fs::metadata(&file.path).ok().map(|m| m.len()),
    }
}

impl Machine<HttpReceive, HttpSend> for HttpMachine {
    fn on_receive(&mut self, event: &HttpReceive) -> Option<Found> {
        match event {
            HttpReceive::Body { more, .. } => {
                if self.disconnect_received {
                    return Some(Found::server(
                        "HTTP-011",
                        "a Body event was delivered after Disconnect",
                        "Disconnect on every receive once it was returned",
                    ));
                }
                if self.body_done {
                    return Some(Found::server(
                        "HTTP-010",
                        "a Body event was delivered after the final one (more: false)",
                        "exactly the last Body event to have more: false",
                    ));
                }
                self.body_done = !more;
            }
            HttpReceive::Disconnect => self.disconnect_received = true,
            _ => {}
        }
        None
    }

    fn check_send(&self, event: &HttpSend) -> Option<Found> {
        match event {
            HttpSend::EarlyHints(_) => {
                if !self.capabilities.early_hints {
                    return Some(Found::app(
                        "EXT-001",
                        "EarlyHints was sent but the scope does not announce early_hints",
                        "extension events only when the scope's capabilities announce them",
                    ));
                }
                if self.status.is_some() {
                    return Some(Found::app(
                        "EXT-010",
                        "EarlyHints was sent after Start",
                        "EarlyHints only before Start",
                    ));
                }
                None
            }
            HttpSend::Start(start) => {
                if let Some(first) = self.status {
                    return Some(Found::app(
                        "HTTP-020",
                        format!(
                            "a second Start ({}) was sent after Start ({})",
                            start.status.as_u16(),
                            first.as_u16()
                        ),
                        "Start exactly once, before any body",
                    ));
                }
                if !(200..=599).contains(&start.status.as_u16()) {
                    return Some(Found::app(
                        "HTTP-021",
                        format!("Start carried status {}", start.status.as_u16()),
                        "a final status 200-599 (1xx through EarlyHints)",
                    ));
                }
                if let Some(name) = connection_header(&start.headers) {
                    return Some(Found::app(
                        "HTTP-023",
                        format!("Start carried the connection-specific header {name:?}"),
                        "no connection, keep-alive, transfer-encoding, upgrade, proxy-connection or te (the server frames the response)",
                    ));
                }
                if let Err(why) = content_length(&start.headers) {
                    return Some(Found::app(
                        "HTTP-024",
                        format!("Start carried {why}"),
                        "at most one content-length, a non-negative integer",
                    ));
                }
                None
            }
            HttpSend::Body { data, more } => self.check_body(
                &format!("Body({} bytes)", data.len()),
                Some(data.len() as u64),
                *more,
            ),
            HttpSend::File(file) => {
                if !self.capabilities.send_file {
                    return Some(Found::app(
                        "EXT-001",
                        "File was sent but the scope does not announce send_file",
                        "extension events only when the scope's capabilities announce them",
                    ));
                }
                if self.status.is_none() {
                    return Some(Found::app(
                        "EXT-020",
                        "File was sent before Start",
                        "File only after Start",
                    ));
                }
                if file.check().is_err() {
                    return Some(Found::app(
                        "EXT-022",
                        format!("File {{ path: {:?}, range: {:?} }}", file.path, file.range),
                        "an absolute path, and a range with start <= end",
                    ));
                }
                self.check_body("File", file_len(file), file.more)
            }
            HttpSend::Trailers(_) => {
                if !self.trailers_announced {
                    return Some(Found::app(
                        "HTTP-030",
                        "Trailers was sent but Start did not announce trailers",
                        "Trailers only when Start.trailers was true",
                    ));
                }
                if self.trailers_sent {
                    return Some(Found::app(
                        "HTTP-030",
                        "a second Trailers was sent",
                        "Trailers exactly once",
                    ));
                }
                if !self.final_sent {
                    return Some(Found::app(
                        "HTTP-030",
                        "Trailers was sent before the final body",
                        "Trailers only after the final body (more: false)",
                    ));
                }
                None
            }
            _ => None,
        }
    }

    fn apply_send(&mut self, event: &HttpSend) {
        let mut count = |len: Option<u64>, more: bool| {
            self.sent = match (self.sent, len) {
                (Some(s), Some(n)) => Some(s + n),
                _ => None,
            };
            if !more {
                self.final_sent = true;
            }
        };
        match event {
            HttpSend::Start(start) if self.status.is_none() => {
                self.status = Some(start.status);
                self.content_length = content_length(&start.headers).ok().flatten();
                self.trailers_announced = start.trailers;
            }
            HttpSend::Body { data, more } => count(Some(data.len() as u64), *more),
            HttpSend::File(file) => count(file_len(file), file.more),
            HttpSend::Trailers(_) => self.trailers_sent = true,
            _ => {}
        }
    }

    fn peer_gone(&self) -> bool {
        self.disconnect_received && !self.complete()
    }

    fn on_return(&self, result: &AppResult, send_disconnected: bool) -> Option<Found> {
        let gone = self.disconnect_received || send_disconnected;
        if result.is_ok() && self.final_sent && !self.complete() && !gone {
            return Some(Found::app(
                "HTTP-031",
                "the app returned Ok(()) after the final body without the Trailers its Start announced",
                "Trailers after the final body whenever Start.trailers was true, whether or not the trailers capability is on (the server discards them then)",
            ));
        }
        if result.is_ok() && !self.complete() && !gone {
            return Some(Found::app(
                "CORE-031",
                format!("the app returned Ok(()) but {}", self.progress()),
                "Ok(()) only once the response is complete (an unfinished response gets a 500 or an aborted connection, CORE-042)",
            ));
        }
        None
    }
}
