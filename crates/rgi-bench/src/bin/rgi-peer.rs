//! The load app's routes on the reference server, `rgi_server`, with the
//! same runtime as the hyper peer. No tracing subscriber is installed, so
//! the server's access log costs nothing.
//!
//! The config differs from the default only where hyper's defaults differ,
//! so both peers do the same work: no `server` header (hyper adds none),
//! and idle keep-alive connections are kept (hyper has no idle timeout), so
//! the idle-connection scenario measures the same 10,000 connections. The
//! write buffer limit is hyper's (`max_buf_size`, 8 KiB + 100 × 4 KiB):
//! rgi's default (64 KiB) flushes a streamed body every four 16 KiB chunks,
//! which makes the streaming scenario measure syscall count rather than
//! the server (about 0.63 × hyper at 64 KiB, see BENCHMARKS.md).
//!
//! `rgi-peer [--bind 127.0.0.1:8080] [--threads 1]`

use rgi_bench::cli;
use rgi_bench::rgi_app::LoadApp;

fn main() {
    let (bind, runtime) = cli::peer_setup();
    runtime.block_on(rgi_bench::rgi_app::serve_peer("rgi-peer", bind, LoadApp));
}
