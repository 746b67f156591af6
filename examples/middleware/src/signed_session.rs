//! Signed-cookie session: the session data lives in the cookie itself,
//! signed with HMAC-SHA256 so the client can read it but not change it,
//! the way Starlette's `SessionMiddleware` and Flask's default session do.
//! The inner app uses the same [`Session`] handle as with the server-side
//! store ([`SessionLayer`](crate::SessionLayer)), found in
//! `scope.extensions`.
//!
//! ```
//! # use std::time::Duration;
//! # use rgi_middleware_examples::{CookieSettings, SignedCookieSession};
//! # fn demo(app: rgi::BoxApp) {
//! let mut cookie = CookieSettings::new("session");
//! cookie.max_age = Duration::from_secs(14 * 24 * 3600);
//! let app = SignedCookieSession::new(app, b"the new key, 32 random bytes or more")
//!     .verify_also(b"last month's key, still accepted")
//!     .cookie(cookie);
//! // In a request: `scope.extensions.get::<Session>()`.
//! # }
//! ```
//!
//! Ports seed 000's `SessionMiddleware` (its `secret_key` was meant for
//! this) as users know it from Starlette:
//!
//! * **Signed, not encrypted**: `base64url(JSON) "." base64url(HMAC)`.
//!   Keep secrets out of it; the store variant keeps data server-side.
//! * **Expiry is inside the signature**, not only in `Max-Age`: a cookie
//!   kept past its time is ignored even if the client resends it.
//! * **Key rotation**: the first key signs, every key verifies, so
//!   sessions signed with last month's key keep working (and move to the
//!   new key the next time they change).
//! * **Tampered, expired or unreadable cookies are ignored**: the request
//!   gets an empty session, never an error.
//! * **No `Set-Cookie` unless the session changed**; a session emptied
//!   by the app gets its cookie deleted (`Max-Age=0`).
//! * A cookie over 4096 bytes (browsers drop those) is not set; the
//!   failure is logged.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rgi::http::header::SET_COOKIE;
use rgi::http::uri::Scheme;
use rgi::{App, AppResult, Conn, HttpConn, HttpSend, MapSend};
use sha2::Sha256;

use crate::session::{CookieSettings, Data, Session};

type HmacSha256 = Hmac<Sha256>;

/// The largest cookie browsers keep (RFC 6265 §6.1 asks for at least 4096
/// bytes per cookie, name and attributes included).
const MAX_COOKIE: usize = 4096;

/// What the cookie carries, signed.
#[derive(serde::Serialize, serde::Deserialize)]
struct Payload {
    /// The session data.
    d: Data,
    /// Expiry, seconds since the Unix epoch.
    e: u64,
}

/// Gives every HTTP request a [`Session`] kept in a signed cookie.
pub struct SignedCookieSession<A> {
    inner: A,
    /// The signing key first, then the keys that only verify.
    keys: Vec<HmacSha256>,
    cookie: CookieSettings,
}

impl<A> SignedCookieSession<A> {
    /// Sessions for `inner`, signed with `key` (32 random bytes or more),
    /// in a cookie named `session` for 14 days.
    pub fn new(inner: A, key: &[u8]) -> Self {
        let mut cookie = CookieSettings::new("session");
        cookie.max_age = Duration::from_secs(14 * 24 * 3600);
        Self {
            inner,
            keys: vec![mac(key)],
            cookie,
        }
    }

    /// Also accepts cookies signed with `old_key` (key rotation).
    #[must_use]
    pub fn verify_also(mut self, old_key: &[u8]) -> Self {
        self.keys.push(mac(old_key));
        self
    }

    /// The cookie's name and attributes (and, by `max_age`, the session's
    /// lifetime).
    #[must_use]
    pub fn cookie(mut self, settings: CookieSettings) -> Self {
        self.cookie = settings;
        self
    }

    /// The signed cookie value for `data`, expiring at `expires`.
    fn encode(&self, data: Data, expires: u64) -> String {
        let payload = Payload {
            d: data,
            e: expires,
        };
        // A map of strings always serializes.
        let json = serde_json::to_vec(&payload).unwrap_or_default();
        let mut value = URL_SAFE_NO_PAD.encode(json);
        let mut mac = self.keys[0].clone();
        mac.update(value.as_bytes());
        value.push('.');
        value.push_str(&URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()));
        value
    }

    /// The data of a cookie that verifies with one of the keys and has not
    /// expired by `now`.
    fn decode(&self, value: &str, now: u64) -> Option<Data> {
        let (payload, signature) = value.split_once('.')?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let verified = self.keys.iter().any(|key| {
            let mut mac = key.clone();
            mac.update(payload.as_bytes());
            // Constant time: a forgery cannot be found byte by byte.
            mac.verify_slice(&signature).is_ok()
        });
        if !verified {
            return None;
        }
        let payload: Payload =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        (payload.e > now).then_some(payload.d)
    }
}

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length.
    HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

