//! Router: mounts apps under path prefixes, sets `root_path` for the app it
//! picks, and fans the lifespan out to every mounted app.
//!
//! Ports the routing of seed 000's MVC `Controller` (dispatch on the path,
//! 404 otherwise) and does what ASGI routers famously do not (Starlette
//! #649): every mounted app gets its own lifespan call, so an app behaves
//! the same mounted or alone (spec `lifespan.md`, "Through routers", rules
//! `LIFE-012` and `LIFE-013`):
//!
//! * **Startup** goes to every mounted app at once, each with its own
//!   handles and a clone of the router's `StateBuilder`. The router answers
//!   `StartupComplete` when every app completed or had no lifespan; on the
//!   first failure it shuts down the apps that had started and answers
//!   `StartupFailed` with `"<prefix>: <message>"`. If no mounted app has a
//!   lifespan, neither has the router.
//! * **Shutdown** goes to every app that started; the router answers
//!   `ShutdownComplete` when all completed, else `ShutdownFailed` with the
//!   first failure.
//!
//! Requests go to the longest prefix that matches whole path segments of
//! `route_path()`: `/api` takes `/api` and `/api/users`, not `/apiary`.
//! The router appends the prefix to `root_path` and leaves `path` whole
//! (rules `HTTP-004`, `HTTP-016`), so routers nest. A request no prefix
//! matches gets `404`; a WebSocket no prefix matches is closed (`403`).
//!
//! The lifespan fan-out runs every mounted app's future inside the
//! router's own: no task is spawned and no runtime is assumed.

use std::future::poll_fn;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use rgi::bytes::Bytes;
use rgi::http::header::CONTENT_TYPE;
use rgi::http::{HeaderMap, HeaderValue, StatusCode};
use rgi::{
    App, AppResult, BoxApp, BoxFuture, CloseFrame, Conn, DynApp, Error, HttpConn, LifespanConn,
    LifespanReceive, LifespanScope, LifespanSend, Receiver, ScopeKind, Sender, WebSocketConn,
    WebSocketReceive, WebSocketSend,
};

/// Apps mounted under path prefixes.
#[derive(Clone, Default)]
pub struct Router {
    /// Longest prefix first, so the first match is the best.
    mounts: Vec<(String, BoxApp)>,
}

impl Router {
    /// A router with nothing mounted: every request is a 404.
    pub fn new() -> Self {
        Self::default()
    }

    /// Mounts `app` under `prefix` (`"/api"`; `"/"` or `""` for the rest).
    /// A trailing `/` is ignored.
    #[must_use]
    pub fn mount(mut self, prefix: &str, app: impl App) -> Self {
        let prefix = prefix.trim_end_matches('/').to_owned();
        self.mounts.retain(|(p, _)| *p != prefix);
        self.mounts.push((prefix, rgi::boxed(app)));
        self.mounts
            .sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        self
    }

    /// The mount for `path`: its prefix and app.
    fn find(&self, path: &str) -> Option<&(String, BoxApp)> {
        self.mounts.iter().find(|(prefix, _)| {
            path.strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
    }
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let prefixes: Vec<_> = self.mounts.iter().map(|(p, _)| p).collect();
        f.debug_struct("Router").field("mounts", &prefixes).finish()
    }
}

impl App for Router {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        match conn {
            Conn::Http(mut http) => match self.find(http.scope.route_path()) {
                Some((prefix, app)) => {
                    // Mounted for this call only: restored after it, so a
                    // caller that goes on with the scope (a fallback)
                    // finds it as it was (CORE-008).
                    let (scope, receiver, sender) = http.into_parts();
                    let mount_point = scope.root_path.len();
                    scope.root_path.push_str(prefix);
                    let result = app
                        .call(HttpConn::new(&mut *scope, receiver, sender).into())
                        .await;
                    scope.root_path.truncate(mount_point);
                    result
                }
                None => {
                    let mut headers = HeaderMap::with_capacity(2);
                    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
                    let body = Bytes::from_static(b"Not Found");
                    Ok(http.respond(StatusCode::NOT_FOUND, headers, body).await?)
                }
            },
            Conn::WebSocket(mut ws) => match self.find(ws.scope.route_path()) {
                Some((prefix, app)) => {
                    let (scope, receiver, sender) = ws.into_parts();
                    let mount_point = scope.root_path.len();
                    scope.root_path.push_str(prefix);
                    let result = app
                        .call(WebSocketConn::new(&mut *scope, receiver, sender).into())
                        .await;
                    scope.root_path.truncate(mount_point);
                    result
                }
                None => {
                    if ws.recv().await == WebSocketReceive::Connect {
                        ws.send(WebSocketSend::Close(CloseFrame::new(1008))).await?;
                    }
                    Ok(())
                }
            },
            Conn::Lifespan(lifespan) => self.lifespan(lifespan).await,
            other => other.unsupported(),
        }
    }
}

