//! Session cookie: a `session_id` cookie names a [`Session`] kept in a
//! bounded in-memory store; the inner app finds it in `scope.extensions`,
//! reads and changes it, and the middleware sets the cookie on the response.
//!
//! Ports seed 000's WSGI `SessionMiddleware` (cookie `session_id`,
//! `HttpOnly; Path=/; Max-Age`, one hour, load before the app, save and set
//! the cookie when the response starts). Changes, each for a reason:
//!
//! * **Ids are 128 random bits** from the OS, not a UUID string, and an id
//!   the store does not know is never adopted: the seed would store data
//!   under any id a client (or an attacker fixing a victim's cookie)
//!   presents.
//! * **The store is bounded** (10 000 sessions by default): when full,
//!   expired sessions go first, then the one closest to expiry.
//! * **No cookie for nothing**: a visitor whose session stays empty gets no
//!   cookie and no store entry; a session that holds data is refreshed
//!   (sliding expiry) on every response, as in the seed.
//! * The cookie also says `SameSite=Lax`, and `Secure` over HTTPS.
//!
//! A session changed after the response started is still stored (the
//! handle and the store share one map), but a brand-new session's cookie
//! can only go out with `Start`.
//!
//! WebSocket handshakes carry the cookie too (a browser sends it with the
//! upgrade request, and cannot send an `Authorization` header there), so a
//! socket finds its session the same way: the check that guards a chat
//! room's handshake reads it. The cookie goes out with the `101`
//! (`Accept::headers`) or the denial response, as it would with `Start`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rgi::http::header::{COOKIE, SET_COOKIE};
use rgi::http::uri::Scheme;
use rgi::http::{HeaderMap, HeaderValue};
use rgi::{
    App, AppResult, Conn, HttpConn, HttpScope, HttpSend, MapSend, WebSocketConn, WebSocketSend,
};

const COOKIE_NAME: &str = "session_id";

/// What a session holds.
pub(crate) type Data = HashMap<String, String>;

/// One visitor's session: string keys and values. Clones share the data.
/// The same handle for both variants: the server-side store
/// ([`SessionLayer`]) and the signed cookie
/// ([`SignedCookieSession`](crate::SignedCookieSession)).
#[derive(Debug, Clone, Default)]
pub struct Session {
    inner: Arc<Mutex<Contents>>,
}

#[derive(Debug, Default)]
struct Contents {
    data: Data,
    /// Whether anything was inserted or removed since it was loaded.
    changed: bool,
}

impl Session {
    /// A session holding `data`, unchanged.
    pub(crate) fn from_data(data: Data) -> Self {
        let contents = Contents {
            data,
            changed: false,
        };
        Self {
            inner: Arc::new(Mutex::new(contents)),
        }
    }

    /// The value stored under `key`.
    pub fn get(&self, key: &str) -> Option<String> {
        self.lock().data.get(key).cloned()
    }

    /// Stores `value` under `key`.
    pub fn insert(&self, key: impl Into<String>, value: impl Into<String>) {
        let mut contents = self.lock();
        contents.data.insert(key.into(), value.into());
        contents.changed = true;
    }

    /// Removes `key`, returning its value.
    pub fn remove(&self, key: &str) -> Option<String> {
        let mut contents = self.lock();
        let removed = contents.data.remove(key);
        contents.changed |= removed.is_some();
        removed
    }

    /// Removes everything (a logout).
    pub fn clear(&self) {
        let mut contents = self.lock();
        contents.changed |= !contents.data.is_empty();
        contents.data.clear();
    }

    /// Whether the session holds nothing.
    pub fn is_empty(&self) -> bool {
        self.lock().data.is_empty()
    }

    /// Whether it was changed since it was loaded.
    pub fn is_changed(&self) -> bool {
        self.lock().changed
    }

