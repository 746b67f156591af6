//! Every middleware of the catalogue through the conformance suite, with
//! exactly the declarations of what it changes. A report that is not clean
//! fails the test with the rules broken.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use rgi::BoxApp;
use rgi_conformance::{check, Declare, Request, ScopeField};
use rgi_middleware_examples::bearer_auth::constant_time_eq;
use rgi_middleware_examples::{
    AccessLog, BearerAuth, ErrorBoundary, Except, Gzip, Limiter, RateLimit, Router,
    SecurityHeaders, SessionLayer, SetRequestId,
};

fn auth(inner: BoxApp) -> BoxApp {
    rgi::boxed(BearerAuth::new(inner, |token: &str| {
        constant_time_eq(token.as_bytes(), b"s3cret").then_some("alice")
    }))
}

fn with_token(request: Request) -> Request {
    request.header("authorization", "Bearer s3cret")
}

/// Moves a request below `prefix` (the suite's own paths vary).
fn under(prefix: &'static str) -> impl Fn(Request) -> Request + Send + Sync + 'static {
    move |request| {
        request.with_scope(|scope| {
            let target = scope.uri.path_and_query().map_or("/", |pq| pq.as_str());
            scope.uri = format!("{prefix}{target}").parse().expect("a valid target");
            scope.path.insert_str(0, prefix);
        })
    }
}

#[tokio::test]
async fn access_log() {
    check(|inner| rgi::boxed(AccessLog::new(inner)))
        .run()
        .await
        .assert_clean();
}

#[tokio::test]
async fn request_id() {
    check(|inner| rgi::boxed(SetRequestId::new(inner)))
        .declare(Declare::AddsRequestHeader("x-request-id"))
        .declare(Declare::AddsResponseHeader("x-request-id"))
        .run()
        .await
        .assert_clean();
}

#[tokio::test]
async fn bearer_auth() {
    check(auth)
        .with_request(with_token)
        .short_circuits(|| Request::get("/private"))
        .short_circuits(|| {
            Request::post("/private")
                .header("authorization", "Bearer nope")
                .body("x")
        })
        .short_circuits(|| Request::head("/private"))
        // Near misses (cargo-mutants found each one unrefused before): the
        // right secret under another scheme, a prefix of the secret, a
        // token of the right length that differs in its last byte.
        .short_circuits(|| Request::get("/private").header("authorization", "Basic s3cret"))
        .short_circuits(|| Request::get("/private").header("authorization", "Bearer s3cre"))
        .short_circuits(|| Request::get("/private").header("authorization", "Bearer s3creT"))
        // Two bytes swapped: their differences cancel out under XOR.
        .short_circuits(|| Request::get("/private").header("authorization", "Bearer 3scret"))
        .refuses_websocket(|| Request::get("/ws"))
        .refuses_websocket(|| {
            Request::get("/ws")
                .header("authorization", "Bearer nope")
                .capabilities(rgi::Capabilities::ALL)
        })
        .run()
        .await
        .assert_clean();
}

#[tokio::test]
async fn rate_limit() {
    // One shared budget: plenty for the suite's own client (no address),
    // none left for 10.0.0.9.
    let limiter = Arc::new(Limiter::new(1, 1_000, 100));
    let limited = IpAddr::from([10, 0, 0, 9]);
    while limiter.try_acquire(Some(limited)).is_ok() {}
    let shared = limiter.clone();
    check(move |inner| rgi::boxed(RateLimit::shared(inner, shared.clone())))
        .short_circuits(move || {
            let server: SocketAddr = "127.0.0.1:80".parse().unwrap();
            Request::get("/").addresses(SocketAddr::new(limited, 4000), server)
        })
        .refuses_websocket(move || {
            let server: SocketAddr = "127.0.0.1:80".parse().unwrap();
            Request::get("/ws").addresses(SocketAddr::new(limited, 4001), server)
        })
        .refuses_websocket(move || {
            let server: SocketAddr = "127.0.0.1:80".parse().unwrap();
            Request::get("/ws")
                .addresses(SocketAddr::new(limited, 4002), server)
                .capabilities(rgi::Capabilities::ALL)
        })
        .run()
        .await
        .assert_clean();
}

#[tokio::test]
async fn security_headers() {
    check(|inner| rgi::boxed(SecurityHeaders::new(inner)))
        .declare(Declare::AddsResponseHeader("x-content-type-options"))
        .declare(Declare::AddsResponseHeader("x-frame-options"))
        .declare(Declare::AddsResponseHeader("referrer-policy"))
        .run()
        .await
        .assert_clean();
}

#[tokio::test]
async fn error_boundary() {
    check(|inner| rgi::boxed(ErrorBoundary::new(inner)))
        .handles_errors()
        .changes_status()
        .run()
        .await
        .assert_clean();
}

#[tokio::test]
async fn except_applies_the_middleware_elsewhere() {
    check(|inner| rgi::boxed(Except::new(inner, &auth, ["/health"])))
        .with_request(with_token)
        .short_circuits(|| Request::get("/private"))
        .refuses_websocket(|| Request::get("/ws"))
        .run()
        .await
        .assert_clean();
}

#[tokio::test]
async fn except_skips_the_middleware_under_the_prefix() {
    // No token: every request goes below /health.
    check(|inner| rgi::boxed(Except::new(inner, &auth, ["/health"])))
        .with_request(under("/health"))
        .run()
        .await
        .assert_clean();
}

#[tokio::test]
async fn gzip_compressing() {
    check(|inner| rgi::boxed(Gzip::new(inner).minimum_size(0)))
        .with_request(|request| request.header("accept-encoding", "gzip"))
        .declare(Declare::ChangesResponseBody)
        .declare(Declare::AddsResponseHeader("content-encoding"))
        .declare(Declare::AddsResponseHeader("vary"))
        .declare(Declare::AddsResponseHeader("etag"))
        .declare(Declare::ChangesScope(ScopeField::Capabilities))
        .run()
        .await
        .assert_clean();
}

#[tokio::test]
async fn gzip_for_clients_without_gzip() {
    check(|inner| rgi::boxed(Gzip::new(inner)))
        .run()
        .await
        .assert_clean();
}

#[tokio::test]
async fn session() {
    check(|inner| rgi::boxed(SessionLayer::new(inner)))
        .run()
        .await
        .assert_clean();
}

#[tokio::test]
async fn router_at_the_root() {
    check(|inner| rgi::boxed(Router::new().mount("/", inner)))
        .run()
        .await
        .assert_clean();
}

#[tokio::test]
async fn router_under_a_prefix() {
    check(|inner| rgi::boxed(Router::new().mount("/app", inner)))
        .with_request(under("/app"))
        .declare(Declare::ChangesScope(ScopeField::Path))
        // What no mount matches, the router answers itself (a 404, a
        // refused handshake); `/application` is not below `/app`.
        .short_circuits(|| Request::get("/elsewhere"))
        .short_circuits(|| Request::get("/application"))
        .refuses_websocket(|| Request::get("/elsewhere/ws"))
        .run()
        .await
        .assert_clean();
}

/// Answers every request with a 418; has no lifespan.
struct Teapot;

impl rgi::App for Teapot {
    async fn call(&self, conn: rgi::Conn<'_>) -> rgi::AppResult {
        match conn {
            rgi::Conn::Http(mut http) => Ok(http
                .respond(
                    rgi::http::StatusCode::IM_A_TEAPOT,
                    rgi::http::HeaderMap::new(),
                    "teapot",
                )
                .await?),
            other => other.unsupported(),
        }
    }
}

#[tokio::test]
async fn router_with_a_mount_replaced() {
    // Mounting a prefix again (a trailing '/' ignored) replaces the app
    // mounted there: everything below /app reaches the inner app only.
    check(|inner| {
        rgi::boxed(
            Router::new()
                .mount("/other", Teapot)
                .mount("/app", Teapot)
                .mount("/app/", inner),
        )
    })
    .with_request(under("/app"))
    .declare(Declare::ChangesScope(ScopeField::Path))
    .run()
    .await
    .assert_clean();
}
