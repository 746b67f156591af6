//! The flags, their environment variables and their help.

use std::net::SocketAddr;
use std::num::{NonZeroU64, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{ArgAction, Args};

use crate::access_log::AccessLogFormat;
use crate::config::LifespanMode;
use crate::proxy::TrustedProxies;

/// Where the server listens when no `--bind`, `--uds`, `--fd` or systemd
/// socket is given.
pub const DEFAULT_BIND: &str = "127.0.0.1:8000";

/// Every flag of an rgi server. A binary flattens it into its own parser
/// (`#[command(flatten)]`) next to its own flags, and hands it to
/// [`run`](super::run). Every flag can also be set by an `RGI_*`
/// environment variable (the flag wins).
#[derive(Debug, Clone, Args)]
#[non_exhaustive]
pub struct ServeArgs {
    /// Listen on this TCP address; repeat for several [default: 127.0.0.1:8000]
    #[arg(
        long,
        value_name = "ADDR",
        env = "RGI_BIND",
        value_delimiter = ',',
        help_heading = "Listening"
    )]
    pub bind: Vec<SocketAddr>,
    /// Listen on this Unix domain socket (a stale socket file is replaced)
    #[arg(long, value_name = "PATH", env = "RGI_UDS", help_heading = "Listening")]
    pub uds: Option<PathBuf>,
    /// Permissions of the --uds socket file, in octal (e.g. 660)
    #[arg(long, value_name = "MODE", env = "RGI_UDS_PERMS", value_parser = parse_mode, requires = "uds", help_heading = "Listening")]
    pub uds_perms: Option<u32>,
    /// Serve the listening socket inherited as this file descriptor
    #[arg(long, value_name = "N", env = "RGI_FD", value_parser = clap::value_parser!(i32).range(3..), help_heading = "Listening")]
    pub fd: Option<i32>,
    /// Most connections waiting to be accepted (the listen backlog)
    #[arg(long, value_name = "N", env = "RGI_BACKLOG", default_value_t = 2048, value_parser = clap::value_parser!(u32).range(1..=65535), help_heading = "Listening")]
    pub backlog: u32,

    /// Worker processes sharing the listeners; a supervisor restarts a
    /// worker that dies and passes shutdown signals on
    #[arg(
        long,
        value_name = "N",
        env = "RGI_WORKERS",
        default_value = "1",
        help_heading = "Processes"
    )]
    pub workers: NonZeroUsize,
    /// Runtime threads per worker [default: the number of CPUs]
    #[arg(
        long,
        value_name = "N",
        env = "RGI_THREADS",
        help_heading = "Processes"
    )]
    pub threads: Option<NonZeroUsize>,

    /// Most connections served at once; beyond it: 503 with Retry-After
    #[arg(
        long,
        value_name = "N",
        env = "RGI_LIMIT_CONCURRENCY",
        help_heading = "Limits"
    )]
    pub limit_concurrency: Option<NonZeroUsize>,
    /// Most requests on one connection; the last one closes it
    #[arg(
        long,
        value_name = "N",
        env = "RGI_MAX_REQUESTS_PER_CONNECTION",
        help_heading = "Limits"
    )]
    pub max_requests_per_connection: Option<NonZeroU64>,
    /// Largest request head in bytes (431 beyond it)
    #[arg(long, value_name = "BYTES", env = "RGI_MAX_HEAD_BYTES", default_value_t = 16 * 1024, value_parser = positive_usize, help_heading = "Limits")]
    pub max_head_bytes: usize,
    /// Longest request target in bytes (414 beyond it)
    #[arg(long, value_name = "BYTES", env = "RGI_MAX_TARGET_BYTES", default_value_t = 8 * 1024, value_parser = positive_usize, help_heading = "Limits")]
    pub max_target_bytes: usize,
    /// Most header fields in a request (431 beyond it)
    #[arg(long, value_name = "N", env = "RGI_MAX_HEADERS", default_value_t = 100, value_parser = positive_usize, help_heading = "Limits")]
    pub max_headers: usize,
    /// Largest request body in bytes, or `none` (413 beyond it)
    #[arg(long, value_name = "BYTES|none", env = "RGI_MAX_BODY_BYTES", default_value = "16777216", value_parser = parse_body_limit, help_heading = "Limits")]
    pub max_body_bytes: BodyLimit,

    /// Seconds an idle keep-alive connection is kept
    #[arg(long, value_name = "SECONDS", env = "RGI_TIMEOUT_KEEP_ALIVE", default_value = "5", value_parser = parse_seconds, help_heading = "Timeouts")]
    pub timeout_keep_alive: Duration,
    /// Seconds a client has to send a request head (408 after)
    #[arg(long, value_name = "SECONDS", env = "RGI_TIMEOUT_HEAD", default_value = "10", value_parser = parse_seconds, help_heading = "Timeouts")]
    pub timeout_head: Duration,
    /// Seconds output may wait for a client that does not read
    #[arg(long, value_name = "SECONDS", env = "RGI_TIMEOUT_WRITE", default_value = "30", value_parser = parse_seconds, help_heading = "Timeouts")]
    pub timeout_write: Duration,
    /// Seconds graceful shutdown waits for requests in flight
    #[arg(long, value_name = "SECONDS", env = "RGI_DRAIN_TIMEOUT", default_value = "30", value_parser = parse_seconds, help_heading = "Timeouts")]
    pub drain_timeout: Duration,

    /// The app's mount point, when a proxy strips it from the path
    #[arg(long, value_name = "PATH", env = "RGI_ROOT_PATH", default_value = "", value_parser = parse_root_path, help_heading = "Application")]
    pub root_path: String,
    /// Run the app's lifespan: auto (if it supports it), on (required), off
    #[arg(long, value_name = "MODE", env = "RGI_LIFESPAN", default_value = "auto", value_parser = PossibleValuesParser::new(["auto", "on", "off"]).map(|s| lifespan_mode(&s)), help_heading = "Application")]
    pub lifespan: LifespanMode,

    /// Take the client's address, scheme and host from Forwarded /
    /// X-Forwarded-* headers sent by --forwarded-allow-ips peers
    #[arg(long, env = "RGI_PROXY_HEADERS", help_heading = "Proxy")]
    pub proxy_headers: bool,
    /// Peers trusted with proxy headers: addresses, CIDR ranges, or `*`
    #[arg(long, value_name = "LIST", env = "RGI_FORWARDED_ALLOW_IPS", default_value = "127.0.0.1,::1", value_parser = parse_trusted, help_heading = "Proxy")]
    pub forwarded_allow_ips: TrustedProxies,

    /// Log level of the server's messages (RUST_LOG, when set, wins)
    #[arg(long, value_name = "LEVEL", env = "RGI_LOG_LEVEL", default_value = "info", value_parser = PossibleValuesParser::new(["critical", "error", "warning", "info", "debug", "trace"]), help_heading = "Logging")]
    pub log_level: String,
    /// Write an access log line per request to stdout [default]
    #[arg(long, env = "RGI_ACCESS_LOG", value_name = "BOOL", num_args = 0..=1, default_value_t = true, default_missing_value = "true", action = ArgAction::Set, overrides_with = "no_access_log", hide_possible_values = true, help_heading = "Logging")]
    pub access_log: bool,
    /// No access log
    #[arg(long, overrides_with = "access_log", help_heading = "Logging")]
    pub no_access_log: bool,
    /// The access log's line format
    #[arg(long, value_name = "FORMAT", env = "RGI_ACCESS_LOG_FORMAT", default_value = "common", value_parser = PossibleValuesParser::new(AccessLogFormat::NAMES).map(|s| s.parse::<AccessLogFormat>().unwrap_or_default()), help_heading = "Logging")]
    pub access_log_format: AccessLogFormat,

    /// Add `server: rgi` to responses that have none [default]
    #[arg(long, env = "RGI_SERVER_HEADER", value_name = "BOOL", num_args = 0..=1, default_value_t = true, default_missing_value = "true", action = ArgAction::Set, overrides_with = "no_server_header", hide_possible_values = true, help_heading = "Headers")]
    pub server_header: bool,
    /// No `server` header
    #[arg(long, overrides_with = "server_header", help_heading = "Headers")]
    pub no_server_header: bool,
    /// Add `date` to responses that have none [default]
    #[arg(long, env = "RGI_DATE_HEADER", value_name = "BOOL", num_args = 0..=1, default_value_t = true, default_missing_value = "true", action = ArgAction::Set, overrides_with = "no_date_header", hide_possible_values = true, help_heading = "Headers")]
    pub date_header: bool,
    /// No `date` header
    #[arg(long, overrides_with = "date_header", help_heading = "Headers")]
    pub no_date_header: bool,

    /// TLS certificate chain, PEM (not served yet: refused with a message)
    #[arg(
        long,
        value_name = "PATH",
        env = "RGI_SSL_CERTFILE",
        requires = "ssl_keyfile",
        help_heading = "TLS"
    )]
    pub ssl_certfile: Option<PathBuf>,
    /// TLS private key, PEM
    #[arg(
        long,
        value_name = "PATH",
        env = "RGI_SSL_KEYFILE",
        requires = "ssl_certfile",
        help_heading = "TLS"
    )]
    pub ssl_keyfile: Option<PathBuf>,
}

