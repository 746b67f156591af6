//! The hyper baseline: the load app's routes on hyper 1.x.
//!
//! `hyper-peer [--bind 127.0.0.1:8080] [--threads 1]`

fn main() {
    rgi_bench::cli::run_peer(rgi_bench::hyper_app::serve);
}
