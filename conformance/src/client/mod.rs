//! The in-process test client: drives any [`rgi::App`] with no TCP.
//!
//! Events travel through bounded queues (capacity 1 by default), so a
//! slow reader really holds up the writer, as on a socket; every wait is
//! bounded by a timeout (2 s by default), so a hung app is a failure with a
//! message that says what the client was waiting for and what happened so
//! far, never a hung test.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use rgi::http::StatusCode;
//! use rgi::{App, AppResult, Conn};
//! use rgi_conformance::{Request, TestClient};
//!
//! struct Hello;
//! impl App for Hello {
//!     async fn call(&self, conn: Conn<'_>) -> AppResult {
//!         let Conn::Http(mut http) = conn else { return conn.unsupported() };
//!         Ok(http.respond(StatusCode::OK, Default::default(), "hi").await?)
//!     }
//! }
//!
//! let client = TestClient::new(Hello);
//! let response = client.send(Request::get("/")).await.unwrap();
//! assert_eq!(response.status(), Some(StatusCode::OK));
//! assert_eq!(response.body(), "hi");
//! assert!(response.exit().is_ok());
//! # }
//! ```

mod core;
mod lifespan;
mod link;
mod request;
mod trace;
mod websocket;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rgi::{
    App, BoxApp, Conn, HttpConn, HttpReceive, HttpSend, LifespanConn, LifespanScope, State,
    StateBuilder, WebSocketConn, WebSocketReceive, WebSocketSend,
};

pub use self::lifespan::{Lifespan, LifespanTranscript, ShutdownOutcome, StartupOutcome};
pub use self::request::{DisconnectAt, HttpExchange, Request, Response};
pub use self::trace::{AppExit, Summary, Trace, TraceEntry};
pub use self::websocket::{Handshake, WebSocketSession, WebSocketTranscript};

use self::core::Core;
use self::link::{AppReceiver, AppSender, DoneGuard, Ender, Link};

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Nothing happened within the timeout.
    #[error("timed out after {after:?} waiting for {waiting_for}")]
    Timeout {
        /// The timeout.
        after: std::time::Duration,
        /// What the client was waiting for, and the trace so far.
        waiting_for: String,
    },
    /// The app's future returned before it took the event; how it ended.
    #[error("the app {0} before taking the event")]
    AppReturned(String),
    /// The client has already disconnected.
    #[error("the client has already disconnected")]
    Disconnected,
    /// The app sent something the client cannot make sense of here.
    #[error("unexpected event from the app: {0}")]
    Unexpected(String),
}

/// The default bound on every wait.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// Drives an app in process: HTTP requests, WebSocket sessions, lifespan.
///
/// The client API is async and runs the app's future as a task on the
/// current tokio runtime (a current-thread runtime, as `#[tokio::test]`
/// makes, is enough).
#[derive(Clone)]
pub struct TestClient {
    app: BoxApp,
    timeout: Duration,
    capacity: usize,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for TestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestClient")
            .field("timeout", &self.timeout)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl TestClient {
    /// A client for `app`.
    pub fn new(app: impl App) -> Self {
        Self::from_boxed(rgi::boxed(app))
    }

    /// A client for an app that is already boxed (no second box).
    pub fn from_boxed(app: BoxApp) -> Self {
        Self {
            app,
            timeout: DEFAULT_TIMEOUT,
            capacity: 1,
            state: Arc::new(Mutex::new(State::new())),
        }
    }

    /// Bounds every wait by `timeout` instead of [`DEFAULT_TIMEOUT`].
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many events each queue holds (default 1, minimum 1).
    #[must_use]
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// The state requests carry unless they set their own: empty, or the
    /// one frozen by the last completed [`Lifespan::startup`].
    pub fn state(&self) -> State {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Sets the state requests carry.
    pub fn set_state(&self, state: State) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = state;
    }

    /// Starts an HTTP exchange and returns it live: nothing of the request
    /// body is sent until you push it (or call
    /// [`finish`](HttpExchange::finish), which sends the body of `request`).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn open(&self, mut request: Request) -> HttpExchange {
        if !request.state_set {
            request.scope.state = self.state();
        }
        let link = Link::new(self.capacity);
        let mut trailers = false;
        let ender: Ender<HttpReceive, HttpSend> = Box::new(move |ev: &HttpSend| match ev {
            HttpSend::Start(s) => {
                trailers = s.trailers;
                None
            }
            HttpSend::Body { more: false, .. }
            | HttpSend::File(rgi::FileBody { more: false, .. })
                if !trailers =>
            {
                Some(HttpReceive::Disconnect)
            }
            HttpSend::Trailers(_) => Some(HttpReceive::Disconnect),
            _ => None,
        });
        let mut rx = AppReceiver::new(link.clone());
        let mut tx = AppSender::new(link.clone(), ender);
        let guard = DoneGuard(link.clone());
        let app = self.app.clone();
        let scope = request.scope;
        let future = async move {
            let _done = guard;
            let mut scope = scope;
            app.call(Conn::Http(HttpConn::new(&mut scope, &mut rx, &mut tx)))
                .await
        };
        let mut exchange = HttpExchange {
            core: Core::spawn(link, self.timeout, future),
            plan: request.disconnect,
        };
        exchange.queue_request(request.events);
        exchange
    }

