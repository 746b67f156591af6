//! The load app's routes on rgi-hyper (HTTP/1.1 + h2c), with the same
//! runtime as the hyper peers and the config of `rgi-peer` (no `server`
//! header, as hyper adds none).
//!
//! `rgi-hyper-peer [--bind 127.0.0.1:8080] [--threads 1]`

use rgi_bench::cli;
use rgi_bench::rgi_app::LoadApp;

fn main() {
    let (bind, runtime) = cli::peer_setup();
    runtime.block_on(async {
        let mut config = rgi_server::Config::default();
        config.server_header = None;
        let server = rgi_hyper::Server::bind(bind)
            .await
            .unwrap_or_else(|e| panic!("bind {bind}: {e}"))
            .with_config(config);
        if let Err(e) = server.serve(LoadApp).await {
            eprintln!("rgi-hyper-peer: {e}");
            std::process::exit(1);
        }
    });
}