    /// A copy of the data.
    pub(crate) fn data(&self) -> Data {
        self.lock().data.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Contents> {
        // Every change is one map operation and a flag: a poisoned lock is
        // consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `SameSite` for a session cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SameSite {
    /// Sent on same-site requests and top-level navigations (the default).
    #[default]
    Lax,
    /// Sent on same-site requests only.
    Strict,
    /// Sent on every request; browsers require `Secure` with it.
    None,
}

/// How a session cookie is set: its name and attributes. Always
/// `HttpOnly` (no script reads a session).
#[derive(Debug, Clone)]
pub struct CookieSettings {
    /// The cookie's name.
    pub name: String,
    /// `Path`; `/` by default.
    pub path: String,
    /// `Max-Age`, and how long the session lives.
    pub max_age: Duration,
    /// `SameSite`.
    pub same_site: SameSite,
    /// `Secure`: `Some(true)` always, `Some(false)` never, `None` over
    /// HTTPS only (the default; always with `SameSite=None`).
    pub secure: Option<bool>,
}

impl CookieSettings {
    /// `name`, `Path=/`, one hour, `SameSite=Lax`, `Secure` over HTTPS.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            path: "/".to_owned(),
            max_age: Duration::from_secs(3600),
            same_site: SameSite::Lax,
            secure: None,
        }
    }

    /// The `set-cookie` value for `value`, or `None` if it cannot be one
    /// (a name or path with a control character).
    pub(crate) fn set_cookie(&self, value: &str, https: bool) -> Option<HeaderValue> {
        self.header(value, self.max_age.as_secs(), https)
    }

    /// The `set-cookie` value that deletes the cookie.
    pub(crate) fn delete_cookie(&self, https: bool) -> Option<HeaderValue> {
        self.header("", 0, https)
    }

    fn header(&self, value: &str, max_age: u64, https: bool) -> Option<HeaderValue> {
        let same_site = match self.same_site {
            SameSite::Lax => "Lax",
            SameSite::Strict => "Strict",
            SameSite::None => "None",
        };
        let mut cookie = format!(
            "{}={value}; HttpOnly; Path={}; Max-Age={max_age}; SameSite={same_site}",
            self.name, self.path
        );
        let secure = self.same_site == SameSite::None || self.secure.unwrap_or(https);
        if secure {
            cookie.push_str("; Secure");
        }
        HeaderValue::try_from(cookie).ok()
    }

    /// The value of this cookie in the request's `cookie` headers.
    pub(crate) fn read<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        cookie(headers, &self.name)
    }
}

#[derive(Debug)]
struct Entry {
    session: Session,
    expires: Instant,
}

/// Gives every HTTP request a [`Session`] from a cookie-keyed store.
#[derive(Debug)]
pub struct SessionLayer<A> {
    inner: A,
    cookie: CookieSettings,
    max_sessions: usize,
    store: Mutex<HashMap<String, Entry>>,
}

impl<A> SessionLayer<A> {
    /// Sessions for `inner`: one hour each, at most 10 000 at a time.
    pub fn new(inner: A) -> Self {
        Self {
            inner,
            cookie: CookieSettings::new(COOKIE_NAME),
            max_sessions: 10_000,
            store: Mutex::new(HashMap::new()),
        }
    }

    /// How long a session lives after its last response.
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.cookie.max_age = ttl;
        self
    }

    /// The cookie's name and attributes.
    #[must_use]
    pub fn cookie(mut self, settings: CookieSettings) -> Self {
        self.cookie = settings;
        self
    }

    /// How many sessions the store keeps at most (at least 1).
    #[must_use]
    pub fn max_sessions(mut self, max: usize) -> Self {
        self.max_sessions = max.max(1);
        self
    }

    /// How many sessions the store holds now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the store holds no session.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        // Every update is one map operation: a poisoned lock is consistent.
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The live session named by the request's cookie, if there is one.
    fn load(&self, headers: &HeaderMap, now: Instant) -> Option<(String, Session)> {
        let id = self.cookie.read(headers)?;
        let store = self.lock();
        let entry = store.get(id).filter(|entry| entry.expires > now)?;
        Some((id.to_owned(), entry.session.clone()))
    }

    /// Stores (or refreshes) `session` under `id`, making room if needed.
    fn save(&self, id: &str, session: &Session, now: Instant) {
        let mut store = self.lock();
        if !store.contains_key(id) && store.len() >= self.max_sessions {
            store.retain(|_, entry| entry.expires > now);
            if store.len() >= self.max_sessions {
                let soonest = store
                    .iter()
                    .min_by_key(|(_, entry)| entry.expires)
                    .map(|(id, _)| id.clone());
                if let Some(soonest) = soonest {
                    store.remove(&soonest);
                }
            }
        }
        let entry = Entry {
            session: session.clone(),
            expires: now + self.cookie.max_age,
        };
        store.insert(id.to_owned(), entry);
    }
}

