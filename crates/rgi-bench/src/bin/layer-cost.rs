//! Runs requests through a stack of middleware layers in process, for
//! counting what a layer costs with a tool instead of a clock: instructions
//! under `valgrind --tool=callgrind`, and allocations (printed, counted by
//! the `rgi-count-alloc` global allocator).
//!
//! `layer-cost [--kind async|direct|inspect|map] [--depth 1] [--requests 10000]`
//!
//! `async` is `PassThrough` (`async fn` under `#[rgi::async_trait]`),
//! `direct` is `DirectForward` (hands back the inner future), `inspect` and
//! `map` wrap the sender (`InspectLayer`, `MapLayer`); the app inside is
//! `MinimalApp` (two events), driven by the bench driver. Prints
//! `kind=... depth=... requests=... allocations_per_request=...`.
//! The cost of the layers is the difference with `--depth 0` at the same
//! `--requests` (the scope and the app are the same at every depth).

use http::{Method, Uri};
use rgi::HttpScope;
use rgi_bench::cli;
use rgi_bench::driver::{run_http, CountingSender, ScriptedReceiver};
use rgi_bench::layers::{
    direct_forward, inspect_layer, map_layer, pass_through, stack_of, LayerFn, MinimalApp,
};
use rgi_count_alloc::{allocations, Counting};

#[global_allocator]
static ALLOC: Counting = Counting;

fn main() {
    let args = cli::args();
    let kind: String = cli::or_exit(cli::flag(&args, "kind", "async".to_owned()));
    let depth: usize = cli::or_exit(cli::flag(&args, "depth", 1));
    let requests: u64 = cli::or_exit(cli::flag(&args, "requests", 10_000));
    let layer: LayerFn = match kind.as_str() {
        "async" => pass_through,
        "direct" => direct_forward,
        "inspect" => inspect_layer,
        "map" => map_layer,
        other => cli::or_exit(Err(format!("--kind: unknown kind {other:?}"))),
    };
    let app = stack_of(depth, layer, rgi::boxed(MinimalApp));
    let mut scope_allocations = 0;
    let mut allocations_total = 0;
    for _ in 0..requests {
        let before = allocations();
        let scope = HttpScope::new(Method::GET, Uri::from_static("/")).expect("a valid path");
        scope_allocations += allocations() - before;
        let mut sender = CountingSender::default();
        let result = run_http(&*app, scope, &mut ScriptedReceiver::empty(), &mut sender);
        assert!(matches!(result, Some(Ok(()))), "the request completes");
        allocations_total += allocations() - before;
    }
    let per_request = (allocations_total - scope_allocations) as f64 / requests as f64;
    println!(
        "kind={kind} depth={depth} requests={requests} allocations_per_request={per_request:.2} (the scope's own {:.2} not included)",
        scope_allocations as f64 / requests as f64
    );
}
