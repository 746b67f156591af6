//! Leaf apps for the unit tests, which drive them with the conformance
//! suite's in-process [`TestClient`](rgi_conformance::TestClient).

use rgi::http::header::CONTENT_TYPE;
use rgi::http::{HeaderMap, HeaderValue, StatusCode};
use rgi::{App, AppResult, Conn, LifespanReceive, LifespanSend};

use crate::Session;

/// 200 `hello` as `text/plain`; answers lifespan; declines WebSocket.
pub(crate) struct Hello;

impl App for Hello {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        match conn {
            Conn::Http(mut http) => {
                let mut headers = HeaderMap::new();
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
                Ok(http.respond(StatusCode::OK, headers, "hello").await?)
            }
            Conn::Lifespan(mut lifespan) => loop {
                match lifespan.recv().await {
                    LifespanReceive::Startup => {
                        lifespan.send(LifespanSend::StartupComplete).await?
                    }
                    _ => return Ok(lifespan.send(LifespanSend::ShutdownComplete).await?),
                }
            },
            other => other.unsupported(),
        }
    }
}

/// Fails every HTTP request before starting the response.
pub(crate) struct Fails;

impl App for Fails {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        match conn {
            Conn::Http(_) => Err("boom".into()),
            other => other.unsupported(),
        }
    }
}

/// Counts visits in its [`Session`] (either variant): `/peek` only reads,
/// `/logout` clears, `/big` stores more than a cookie can hold, anything
/// else counts one more visit. Answers `visits before: N`.
pub(crate) struct Visits;

impl App for Visits {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        let session = http.scope.extensions.get::<Session>().cloned();
        let session = session.ok_or("no session in the extensions")?;
        let visits: u32 = session
            .get("visits")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        match http.scope.path.as_str() {
            "/peek" => {}
            "/logout" => session.clear(),
            "/big" => session.insert("blob", "x".repeat(5000)),
            _ => session.insert("visits", (visits + 1).to_string()),
        }
        let body = format!("visits before: {visits}");
        Ok(http.respond(StatusCode::OK, HeaderMap::new(), body).await?)
    }
}
