//! The command line every rgi server binary shares: clap flags (and
//! `RGI_*` environment variables) for listening, workers, limits,
//! timeouts, proxy headers, logging and TLS, and [`run`], which turns them
//! into a running server.
//!
//! ```no_run
//! use clap::Parser;
//!
//! /// Serves my app.
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     serve: rgi_server::cli::ServeArgs,
//! }
//!
//! # #[derive(Clone)] struct MyApp;
//! # impl rgi::App for MyApp {
//! #     async fn call(&self, conn: rgi::Conn<'_>) -> rgi::AppResult { conn.unsupported() }
//! # }
//! fn main() -> std::process::ExitCode {
//!     let cli = Cli::parse();
//!     rgi_server::cli::run(cli.serve, || MyApp)
//! }
//! ```
//!
//! What [`run`] does, in order: installs the log subscriber; binds every
//! listener (a bad address or a port in use ends the process here, with a
//! message naming the flag, before the app starts); with `--workers N`
//! becomes the supervisor of N worker processes that inherit the sockets;
//! otherwise runs lifespan startup, makes the sockets listen only once it
//! completed (and tells systemd `READY=1`), serves until SIGTERM or
//! Ctrl-C, drains, runs lifespan shutdown and flushes the access log.
//!
//! Exit status: 0 after a graceful shutdown, 2 for a bad command line, 3
//! when lifespan startup failed (the app's message is printed), 1 for any
//! other failure.

mod args;

use std::io;
use std::os::fd::RawFd;
use std::process::ExitCode;

use http::HeaderValue;
use rgi::App;

pub use self::args::{BodyLimit, ServeArgs, DEFAULT_BIND};
use crate::access_log::AccessLog;
use crate::listen::{supervisor, BindSpec, BoundSocket};
use crate::{Config, ServeError, Server};

/// The exit status of a process whose lifespan startup failed.
pub const EXIT_STARTUP_FAILED: u8 = 3;
/// The exit status for a bad command line (as clap's).
pub const EXIT_USAGE: u8 = 2;

/// How a supervisor tells a worker which inherited descriptors to serve.
pub(crate) const WORKER_FDS_ENV: &str = "RGI_WORKER_FDS";

impl ServeArgs {
    /// What to listen on: every `--bind`, `--uds`, `--fd`; the systemd
    /// sockets when none is given and `LISTEN_FDS` is set; else
    /// [`DEFAULT_BIND`].
    pub fn bind_specs(&self) -> Vec<BindSpec> {
        let mut specs: Vec<BindSpec> = self.bind.iter().copied().map(BindSpec::Tcp).collect();
        if let Some(path) = &self.uds {
            specs.push(BindSpec::Unix {
                path: path.clone(),
                mode: self.uds_perms,
            });
        }
        if let Some(fd) = self.fd {
            specs.push(BindSpec::Fd(fd));
        }
        if specs.is_empty() {
            if std::env::var_os("LISTEN_FDS").is_some() {
                specs.push(BindSpec::Systemd);
            } else {
                specs.push(BindSpec::Tcp(DEFAULT_BIND.parse().expect("literal")));
            }
        }
        specs
    }

    /// The server configuration the flags describe. Starts the access
    /// log's writer when the access log is on.
    pub fn config(&self) -> io::Result<Config> {
        let mut config = Config {
            max_head_bytes: self.max_head_bytes,
            max_target_bytes: self.max_target_bytes,
            max_headers: self.max_headers,
            max_body_bytes: self.max_body_bytes.0,
            keep_alive_timeout: self.timeout_keep_alive,
            head_timeout: self.timeout_head,
            write_timeout: self.timeout_write,
            drain_timeout: self.drain_timeout,
            lifespan: self.lifespan,
            server_header: (self.server_header && !self.no_server_header)
                .then(|| HeaderValue::from_static("rgi")),
            date_header: self.date_header && !self.no_date_header,
            limit_concurrency: self.limit_concurrency.map(|n| n.get()),
            max_requests_per_connection: self.max_requests_per_connection.map(|n| n.get()),
            proxy_headers: self.proxy_headers.then(|| self.forwarded_allow_ips.clone()),
            root_path: self.root_path.clone(),
            ..Config::default()
        };
        if self.access_log && !self.no_access_log {
            config.access_log = Some(AccessLog::stdout(self.access_log_format)?);
        }
        Ok(config)
    }
}

