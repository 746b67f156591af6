//! The load app's routes on the reference server, `rgi_server`, with the
//! same runtime as the hyper peer. No tracing subscriber is installed, so
//! the server's access log costs nothing.
//!
//! `rgi-peer [--bind 127.0.0.1:8080] [--threads 1]`

use std::net::SocketAddr;

use rgi_bench::cli;
use rgi_bench::rgi_app::LoadApp;

fn main() {
    let args = cli::args();
    let bind: SocketAddr = cli::or_exit(cli::flag(&args, "bind", ([127, 0, 0, 1], 8080).into()));
    let threads: usize = cli::or_exit(cli::flag(&args, "threads", 1));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .expect("build the tokio runtime");
    runtime.block_on(async {
        let server = rgi_server::Server::bind(bind)
            .await
            .unwrap_or_else(|e| panic!("bind {bind}: {e}"))
            .with_config(rgi_server::Config::default());
        if let Err(e) = server.serve(LoadApp).await {
            eprintln!("rgi-peer: {e}");
            std::process::exit(1);
        }
    });
}
