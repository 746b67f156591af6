//! Conditional middleware: apply a middleware to every request except
//! those under some paths (health checks past the auth and the rate limit).
//!
//! Ports seed 003's `ConditionalMiddleware` (and seed 002's
//! `exclude_paths`), but as a wrapper around *any* middleware instead of a
//! check pasted into each one. Two details differ from the seed:
//!
//! * prefixes match whole path segments: `/health` covers `/health` and
//!   `/health/db`, not `/healthz` (the seed's `startswith` covers both);
//! * it matches the path below the mount point (`route_path`), so it
//!   behaves the same mounted under a [`Router`](crate::Router).
//!
//! Lifespan (and any kind without a path) always goes through the
//! middleware, which passes it to the inner app: both run it exactly once.
//!
//! It costs one path test per request: `call` awaits the chosen app's
//! future inside its own (a pointer and a state byte around it).

use rgi::{App, AppResult, BoxApp, Conn, Layer};

/// A middleware applied to every request except those under `prefixes`.
#[derive(Clone)]
pub struct Except {
    /// The inner app with the middleware around it.
    wrapped: BoxApp,
    /// The inner app alone.
    bare: BoxApp,
    prefixes: Prefixes,
}

/// Path prefixes matched on whole segments: `/health` covers `/health` and
/// `/health/db`, not `/healthz`. Shared by [`Except`] and the middleware
/// that take excluded paths themselves ([`JwtAuth`](crate::JwtAuth)).
#[derive(Debug, Clone, Default)]
pub struct Prefixes(Vec<String>);

impl Prefixes {
    /// The prefixes, trailing slashes dropped.
    pub fn new<P: Into<String>>(prefixes: impl IntoIterator<Item = P>) -> Self {
        Self(
            prefixes
                .into_iter()
                .map(|p| {
                    let mut p = p.into();
                    while p.ends_with('/') {
                        p.pop();
                    }
                    p
                })
                .collect(),
        )
    }

    /// Whether `path` is at or below one of the prefixes.
    pub fn matches(&self, path: &str) -> bool {
        self.0.iter().any(|prefix| {
            path.strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
    }

    /// Whether the route path of an HTTP or WebSocket call matches.
    pub fn matches_conn(&self, conn: &Conn<'_>) -> bool {
        match conn {
            Conn::Http(http) => self.matches(http.scope.route_path()),
            Conn::WebSocket(ws) => self.matches(ws.scope.route_path()),
            _ => false,
        }
    }
}

impl Except {
    /// Wraps `inner` in `layer`, except for requests under `prefixes`.
    pub fn new<P: Into<String>>(
        inner: BoxApp,
        layer: &dyn Layer,
        prefixes: impl IntoIterator<Item = P>,
    ) -> Self {
        Self {
            wrapped: layer.wrap(inner.clone()),
            bare: inner,
            prefixes: Prefixes::new(prefixes),
        }
    }
}

/// The [`Layer`] form, for a [`Stack`](rgi::Stack):
/// `stack.push(except(["/health"], auth_layer))`.
pub fn except<P: Into<String> + Clone + Send + Sync + 'static>(
    prefixes: impl IntoIterator<Item = P>,
    layer: impl Layer + 'static,
) -> impl Layer {
    let prefixes: Vec<P> = prefixes.into_iter().collect();
    move |inner: BoxApp| rgi::boxed(Except::new(inner, &layer, prefixes.iter().cloned()))
}

impl App for Except {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        if self.prefixes.matches_conn(&conn) {
            self.bare.call(conn).await
        } else {
            self.wrapped.call(conn).await
        }
    }
}

impl std::fmt::Debug for Except {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Except")
            .field("prefixes", &self.prefixes)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use rgi::http::StatusCode;
    use rgi::Stack;
    use rgi_conformance::{StartupOutcome, TestClient};

    use super::*;
    use crate::testing::Hello;
    use crate::BearerAuth;

    fn guarded() -> TestClient {
        let auth = |inner: BoxApp| {
            rgi::boxed(BearerAuth::new(inner, |t: &str| {
                (t == "secret").then_some(())
            }))
        };
        let app = Stack::new()
            .push(except(["/health/", "/metrics"], auth))
            .build(rgi::boxed(Hello));
        TestClient::from_boxed(app)
    }

    #[tokio::test]
    async fn skips_the_middleware_under_the_prefixes_only() {
        let client = guarded();
        for (path, status) in [
            ("/health", StatusCode::OK),
            ("/health/db", StatusCode::OK),
            ("/metrics", StatusCode::OK),
            ("/healthz", StatusCode::UNAUTHORIZED),
            ("/", StatusCode::UNAUTHORIZED),
            ("/api/health", StatusCode::UNAUTHORIZED),
        ] {
            let response = client.get(path).await.unwrap();
            assert_eq!(response.status(), Some(status), "{path}");
        }
    }

    #[tokio::test]
    async fn lifespan_reaches_the_inner_app_through_the_middleware() {
        let client = guarded();
        let mut lifespan = client.lifespan();
        assert!(matches!(
            lifespan.startup().await.unwrap(),
            StartupOutcome::Complete(_)
        ));
    }
}
