//! The tokio-tungstenite baseline: a WebSocket echo server (every text or
//! binary message sent back as it came), with the runtime of the other
//! peers (`cli::peer_setup`).
//!
//! `tungstenite-peer [--bind 127.0.0.1:8080] [--threads 1]`

fn main() {
    rgi_bench::cli::run_peer(rgi_bench::ws_peers::serve_tungstenite);
}
