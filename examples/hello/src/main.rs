//! The first rgi program: a hello app behind a stack of middleware from the
//! catalogue (`examples/middleware`), on the reference server.
//!
//! ```sh
//! cargo run -p hello                       # http://127.0.0.1:8000/
//! cargo run -p hello -- --bind 0.0.0.0:9000 --workers 2
//! cargo run -p hello -- --help             # every flag of an rgi server
//! cargo run -p hello -- --server hyper     # the same app on rgi-hyper (HTTP/1.1 + h2c)
//! curl -i http://127.0.0.1:8000/
//! ```

use rgi::http::header::CONTENT_TYPE;
use rgi::http::{HeaderMap, HeaderValue, StatusCode};
use rgi::{App, AppResult, BoxApp, Conn, Stack};
use rgi_middleware_examples::{ErrorBoundary, Gzip, RequestId, SecurityHeaders, SetRequestId};

/// Says hello, with the id the request-id middleware gave the request.
struct Hello;

impl App for Hello {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        let id = http.scope.extensions.get::<RequestId>();
        let id = id.and_then(|id| id.0.to_str().ok()).unwrap_or("none");
        let body = format!("Hello, world! (request {id})\n");
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        Ok(http.respond(StatusCode::OK, headers, body).await?)
    }
}

/// The middleware stack, outermost first (like Django's `MIDDLEWARE`).
fn app() -> BoxApp {
    Stack::new()
        .push(|inner: BoxApp| rgi::boxed(ErrorBoundary::new(inner)))
        .push(|inner: BoxApp| rgi::boxed(SetRequestId::new(inner)))
        .push(|inner: BoxApp| rgi::boxed(SecurityHeaders::new(inner)))
        .push(|inner: BoxApp| rgi::boxed(Gzip::new(inner)))
        .build(rgi::boxed(Hello))
}

/// Says hello behind a stack of middleware, on the reference rgi server.
#[derive(clap::Parser)]
#[command(name = "hello", version)]
struct Cli {
    #[command(flatten)]
    serve: rgi_hyper::cli::AnyServerArgs,
}

fn main() -> std::process::ExitCode {
    let cli = <Cli as clap::Parser>::parse();
    // Logs "rgi listening on http://..." and one line per request; Ctrl-C
    // stops it gracefully.
    cli.serve.run(app)
}

#[cfg(test)]
mod tests {
    use rgi_conformance::TestClient;

    use super::*;

    #[tokio::test]
    async fn the_stack_answers() {
        let response = TestClient::from_boxed(app()).get("/").await.unwrap();
        assert_eq!(response.status(), Some(StatusCode::OK));
        let id = response.header("x-request-id").unwrap();
        assert_eq!(response.body(), format!("Hello, world! (request {id})\n"));
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
    }
}
