//! The hyper baseline: the load app's routes on hyper 1.x.
//!
//! `hyper-peer [--bind 127.0.0.1:8080] [--threads 1]`

use std::net::SocketAddr;

use rgi_bench::cli;

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
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .unwrap_or_else(|e| panic!("bind {bind}: {e}"));
        rgi_bench::hyper_app::serve(listener).await;
    });
}
