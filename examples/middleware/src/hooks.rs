//! Hooks: functions registered by name that run at three points of every
//! HTTP request: when it starts, just before the response starts (and may
//! edit the status and headers), and when it has finished.
//!
//! ```
//! # use rgi_middleware_examples::{Hooks, WithHooks};
//! # fn demo(app: rgi::BoxApp) {
//! let hooks = Hooks::new()
//!     .on_request_started("log", |scope| tracing::info!(path = %scope.path, "started"))
//!     .before_response("powered-by", |_request, start| {
//!         start.headers.insert("x-powered-by", rgi::http::HeaderValue::from_static("rgi"));
//!     })
//!     .on_request_finished("log", |request, done| {
//!         tracing::info!(uri = %request.uri, status = ?done.status, "finished")
//!     });
//! let app = WithHooks::new(app, hooks);
//! # }
//! ```
//!
//! Ports seed 000's `PluginManager` (`register_hook(name, callback)`,
//! `request_started`, `before_response`, `request_finished`, plugins that
//! register their hooks). Differences:
//!
//! * hooks are registered under a name per point; registering a name
//!   again replaces that hook, [`Hooks::remove`] takes a name out, and a
//!   [`Plugin`] registers several at once;
//! * `before_response` runs on the real response start, so it can edit it
//!   (the seed calls it after the response was already sent);
//! * hooks are plain functions, run in registration order, on the request
//!   path: keep them short. Slow work (emails, statistics) belongs in the
//!   [event bus](crate::EventBus), published from a hook.
//!
//! While the response is being sent the scope is lent to the inner app,
//! so `before_response` and `request_finished` get a [`RequestInfo`] (the
//! method, URI and client, copied once per request), not the scope.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rgi::http::{Method, StatusCode, Uri};
use rgi::{App, AppResult, Conn, HttpConn, HttpScope, HttpSend, MapSend, ResponseStart};

type Started = Arc<dyn Fn(&HttpScope) + Send + Sync>;
type BeforeResponse = Arc<dyn Fn(&RequestInfo, &mut ResponseStart) + Send + Sync>;
type Finished = Arc<dyn Fn(&RequestInfo, &Outcome) + Send + Sync>;

/// What the later hooks know of the request.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// The method.
    pub method: Method,
    /// The request target.
    pub uri: Uri,
    /// The client's address, if the transport has one.
    pub client: Option<SocketAddr>,
}

/// How a request ended, for `request_finished` hooks.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The response status, if a response started.
    pub status: Option<StatusCode>,
    /// Body bytes sent (file bodies count their range).
    pub body_bytes: u64,
    /// From the call to its end.
    pub elapsed: Duration,
    /// The inner app's error, if it failed.
    pub error: Option<String>,
}

/// Hooks by point and name, in registration order.
#[derive(Clone, Default)]
pub struct Hooks {
    started: Vec<(String, Started)>,
    before: Vec<(String, BeforeResponse)>,
    finished: Vec<(String, Finished)>,
}

/// Replaces the hook called `name` in `list`, or appends it.
fn register<T>(list: &mut Vec<(String, T)>, name: &str, hook: T) {
    match list.iter_mut().find(|(n, _)| n == name) {
        Some(slot) => slot.1 = hook,
        None => list.push((name.to_owned(), hook)),
    }
}

impl Hooks {
    /// No hooks.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `hook` with the scope when a request starts, before the inner
    /// app sees it.
    #[must_use]
    pub fn on_request_started(
        mut self,
        name: &str,
        hook: impl Fn(&HttpScope) + Send + Sync + 'static,
    ) -> Self {
        register(&mut self.started, name, Arc::new(hook));
        self
    }

    /// Runs `hook` on the response start before it goes out: it may change
    /// the status and headers.
    #[must_use]
    pub fn before_response(
        mut self,
        name: &str,
        hook: impl Fn(&RequestInfo, &mut ResponseStart) + Send + Sync + 'static,
    ) -> Self {
        register(&mut self.before, name, Arc::new(hook));
        self
    }

    /// Runs `hook` once the inner app has returned.
    #[must_use]
    pub fn on_request_finished(
        mut self,
        name: &str,
        hook: impl Fn(&RequestInfo, &Outcome) + Send + Sync + 'static,
    ) -> Self {
        register(&mut self.finished, name, Arc::new(hook));
        self
    }

    /// Lets `plugin` register its hooks.
    #[must_use]
    pub fn plugin(self, plugin: impl Plugin) -> Self {
        plugin.register(self)
    }

    /// Removes every hook called `name`.
    #[must_use]
    pub fn remove(mut self, name: &str) -> Self {
        self.started.retain(|(n, _)| n != name);
        self.before.retain(|(n, _)| n != name);
        self.finished.retain(|(n, _)| n != name);
        self
    }

    /// The names registered at each point: started, before response,
    /// finished.
    pub fn names(&self) -> [Vec<&str>; 3] {
        fn names<T>(list: &[(String, T)]) -> Vec<&str> {
            list.iter().map(|(n, _)| n.as_str()).collect()
        }
        [
            names(&self.started),
            names(&self.before),
            names(&self.finished),
        ]
    }
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [started, before, finished] = self.names();
        f.debug_struct("Hooks")
            .field("request_started", &started)
            .field("before_response", &before)
            .field("request_finished", &finished)
            .finish()
    }
}

