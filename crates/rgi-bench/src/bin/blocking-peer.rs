//! The load app's routes as blocking handlers on `rgi-blocking`, served by
//! the reference server with the same config as `rgi-peer`.
//!
//! `blocking-peer [--bind 127.0.0.1:8080] [--threads 1] [--pool 32]`
//! (`--pool`: the blocking pool's size; `--threads`: the runtime's workers).

use rgi_bench::{blocking_app, cli};
use rgi_blocking::{Blocking, Pool, PoolConfig};

fn main() {
    let pool_size: usize = cli::or_exit(cli::flag(&cli::args(), "pool", 32));
    let (bind, runtime) = cli::peer_setup();
    let app = Blocking::with_pool(
        blocking_app::handler,
        Pool::new(PoolConfig::with_size(pool_size)),
    );
    runtime.block_on(rgi_bench::rgi_app::serve_peer(
        "blocking-peer",
        bind,
        rgi_bench::rgi_app::peer_config(),
        app,
    ));
}
