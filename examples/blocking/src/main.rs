//! `rgi-blocking-examples [--bind 127.0.0.1:8000] [--db users.db] [--threads 16] [--validate]`
//!
//! Serves the example app (see the crate docs) on the reference server:
//! blocking handlers on a pool of `--threads` threads, next to an async
//! route. `RUST_LOG=debug` shows the seed 001 scope logger. `--validate`:
//! debug mode, the conformance validator in front of every blocking adapter
//! and outermost, refusing what breaks a rule and logging it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use rgi_blocking::{Pool, PoolConfig};
use tracing_subscriber::EnvFilter;

const USAGE: &str =
    "usage: rgi-blocking-examples [--bind ADDR] [--db PATH] [--threads N] [--validate]";

struct Args {
    bind: SocketAddr,
    db: PathBuf,
    threads: usize,
    validate: bool,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        bind: SocketAddr::from(([127, 0, 0, 1], 8000)),
        db: PathBuf::from("users.db"),
        threads: 16,
        validate: false,
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--bind" => parsed.bind = value()?.parse().map_err(|e| format!("--bind: {e}"))?,
            "--db" => parsed.db = PathBuf::from(value()?),
            "--threads" => {
                parsed.threads = value()?.parse().map_err(|e| format!("--threads: {e}"))?
            }
            "--validate" => parsed.validate = true,
            _ => return Err(format!("unknown argument {flag}\n{USAGE}")),
        }
    }
    Ok(parsed)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let pool = Pool::new(PoolConfig::with_size(args.threads));
    let log = rgi_conformance::ViolationLog::new();
    let app = if args.validate {
        rgi_blocking_examples::validated_app(&args.db, &pool, &log)
    } else {
        rgi_blocking_examples::app(&args.db, &pool)
    };
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            eprintln!("cannot open the database {}: {e}", args.db.display());
            return ExitCode::FAILURE;
        }
    };
    let server = match rgi_server::Server::bind(args.bind).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("cannot listen on {}: {e}", args.bind);
            return ExitCode::FAILURE;
        }
    };
    let served = server.serve(app).await;
    for violation in log.violations() {
        eprintln!("rule broken: {violation}");
    }
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