/// `--max-body-bytes`: a limit or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimit(pub Option<u64>);

fn lifespan_mode(s: &str) -> LifespanMode {
    match s {
        "on" => LifespanMode::On,
        "off" => LifespanMode::Off,
        _ => LifespanMode::Auto,
    }
}

fn parse_mode(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s.trim_start_matches("0o"), 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| format!("`{s}` is not an octal mode from 000 to 777"))
}

fn positive_usize(s: &str) -> Result<usize, String> {
    s.parse::<usize>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{s}` is not a positive whole number"))
}

fn parse_body_limit(s: &str) -> Result<BodyLimit, String> {
    if s.eq_ignore_ascii_case("none") {
        return Ok(BodyLimit(None));
    }
    s.parse::<u64>()
        .map(|n| BodyLimit(Some(n)))
        .map_err(|_| format!("`{s}` is not a number of bytes or `none`"))
}

/// Seconds, whole or fractional: `5`, `0.25`. Zero is allowed (no wait),
/// negative, NaN and absurd values (over a year) are not.
fn parse_seconds(s: &str) -> Result<Duration, String> {
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0 && *v <= 366.0 * 86400.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("`{s}` is not a number of seconds (0 to 31622400)"))
}

fn parse_root_path(s: &str) -> Result<String, String> {
    let trimmed = s.trim_end_matches('/');
    if !s.is_empty() && (!s.starts_with('/') || s.contains(['?', '#', ' '])) {
        return Err(format!("`{s}` is not a path like /api"));
    }
    Ok(trimmed.to_owned())
}

fn parse_trusted(s: &str) -> Result<TrustedProxies, String> {
    s.parse()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_parsers() {
        assert_eq!(parse_mode("660"), Ok(0o660));
        assert_eq!(parse_mode("0o600"), Ok(0o600));
        assert!(parse_mode("999").is_err() && parse_mode("1777").is_err());
        assert_eq!(parse_seconds("0.5"), Ok(Duration::from_millis(500)));
        for bad in ["-1", "NaN", "inf", "x", "1e12"] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_body_limit("none"), Ok(BodyLimit(None)));
        assert_eq!(parse_body_limit("10"), Ok(BodyLimit(Some(10))));
        assert!(parse_body_limit("-1").is_err());
        assert_eq!(parse_root_path("/api/").as_deref(), Ok("/api"));
        assert_eq!(parse_root_path("").as_deref(), Ok(""));
        assert!(parse_root_path("api").is_err());
        assert!(positive_usize("0").is_err());
    }
}
