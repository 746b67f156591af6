//! The validator: the Rack::Lint of rgi.
//!
//! [`Validator::new(app)`](Validator::new) is itself an [`App`]. It sits
//! between whatever calls it (a server, the [`TestClient`](crate::TestClient),
//! an outer middleware) and the app it wraps, lets every event through
//! unchanged, and checks each one against `spec/rules.md`:
//!
//! * **app side**, the events the wrapped app sends and how its future
//!   ends: HTTP-020..025, HTTP-030, EXT-001, EXT-010, EXT-020, WS-002..007,
//!   WS-009, WS-012, LIFE-002, LIFE-005, LIFE-006, CORE-011, CORE-021,
//!   CORE-031;
//! * **server side**, the scope and the events the caller delivers:
//!   HTTP-004 and HTTP-016 (`root_path` a segment prefix of `path`),
//!   HTTP-010, HTTP-011, WS-001, WS-008, LIFE-001, LIFE-004, and CORE-010
//!   (a send accepted after the caller said the peer was gone).
//!
//! Header names and values need no check: the `http` crate's
//! `HeaderName` / `HeaderValue` cannot hold an invalid one, so rgi's types
//! make that part of the ASGI/Rack lint unrepresentable.
//!
//! The first violation of each call is recorded in a [`ViolationLog`]
//! (later ones in the same call are usually its consequences); the log
//! keeps the first thousand and counts the rest, so it stays bounded in a
//! long-running server. In
//! [fail-fast](Validator::fail_fast) mode the wrapped app's offending send
//! is also refused with `Error::Protocol { rule, .. }` and not passed on,
//! which is what a server in a debug mode wants (rule `CORE-012`).

mod http;
mod lifespan;
mod websocket;

use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{ready, Context, Poll};

use rgi::{
    App, AppResult, Conn, Error, HttpConn, LifespanConn, Receiver, ScopeKind, Sender, WebSocketConn,
};

use self::http::HttpMachine;
use self::lifespan::LifespanMachine;
use self::websocket::WebSocketMachine;
use crate::client::Summary;

/// Who broke the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The wrapped app (or middleware): an event it sent, or how it returned.
    App,
    /// The caller (server, client, or outer middleware): an event it delivered.
    Server,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::App => "app",
            Self::Server => "server",
        })
    }
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Violation {
    /// The rule's id in `spec/rules.md`, e.g. `HTTP-020`.
    pub rule: &'static str,
    /// Who broke it.
    pub side: Side,
    /// In which kind of scope.
    pub scope: ScopeKind,
    /// What happened.
    pub happened: String,
    /// What the rule expects instead.
    pub expected: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} side, {} scope): {}; expected {}",
            self.rule, self.side, self.scope, self.happened, self.expected
        )
    }
}

/// A shared record of the violations a [`Validator`] found, readable while
/// the validator is boxed inside a stack. Clones share the record.
///
/// The record is bounded, so a validator can run inside a long-lived
/// server (a debug mode): it keeps the first [`limit`](Self::limit)
/// violations ([`DEFAULT_LIMIT`](Self::DEFAULT_LIMIT) unless built
/// [`with_limit`](Self::with_limit)) and counts the rest
/// ([`not_kept`](Self::not_kept)). The first ones are kept because later
/// ones are most often the same fault again.
#[derive(Debug, Clone)]
pub struct ViolationLog {
    record: Arc<Mutex<Record>>,
}

#[derive(Debug)]
struct Record {
    kept: Vec<Violation>,
    limit: usize,
    not_kept: u64,
}

impl Default for ViolationLog {
    fn default() -> Self {
        Self::with_limit(Self::DEFAULT_LIMIT)
    }
}

impl ViolationLog {
    /// How many violations a log keeps unless told otherwise.
    pub const DEFAULT_LIMIT: usize = 1000;

