//! The fastwebsockets baseline: a WebSocket echo server on hyper's upgrade
//! (the crate's own echo example, without its logging), with the runtime
//! of the other peers (`cli::peer_setup`).
//!
//! `fastwebsockets-peer [--bind 127.0.0.1:8080] [--threads 1]`

use rgi_bench::cli;

fn main() {
    let (bind, runtime) = cli::peer_setup();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .unwrap_or_else(|e| panic!("bind {bind}: {e}"));
        rgi_bench::ws_peers::serve_fastwebsockets(listener).await;
    });
}
