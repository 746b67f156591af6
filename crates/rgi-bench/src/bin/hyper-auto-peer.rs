//! The bare-hyper baseline for rgi-hyper: the load app's routes on hyper
//! with hyper-util's automatic HTTP/1.1 + h2c builder.
//!
//! `hyper-auto-peer [--bind 127.0.0.1:8080] [--threads 1]`

use rgi_bench::cli;

fn main() {
    let (bind, runtime) = cli::peer_setup();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .unwrap_or_else(|e| panic!("bind {bind}: {e}"));
        rgi_bench::hyper_app::serve_auto(listener).await;
    });
}