    /// Sends `request` and collects the whole response (every event, the
    /// trace, how the app's future ended), taking response events while the
    /// body is being sent so a bounded queue cannot deadlock.
    pub async fn send(&self, request: Request) -> Result<Response, ClientError> {
        self.open(request).finish().await
    }

    /// `GET uri`, the whole response.
    pub async fn get(&self, uri: &str) -> Result<Response, ClientError> {
        self.send(Request::get(uri)).await
    }

    /// Opens a WebSocket: the app is called with the handshake `request`
    /// (its body events are ignored), receives `Connect`, and its answer is
    /// in [`WebSocketSession::handshake_outcome`].
    pub async fn connect(&self, mut request: Request) -> Result<WebSocketSession, ClientError> {
        if !request.state_set {
            request.scope.state = self.state();
        }
        let link = Link::new(self.capacity);
        let mut accepted = false;
        let ender: Ender<WebSocketReceive, WebSocketSend> =
            Box::new(move |ev: &WebSocketSend| match ev {
                WebSocketSend::Accept(_) => {
                    accepted = true;
                    None
                }
                // The peer answers a close frame with its own; a refused or
                // denied handshake ends without one (1006).
                WebSocketSend::Close(frame) if accepted => {
                    Some(WebSocketReceive::Disconnect(frame.clone()))
                }
                WebSocketSend::Close(_) | WebSocketSend::DenyBody { more: false, .. } => {
                    Some(WebSocketReceive::Disconnect(rgi::CloseFrame::new(1006)))
                }
                _ => None,
            });
        let mut rx = AppReceiver::new(link.clone());
        let mut tx = AppSender::new(link.clone(), ender);
        let guard = DoneGuard(link.clone());
        let app = self.app.clone();
        let scope = request.into_websocket_scope();
        let future = async move {
            let _done = guard;
            let mut scope = scope;
            app.call(Conn::WebSocket(WebSocketConn::new(
                &mut scope, &mut rx, &mut tx,
            )))
            .await
        };
        WebSocketSession::handshake(Core::spawn(link, self.timeout, future)).await
    }

    /// Starts the app's lifespan call with a fresh, empty state builder.
    /// Drive it with [`Lifespan::startup`] and [`Lifespan::shutdown`].
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn lifespan(&self) -> Lifespan {
        self.lifespan_with(StateBuilder::new())
    }

    /// Starts the lifespan call with `builder` as the scope's state (to play
    /// an outer layer that stored something before).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn lifespan_with(&self, builder: StateBuilder) -> Lifespan {
        let link = Link::new(self.capacity);
        let mut rx = AppReceiver::new(link.clone());
        let mut tx = AppSender::new(link.clone(), Box::new(|_: &rgi::LifespanSend| None));
        let guard = DoneGuard(link.clone());
        let app = self.app.clone();
        let scope = LifespanScope::new(builder.clone());
        let future = async move {
            let _done = guard;
            let mut scope = scope;
            app.call(Conn::Lifespan(LifespanConn::new(
                &mut scope, &mut rx, &mut tx,
            )))
            .await
        };
        Lifespan {
            core: Core::spawn(link, self.timeout, future),
            builder,
            client_state: self.state.clone(),
            state: None,
        }
    }
}
