//! What one crossing of the border costs, per request, in process (no
//! sockets): an rgi app called directly vs through rgi → tower → rgi, and an
//! axum handler called directly vs through the adapters.
//!
//! ```sh
//! cargo bench -p rgi-tower --bench crossing
//! ```
#![allow(missing_docs)]

#[path = "../tests/common/driver.rs"]
mod driver;

use std::convert::Infallible;

use axum::routing::get;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use driver::{call_rgi, scope, Hello};
use http_body_util::BodyExt;
use rgi::http::header;
use rgi::{App, AppResult, BoxApp, Conn};
use rgi_tower::{RgiLayer, RgiService, TowerApp, TowerLayer};
use tower::ServiceExt;

struct Noop(BoxApp);

impl App for Noop {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        self.0.call(conn).await
    }
}

fn router() -> axum::Router {
    axum::Router::new().route("/", get(|| async { "hello" }))
}

async fn call_tower<S, B>(service: S) -> usize
where
    S: tower::Service<
        rgi::http::Request<axum::body::Body>,
        Response = rgi::http::Response<B>,
        Error = Infallible,
    >,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let request = rgi::http::Request::get("/")
        .header(header::HOST, "bench")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .len()
}

fn crossing(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let template = scope();

    let mut group = c.benchmark_group("rgi app");
    group.bench_function("direct", |b| {
        b.iter(|| runtime.block_on(call_rgi(black_box(&Hello), &template)))
    });
    let round_trip = TowerApp::new(RgiService::new(Hello));
    group.bench_function("rgi -> tower -> rgi (TowerApp(RgiService))", |b| {
        b.iter(|| runtime.block_on(call_rgi(black_box(&round_trip), &template)))
    });
    let layered = TowerLayer::new(tower::layer::util::Identity::new()).wrap(Hello);
    group.bench_function("TowerLayer(Identity) around it", |b| {
        b.iter(|| runtime.block_on(call_rgi(black_box(&layered), &template)))
    });
    group.finish();

    let mut group = c.benchmark_group("axum handler");
    let direct = router();
    group.bench_function("direct (Router::oneshot)", |b| {
        b.iter(|| runtime.block_on(call_tower(black_box(direct.clone()))))
    });
    let mounted = TowerApp::new(router());
    group.bench_function("as an rgi app (TowerApp)", |b| {
        b.iter(|| runtime.block_on(call_rgi(black_box(&mounted), &template)))
    });
    let with_rgi_layer = router().layer(RgiLayer::new(|inner: BoxApp| rgi::boxed(Noop(inner))));
    group.bench_function("behind an rgi no-op middleware (RgiLayer)", |b| {
        b.iter(|| runtime.block_on(call_tower(black_box(with_rgi_layer.clone()))))
    });
    group.finish();
}

criterion_group!(benches, crossing);
criterion_main!(benches);