/// A set of hooks registered together (the seed's `Plugin`).
pub trait Plugin {
    /// Adds this plugin's hooks.
    fn register(self, hooks: Hooks) -> Hooks;
}

/// Runs [`Hooks`] around every HTTP request of the inner app.
#[derive(Debug, Clone)]
pub struct WithHooks<A> {
    inner: A,
    hooks: Hooks,
}

impl<A> WithHooks<A> {
    /// `inner` with `hooks`.
    pub fn new(inner: A, hooks: Hooks) -> Self {
        Self { inner, hooks }
    }
}

impl<A: App> App for WithHooks<A> {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(http) = conn else {
            return self.inner.call(conn).await;
        };
        let began = Instant::now();
        let (scope, receiver, sender) = http.into_parts();
        for (_, hook) in &self.hooks.started {
            hook(scope);
        }
        let info = RequestInfo {
            method: scope.method.clone(),
            uri: scope.uri.clone(),
            client: scope.client,
        };
        let mut status = None;
        let mut body_bytes = 0u64;
        let mut sender = MapSend::new(sender, |mut event: HttpSend| {
            match &mut event {
                HttpSend::Start(start) => {
                    for (_, hook) in &self.hooks.before {
                        hook(&info, start);
                    }
                    status = Some(start.status);
                }
                HttpSend::Body { data, .. } => body_bytes += data.len() as u64,
                HttpSend::File(file) => {
                    body_bytes += file.range.as_ref().map_or(0, |r| r.end - r.start);
                }
                _ => {}
            }
            event
        });
        let result = self
            .inner
            .call(HttpConn::new(scope, receiver, &mut sender).into())
            .await;
        let outcome = Outcome {
            status,
            body_bytes,
            elapsed: began.elapsed(),
            error: result.as_ref().err().map(ToString::to_string),
        };
        for (_, hook) in &self.hooks.finished {
            hook(&info, &outcome);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use rgi::http::HeaderValue;
    use rgi_conformance::{Request, TestClient};

    use super::*;
    use crate::testing::{Fails, Hello};

    type Log = Arc<Mutex<Vec<String>>>;

    /// The seed's `LoggingPlugin`: started and finished lines.
    struct Logging(Log);

    impl Plugin for Logging {
        fn register(self, hooks: Hooks) -> Hooks {
            let (a, b) = (self.0.clone(), self.0);
            hooks
                .on_request_started("logging", move |scope| {
                    a.lock()
                        .unwrap()
                        .push(format!("started {} {}", scope.method, scope.path));
                })
                .on_request_finished("logging", move |request, done| {
                    let status = done.status.map_or(0, |s| s.as_u16());
                    let error = done.error.as_deref().unwrap_or("-");
                    b.lock().unwrap().push(format!(
                        "finished {} {} {status} {} {error}",
                        request.method, request.uri, done.body_bytes
                    ));
                })
        }
    }

    fn stamped(hooks: Hooks) -> Hooks {
        hooks.before_response("stamp", |request, start| {
            let value = format!("{} {}", request.method, request.uri);
            start
                .headers
                .insert("x-seen", HeaderValue::try_from(value).unwrap());
            if start.status == StatusCode::OK {
                start.status = StatusCode::ACCEPTED;
            }
        })
    }

    #[tokio::test]
    async fn runs_every_point_in_order_and_may_edit_the_start() {
        let log: Log = Arc::default();
        let hooks = stamped(Hooks::new().plugin(Logging(log.clone())));
        let client = TestClient::new(WithHooks::new(Hello, hooks));
        let response = client.get("/a?b=1").await.unwrap();
        assert_eq!(response.status(), Some(StatusCode::ACCEPTED));
        assert_eq!(response.header("x-seen"), Some("GET /a?b=1"));
        assert_eq!(response.body(), "hello");
        assert_eq!(
            *log.lock().unwrap(),
            ["started GET /a", "finished GET /a?b=1 202 5 -"]
        );
    }

    #[tokio::test]
    async fn finished_hooks_see_failures() {
        let log: Log = Arc::default();
        let hooks = Hooks::new().plugin(Logging(log.clone()));
        let client = TestClient::new(WithHooks::new(Fails, hooks));
        let response = client.send(Request::post("/x")).await.unwrap();
        assert!(response.exit().error().is_some(), "the failure passes on");
        assert_eq!(
            *log.lock().unwrap(),
            ["started POST /x", "finished POST /x 0 0 boom"]
        );
    }

    #[tokio::test]
    async fn names_replace_and_remove_hooks() {
        let log: Log = Arc::default();
        let l = log.clone();
        let hooks = stamped(Hooks::new().plugin(Logging(log.clone())))
            // Same name: replaces the plugin's started hook.
            .on_request_started("logging", move |_| {
                l.lock().unwrap().push("replaced".into())
            })
            .remove("stamp");
        assert_eq!(hooks.names(), [vec!["logging"], vec![], vec!["logging"]]);
        let client = TestClient::new(WithHooks::new(Hello, hooks));
        let response = client.get("/").await.unwrap();
        assert_eq!(response.status(), Some(StatusCode::OK));
        assert_eq!(response.header("x-seen"), None);
        assert_eq!(log.lock().unwrap()[0], "replaced");
    }
}
