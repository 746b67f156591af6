//! The testbed app: a fixed route table that servers' integration tests,
//! load runs and people with `curl` can drive (issue 3).
//!
//! | request | answer |
//! | --- | --- |
//! | `/` (any method, body not read) | 200, `content-type: text/plain; charset=utf-8`, `Hello, world!` |
//! | `/echo` (any method) | 200 with the request body exactly, `content-type: application/octet-stream`, `x-body-length: N` |
//! | `GET /stream?n=N&size=S&delay_ms=D` | 200 without `content-length`: N chunks of S bytes (chunk k is the byte `b'a' + k % 26` repeated), D ms apart, then an empty final chunk |
//! | `GET /headers` | 200, a JSON object of the request headers: names lower-case, repeated names joined with `", "`, keys sorted; values are the bytes received (only `"`, `\` and tab escaped), so obs-text (0x80-0xFF) comes back byte for byte and such a body is not UTF-8 |
//! | `GET /status/NNN` (200..=599) | that status, no header from the app, empty body; any other NNN is a 404 |
//! | `GET /slow?ms=M` | waits M ms, then 200 `done` |
//! | `GET /error` | the app fails before starting the response (the server answers 500) |
//! | `GET /error-after-start` | 200 without `content-length`, the chunk `partial` with more to come, then the app fails (the server aborts) |
//! | `/echo-scope`, `/echo-scope/...` (any method) | 200 JSON `{"http_version", "method", "path", "query_string"}`: `path` decoded, `query_string` raw, `http_version` as in ASGI (`"1.0"`, `"1.1"`, `"2"`) |
//! | anything else | 404 `Not Found` |
//!
//! WebSocket routes:
//!
//! | request | answer |
//! | --- | --- |
//! | `/ws/echo` | accepts (with the first subprotocol offered, if any) and echoes every message as it came, text as text, binary as binary |
//! | `/ws/reject` | closes before accepting: the server answers 403 |
//! | `/ws/deny` | a denial response: 401, `www-authenticate: Bearer`, the JSON body [`DENY_BODY`] |
//! | `/ws/close?code=N` | accepts, then closes with code N (default 1000) |
//! | any other path | declined (`Error::Unsupported`): 403 |
//!
//! Details the table leaves open:
//!
//! * `HEAD` is served wherever `GET` is, with the same headers and no body
//!   bytes (rule `HTTP-025`); any other method on a `GET` route is a 404.
//! * Query parameters are digits only: anything else is a 400; values past
//!   the bounds are clamped (`n` ≤ 100 000, `size` ≤ 1 MiB, `ms` and
//!   `delay_ms` ≤ 60 000). Defaults: `n=10`, `size=16`, `delay_ms=0`,
//!   `ms=1000`.
//! * `/echo` with a `content-length` streams each chunk back as it arrives
//!   (the length, hence `x-body-length`, is known up front), so a large body
//!   through a slow reader costs one chunk of memory, not the body. Without
//!   one (a chunked upload) it reads the body first, up to
//!   [`ECHO_BUFFER_LIMIT`], and answers 413 past it.
//! * Lifespan is answered (startup, then shutdown).
//!
//! Routes match [`HttpScope::route_path`](rgi::HttpScope::route_path), so the
//! testbed also works mounted below a prefix.

mod query;
mod routes;
mod websocket;

use rgi::{App, AppResult, Conn, LifespanConn, LifespanReceive, LifespanSend};

pub use routes::ECHO_BUFFER_LIMIT;
pub use websocket::DENY_BODY;

/// The testbed app. Stateless: one value serves every connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct Testbed;

impl App for Testbed {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        match conn {
            Conn::Http(http) => routes::handle(http).await,
            Conn::Lifespan(lifespan) => answer_lifespan(lifespan).await,
            Conn::WebSocket(ws) => websocket::handle(ws).await,
            other => other.unsupported(),
        }
    }
}

/// Answers startup and shutdown; the testbed has nothing to open or close.
async fn answer_lifespan(mut conn: LifespanConn<'_>) -> AppResult {
    loop {
        match conn.recv().await {
            LifespanReceive::Startup => conn.send(LifespanSend::StartupComplete).await?,
            LifespanReceive::Shutdown => {
                conn.send(LifespanSend::ShutdownComplete).await?;
                return Ok(());
            }
            // An event a later spec adds: nothing to answer.
            _ => {}
        }
    }
}