impl<A: App> App for SignedCookieSession<A> {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(http) = conn else {
            return self.inner.call(conn).await;
        };
        let (scope, receiver, sender) = http.into_parts();
        let now = unix_now();
        let loaded = self
            .cookie
            .read(&scope.headers)
            .and_then(|value| self.decode(value, now));
        let had_cookie = loaded.is_some();
        let session = Session::from_data(loaded.unwrap_or_default());
        let https = scope.scheme == Scheme::HTTPS;
        scope.extensions.insert(session.clone());
        let mut sender = MapSend::new(sender, |mut event: HttpSend| {
            let HttpSend::Start(start) = &mut event else {
                return event;
            };
            if !session.is_changed() {
                return event;
            }
            let header = if session.is_empty() {
                had_cookie
                    .then(|| self.cookie.delete_cookie(https))
                    .flatten()
            } else {
                let expires = unix_now() + self.cookie.max_age.as_secs();
                let value = self.encode(session.data(), expires);
                let header = self.cookie.set_cookie(&value, https);
                match header {
                    Some(header) if header.len() > MAX_COOKIE => {
                        tracing::error!(
                            bytes = header.len(),
                            "session cookie over {MAX_COOKIE} bytes: not set (keep less in the session)"
                        );
                        None
                    }
                    header => header,
                }
            };
            if let Some(header) = header {
                start.headers.append(SET_COOKIE, header);
            }
            event
        });
        self.inner
            .call(HttpConn::new(scope, receiver, &mut sender).into())
            .await
    }
}