/// One call's session: the one loaded (or a fresh, unsaved one), and
/// what it takes to save it and set its cookie when the response starts.
struct Issue {
    known: bool,
    id: String,
    session: Session,
    secure: bool,
    failure: Option<getrandom::Error>,
}

impl Issue {
    /// Loads the request's session and lends it to the inner app.
    fn open<A>(layer: &SessionLayer<A>, scope: &mut HttpScope) -> Self {
        let loaded = layer.load(&scope.headers, Instant::now());
        let known = loaded.is_some();
        let (id, session) = loaded.unwrap_or_default();
        scope.extensions.insert(session.clone());
        Self {
            known,
            id,
            session,
            secure: scope.scheme == Scheme::HTTPS,
            failure: None,
        }
    }

    /// Saves the session and adds its cookie to the response's `headers`.
    fn respond<A>(&mut self, layer: &SessionLayer<A>, headers: &mut HeaderMap) {
        // A new session is created only once it holds something.
        if !self.known && self.session.is_empty() {
            return;
        }
        if !self.known {
            match new_id() {
                Ok(new) => self.id = new,
                Err(err) => {
                    self.failure = Some(err);
                    return;
                }
            }
        }
        layer.save(&self.id, &self.session, Instant::now());
        if let Some(cookie) = layer.cookie.set_cookie(&self.id, self.secure) {
            headers.append(SET_COOKIE, cookie);
        }
    }

    fn close(self) {
        if let Some(err) = self.failure {
            // Without OS randomness there is no safe id: the session was
            // neither stored nor sent, and the response went out without it.
            tracing::error!(error = %err, "no session id: the OS random source failed");
        }
    }
}

impl<A: App> App for SessionLayer<A> {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        match conn {
            Conn::Http(http) => {
                let (scope, receiver, sender) = http.into_parts();
                let mut issue = Issue::open(self, scope);
                let mut sender = MapSend::new(sender, |mut event: HttpSend| {
                    if let HttpSend::Start(start) = &mut event {
                        issue.respond(self, &mut start.headers);
                    }
                    event
                });
                let result = self
                    .inner
                    .call(HttpConn::new(scope, receiver, &mut sender).into())
                    .await;
                issue.close();
                result
            }
            Conn::WebSocket(ws) => {
                let (scope, receiver, sender) = ws.into_parts();
                let mut issue = Issue::open(self, scope);
                let mut sender = MapSend::new(sender, |mut event: WebSocketSend| {
                    match &mut event {
                        WebSocketSend::Accept(accept) => issue.respond(self, &mut accept.headers),
                        WebSocketSend::DenyStart(start) => issue.respond(self, &mut start.headers),
                        _ => {}
                    }
                    event
                });
                let result = self
                    .inner
                    .call(WebSocketConn::new(scope, receiver, &mut sender).into())
                    .await;
                issue.close();
                result
            }
            other => self.inner.call(other).await,
        }
    }
}

/// The value of cookie `name` in the request's `cookie` headers.
pub(crate) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(key, value)| (key == name).then_some(value))
}

