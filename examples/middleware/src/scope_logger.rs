//! Scope logger: logs every field of every scope at `debug` level (target
//! `rgi::scope`) and changes nothing, for seeing what a server really
//! hands an app.
//!
//! ```
//! # use rgi_middleware_examples::ScopeLogger;
//! # fn demo(app: rgi::BoxApp) {
//! let app = ScopeLogger::new(app); // RUST_LOG=rgi::scope=debug
//! # }
//! ```
//!
//! Ports seed 001's `log_environ` (`pprint(environ)`). One event per call:
//! HTTP and WebSocket scopes with their method, URI, version, scheme, path,
//! root path, every header, client and server addresses, how many state
//! and extension values there are (their types are private to whoever put
//! them), capabilities, TLS details and, for WebSocket, the subprotocols;
//! lifespan scopes with their state. Values of `authorization`,
//! `proxy-authorization` and `cookie` are shown as `<redacted>` unless
//! [`show_secrets`](ScopeLogger::show_secrets) is set: debug logs travel.
//! When `debug` is off for the target, nothing is formatted.

use std::fmt;

use rgi::http::header::{AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION};
use rgi::{App, AppResult, Conn, HttpScope};

/// The log target.
pub const TARGET: &str = "rgi::scope";

/// Logs every scope, then calls the inner app with it unchanged.
#[derive(Debug, Clone)]
pub struct ScopeLogger<A> {
    inner: A,
    show_secrets: bool,
}

impl<A> ScopeLogger<A> {
    /// Logs the scopes of `inner`'s calls, secrets redacted.
    pub fn new(inner: A) -> Self {
        Self {
            inner,
            show_secrets: false,
        }
    }

    /// Logs credential and cookie headers as they are.
    #[must_use]
    pub fn show_secrets(mut self) -> Self {
        self.show_secrets = true;
        self
    }
}

impl<A: App> App for ScopeLogger<A> {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        if tracing::enabled!(target: TARGET, tracing::Level::DEBUG) {
            match &conn {
                Conn::Http(http) => {
                    let scope = Dump(http.scope, self.show_secrets);
                    tracing::debug!(target: TARGET, kind = "http", "{scope}");
                }
                Conn::WebSocket(ws) => {
                    let scope = Dump(&ws.scope.request, self.show_secrets);
                    let subprotocols = &ws.scope.subprotocols;
                    tracing::debug!(target: TARGET, kind = "websocket", "{scope} subprotocols={subprotocols:?}");
                }
                Conn::Lifespan(lifespan) => {
                    tracing::debug!(target: TARGET, kind = "lifespan", "state={:?}", lifespan.scope.state);
                }
                _ => {
                    tracing::debug!(target: TARGET, kind = %conn.kind(), "a scope of a kind this logger does not know")
                }
            }
        }
        self.inner.call(conn).await
    }
}

/// An HTTP scope, every field, on one line.
struct Dump<'a>(&'a HttpScope, bool);

impl fmt::Display for Dump<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Dump(scope, show_secrets) = *self;
        write!(
            f,
            "method={} uri={} version={:?} scheme={} path={:?} root_path={:?} headers={{",
            scope.method, scope.uri, scope.version, scope.scheme, scope.path, scope.root_path
        )?;
        for (i, (name, value)) in scope.headers.iter().enumerate() {
            let secret = name == AUTHORIZATION || name == PROXY_AUTHORIZATION || name == COOKIE;
            let sep = if i == 0 { "" } else { ", " };
            if secret && !show_secrets {
                write!(f, "{sep}{name}: <redacted>")?;
            } else {
                write!(f, "{sep}{name}: {value:?}")?;
            }
        }
        write!(
            f,
            "}} client={:?} server={:?} state={} values extensions={} values capabilities={:?} tls={:?}",
            scope.client,
            scope.server,
            scope.state.len(),
            scope.extensions.len(),
            scope.capabilities,
            scope.tls
        )
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};

    use rgi_conformance::{Request, TestClient};

    use super::*;
    use crate::testing::Hello;

    /// Collects what the subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn capture() -> (Captured, tracing::subscriber::DefaultGuard) {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        (captured, tracing::subscriber::set_default(subscriber))
    }

    #[tokio::test]
    async fn logs_every_field_and_changes_nothing() {
        let (captured, _guard) = capture();
        let client: SocketAddr = "10.0.0.7:5000".parse().unwrap();
        let server: SocketAddr = "127.0.0.1:8000".parse().unwrap();
        let request = Request::get("/api/caf%C3%A9?q=1")
            .header("x-trace", "abc")
            .header("authorization", "Bearer s3cret")
            .header("cookie", "session=s3cret")
            .addresses(client, server)
            .extension(7u32)
            .with_scope(|s| s.root_path = "/api".into());
        let response = TestClient::new(ScopeLogger::new(Hello))
            .send(request)
            .await
            .unwrap();
        assert_eq!(response.body(), "hello");
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        for field in [
            "rgi::scope",
            "kind=\"http\"",
            "method=GET",
            "uri=/api/caf%C3%A9?q=1",
            "version=HTTP/1.1",
            "scheme=http",
            "path=\"/api/café\"",
            "root_path=\"/api\"",
            "x-trace: \"abc\"",
            "authorization: <redacted>",
            "cookie: <redacted>",
            "client=Some(10.0.0.7:5000)",
            "server=Some(127.0.0.1:8000)",
            "state=0 values",
            "extensions=1 values",
            "capabilities=Capabilities {",
            "tls=None",
        ] {
            assert!(log.contains(field), "{field} missing from {log}");
        }
        assert!(!log.contains("s3cret"), "{log}");
    }

    #[tokio::test]
    async fn shows_secrets_when_asked_and_logs_websocket_and_lifespan() {
        let (captured, _guard) = capture();
        let client = TestClient::new(ScopeLogger::new(Hello).show_secrets());
        let request = Request::get("/ws")
            .header("authorization", "Bearer visible")
            .subprotocol("chat");
        client
            .connect(request)
            .await
            .unwrap()
            .finish()
            .await
            .unwrap();
        let mut lifespan = client.lifespan();
        lifespan.startup().await.unwrap();
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(log.contains("kind=\"websocket\""), "{log}");
        assert!(log.contains("authorization: \"Bearer visible\""), "{log}");
        assert!(log.contains("subprotocols=[\"chat\"]"), "{log}");
        assert!(log.contains("kind=\"lifespan\""), "{log}");
    }
}