impl<A: std::fmt::Debug> std::fmt::Debug for SignedCookieSession<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the keys.
        f.debug_struct("SignedCookieSession")
            .field("inner", &self.inner)
            .field("keys", &self.keys.len())
            .field("cookie", &self.cookie)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use rgi::http::StatusCode;
    use rgi_conformance::{Request, Response, TestClient};

    use super::*;
    use crate::session::SameSite;
    use crate::testing::Visits;

    const KEY: &[u8] = b"the current key: 32 bytes or more";
    const OLD: &[u8] = b"the previous key, still accepted!";

    fn layer() -> SignedCookieSession<Visits> {
        SignedCookieSession::new(Visits, KEY)
    }

    fn pair(response: &Response) -> Option<String> {
        Some(response.header("set-cookie")?.split(';').next()?.to_owned())
    }

    async fn visit(client: &TestClient, path: &str, cookie: Option<&str>) -> Response {
        let mut request = Request::get(path);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        client.send(request).await.unwrap()
    }

    #[tokio::test]
    async fn keeps_the_session_in_a_signed_cookie() {
        let client = TestClient::new(layer());
        let first = visit(&client, "/visit", None).await;
        assert_eq!(first.body(), "visits before: 0");
        let set = first.header("set-cookie").unwrap();
        assert!(
            set.contains("; HttpOnly; Path=/; Max-Age=1209600; SameSite=Lax"),
            "{set}"
        );
        assert!(!set.contains("Secure"));
        let cookie = pair(&first).unwrap();
        let second = visit(&client, "/visit", Some(&cookie)).await;
        assert_eq!(second.body(), "visits before: 1");
        // A different middleware instance with the same key reads it: the
        // state is all in the cookie.
        let other = TestClient::new(layer());
        let third = visit(&other, "/peek", Some(&pair(&second).unwrap())).await;
        assert_eq!(third.body(), "visits before: 2");
    }

    #[tokio::test]
    async fn no_set_cookie_when_the_session_did_not_change() {
        let client = TestClient::new(layer());
        assert_eq!(
            visit(&client, "/peek", None).await.header("set-cookie"),
            None
        );
        let cookie = pair(&visit(&client, "/visit", None).await).unwrap();
        let peek = visit(&client, "/peek", Some(&cookie)).await;
        assert_eq!(peek.body(), "visits before: 1");
        assert_eq!(peek.header("set-cookie"), None);
    }

    #[tokio::test]
    async fn tampered_cookies_are_ignored() {
        let client = TestClient::new(layer());
        let cookie = pair(&visit(&client, "/visit", None).await).unwrap();
        let (name, value) = cookie.split_once('=').unwrap();
        let (payload, signature) = value.split_once('.').unwrap();
        // The payload rewritten to claim 99 visits, the signature kept.
        let forged_payload = URL_SAFE_NO_PAD.encode(br#"{"d":{"visits":"99"},"e":99999999999}"#);
        let mut flipped = signature.to_owned();
        let last = flipped.pop().unwrap();
        flipped.push(if last == 'A' { 'B' } else { 'A' });
        for bad in [
            format!("{name}={forged_payload}.{signature}"),
            format!("{name}={payload}.{flipped}"),
            format!("{name}={payload}"),
            format!("{name}=.{signature}"),
            format!("{name}=!!!.???"),
            format!("{name}="),
        ] {
            let response = visit(&client, "/peek", Some(&bad)).await;
            assert_eq!(response.body(), "visits before: 0", "{bad}");
            assert_eq!(response.header("set-cookie"), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn expired_cookies_are_ignored() {
        let layer = layer();
        let mut data = Data::new();
        data.insert("visits".into(), "5".into());
        let now = unix_now();
        let expired = format!("session={}", layer.encode(data.clone(), now - 1));
        let fresh = format!("session={}", layer.encode(data, now + 60));
        let client = TestClient::new(layer);
        assert_eq!(
            visit(&client, "/peek", Some(&expired)).await.body(),
            "visits before: 0"
        );
        assert_eq!(
            visit(&client, "/peek", Some(&fresh)).await.body(),
            "visits before: 5"
        );
    }

    #[tokio::test]
    async fn old_keys_verify_and_the_new_key_signs() {
        let before = TestClient::new(SignedCookieSession::new(Visits, OLD));
        let old_cookie = pair(&visit(&before, "/visit", None).await).unwrap();

        let rotated = TestClient::new(SignedCookieSession::new(Visits, KEY).verify_also(OLD));
        let response = visit(&rotated, "/visit", Some(&old_cookie)).await;
        assert_eq!(response.body(), "visits before: 1");
        let new_cookie = pair(&response).unwrap();
        // Signed with the new key: the new key alone accepts it...
        let new_only = TestClient::new(SignedCookieSession::new(Visits, KEY));
        assert_eq!(
            visit(&new_only, "/peek", Some(&new_cookie)).await.body(),
            "visits before: 2"
        );
        // ...and the old key alone no longer does.
        assert_eq!(
            visit(&before, "/peek", Some(&new_cookie)).await.body(),
            "visits before: 0"
        );
        // Without `verify_also`, old cookies are ignored.
        assert_eq!(
            visit(&new_only, "/peek", Some(&old_cookie)).await.body(),
            "visits before: 0"
        );
    }

    #[tokio::test]
    async fn logout_deletes_the_cookie() {
        let client = TestClient::new(layer());
        let cookie = pair(&visit(&client, "/visit", None).await).unwrap();
        let response = visit(&client, "/logout", Some(&cookie)).await;
        let set = response.header("set-cookie").unwrap();
        assert!(
            set.starts_with("session=; HttpOnly; Path=/; Max-Age=0"),
            "{set}"
        );
    }

    #[tokio::test]
    async fn cookie_settings_are_honoured() {
        let mut settings = CookieSettings::new("sid");
        settings.max_age = Duration::from_secs(60);
        settings.same_site = SameSite::Strict;
        settings.secure = Some(true);
        settings.path = "/app".into();
        let client = TestClient::new(layer().cookie(settings));
        let response = visit(&client, "/visit", None).await;
        let set = response.header("set-cookie").unwrap();
        assert!(set.starts_with("sid="), "{set}");
        assert!(
            set.ends_with("; HttpOnly; Path=/app; Max-Age=60; SameSite=Strict; Secure"),
            "{set}"
        );

        let mut none = CookieSettings::new("s");
        none.same_site = SameSite::None;
        let client = TestClient::new(layer().cookie(none));
        let set = visit(&client, "/visit", None)
            .await
            .header("set-cookie")
            .unwrap()
            .to_owned();
        assert!(set.ends_with("SameSite=None; Secure"), "{set}");
        // Over HTTPS, `Secure` by default.
        let client = TestClient::new(layer());
        let https = Request::get("/visit").with_scope(|s| s.scheme = Scheme::HTTPS);
        let set = client.send(https).await.unwrap();
        assert!(set.header("set-cookie").unwrap().ends_with("; Secure"));
    }

    #[tokio::test]
    async fn a_session_too_big_for_a_cookie_is_not_set() {
        let client = TestClient::new(layer());
        let response = visit(&client, "/big", None).await;
        assert_eq!(response.status(), Some(StatusCode::OK));
        assert_eq!(response.header("set-cookie"), None);
    }
}