/// 128 bits from the OS, as 32 hex digits.
fn new_id() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use rgi::http::HeaderMap;
    use rgi_conformance::{Request, Response, TestClient};

    use super::*;
    use crate::testing::Visits;

    fn session_cookie(response: &Response) -> Option<String> {
        let set = response.header("set-cookie")?;
        let pair = set.split(';').next()?;
        Some(pair.to_owned())
    }

    #[tokio::test]
    async fn remembers_a_visitor_by_cookie() {
        let client = TestClient::new(SessionLayer::new(Visits));
        let first = client.get("/").await.unwrap();
        assert_eq!(first.body(), "visits before: 0");
        let set = first.header("set-cookie").unwrap();
        assert!(
            set.contains("HttpOnly; Path=/; Max-Age=3600; SameSite=Lax"),
            "{set}"
        );
        assert!(!set.contains("Secure"));
        let cookie = session_cookie(&first).unwrap();
        let id = cookie.strip_prefix("session_id=").unwrap();
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));

        let second = client
            .send(Request::get("/").header("cookie", &format!("theme=dark; {cookie}")))
            .await
            .unwrap();
        assert_eq!(second.body(), "visits before: 1");
        assert_eq!(session_cookie(&second), Some(cookie.clone()));

        // Another visitor starts from nothing.
        assert_eq!(client.get("/").await.unwrap().body(), "visits before: 0");
    }

    #[tokio::test]
    async fn sets_no_cookie_for_an_empty_session() {
        let client = TestClient::new(SessionLayer::new(Visits));
        let response = client.get("/peek").await.unwrap();
        assert_eq!(response.header("set-cookie"), None);
    }

    #[tokio::test]
    async fn never_adopts_an_unknown_id() {
        let app = SessionLayer::new(Visits);
        let client = TestClient::new(app);
        let forged = "session_id=00000000000000000000000000000000";
        let response = client
            .send(Request::get("/").header("cookie", forged))
            .await
            .unwrap();
        assert_eq!(response.body(), "visits before: 0");
        let cookie = session_cookie(&response).unwrap();
        assert_ne!(cookie, forged);
    }

    #[tokio::test]
    async fn secure_over_https() {
        let client = TestClient::new(SessionLayer::new(Visits));
        let request = Request::get("/").with_scope(|s| s.scheme = Scheme::HTTPS);
        let response = client.send(request).await.unwrap();
        assert!(response.header("set-cookie").unwrap().ends_with("; Secure"));
    }

    /// HTTP to [`Visits`]; a socket is accepted and closed with the
    /// session's `visits` as the reason.
    struct VisitsOrSocket;

    impl App for VisitsOrSocket {
        async fn call(&self, conn: Conn<'_>) -> AppResult {
            let Conn::WebSocket(mut ws) = conn else {
                return Visits.call(conn).await;
            };
            ws.recv().await;
            let session = ws.scope.extensions.get::<Session>().expect("session");
            let mut close = rgi::CloseFrame::normal();
            close.reason = session.get("visits").unwrap_or_default();
            ws.send(rgi::WebSocketSend::Accept(rgi::Accept::new()))
                .await?;
            ws.send(rgi::WebSocketSend::Close(close)).await?;
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_websocket_handshake_finds_the_session_of_its_cookie() {
        let client = TestClient::new(SessionLayer::new(VisitsOrSocket));
        let cookie = session_cookie(&client.get("/").await.unwrap()).unwrap();
        for (cookie, visits) in [(Some(cookie.as_str()), "1"), (None, "")] {
            let mut request = Request::get("/ws");
            if let Some(cookie) = cookie {
                request = request.header("cookie", cookie);
            }
            let session = client.connect(request).await.unwrap();
            assert!(session.handshake_outcome().is_accepted());
            let transcript = session.finish().await.unwrap();
            let reason = transcript.trace.from_app().find_map(|event| match event {
                rgi::WebSocketSend::Close(frame) => Some(frame.reason.clone()),
                _ => None,
            });
            assert_eq!(reason.as_deref(), Some(visits), "{cookie:?}");
        }
    }

    #[test]
    fn the_store_is_bounded_and_expires() {
        let layer = SessionLayer::new(()).max_sessions(2);
        let now = Instant::now();
        for id in ["a", "b", "c"] {
            layer.save(id, &Session::default(), now);
        }
        assert_eq!(layer.len(), 2);

        let layer = SessionLayer::new(()).ttl(Duration::from_secs(10));
        layer.save("a", &Session::default(), now);
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_static("session_id=a"));
        assert!(layer.load(&headers, now + Duration::from_secs(9)).is_some());
        assert!(layer
            .load(&headers, now + Duration::from_secs(10))
            .is_none());
    }
}
