//! The conformance suite over the catalogue's newer middleware (issue 14),
//! each with exactly the declarations of what it changes. Kept apart from
//! `conformance.rs` so the two files can grow independently.

use rgi_conformance::check;
use rgi_middleware_examples::Database;

#[tokio::test]
async fn database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conformance.db");
    let unwritable = dir.path().join("missing-dir").join("x.db");
    check(move |inner| rgi::boxed(Database::new(inner, &path)))
        .fails_startup(
            move |inner| rgi::boxed(Database::new(inner, &unwritable)),
            "unable to open database file",
        )
        .run()
        .await
        .assert_clean();
}

mod jwt {
    use std::time::{SystemTime, UNIX_EPOCH};

    use jsonwebtoken::{encode, EncodingKey, Header};
    use rgi_conformance::{check, Request};
    use rgi_middleware_examples::{JwtAuth, JwtKey};

    const SECRET: &[u8] = b"conformance-secret-conformance-secret";

    #[derive(Clone, serde::Serialize, serde::Deserialize)]
    struct Claims {
        sub: String,
        exp: u64,
    }

    fn token(exp_from_now: i64) -> String {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let exp = (now.as_secs() as i64 + exp_from_now) as u64;
        let claims = Claims {
            sub: "suite".into(),
            exp,
        };
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn jwt_auth() {
        let valid = format!("Bearer {}", token(3600));
        let expired = format!("Bearer {}", token(-3600));
        check(|inner| {
            rgi::boxed(JwtAuth::<_, Claims>::new(inner, JwtKey::hs256(SECRET)).leeway(0))
        })
        .with_request(move |request| request.header("authorization", &valid))
        .short_circuits(|| Request::get("/private"))
        .short_circuits(move || {
            Request::post("/private")
                .header("authorization", &expired)
                .body("never read")
        })
        .short_circuits(|| Request::head("/private").header("authorization", "Bearer x.y.z"))
        .refuses_websocket(|| Request::get("/ws"))
        .refuses_websocket(|| Request::get("/ws").capabilities(rgi::Capabilities::ALL))
        .run()
        .await
        .assert_clean();
    }
}

#[tokio::test]
async fn timeout() {
    use std::time::Duration;

    use rgi_middleware_examples::Timeout;
    // The suite's inner app is prompt: a deadline it never meets changes
    // nothing (cancellation and errors pass through as they are).
    check(|inner| rgi::boxed(Timeout::new(inner, Duration::from_secs(30))))
        .run()
        .await
        .assert_clean();
}

#[tokio::test]
async fn body_limit() {
    use rgi_conformance::Request;
    use rgi_middleware_examples::BodyLimit;
    // Above the suite's largest body (a 64 KiB chunk and a few small ones).
    check(|inner| rgi::boxed(BodyLimit::new(inner, 1024 * 1024)))
        .short_circuits(|| {
            Request::post("/upload")
                .header("content-length", "2000000")
                .body(vec![0u8; 2_000_000])
        })
        .run()
        .await
        .assert_clean();
}

#[tokio::test]
async fn body_limit_while_streaming() {
    use rgi_conformance::{Declare, Request};
    use rgi_middleware_examples::BodyLimit;
    // Without a length the inner app is called and reads until the chunk
    // that crosses the limit; then its output is discarded for the 413.
    check(|inner| rgi::boxed(BodyLimit::new(inner, 1024 * 1024)))
        .short_circuits(|| {
            Request::post("/upload").chunks(vec![vec![1u8; 600_000], vec![2u8; 600_000]])
        })
        .declare(Declare::CallsInnerThenDiscards)
        .run()
        .await
        .assert_clean();
}

mod cors {
    use rgi::http::Method;
    use rgi_conformance::{check, Declare, Request};
    use rgi_middleware_examples::Cors;

    const SITE: &str = "https://app.example";

    fn cors(inner: rgi::BoxApp) -> rgi::BoxApp {
        rgi::boxed(
            Cors::new(inner)
                .allow_origins([SITE])
                .allow_headers(["content-type"])
                .expose_headers(["x-request-id"])
                .allow_credentials(true),
        )
    }

    #[tokio::test]
    async fn cross_origin_requests() {
        check(cors)
            .with_request(|request| request.header("origin", SITE))
            .declare(Declare::AddsResponseHeader("access-control-allow-origin"))
            .declare(Declare::AddsResponseHeader(
                "access-control-allow-credentials",
            ))
            .declare(Declare::AddsResponseHeader("access-control-expose-headers"))
            .declare(Declare::AddsResponseHeader("vary"))
            .short_circuits(|| {
                Request::new(Method::OPTIONS, "/x")
                    .header("origin", SITE)
                    .header("access-control-request-method", "POST")
            })
            .short_circuits(|| {
                Request::new(Method::OPTIONS, "/x")
                    .header("origin", "https://evil.example")
                    .header("access-control-request-method", "GET")
            })
            .refuses_websocket(|| Request::get("/ws").header("origin", "https://evil.example"))
            .run()
            .await
            .assert_clean();
    }

