//! The access log, off the request path.
//!
//! A connection's task only captures what the line needs (a few clones of
//! reference-counted values and two clock reads) and puts it in a bounded
//! queue with a non-blocking `try_send`. One writer thread formats the
//! entries and writes them in batches, so a request never waits for
//! formatting or for the log's destination: when stdout is a blocked pipe
//! the queue fills, further entries are counted as dropped (and the count
//! is reported with a warning once the writer can write again, and by
//! [`AccessLog::dropped`]), and requests go on at full speed.
//!
//! Senders never wake the writer per entry: it sleeps for
//! [`FLUSH_INTERVAL`] after the first entry of a batch arrives, then takes
//! everything queued. On a loaded server that is one wake-up and one
//! `write` per interval instead of one per request.
//!
//! Nothing here knows about a connection: a server starts an entry from
//! the request's [`HttpScope`] and finishes it with the status and body
//! length, so every rgi server can share it.

mod format;
mod text;
mod writer;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Method, Version};
use rgi::HttpScope;

pub use self::format::AccessLogFormat;
use self::text::LogText;
use self::writer::Msg;

/// How long the writer lets entries gather before writing a batch.
pub(crate) const FLUSH_INTERVAL: Duration = Duration::from_millis(10);
/// Entries the queue holds by default: at 100,000 requests a second a
/// batch of [`FLUSH_INTERVAL`] is 1,000 entries, so this leaves room for a
/// destination that stalls for a moment.
pub(crate) const DEFAULT_QUEUE: usize = 16 * 1024;

/// A handle to an access log: cheap to clone, shared by every connection.
/// The writer thread ends when the last handle is dropped, after writing
/// what was queued; it is not waited for (a destination blocked forever
/// must not hang the process on its way out): call
/// [`flush`](AccessLog::flush) before exiting to keep the last lines.
#[derive(Clone)]
pub struct AccessLog {
    inner: Arc<Inner>,
}

struct Inner {
    queue: SyncSender<Msg>,
    format: AccessLogFormat,
    dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessLog")
            .field("format", &self.inner.format)
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

impl AccessLog {
    /// An access log written to standard output.
    pub fn stdout(format: AccessLogFormat) -> std::io::Result<AccessLog> {
        Self::to_writer(format, std::io::stdout(), DEFAULT_QUEUE)
    }

