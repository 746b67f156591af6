//! The shared command line ([`rgi_server::cli::ServeArgs`]) run on
//! rgi-hyper: `testbed --server hyper` and `hello --server hyper` come
//! here with the same flags as on the reference server.
//!
//! What this server does not do is refused with a message naming the flag
//! before anything listens: Unix sockets, inherited descriptors, several
//! `--bind` and `--workers` belong to the reference server's listeners.
//! The access log is the reference server's, entry for entry.
//! `--ssl-certfile` / `--ssl-keyfile` serve HTTPS when the crate is built
//! with the `tls` feature.

use std::process::ExitCode;

use clap::ValueEnum;

use rgi::App;
use rgi_server::cli::{ServeArgs, EXIT_STARTUP_FAILED, EXIT_USAGE};
use rgi_server::ServeError;

use crate::Server;

/// Which server a binary runs its app on (`--server`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Which {
    /// The reference server, `rgi-server`: HTTP/1.1, WebSocket, the whole
    /// command line.
    #[default]
    Rgi,
    /// `rgi-hyper`: HTTP/1.1 and HTTP/2 (h2c; h2 over TLS with the `tls`
    /// feature).
    Hyper,
}

/// The shared flags plus `--server`: what a binary that runs on either
/// server flattens into its command line (`testbed`, `hello`).
#[derive(Debug, clap::Args)]
pub struct AnyServerArgs {
    /// The flags every rgi server shares.
    #[command(flatten)]
    pub serve: ServeArgs,
    /// The rgi server to run on: `rgi` (the reference server) or `hyper`
    /// (rgi-hyper: HTTP/1.1 and HTTP/2)
    #[arg(
        long,
        value_enum,
        default_value_t,
        env = "RGI_SERVER",
        help_heading = "Application"
    )]
    pub server: Which,
}

impl AnyServerArgs {
    /// Runs the app `make_app` builds on the chosen server ([`run_on`]).
    pub fn run<A: App>(self, make_app: impl FnOnce() -> A) -> ExitCode {
        run_on(self.server, self.serve, make_app)
    }
}

/// Runs the app on the server `which` names, with the shared flags: what
/// `testbed` and `hello` do with their `--server` flag.
pub fn run_on<A: App>(which: Which, args: ServeArgs, make_app: impl FnOnce() -> A) -> ExitCode {
    match which {
        Which::Rgi => rgi_server::cli::run(args, make_app),
        Which::Hyper => run(args, make_app),
    }
}

/// Runs rgi-hyper for the app `make_app` builds, as the flags say, and
/// returns the process's exit status (0, 1, 2 for a bad command line, 3
/// when lifespan startup failed, as [`rgi_server::cli::run`]).
pub fn run<A: App>(args: ServeArgs, make_app: impl FnOnce() -> A) -> ExitCode {
    rgi_server::cli::init_logging(&args.log_level);
    let fail = |message: &str, status: u8| {
        eprintln!("error: {message}");
        ExitCode::from(status)
    };
    let unsupported = [
        (args.uds.is_some(), "--uds"),
        (args.fd.is_some(), "--fd"),
        (args.workers.get() > 1, "--workers"),
        (args.bind.len() > 1, "--bind (more than one)"),
    ];
    if let Some((_, flag)) = unsupported.iter().find(|(used, _)| *used) {
        return fail(
            &format!("{flag}: not supported by --server hyper (use the reference server)"),
            EXIT_USAGE,
        );
    }
    let tls = match (&args.ssl_certfile, &args.ssl_keyfile) {
        (Some(cert), Some(key)) => match load_tls(cert, key) {
            Ok(tls) => Some(tls),
            Err(message) => return fail(&message, EXIT_USAGE),
        },
        _ => None,
    };
    let config = match args.config() {
        Ok(config) => config,
        Err(e) => return fail(&format!("cannot start the access log: {e}"), 1),
    };
    let addr = args
        .bind
        .first()
        .copied()
        .unwrap_or_else(|| rgi_server::cli::DEFAULT_BIND.parse().expect("literal"));
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        runtime.worker_threads(threads.get());
    }
    let runtime = match runtime.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return fail(&format!("cannot start the runtime: {e}"), 1),
    };
    let result = runtime.block_on(async move {
        let server = match Server::bind(addr).await {
            Ok(server) => server,
            Err(e) => return Err(format!("--bind: cannot listen on {addr}: {e}")),
        };
        let server = with_tls(server.with_config(config), tls);
        server.serve(make_app()).await.map_err(|e| match e {
            ServeError::StartupFailed(message) => format!("startup:{message}"),
            e => e.to_string(),
        })
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => match message.strip_prefix("startup:") {
            Some(message) => fail(
                &format!("lifespan startup failed: {message}"),
                EXIT_STARTUP_FAILED,
            ),
            None => fail(&message, 1),
        },
    }
}

#[cfg(feature = "tls")]
type Tls = crate::TlsConfig;
#[cfg(not(feature = "tls"))]
type Tls = std::convert::Infallible;

#[cfg(feature = "tls")]
fn load_tls(cert: &std::path::Path, key: &std::path::Path) -> Result<Tls, String> {
    crate::TlsConfig::from_pem_files(cert, key).map_err(|e| format!("--ssl-certfile: {e}"))
}

#[cfg(not(feature = "tls"))]
fn load_tls(_: &std::path::Path, _: &std::path::Path) -> Result<Tls, String> {
    Err("--ssl-certfile: this build of rgi-hyper has no TLS (build it with --features tls)".into())
}

#[cfg(feature = "tls")]
fn with_tls(server: Server, tls: Option<Tls>) -> Server {
    match tls {
        Some(tls) => server.with_tls(tls),
        None => server,
    }
}

#[cfg(not(feature = "tls"))]
fn with_tls(server: Server, tls: Option<Tls>) -> Server {
    match tls {
        Some(never) => match never {},
        None => server,
    }
}
