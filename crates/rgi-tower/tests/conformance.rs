//! The conformance suite on tower layers adapted to rgi middleware: first
//! the adapter alone (tower's identity layer), then tower-http's layers with
//! the declarations each needs. The README's table is this file's outcome.

use std::time::Duration;

use rgi::BoxApp;
use rgi_conformance::{check, Declare, Report, ScopeField};
use rgi_tower::TowerLayer;

fn print(name: &str, report: &Report) -> String {
    let text = format!("{report}");
    println!("== {name}\n{text}");
    text
}

#[tokio::test]
async fn the_adapter_alone_is_clean() {
    let report = check(|inner: BoxApp| {
        rgi::boxed(TowerLayer::new(tower::layer::util::Identity::new()).wrap(inner))
    })
    .declare(Declare::ChangesScope(ScopeField::Capabilities))
    .run()
    .await;
    print("identity", &report);
    report.assert_clean();
}

mod layers {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use rgi::http::{Method, StatusCode};
    use rgi_conformance::Request;
    use tower::ServiceBuilder;
    use tower_http::compression::CompressionLayer;
    use tower_http::cors::CorsLayer;
    use tower_http::limit::RequestBodyLimitLayer;
    use tower_http::request_id::{
        MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
    };
    use tower_http::timeout::TimeoutLayer;
    use tower_http::trace::TraceLayer;

    use super::*;

    /// Request ids from a counter (tower-http's `MakeRequestUuid` needs uuid).
    #[derive(Clone, Default)]
    struct Counter(Arc<AtomicU64>);

    impl MakeRequestId for Counter {
        fn make_request_id<B>(&mut self, _: &rgi::http::Request<B>) -> Option<RequestId> {
            let n = self.0.fetch_add(1, Ordering::Relaxed);
            Some(RequestId::new(n.to_string().parse().ok()?))
        }
    }

    fn capabilities() -> Declare {
        // A tower body has no frame for early hints or files (EXT-002).
        Declare::ChangesScope(ScopeField::Capabilities)
    }

    #[tokio::test]
    async fn compression() {
        let report =
            check(|inner| rgi::boxed(TowerLayer::new(CompressionLayer::new()).wrap(inner)))
                .with_request(|r| r.header("accept-encoding", "gzip"))
                .declare(capabilities())
                .declare(Declare::ChangesResponseBody)
                .declare(Declare::AddsResponseHeader("content-encoding"))
                .declare(Declare::AddsResponseHeader("vary"))
                .run()
                .await;
        print("CompressionLayer", &report);
        report.assert_clean();
    }

    #[tokio::test]
    async fn cors() {
        let preflight = || {
            Request::new(Method::OPTIONS, "/")
                .header("origin", "https://example.com")
                .header("access-control-request-method", "POST")
        };
        let report =
            check(|inner| rgi::boxed(TowerLayer::new(CorsLayer::permissive()).wrap(inner)))
                .with_request(|r| r.header("origin", "https://example.com"))
                .short_circuits(preflight)
                .declare(capabilities())
                .declare(Declare::AddsResponseHeader("access-control-allow-origin"))
                .declare(Declare::AddsResponseHeader("access-control-expose-headers"))
                .declare(Declare::AddsResponseHeader("vary"))
                .run()
                .await;
        let text = print("CorsLayer", &report);
        // tower-http answers every OPTIONS that carries an `origin` itself,
        // a plain OPTIONS (no `access-control-request-method`, so not a
        // preflight) included: the suite's OPTIONS request never reaches
        // the inner app. That is the one rule it breaks.
        assert_eq!(report.failed_rules(), ["CORE-004"], "{text}");
        assert!(
            report
                .failures()
                .all(|row| format!("{row:?}").contains("OPTIONS")),
            "{text}"
        );
    }

    #[tokio::test]
    async fn trace() {
        let report =
            check(|inner| rgi::boxed(TowerLayer::new(TraceLayer::new_for_http()).wrap(inner)))
                .declare(capabilities())
                .run()
                .await;
        print("TraceLayer", &report);
        report.assert_clean();
    }

    #[tokio::test]
    async fn timeout() {
        let layer =
            TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30));
        let report = check(move |inner| rgi::boxed(TowerLayer::new(layer).wrap(inner)))
            .declare(capabilities())
            .run()
            .await;
        print("TimeoutLayer", &report);
        report.assert_clean();
    }

    #[tokio::test]
    async fn request_body_limit() {
        let too_big = || {
            Request::post("/")
                .header("content-length", "2000000")
                .body(vec![b'x'; 2_000_000])
        };
        let report = check(|inner| {
            rgi::boxed(TowerLayer::new(RequestBodyLimitLayer::new(1 << 20)).wrap(inner))
        })
        .short_circuits(too_big)
        .declare(capabilities())
        .run()
        .await;
        print("RequestBodyLimitLayer", &report);
        report.assert_clean();
    }

    #[tokio::test]
    async fn set_request_id() {
        let report = check(|inner| {
            let layers = ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(Counter::default()))
                .layer(PropagateRequestIdLayer::x_request_id());
            rgi::boxed(TowerLayer::new(layers).wrap(inner))
        })
        .declare(capabilities())
        .declare(Declare::AddsRequestHeader("x-request-id"))
        .declare(Declare::AddsResponseHeader("x-request-id"))
        .run()
        .await;
        print("SetRequestIdLayer", &report);
        report.assert_clean();
    }
}
