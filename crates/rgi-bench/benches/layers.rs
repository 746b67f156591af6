//! What a middleware layer costs per request, in process (no server, no
//! socket): the minimal app behind 0, 1, 5 and 10 pass-through layers, and
//! behind 10 send-wrapping layers. The added cost per layer is the
//! difference against depth 0, divided by the depth.
//!
//! `cargo bench -p rgi-bench --bench layers`

// criterion_group! generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use http::{Method, Uri};
use rgi::{BoxApp, HttpScope};
use rgi_bench::driver::{run_http, CountingSender, ScriptedReceiver};
use rgi_bench::layers::{
    direct_forward, inspect_layer, map_layer, pass_through, stack_of, LayerFn, MinimalApp,
};

fn scope() -> HttpScope {
    HttpScope::new(Method::GET, Uri::from_static("/")).expect("a valid path")
}

/// One request through `app`; the scope is built outside the timing.
fn bench_app(c: &mut Criterion, group: &str, depth: usize, app: &BoxApp) {
    c.benchmark_group(group)
        .bench_with_input(BenchmarkId::from_parameter(depth), app, |b, app| {
            b.iter_batched(
                scope,
                |scope| {
                    let mut sender = CountingSender::default();
                    let result =
                        run_http(&**app, scope, &mut ScriptedReceiver::empty(), &mut sender);
                    assert!(matches!(result, Some(Ok(()))), "the request completes");
                    black_box(sender.events)
                },
                BatchSize::SmallInput,
            );
        });
}

fn layers(c: &mut Criterion) {
    let kinds: [(&str, LayerFn, &[usize]); 4] = [
        ("pass_through_async_trait", pass_through, &[0, 1, 5, 10]),
        ("pass_through_direct", direct_forward, &[0, 1, 5, 10]),
        ("send_wrapping_inspect", inspect_layer, &[1, 10]),
        ("send_wrapping_map", map_layer, &[1, 10]),
    ];
    for (group, layer, depths) in kinds {
        for &depth in depths {
            let app = stack_of(depth, layer, rgi::boxed(MinimalApp));
            bench_app(c, group, depth, &app);
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