    /// An empty log keeping up to [`DEFAULT_LIMIT`](Self::DEFAULT_LIMIT)
    /// violations.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty log keeping the first `limit` violations and counting the
    /// rest.
    pub fn with_limit(limit: usize) -> Self {
        Self {
            record: Arc::new(Mutex::new(Record {
                kept: Vec::new(),
                limit,
                not_kept: 0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Record> {
        self.record.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn push(&self, violation: Violation) {
        let mut record = self.lock();
        if record.kept.len() < record.limit {
            record.kept.push(violation);
        } else {
            record.not_kept += 1;
        }
    }

    /// The violations kept so far (at most one per call), oldest first.
    pub fn violations(&self) -> Vec<Violation> {
        self.lock().kept.clone()
    }

    /// The first violation, if any.
    pub fn first(&self) -> Option<Violation> {
        self.lock().kept.first().cloned()
    }

    /// Whether nothing was found.
    pub fn is_clean(&self) -> bool {
        let record = self.lock();
        record.kept.is_empty() && record.not_kept == 0
    }

    /// How many violations the log keeps at most.
    pub fn limit(&self) -> usize {
        self.lock().limit
    }

    /// How many violations were found after the log was full, and only
    /// counted.
    pub fn not_kept(&self) -> u64 {
        self.lock().not_kept
    }

    /// Takes every kept violation out of the log and resets the count of
    /// those not kept.
    pub fn take(&self) -> Vec<Violation> {
        let mut record = self.lock();
        record.not_kept = 0;
        std::mem::take(&mut record.kept)
    }

    /// Panics with every violation if there is any.
    #[track_caller]
    pub fn assert_clean(&self) {
        if self.is_clean() {
            return;
        }
        let lines: Vec<String> = self.violations().iter().map(ToString::to_string).collect();
        let more = match self.not_kept() {
            0 => String::new(),
            n => format!("\n  ... and {n} more, not kept"),
        };
        panic!(
            "the validator found rule violations:\n  {}{more}",
            lines.join("\n  ")
        );
    }
}

/// A finding of a protocol machine, before it knows the scope kind.
#[derive(Debug)]
pub(crate) struct Found {
    rule: &'static str,
    side: Side,
    happened: String,
    expected: String,
}

impl Found {
    pub(crate) fn app(rule: &'static str, happened: impl Into<String>, expected: &str) -> Self {
        Self {
            rule,
            side: Side::App,
            happened: happened.into(),
            expected: expected.to_owned(),
        }
    }

    pub(crate) fn server(rule: &'static str, happened: impl Into<String>, expected: &str) -> Self {
        Self {
            rule,
            side: Side::Server,
            happened: happened.into(),
            expected: expected.to_owned(),
        }
    }
}

/// The per-protocol state machine a validator runs for one call.
pub(crate) trait Machine<In, Out>: Send {
    /// Called on every poll of the receiver, before the inner receiver.
    fn before_receive(&mut self) -> Option<Found> {
        None
    }
    /// An event the caller delivered.
    fn on_receive(&mut self, event: &In) -> Option<Found>;
    /// Checks an event the app sends, without changing state.
    fn check_send(&self, event: &Out) -> Option<Found>;
    /// Records an event the app sent.
    fn apply_send(&mut self, event: &Out);
    /// Whether the caller said the peer is gone (so sends must fail).
    fn peer_gone(&self) -> bool;
    /// The app's future returned `result`; `send_disconnected` says a send
    /// failed with `Disconnected` during the call.
    fn on_return(&self, result: &AppResult, send_disconnected: bool) -> Option<Found>;
}

struct Shared<M> {
    machine: M,
    kind: ScopeKind,
    log: ViolationLog,
    fail_fast: bool,
    reported: bool,
    in_flight: bool,
    send_disconnected: bool,
}

impl<M> Shared<M> {
    fn report(&mut self, found: Found) -> Error {
        let error = Error::protocol(
            found.rule,
            format!("{}; expected {}", found.happened, found.expected),
        );
        if !self.reported {
            self.reported = true;
            self.log.push(Violation {
                rule: found.rule,
                side: found.side,
                scope: self.kind,
                happened: found.happened,
                expected: found.expected,
            });
        }
        error
    }

    fn check_send<In, Out>(&mut self, event: &Out, what: impl Fn(&Out) -> String) -> Option<Error>
    where
        M: Machine<In, Out>,
    {
        let found = if self.in_flight {
            Some(Found::app(
                "CORE-021",
                format!(
                    "start_send({}) while the previous event was not flushed",
                    what(event)
                ),
                "poll_flush (or send) to complete before the next start_send",
            ))
        } else if self.send_disconnected {
            Some(Found::app(
                "CORE-011",
                format!(
                    "{} was sent after a send had failed with Disconnected",
                    what(event)
                ),
                "no more sends once Error::Disconnected was seen",
            ))
        } else {
            self.machine.check_send(event)
        };
        if let Some(found) = found {
            let error = self.report(found);
            if self.fail_fast {
                // CORE-012: a refused event leaves the protocol state as it was.
                return Some(error);
            }
        }
        self.machine.apply_send(event);
        self.in_flight = true;
        None
    }

    fn after_send<In, Out>(&mut self, result: &Result<(), Error>, flushed: bool)
    where
        M: Machine<In, Out>,
    {
        match result {
            Err(Error::Disconnected) => {
                self.in_flight = false;
                self.send_disconnected = true;
            }
            Err(_) => self.in_flight = false,
            Ok(()) if flushed => {
                self.in_flight = false;
                if self.machine.peer_gone() {
                    self.report(Found::server(
                        "CORE-010",
                        "a send was accepted after the server had delivered the disconnect event",
                        "every send after the peer is gone to fail with Error::Disconnected",
                    ));
                }
            }
            Ok(()) => {}
        }
    }
}

fn lock<M>(shared: &Mutex<Shared<M>>) -> MutexGuard<'_, Shared<M>> {
    // A machine update cannot panic half-way; a poisoned lock means the app
    // panicked elsewhere, and the state is still consistent.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

struct CheckedReceiver<'a, 'r, M, In, Out> {
    inner: &'a mut (dyn Receiver<In> + 'r),
    shared: &'a Mutex<Shared<M>>,
    _out: PhantomData<fn(Out)>,
}

impl<M: Machine<In, Out>, In: Send, Out> Receiver<In> for CheckedReceiver<'_, '_, M, In, Out> {
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<In> {
        {
            let mut shared = lock(self.shared);
            if let Some(found) = shared.machine.before_receive() {
                shared.report(found);
            }
        }
        let event = ready!(self.inner.poll_receive(cx));
        let mut shared = lock(self.shared);
        if let Some(found) = shared.machine.on_receive(&event) {
            shared.report(found);
        }
        Poll::Ready(event)
    }
}

struct CheckedSender<'a, 's, M, In, Out> {
    inner: &'a mut (dyn Sender<Out> + 's),
    shared: &'a Mutex<Shared<M>>,
    describe: fn(&Out) -> String,
    _in: PhantomData<fn(In)>,
}

impl<M: Machine<In, Out>, In, Out: Send> Sender<Out> for CheckedSender<'_, '_, M, In, Out> {
    fn start_send(&mut self, event: Out) -> Result<(), Error> {
        if let Some(error) = lock(self.shared).check_send(&event, self.describe) {
            return Err(error);
        }
        let result = self.inner.start_send(event);
        lock(self.shared).after_send(&result, false);
        result
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let result = ready!(self.inner.poll_flush(cx));
        lock(self.shared).after_send(&result, true);
        Poll::Ready(result)
    }
}

/// Wraps an app and checks every event in both directions against the
/// spec's rules (see the [module docs](self)).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use rgi::http::StatusCode;
/// use rgi::{App, AppResult, Conn, HttpSend, ResponseStart};
/// use rgi_conformance::{Request, TestClient, Validator};
///
/// /// Starts the response twice.
/// struct Twice;
/// impl App for Twice {
///     async fn call(&self, conn: Conn<'_>) -> AppResult {
///         let Conn::Http(mut http) = conn else { return conn.unsupported() };
///         http.send(HttpSend::Start(ResponseStart::new(StatusCode::OK))).await?;
///         http.send(HttpSend::Start(ResponseStart::new(StatusCode::OK))).await?;
///         Ok(http.send(HttpSend::body("")).await?)
///     }
/// }
///
/// let validator = Validator::new(Twice);
/// let log = validator.log();
/// TestClient::new(validator).get("/").await.unwrap();
/// assert_eq!(log.first().unwrap().rule, "HTTP-020");
/// # }
/// ```
pub struct Validator<A> {
    inner: A,
    log: ViolationLog,
    fail_fast: bool,
}

impl<A> fmt::Debug for Validator<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validator")
            .field("fail_fast", &self.fail_fast)
            .field("violations", &self.log.lock().kept.len())
            .finish_non_exhaustive()
    }
}

impl<A: App> Validator<A> {
    /// Wraps `inner`, recording violations in a fresh log.
    pub fn new(inner: A) -> Self {
        Self::with_log(inner, ViolationLog::new())
    }

    /// Wraps `inner`, recording violations in `log` (to share one log
    /// between several validators).
    pub fn with_log(inner: A, log: ViolationLog) -> Self {
        Self {
            inner,
            log,
            fail_fast: false,
        }
    }

    /// Also refuses the wrapped app's offending send with
    /// `Error::Protocol { rule, .. }` instead of passing it on, and turns an
    /// `Ok(())` returned too early into that error.
    #[must_use]
    pub fn fail_fast(mut self) -> Self {
        self.fail_fast = true;
        self
    }

    /// A handle on the log, usable after the validator was boxed.
    pub fn log(&self) -> ViolationLog {
        self.log.clone()
    }

    /// Every violation found so far.
    pub fn violations(&self) -> Vec<Violation> {
        self.log.violations()
    }

    fn shared<M>(&self, machine: M, kind: ScopeKind) -> Mutex<Shared<M>> {
        Mutex::new(Shared {
            machine,
            kind,
            log: self.log.clone(),
            fail_fast: self.fail_fast,
            reported: false,
            in_flight: false,
            send_disconnected: false,
        })
    }

    /// The caller's rules on the scope itself (`HTTP-004`, `HTTP-016`),
    /// which hold for every scope a server or a middleware passes on.
    fn check_scope(&self, scope: &rgi::HttpScope, kind: ScopeKind) {
        if let Some(found) = http::root_path_violation(scope) {
            self.log.push(Violation {
                rule: found.rule,
                side: found.side,
                scope: kind,
                happened: found.happened,
                expected: found.expected,
            });
        }
    }

    fn finish<M: Machine<In, Out>, In, Out>(
        &self,
        shared: &Mutex<Shared<M>>,
        result: AppResult,
    ) -> AppResult {
        let mut shared = lock(shared);
        let found = shared.machine.on_return(&result, shared.send_disconnected);
        match found {
            Some(found) => {
                let error = shared.report(found);
                match result {
                    Ok(()) if self.fail_fast => Err(error.into()),
                    other => other,
                }
            }
            None => result,
        }
    }
}

impl<A: App> App for Validator<A> {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        match conn {
            Conn::Http(http) => {
                self.check_scope(http.scope, ScopeKind::Http);
                let machine = HttpMachine::new(http.scope);
                let parts = http.into_parts();
                self.call_checked(machine, ScopeKind::Http, parts, |s, r, t| {
                    HttpConn::new(s, r, t).into()
                })
                .await
            }
            Conn::WebSocket(ws) => {
                self.check_scope(&ws.scope.request, ScopeKind::WebSocket);
                let machine = WebSocketMachine::new(ws.scope);
                let parts = ws.into_parts();
                self.call_checked(machine, ScopeKind::WebSocket, parts, |s, r, t| {
                    WebSocketConn::new(s, r, t).into()
                })
                .await
            }
            Conn::Lifespan(life) => {
                let parts = life.into_parts();
                self.call_checked(
                    LifespanMachine::default(),
                    ScopeKind::Lifespan,
                    parts,
                    |s, r, t| LifespanConn::new(s, r, t).into(),
                )
                .await
            }
            // Kinds a later spec adds pass through unchecked (CORE-003).
            other => self.inner.call(other).await,
        }
    }
}

/// The handles of one call, as `XConn::into_parts` gives them.
type Parts<'c, S, In, Out> = (&'c mut S, &'c mut dyn Receiver<In>, &'c mut dyn Sender<Out>);

/// Builds a call from its scope and handles (`XConn::new(..).into()`).
type Rebuild<S, In, Out> =
    for<'x> fn(&'x mut S, &'x mut dyn Receiver<In>, &'x mut dyn Sender<Out>) -> Conn<'x>;

impl<A: App> Validator<A> {
    /// Calls the wrapped app with both handles of one call checked by
    /// `machine`, then checks how the app returned.
    async fn call_checked<M, S, In, Out>(
        &self,
        machine: M,
        kind: ScopeKind,
        (scope, receiver, sender): Parts<'_, S, In, Out>,
        rebuild: Rebuild<S, In, Out>,
    ) -> AppResult
    where
        M: Machine<In, Out>,
        In: Send,
        Out: Send + Summary,
    {
        let shared = self.shared(machine, kind);
        let mut receiver = CheckedReceiver {
            inner: receiver,
            shared: &shared,
            _out: PhantomData,
        };
        let mut sender = CheckedSender {
            inner: sender,
            shared: &shared,
            describe: Out::summary,
            _in: PhantomData,
        };
        let result = self
            .inner
            .call(rebuild(scope, &mut receiver, &mut sender))
            .await;
        self.finish(&shared, result)
    }
}
