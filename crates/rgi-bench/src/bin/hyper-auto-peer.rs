//! The bare-hyper baseline for rgi-hyper: the load app's routes on hyper
//! with hyper-util's automatic HTTP/1.1 + h2c builder, set up as rgi-hyper
//! sets it up unless told otherwise.
//!
//! `hyper-auto-peer [--bind 127.0.0.1:8080] [--threads 1]
//! [--head-timeout-ms 10000 (0: no header read timer)] [--pipeline-flush false]
//! [--upgrades true] [--graceful true]` (`--upgrades false --graceful false`:
//! hyper as the plain benchmark entries set it up)

use std::time::Duration;

use rgi_bench::cli;
use rgi_bench::hyper_app::AutoOptions;

fn main() {
    let (bind, runtime) = cli::peer_setup();
    let args = cli::args();
    let defaults = AutoOptions::default();
    let head_timeout_ms: u64 = cli::or_exit(cli::flag(
        &args,
        "head-timeout-ms",
        defaults.head_timeout.map_or(0, |t| t.as_millis() as u64),
    ));
    let options = AutoOptions {
        head_timeout: (head_timeout_ms > 0).then(|| Duration::from_millis(head_timeout_ms)),
        pipeline_flush: cli::or_exit(cli::flag(&args, "pipeline-flush", defaults.pipeline_flush)),
        upgrades: cli::or_exit(cli::flag(&args, "upgrades", defaults.upgrades)),
        graceful: cli::or_exit(cli::flag(&args, "graceful", defaults.graceful)),
    };
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .unwrap_or_else(|e| panic!("bind {bind}: {e}"));
        rgi_bench::hyper_app::serve_auto(listener, options).await;
    });
}
