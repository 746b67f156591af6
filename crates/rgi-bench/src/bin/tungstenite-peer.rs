//! The tokio-tungstenite baseline: a WebSocket echo server (every text or
//! binary message sent back as it came), with the runtime of the other
//! peers (`cli::peer_setup`).
//!
//! `tungstenite-peer [--bind 127.0.0.1:8080] [--threads 1]`

use rgi_bench::cli;

fn main() {
    let (bind, runtime) = cli::peer_setup();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .unwrap_or_else(|e| panic!("bind {bind}: {e}"));
        rgi_bench::ws_peers::serve_tungstenite(listener).await;
    });
}
