//! The fastwebsockets baseline: a WebSocket echo server on hyper's upgrade
//! (the crate's own echo example, without its logging), with the runtime
//! of the other peers (`cli::peer_setup`).
//!
//! `fastwebsockets-peer [--bind 127.0.0.1:8080] [--threads 1]`

fn main() {
    rgi_bench::cli::run_peer(rgi_bench::ws_peers::serve_fastwebsockets);
}
