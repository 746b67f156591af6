//! What a middleware layer costs per request, in process (no server, no
//! socket): the minimal app behind 0, 1, 5 and 10 pass-through layers, and
//! behind 1 and 10 send-wrapping layers, each composed two ways: by type
//! (`static_*`: `PassThrough<PassThrough<..>>`, one future, no box) and as a
//! run-time `Stack` of `BoxApp`s (`dyn_*`: one box per layer). The added
//! cost per layer is the difference against depth 0, divided by the depth.
//!
//! `cargo bench -p rgi-bench --bench layers`

// criterion_group! generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use http::{Method, Uri};
use rgi::{App, HttpScope};
use rgi_bench::driver::{run_http, CountingSender, ScriptedReceiver};
use rgi_bench::layers::{
    inspect_layer, map_layer, pass_through, stack_of, InspectLayer, LayerFn, MapLayer, MinimalApp,
    PassThrough,
};
use rgi_bench::nested;

fn scope() -> HttpScope {
    HttpScope::new(Method::GET, Uri::from_static("/")).expect("a valid path")
}

/// One request through `app`; the scope is built outside the timing.
fn bench_app<A: App + ?Sized>(c: &mut Criterion, group: &str, depth: usize, app: &A) {
    c.benchmark_group(group)
        .bench_with_input(BenchmarkId::from_parameter(depth), app, |b, app| {
            b.iter_batched(
                scope,
                |scope| {
                    let mut sender = CountingSender::default();
                    let result = run_http(app, scope, &mut ScriptedReceiver::empty(), &mut sender);
                    assert!(matches!(result, Some(Ok(()))), "the request completes");
                    black_box(sender.events)
                },
                BatchSize::SmallInput,
            );
        });
}

fn layers(c: &mut Criterion) {
    // By type: each depth is its own type, so written out.
    let group = "static_pass_through";
    bench_app(c, group, 0, &MinimalApp);
    bench_app(c, group, 1, &nested!(PassThrough, MinimalApp; x));
    bench_app(c, group, 5, &nested!(PassThrough, MinimalApp; x x x x x));
    bench_app(
        c,
        group,
        10,
        &nested!(PassThrough, MinimalApp; x x x x x x x x x x),
    );
    let group = "static_send_wrapping_inspect";
    bench_app(c, group, 1, &nested!(InspectLayer, MinimalApp; x));
    bench_app(
        c,
        group,
        10,
        &nested!(InspectLayer, MinimalApp; x x x x x x x x x x),
    );
    let group = "static_send_wrapping_map";
    bench_app(c, group, 1, &nested!(MapLayer, MinimalApp; x));
    bench_app(
        c,
        group,
        10,
        &nested!(MapLayer, MinimalApp; x x x x x x x x x x),
    );

    let kinds: [(&str, LayerFn, &[usize]); 3] = [
        ("dyn_pass_through", pass_through, &[0, 1, 5, 10]),
        ("dyn_send_wrapping_inspect", inspect_layer, &[1, 10]),
        ("dyn_send_wrapping_map", map_layer, &[1, 10]),
    ];
    for (group, layer, depths) in kinds {
        for &depth in depths {
            let app = stack_of(depth, layer, rgi::boxed(MinimalApp));
            bench_app(c, group, depth, &*app);
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = layers
}
criterion_main!(benches);
