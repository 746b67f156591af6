//! Leaf apps for the unit tests, which drive them with the conformance
//! suite's in-process [`TestClient`](rgi_conformance::TestClient).

use rgi::http::header::CONTENT_TYPE;
use rgi::http::{HeaderMap, HeaderValue, StatusCode};
use rgi::{App, AppResult, Conn, LifespanReceive, LifespanSend};

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