/// The flag that names `spec`, for error messages.
fn flag_of(spec: &BindSpec) -> String {
    match spec {
        BindSpec::Tcp(addr) => format!("--bind {addr}"),
        BindSpec::Unix { path, .. } => format!("--uds {}", path.display()),
        BindSpec::Fd(fd) => format!("--fd {fd}"),
        BindSpec::Systemd => "systemd socket activation (LISTEN_FDS)".to_owned(),
    }
}

/// Installs the log subscriber (on stderr; the access log has stdout) at
/// `--log-level`, unless `RUST_LOG` is set. Does nothing if the program
/// installed one already. Every server binary calls it first, `rgi-hyper`'s
/// included.
pub fn init_logging(level: &str) {
    let level = match level {
        "critical" => "error",
        "warning" => "warn",
        other => other,
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .try_init();
}

/// Binds what the flags name, or takes the sockets a supervisor passed
/// down.
fn sockets(args: &ServeArgs) -> Result<Vec<BoundSocket>, String> {
    if let Ok(list) = std::env::var(WORKER_FDS_ENV) {
        std::env::remove_var(WORKER_FDS_ENV);
        return list
            .split(',')
            .map(|fd| {
                let fd: RawFd = fd
                    .parse()
                    .map_err(|_| format!("{WORKER_FDS_ENV}: `{fd}` is not a descriptor"))?;
                BoundSocket::inherited(fd).map_err(|e| format!("{WORKER_FDS_ENV}: {e}"))
            })
            .collect();
    }
    let mut sockets = Vec::new();
    for spec in args.bind_specs() {
        let bound = spec
            .bind()
            .map_err(|e| format!("{}: cannot listen: {e}", flag_of(&spec)))?;
        sockets.extend(bound);
    }
    Ok(sockets)
}

/// Runs a server for the app `make_app` builds, as the flags say, and
/// returns the process's exit status. See the [module docs](self).
pub fn run<A: App>(args: ServeArgs, make_app: impl FnOnce() -> A) -> ExitCode {
    init_logging(&args.log_level);
    let fail = |message: String, status: u8| {
        eprintln!("error: {message}");
        ExitCode::from(status)
    };
    if args.ssl_certfile.is_some() {
        return fail(
            "--ssl-certfile: the reference server speaks plain TCP; serve HTTPS with --server hyper (rgi-hyper, rustls) or terminate TLS in a proxy in front (see DEPLOYMENT.md)".to_owned(),
            EXIT_USAGE,
        );
    }
    let is_worker = std::env::var_os(WORKER_FDS_ENV).is_some();
    let sockets = match sockets(&args) {
        Ok(sockets) => sockets,
        Err(message) => return fail(message, 1),
    };
    let unix_paths: Vec<_> = if is_worker {
        Vec::new()
    } else {
        args.bind_specs()
            .into_iter()
            .filter_map(|spec| match spec {
                BindSpec::Unix { path, .. } => Some(path),
                _ => None,
            })
            .collect()
    };
    let status = if !is_worker && args.workers.get() > 1 {
        supervisor::supervise(sockets, args.workers.get(), args.drain_timeout)
    } else {
        serve_here(&args, sockets, make_app)
    };
    for path in unix_paths {
        let _ = std::fs::remove_file(path);
    }
    status
}

/// Serves in this process.
fn serve_here<A: App>(
    args: &ServeArgs,
    sockets: Vec<BoundSocket>,
    make_app: impl FnOnce() -> A,
) -> ExitCode {
    let config = match args.config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: cannot start the access log: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        runtime.worker_threads(threads.get());
    }
    let runtime = match runtime.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let backlog = args.backlog;
    let result = runtime.block_on(async move {
        let server = Server::bind_after_startup(move || {
            sockets
                .into_iter()
                .map(|socket| socket.into_listener(backlog))
                .collect()
        })
        .with_config(config);
        server.serve(make_app()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(ServeError::StartupFailed(message)) => {
            eprintln!("error: lifespan startup failed: {message}");
            ExitCode::from(EXIT_STARTUP_FAILED)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::LifespanMode;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn parse(args: &[&str]) -> Result<ServeArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("rgi").chain(args.iter().copied())).map(|c| c.serve)
    }

    #[test]
    fn defaults_match_config_defaults() {
        let args = parse(&[]).unwrap();
        let mut config = args.config().unwrap();
        assert!(config.access_log.take().is_some(), "on by default");
        let default = Config::default();
        assert_eq!(format!("{config:?}"), format!("{default:?}"));
        assert_eq!(
            args.bind_specs(),
            vec![BindSpec::Tcp(DEFAULT_BIND.parse().unwrap())]
        );
    }

    #[test]
    fn flags_reach_the_config() {
        let args = parse(&[
            "--bind",
            "127.0.0.1:1",
            "--bind",
            "[::1]:2",
            "--uds",
            "/tmp/x.sock",
            "--uds-perms",
            "660",
            "--no-access-log",
            "--no-server-header",
            "--no-date-header",
            "--limit-concurrency",
            "3",
            "--max-requests-per-connection",
            "9",
            "--max-body-bytes",
            "none",
            "--timeout-keep-alive",
            "0.5",
            "--drain-timeout",
            "2",
            "--root-path",
            "/api/",
            "--proxy-headers",
            "--forwarded-allow-ips",
            "10.0.0.0/8",
            "--lifespan",
            "off",
        ])
        .unwrap();
        let config = args.config().unwrap();
        assert!(config.access_log.is_none());
        assert!(config.server_header.is_none() && !config.date_header);
        assert_eq!(config.limit_concurrency, Some(3));
        assert_eq!(config.max_requests_per_connection, Some(9));
        assert_eq!(config.max_body_bytes, None);
        assert_eq!(config.keep_alive_timeout.as_millis(), 500);
        assert_eq!(config.drain_timeout.as_secs(), 2);
        assert_eq!(config.root_path, "/api");
        assert_eq!(config.lifespan, LifespanMode::Off);
        let trusted = config.proxy_headers.unwrap();
        assert!(trusted.contains("10.1.1.1".parse().unwrap()));
        assert!(!trusted.contains("127.0.0.1".parse().unwrap()));
        assert_eq!(args.bind_specs().len(), 3);
        assert_eq!(
            args.bind_specs()[2],
            BindSpec::Unix {
                path: "/tmp/x.sock".into(),
                mode: Some(0o660)
            }
        );
    }

    #[test]
    fn the_last_of_a_flag_pair_wins() {
        let on = parse(&["--no-access-log", "--access-log"]).unwrap();
        assert!(on.access_log && !on.no_access_log);
        let off = parse(&["--access-log", "--no-access-log"]).unwrap();
        assert!(off.no_access_log);
        assert!(parse(&["--access-log=false"])
            .unwrap()
            .config()
            .unwrap()
            .access_log
            .is_none());
    }

    #[test]
    fn bad_values_are_refused_naming_the_flag() {
        for (args, flag) in [
            (&["--bind", "nowhere"][..], "--bind"),
            (&["--workers", "0"], "--workers"),
            (&["--threads=-1"], "--threads"),
            (&["--backlog", "0"], "--backlog"),
            (&["--fd", "1"], "--fd"),
            (&["--uds-perms", "660"], "--uds"),
            (&["--uds", "/x", "--uds-perms", "888"], "--uds-perms"),
            (&["--limit-concurrency", "0"], "--limit-concurrency"),
            (&["--timeout-keep-alive=-3"], "--timeout-keep-alive"),
            (&["--access-log-format", "apache"], "--access-log-format"),
            (&["--log-level", "loud"], "--log-level"),
            (
                &["--forwarded-allow-ips", "localhost"],
                "--forwarded-allow-ips",
            ),
            (&["--root-path", "api"], "--root-path"),
            (&["--max-body-bytes", "lots"], "--max-body-bytes"),
            (&["--ssl-certfile", "c.pem"], "--ssl-keyfile"),
            (&["--lifespan", "maybe"], "--lifespan"),
        ] {
            let err = parse(args)
                .err()
                .unwrap_or_else(|| panic!("{args:?} accepted"));
            let text = err.to_string();
            assert!(text.contains(flag), "{args:?}: {text}");
            assert_eq!(err.exit_code(), i32::from(EXIT_USAGE), "{args:?}");
        }
    }
}