    #[tokio::test]
    async fn same_origin_requests() {
        check(cors)
            .declare(Declare::AddsResponseHeader("vary"))
            .run()
            .await
            .assert_clean();
    }
}

#[tokio::test]
async fn static_files() {
    use rgi_conformance::Request;
    use rgi_middleware_examples::StaticFiles;
    // A root with one file: every other path goes to the inner app.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("site.css"), "body { color: black }").unwrap();
    let root = dir.path().to_owned();
    check(move |inner| rgi::boxed(StaticFiles::new(inner, &root).unwrap()))
        .short_circuits(|| Request::get("/site.css"))
        .short_circuits(|| Request::head("/site.css"))
        .short_circuits(|| Request::get("/site.css").header("range", "bytes=0-3"))
        .short_circuits(|| Request::get("/../etc/passwd"))
        .short_circuits(|| Request::get("/site.css").capabilities(rgi::Capabilities::ALL))
        .run()
        .await
        .assert_clean();
}

#[tokio::test]
async fn signed_cookie_session() {
    use rgi_middleware_examples::SignedCookieSession;
    // The suite's inner app never touches the session: no `Set-Cookie`,
    // nothing else changes, with or without a (here forged) cookie.
    let key: &[u8] = b"conformance key, 32 bytes or more";
    check(move |inner| rgi::boxed(SignedCookieSession::new(inner, key)))
        .run()
        .await
        .assert_clean();
    check(move |inner| rgi::boxed(SignedCookieSession::new(inner, key)))
        .with_request(|request| request.header("cookie", "session=e30.AAAA"))
        .run()
        .await
        .assert_clean();
}

#[tokio::test]
async fn event_bus() {
    use rgi_middleware_examples::EventBus;
    // Lifespan starts and stops the workers (and adds the publisher to the
    // state); requests pass through untouched.
    check(|inner| rgi::boxed(EventBus::new(inner).subscribe("any", "noop", |_| async { Ok(()) })))
        .run()
        .await
        .assert_clean();
}

#[tokio::test]
async fn address_check() {
    use std::net::SocketAddr;

    use rgi_conformance::Request;
    use rgi_middleware_examples::AddressCheck;
    let server: SocketAddr = "127.0.0.1:80".parse().unwrap();
    let allowed: SocketAddr = "10.1.2.3:4000".parse().unwrap();
    let other: SocketAddr = "192.0.2.7:4000".parse().unwrap();
    check(|inner| rgi::boxed(AddressCheck::new(inner, ["10.0.0.0/8"]).unwrap()))
        .with_request(move |request| request.addresses(allowed, server))
        .short_circuits(move || Request::get("/").addresses(other, server))
        .short_circuits(|| Request::get("/no-address"))
        .refuses_websocket(move || Request::get("/ws").addresses(other, server))
        .run()
        .await
        .assert_clean();
}

#[tokio::test]
async fn hooks_that_observe() {
    use rgi_middleware_examples::{Hooks, WithHooks};
    let hooks = Hooks::new()
        .on_request_started("count", |_| {})
        .on_request_finished("count", |_, _| {});
    check(move |inner| rgi::boxed(WithHooks::new(inner, hooks.clone())))
        .run()
        .await
        .assert_clean();
}

#[tokio::test]
async fn hooks_that_edit_the_start() {
    use rgi::http::HeaderValue;
    use rgi_conformance::Declare;
    use rgi_middleware_examples::{Hooks, WithHooks};
    let hooks = Hooks::new().before_response("powered-by", |_, start| {
        start
            .headers
            .insert("x-powered-by", HeaderValue::from_static("rgi"));
    });
    check(move |inner| rgi::boxed(WithHooks::new(inner, hooks.clone())))
        .declare(Declare::AddsResponseHeader("x-powered-by"))
        .run()
        .await
        .assert_clean();
}

#[tokio::test]
async fn capitalise() {
    use rgi_conformance::{Declare, ScopeField};
    use rgi_middleware_examples::BodyMap;
    check(|inner| rgi::boxed(BodyMap::capitalise(inner)))
        .declare(Declare::ChangesResponseBody)
        .declare(Declare::ChangesScope(ScopeField::Capabilities))
        .run()
        .await
        .assert_clean();
}

#[tokio::test]
async fn reverse_twice_changes_nothing_but_send_file() {
    use rgi_conformance::{Declare, ScopeField};
    use rgi_middleware_examples::BodyMap;
    check(|inner| rgi::boxed(BodyMap::reverse(BodyMap::reverse(inner))))
        .declare(Declare::ChangesScope(ScopeField::Capabilities))
        .run()
        .await
        .assert_clean();
}

#[tokio::test]
async fn scope_logger() {
    use rgi_middleware_examples::ScopeLogger;
    // Logging on, so the formatting runs during every scenario.
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_test_writer()
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    check(|inner| rgi::boxed(ScopeLogger::new(inner)))
        .run()
        .await
        .assert_clean();
}
