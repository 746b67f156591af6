//! Allocations per call across the border, counted (deterministic where
//! the timings of `benches/crossing.rs` are noisy): an rgi app called
//! directly, through rgi → tower → rgi, and under a tower identity layer.
//! The bounds are today's counts; a change that adds allocations per
//! crossing fails here and must say why.

#[path = "common/driver.rs"]
mod driver;

use driver::{call_rgi, scope, Hello};
use rgi::App;
use rgi_tower::{RgiService, TowerApp, TowerLayer};

#[global_allocator]
static ALLOC: rgi_count_alloc::Counting = rgi_count_alloc::Counting;

fn allocations_per_call(app: &impl App) -> u64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let template = scope();
    // Warm up: lazily initialised statics are not the call's.
    runtime.block_on(call_rgi(app, &template));
    let before = rgi_count_alloc::allocations();
    for _ in 0..10 {
        assert_eq!(runtime.block_on(call_rgi(app, &template)), 5);
    }
    (rgi_count_alloc::allocations() - before) / 10
}

#[test]
fn allocations_per_crossing() {
    let direct = allocations_per_call(&Hello);
    let round_trip = allocations_per_call(&TowerApp::new(RgiService::new(Hello)));
    let layered =
        allocations_per_call(&TowerLayer::new(tower::layer::util::Identity::new()).wrap(Hello));
    println!("allocations per call: direct {direct}, rgi -> tower -> rgi {round_trip}, TowerLayer(Identity) {layered}");
    // 14 before RgiService kept the scope and the slot of finished calls
    // (the scope's box, its path, the slot: three fewer).
    assert!(
        round_trip <= direct + 11,
        "rgi -> tower -> rgi: {round_trip} (direct {direct})"
    );
    assert!(
        layered <= direct + 11,
        "TowerLayer(Identity): {layered} (direct {direct})"
    );
}