/// Where one mounted app's lifespan stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Starting,
    Started,
    /// It has no lifespan (`Unsupported`).
    Without,
    Failed(String),
    ShuttingDown,
    Stopped(Result<(), String>),
}

/// One mounted app's lifespan call, run inside the router's future.
struct Child<'f> {
    prefix: &'f str,
    link: Arc<Mutex<Link>>,
    future: Option<BoxFuture<'f, AppResult>>,
    exit: Option<AppResult>,
    phase: Phase,
}

impl Router {
    async fn lifespan(&self, mut upstream: LifespanConn<'_>) -> AppResult {
        if upstream.recv().await != LifespanReceive::Startup {
            return Err(
                Error::protocol("LIFE-001", "the first lifespan event must be Startup").into(),
            );
        }
        let mut handles: Vec<(LinkReceiver, LinkSender)> = self
            .mounts
            .iter()
            .map(|_| {
                let link = Arc::new(Mutex::new(Link::default()));
                (LinkReceiver(link.clone()), LinkSender(link))
            })
            .collect();
        let mut scopes: Vec<LifespanScope> = self
            .mounts
            .iter()
            .map(|_| LifespanScope::new(upstream.scope.state.clone()))
            .collect();
        let mut children: Vec<Child<'_>> = self
            .mounts
            .iter()
            .zip(handles.iter_mut().zip(scopes.iter_mut()))
            .map(|((prefix, app), ((rx, tx), scope))| {
                let link = rx.0.clone();
                let conn = LifespanConn::new(scope, rx, tx);
                Child {
                    prefix,
                    link,
                    future: Some(app.call_boxed(conn.into())),
                    exit: None,
                    phase: Phase::Starting,
                }
            })
            .collect();

        // Startup, to everyone at once.
        for child in &children {
            child
                .link
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(LifespanReceive::Startup);
        }
        poll_fn(|cx| {
            drive(&mut children, cx);
            let failed = children.iter().any(|c| matches!(c.phase, Phase::Failed(_)));
            let starting = children.iter().any(|c| c.phase == Phase::Starting);
            if failed || !starting {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;

        let failure = children.iter().find_map(|c| match &c.phase {
            Phase::Failed(message) => Some(format!("{}: {message}", display(c.prefix))),
            _ => None,
        });
        if let Some(message) = failure {
            // Undo what started, drop what is still starting.
            for child in &mut children {
                if child.phase == Phase::Starting {
                    child.future = None;
                }
            }
            shut_down(&mut children).await;
            drop(children);
            return Ok(upstream
                .send(LifespanSend::StartupFailed { message })
                .await?);
        }
        if children.iter().all(|c| c.phase == Phase::Without) {
            return Err(Error::Unsupported(ScopeKind::Lifespan).into());
        }
        upstream.send(LifespanSend::StartupComplete).await?;

        // Serving: keep the mounted lifespans running until Shutdown.
        poll_fn(|cx| {
            drive(&mut children, cx);
            loop {
                match upstream.receiver.poll_receive(cx) {
                    Poll::Ready(LifespanReceive::Shutdown) => return Poll::Ready(()),
                    // Startup again, or an event a later spec adds.
                    Poll::Ready(_) => continue,
                    Poll::Pending => return Poll::Pending,
                }
            }
        })
        .await;

        let failure = shut_down(&mut children).await;
        drop(children);
        let answer = match failure {
            None => LifespanSend::ShutdownComplete,
            Some(message) => LifespanSend::ShutdownFailed { message },
        };
        Ok(upstream.send(answer).await?)
    }
}

/// Sends `Shutdown` to every child that started and waits for all of them;
/// the first failure's message, if any.
async fn shut_down(children: &mut [Child<'_>]) -> Option<String> {
    for child in children.iter_mut().filter(|c| c.phase == Phase::Started) {
        child.phase = Phase::ShuttingDown;
        child
            .link
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(LifespanReceive::Shutdown);
    }
    poll_fn(|cx| {
        drive(children, cx);
        if children.iter().any(|c| c.phase == Phase::ShuttingDown) {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    children.iter().find_map(|c| match &c.phase {
        Phase::Stopped(Err(message)) => Some(format!("{}: {message}", display(c.prefix))),
        _ => None,
    })
}

/// Polls every child's future and moves its phase on with its answers.
fn drive(children: &mut [Child<'_>], cx: &mut Context<'_>) {
    for child in children.iter_mut() {
        if let Some(future) = &mut child.future {
            if let Poll::Ready(exit) = future.as_mut().poll(cx) {
                child.future = None;
                child.exit = Some(exit);
            }
        }
        let answer = child
            .link
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .answer
            .take();
        child.phase = match (&child.phase, answer, &child.exit) {
            (Phase::Starting, Some(LifespanSend::StartupComplete), _) => Phase::Started,
            (Phase::Starting, Some(LifespanSend::StartupFailed { message }), _) => {
                Phase::Failed(message)
            }
            (Phase::Starting, None, Some(Err(err))) if Error::is_unsupported(&**err) => {
                Phase::Without
            }
            (Phase::Starting, None, Some(exit)) => Phase::Failed(ended(exit)),
            (Phase::ShuttingDown, Some(LifespanSend::ShutdownComplete), _) => {
                Phase::Stopped(Ok(()))
            }
            (Phase::ShuttingDown, Some(LifespanSend::ShutdownFailed { message }), _) => {
                Phase::Stopped(Err(message))
            }
            (Phase::ShuttingDown, None, Some(exit)) => Phase::Stopped(Err(ended(exit))),
            (Phase::Started, None, Some(exit)) => {
                // Rule LIFE-011: it will get no Shutdown.
                tracing::warn!(
                    mount = display(child.prefix),
                    "lifespan ended while serving: {}",
                    ended(exit)
                );
                Phase::Stopped(Ok(()))
            }
            (phase, None, _) => phase.clone(),
            (_, Some(answer), _) => Phase::Failed(format!("answered {answer:?} out of turn")),
        };
    }
}

fn ended(exit: &AppResult) -> String {
    match exit {
        Ok(()) => "its lifespan returned without answering".to_owned(),
        Err(err) => err.to_string(),
    }
}

fn display(prefix: &str) -> &str {
    if prefix.is_empty() {
        "/"
    } else {
        prefix
    }
}

/// The one-slot link between the router and a mounted app's lifespan call.
/// Both sides are polled by the router's task, so one waker serves.
#[derive(Default)]
struct Link {
    to_app: Option<LifespanReceive>,
    answer: Option<LifespanSend>,
    waker: Option<Waker>,
}

impl Link {
    fn push(&mut self, event: LifespanReceive) {
        self.to_app = Some(event);
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}

struct LinkReceiver(Arc<Mutex<Link>>);
struct LinkSender(Arc<Mutex<Link>>);

impl Receiver<LifespanReceive> for LinkReceiver {
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<LifespanReceive> {
        let mut link = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match link.to_app.take() {
            Some(event) => Poll::Ready(event),
            None => {
                link.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl Sender<LifespanSend> for LinkSender {
    fn start_send(&mut self, event: LifespanSend) -> Result<(), Error> {
        let mut link = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if link.answer.is_some() {
            return Err(Error::protocol(
                "LIFE-002",
                "a second answer before the first was read",
            ));
        }
        link.answer = Some(event);
        if let Some(waker) = link.waker.take() {
            waker.wake();
        }
        Ok(())
    }

    fn poll_flush(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
        // The slot is the buffer (bounded: one answer).
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use rgi::http::HeaderMap;
    use rgi_conformance::{ShutdownOutcome, StartupOutcome, TestClient};

    use super::*;

    /// Answers with `root_path path route_path`.
    struct Where;

    impl App for Where {
        async fn call(&self, conn: Conn<'_>) -> AppResult {
            let Conn::Http(mut http) = conn else {
                return conn.unsupported();
            };
            let s = &http.scope;
            let body = format!("{:?} {:?} {:?}", s.root_path, s.path, s.route_path());
            Ok(http.respond(StatusCode::OK, HeaderMap::new(), body).await?)
        }
    }

    /// Records the caller's `root_path` after the inner call returned.
    struct AfterCall<A>(A, Arc<Mutex<Vec<String>>>);

    impl<A: App> App for AfterCall<A> {
        async fn call(&self, conn: Conn<'_>) -> AppResult {
            let Conn::Http(http) = conn else {
                return self.0.call(conn).await;
            };
            let (scope, receiver, sender) = http.into_parts();
            let result = self
                .0
                .call(HttpConn::new(&mut *scope, receiver, sender).into())
                .await;
            self.1.lock().unwrap().push(scope.root_path.clone());
            result
        }
    }

    #[tokio::test]
    async fn the_mount_point_is_restored_when_the_call_returns() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let router = Router::new().mount("/api", Router::new().mount("/v1", Where));
        let client = TestClient::new(AfterCall(router, seen.clone()));
        let response = client.get("/api/v1/items").await.unwrap();
        assert_eq!(response.body(), r#""/api/v1" "/api/v1/items" "/items""#);
        assert_eq!(*seen.lock().unwrap(), [""], "CORE-008: root_path restored");
    }

    #[tokio::test]
    async fn routes_by_longest_whole_segment_prefix() {
        let api = Router::new().mount("/v1", Where);
        let router = Router::new()
            .mount("/", Where)
            .mount("/api/", api)
            .mount("/api/admin", Where);
        let client = TestClient::new(router);
        for (path, expected) in [
            ("/", r#""" "/" "/""#),
            ("/apiary", r#""" "/apiary" "/apiary""#),
            (
                "/api/admin/users",
                r#""/api/admin" "/api/admin/users" "/users""#,
            ),
            ("/api/v1/items", r#""/api/v1" "/api/v1/items" "/items""#),
            ("/api/v1", r#""/api/v1" "/api/v1" """#),
        ] {
            let response = client.get(path).await.unwrap();
            assert_eq!(response.body(), expected, "{path}");
        }
        let response = client.get("/api/v2").await.unwrap();
        assert_eq!(response.status(), Some(StatusCode::NOT_FOUND));
    }

    /// What a mounted app's lifespan does.
    #[derive(Clone, Copy)]
    enum Plan {
        Complete,
        FailStartup,
        FailShutdown,
        NoLifespan,
    }

    /// Proof, in the state, that app `N` started.
    struct Started<const N: usize>;

    /// A mounted app that logs its lifespan events.
    struct Mounted<const N: usize> {
        plan: Plan,
        log: Arc<Mutex<Vec<String>>>,
    }

    impl<const N: usize> App for Mounted<N> {
        async fn call(&self, conn: Conn<'_>) -> AppResult {
            let Conn::Lifespan(mut lifespan) = conn else {
                return conn.unsupported();
            };
            if let Plan::NoLifespan = self.plan {
                return Conn::Lifespan(lifespan).unsupported();
            }
            loop {
                let event = lifespan.recv().await;
                self.log.lock().unwrap().push(format!("{N} {event:?}"));
                let answer = match (event, self.plan) {
                    (LifespanReceive::Startup, Plan::FailStartup) => LifespanSend::StartupFailed {
                        message: format!("app {N} broke"),
                    },
                    (LifespanReceive::Startup, _) => {
                        lifespan.scope.state.insert(Started::<N>);
                        LifespanSend::StartupComplete
                    }
                    (_, Plan::FailShutdown) => LifespanSend::ShutdownFailed {
                        message: format!("app {N} leaked"),
                    },
                    _ => LifespanSend::ShutdownComplete,
                };
                let last = !matches!(answer, LifespanSend::StartupComplete);
                lifespan.send(answer).await?;
                if last {
                    return Ok(());
                }
            }
        }
    }

    fn router(plans: [Plan; 3]) -> (TestClient, Arc<Mutex<Vec<String>>>) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let router = Router::new()
            .mount(
                "/a",
                Mounted::<0> {
                    plan: plans[0],
                    log: log.clone(),
                },
            )
            .mount(
                "/b",
                Mounted::<1> {
                    plan: plans[1],
                    log: log.clone(),
                },
            )
            .mount(
                "/",
                Mounted::<2> {
                    plan: plans[2],
                    log: log.clone(),
                },
            );
        (TestClient::new(router), log)
    }

    fn sorted(log: &Arc<Mutex<Vec<String>>>) -> Vec<String> {
        let mut log = log.lock().unwrap().clone();
        log.sort();
        log
    }

    #[tokio::test]
    async fn lifespan_reaches_every_mounted_app() {
        let (client, log) = router([Plan::Complete, Plan::NoLifespan, Plan::Complete]);
        let mut lifespan = client.lifespan();
        let StartupOutcome::Complete(state) = lifespan.startup().await.unwrap() else {
            panic!("startup failed")
        };
        // One state, filled by all of them.
        assert!(state.get::<Started<0>>().is_some());
        assert!(state.get::<Started<2>>().is_some());
        assert_eq!(
            lifespan.shutdown().await.unwrap(),
            ShutdownOutcome::Complete
        );
        assert!(lifespan.finish().await.unwrap().exit.is_ok());
        assert_eq!(
            sorted(&log),
            ["0 Shutdown", "0 Startup", "2 Shutdown", "2 Startup"]
        );
    }

    #[tokio::test]
    async fn a_failed_startup_shuts_down_the_others() {
        let (client, log) = router([Plan::Complete, Plan::FailStartup, Plan::Complete]);
        let mut lifespan = client.lifespan();
        let outcome = lifespan.startup().await.unwrap();
        assert!(
            matches!(&outcome, StartupOutcome::Failed(m) if m == "/b: app 1 broke"),
            "{outcome:?}"
        );
        assert!(lifespan.finish().await.unwrap().exit.is_ok());
        assert_eq!(
            sorted(&log),
            [
                "0 Shutdown",
                "0 Startup",
                "1 Startup",
                "2 Shutdown",
                "2 Startup"
            ]
        );
    }

    #[tokio::test]
    async fn a_failed_shutdown_is_reported() {
        let (client, _) = router([Plan::FailShutdown, Plan::Complete, Plan::Complete]);
        let mut lifespan = client.lifespan();
        assert!(matches!(
            lifespan.startup().await.unwrap(),
            StartupOutcome::Complete(_)
        ));
        assert_eq!(
            lifespan.shutdown().await.unwrap(),
            ShutdownOutcome::Failed("/a: app 0 leaked".into())
        );
    }

    #[tokio::test]
    async fn no_lifespan_anywhere_means_none_here() {
        let (client, _) = router([Plan::NoLifespan; 3]);
        let mut lifespan = client.lifespan();
        assert!(matches!(
            lifespan.startup().await.unwrap(),
            StartupOutcome::Unsupported
        ));
    }
}
