//! Runs requests through a stack of middleware layers in process, for
//! counting what a layer costs with a tool instead of a clock: instructions
//! under `valgrind --tool=callgrind`, and allocations (printed, counted by
//! the `rgi-count-alloc` global allocator).
//!
//! `layer-cost [--kind async|inspect|map] [--compose static|dyn] [--depth 1] [--requests 10000]`
//!
//! `async` is `PassThrough` (an `async fn` that awaits the inner app),
//! `inspect` and `map` wrap the sender (`InspectLayer`, `MapLayer`); the
//! app inside is `MinimalApp` (two events), driven by the bench driver.
//! `--compose static` nests the layers by type (depths 0, 1, 2, 5, 10: each
//! depth is its own type); `dyn` builds a run-time `Stack` of `BoxApp`s.
//! Prints `kind=... compose=... depth=... requests=... allocations_per_request=...`.
//! The cost of the layers is the difference with `--depth 0` at the same
//! `--requests` (the scope and the app are the same at every depth).

use http::{Method, Uri};
use rgi::{App, HttpScope};
use rgi_bench::cli;
use rgi_bench::driver::{run_http, CountingSender, ScriptedReceiver};
use rgi_bench::layers::{
    inspect_layer, map_layer, pass_through, stack_of, InspectLayer, LayerFn, MapLayer, MinimalApp,
    PassThrough,
};
use rgi_bench::nested;
use rgi_count_alloc::{allocations, Counting};

#[global_allocator]
static ALLOC: Counting = Counting;

/// Every static depth of one layer kind, as a call of `$run` with the stack.
macro_rules! static_depths {
    ($layer:ident, $depth:expr, $run:expr) => {
        match $depth {
            0 => $run(&MinimalApp),
            1 => $run(&nested!($layer, MinimalApp; x)),
            2 => $run(&nested!($layer, MinimalApp; x x)),
            5 => $run(&nested!($layer, MinimalApp; x x x x x)),
            10 => $run(&nested!($layer, MinimalApp; x x x x x x x x x x)),
            other => cli::or_exit(Err(format!("--depth {other}: static stacks come in depths 0, 1, 2, 5, 10"))),
        }
    };
}

fn main() {
    let args = cli::args();
    let kind: String = cli::or_exit(cli::flag(&args, "kind", "async".to_owned()));
    let compose: String = cli::or_exit(cli::flag(&args, "compose", "static".to_owned()));
    let depth: usize = cli::or_exit(cli::flag(&args, "depth", 1));
    let requests: u64 = cli::or_exit(cli::flag(&args, "requests", 10_000));
    let run = |app: &dyn Fn(HttpScope, &mut CountingSender)| measure(requests, app);
    let per_request = match compose.as_str() {
        "dyn" => {
            let layer: LayerFn = match kind.as_str() {
                "async" => pass_through,
                "inspect" => inspect_layer,
                "map" => map_layer,
                other => cli::or_exit(Err(format!("--kind: unknown kind {other:?}"))),
            };
            let app = stack_of(depth, layer, rgi::boxed(MinimalApp));
            run(&|scope, sender| drive(&*app, scope, sender))
        }
        "static" => {
            let by_type = |app: &dyn Fn(HttpScope, &mut CountingSender)| run(app);
            match kind.as_str() {
                "async" => {
                    static_depths!(PassThrough, depth, |app| by_type(&|s, t| drive(app, s, t)))
                }
                "inspect" => {
                    static_depths!(InspectLayer, depth, |app| by_type(&|s, t| drive(app, s, t)))
                }
                "map" => static_depths!(MapLayer, depth, |app| by_type(&|s, t| drive(app, s, t))),
                other => cli::or_exit(Err(format!("--kind: unknown kind {other:?}"))),
            }
        }
        other => cli::or_exit(Err(format!("--compose: static or dyn, not {other:?}"))),
    };
    println!(
        "kind={kind} compose={compose} depth={depth} requests={requests} allocations_per_request={:.2} (the scope's own {:.2} not included)",
        per_request.0, per_request.1
    );
}

/// One request through `app`, which must complete it.
fn drive(app: &(impl App + ?Sized), scope: HttpScope, sender: &mut CountingSender) {
    let result = run_http(app, scope, &mut ScriptedReceiver::empty(), sender);
    assert!(matches!(result, Some(Ok(()))), "the request completes");
}

/// Runs `requests` requests; returns the allocations per request of the
/// call, and of building the scope.
fn measure(requests: u64, request: &dyn Fn(HttpScope, &mut CountingSender)) -> (f64, f64) {
    let mut scope_allocations = 0;
    let mut allocations_total = 0;
    for _ in 0..requests {
        let before = allocations();
        let scope = HttpScope::new(Method::GET, Uri::from_static("/")).expect("a valid path");
        scope_allocations += allocations() - before;
        let mut sender = CountingSender::default();
        request(scope, &mut sender);
        allocations_total += allocations() - before;
    }
    (
        (allocations_total - scope_allocations) as f64 / requests as f64,
        scope_allocations as f64 / requests as f64,
    )
}