    /// An access log written to `out` by a writer thread, with a queue of
    /// `capacity` entries (at least 1).
    pub fn to_writer(
        format: AccessLogFormat,
        out: impl Write + Send + 'static,
        capacity: usize,
    ) -> std::io::Result<AccessLog> {
        let (queue, entries) = mpsc::sync_channel(capacity.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        writer::spawn(format, Box::new(out), entries, dropped.clone())?;
        Ok(AccessLog {
            inner: Arc::new(Inner {
                queue,
                format,
                dropped,
            }),
        })
    }

    /// The line format.
    pub fn format(&self) -> AccessLogFormat {
        self.inner.format
    }

    /// Entries dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// Starts an entry for the request in `scope`. Cheap: the method, a
    /// copy of the target and (for the formats that show them) of two
    /// header values, and one clock reading. Nothing of the scope is kept.
    pub fn start(&self, scope: &HttpScope) -> PendingEntry {
        self.start_head(
            &scope.method,
            &scope.uri,
            scope.version,
            &scope.headers,
            scope.client,
        )
    }

    /// [`start`](Self::start) from a request's head, for a server that
    /// logs before (or without) an rgi scope: the method, the target as
    /// received, the version, the headers, and the client's address.
    pub fn start_head(
        &self,
        method: &Method,
        uri: &http::Uri,
        version: Version,
        headers: &http::HeaderMap,
        client: Option<SocketAddr>,
    ) -> PendingEntry {
        let wants_headers = self.inner.format.wants_headers();
        let header = |name| {
            wants_headers
                .then(|| headers.get(name).map(|v| LogText::new(v.as_bytes())))
                .flatten()
        };
        PendingEntry {
            started: Instant::now(),
            request: Some(RequestLine {
                method: method.clone(),
                target: LogText::new(uri.path_and_query().map_or("-", |p| p.as_str()).as_bytes()),
                version,
            }),
            client,
            referer: header(http::header::REFERER),
            user_agent: header(http::header::USER_AGENT),
        }
    }

    /// Starts an entry for a request refused before it had a scope (a
    /// malformed head): its request line is logged as `-`.
    pub fn start_refused(&self, client: Option<SocketAddr>) -> PendingEntry {
        PendingEntry {
            started: Instant::now(),
            request: None,
            client,
            referer: None,
            user_agent: None,
        }
    }

    /// Queues the finished entry without waiting: when the queue is full
    /// the entry is dropped and counted. (The clock is read again only for
    /// the format that shows the duration; the writer derives the wall
    /// time from the start instant.)
    pub fn finish(&self, entry: PendingEntry, status: u16, bytes: u64) {
        let duration = match self.inner.format {
            AccessLogFormat::Json => entry.started.elapsed(),
            _ => Duration::ZERO,
        };
        let entry = Entry {
            duration,
            pending: entry,
            status,
            bytes,
        };
        match self.inner.queue.try_send(Msg::Entry(entry)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.inner.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Waits (at most `timeout`) until every entry queued so far is
    /// written and flushed: at shutdown, so the last lines are not lost.
    /// `false` when the writer did not confirm in time.
    pub fn flush(&self, timeout: Duration) -> bool {
        let (done, confirmed) = mpsc::channel();
        let deadline = Instant::now() + timeout;
        let mut msg = Msg::Flush(done);
        loop {
            match self.inner.queue.try_send(msg) {
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => return false,
                Err(TrySendError::Full(back)) => {
                    if Instant::now() >= deadline {
                        return false;
                    }
                    msg = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        confirmed
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .is_ok()
    }
}

/// An entry started by [`AccessLog::start`], waiting for its response.
#[derive(Debug)]
pub struct PendingEntry {
    started: Instant,
    request: Option<RequestLine>,
    client: Option<SocketAddr>,
    referer: Option<LogText>,
    user_agent: Option<LogText>,
}

#[derive(Debug)]
struct RequestLine {
    method: Method,
    /// The request target: path and query.
    target: LogText,
    version: Version,
}

/// A finished entry, as the writer formats it.
#[derive(Debug)]
struct Entry {
    pending: PendingEntry,
    duration: Duration,
    status: u16,
    bytes: u64,
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Condvar, Mutex};

    use http::HeaderValue;

    use super::*;

    /// What was written, and whether writes block.
    type SinkState = (Mutex<(Vec<u8>, bool)>, Condvar);

    /// A destination that keeps what is written, and can be blocked.
    #[derive(Clone, Default)]
    struct Sink {
        state: Arc<SinkState>,
    }

    impl Sink {
        fn text(&self) -> String {
            String::from_utf8(self.state.0.lock().unwrap().0.clone()).unwrap()
        }
        fn block(&self, blocked: bool) {
            self.state.0.lock().unwrap().1 = blocked;
            self.state.1.notify_all();
        }
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let (lock, unblocked) = &*self.state;
            let mut state = unblocked.wait_while(lock.lock().unwrap(), |s| s.1).unwrap();
            state.0.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn scope(path: &str) -> HttpScope {
        let mut scope = HttpScope::new(Method::GET, path.parse().unwrap()).unwrap();
        scope.client = Some("10.0.0.7:5000".parse().unwrap());
        scope
            .headers
            .insert(http::header::USER_AGENT, HeaderValue::from_static("curl/8"));
        scope
    }

    #[test]
    fn entries_are_written_in_order_and_flush_waits_for_them() {
        let sink = Sink::default();
        let log = AccessLog::to_writer(AccessLogFormat::Common, sink.clone(), 64).unwrap();
        for i in 0..10 {
            let entry = log.start(&scope(&format!("/n/{i}")));
            log.finish(entry, 200, i);
        }
        assert!(log.flush(Duration::from_secs(10)));
        let text = sink.text();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 10, "{text}");
        for (i, line) in lines.iter().enumerate() {
            assert!(line.starts_with("10.0.0.7 - - ["), "{line}");
            assert!(
                line.ends_with(&format!("\"GET /n/{i} HTTP/1.1\" 200 {i}")),
                "{line}"
            );
        }
        assert_eq!(log.dropped(), 0);
    }

    #[test]
    fn a_blocked_destination_drops_and_counts_instead_of_waiting() {
        let sink = Sink::default();
        sink.block(true);
        let log = AccessLog::to_writer(AccessLogFormat::Common, sink.clone(), 8).unwrap();
        // The writer takes at most one batch and blocks writing it; the
        // queue then fills and the rest are dropped. None of this waits.
        let started = Instant::now();
        for _ in 0..1000 {
            let entry = log.start(&scope("/"));
            log.finish(entry, 200, 0);
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "finish must never wait for the destination"
        );
        let dropped = log.dropped();
        assert!(dropped >= 1000 - 2 * 8 - 1, "dropped {dropped}");
        assert!(!log.flush(Duration::from_millis(50)), "still blocked");
        sink.block(false);
        assert!(log.flush(Duration::from_secs(10)));
        let written = sink.text().lines().count() as u64;
        assert_eq!(
            written + log.dropped(),
            1000,
            "every entry written or counted"
        );
    }

    #[test]
    fn json_lines_parse() {
        let sink = Sink::default();
        let log = AccessLog::to_writer(AccessLogFormat::Json, sink.clone(), 64).unwrap();
        let entry = log.start(&scope("/bye"));
        log.finish(entry, 204, 0);
        assert!(log.flush(Duration::from_secs(10)));
        let text = sink.text();
        let json: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(json["path"], "/bye");
        assert_eq!(json["status"], 204);
        assert_eq!(json["user_agent"], "curl/8");
    }
}
