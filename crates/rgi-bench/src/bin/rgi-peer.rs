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
//! WebSocket (any path: the echo) is served with permessage-deflate
//! unless `--ws-deflate off`: the comparison with the WebSocket peers,
//! which have no compression, turns it off (`load/ws.sh`).
//!
//! `--access-log` (default `off`) writes the access log to standard output:
//! the access-log cost comparison (`load/access-log.sh`) runs it on and off.
//!
//! `rgi-peer [--bind 127.0.0.1:8080] [--threads 1] [--ws-deflate on|off] [--access-log off|common|combined|json]`

use rgi_bench::cli;
use rgi_bench::rgi_app::LoadApp;

fn main() {
    let (bind, runtime) = cli::peer_setup();
    let deflate: String = cli::or_exit(cli::flag(&cli::args(), "ws-deflate", "on".to_owned()));
    let mut config = rgi_bench::rgi_app::peer_config();
    config.websocket.deflate = match deflate.as_str() {
        "on" => true,
        "off" => false,
        other => cli::or_exit(Err(format!("--ws-deflate: on or off, not {other:?}"))),
    };
    let access_log: String = cli::or_exit(cli::flag(&cli::args(), "access-log", "off".into()));
    if access_log != "off" {
        let format = cli::or_exit(access_log.parse().map_err(|e| format!("--access-log: {e}")));
        config.access_log =
            Some(rgi_server::AccessLog::stdout(format).expect("start the access log writer"));
    }
    runtime.block_on(rgi_bench::rgi_app::serve_peer(
        "rgi-peer", bind, config, LoadApp,
    ));
}
