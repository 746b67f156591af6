//! Command-line flags for the bench binaries: `--name value` or
//! `--name=value`, nothing more (no parser dependency for five flags).

use std::net::SocketAddr;
use std::str::FromStr;

/// What both load peers start from: the `--bind` address (default
/// 127.0.0.1:8080) and a multi-thread runtime with `--threads` workers
/// (default 1). Both peers build it here, so their runtime shape cannot
/// drift apart; exits with status 2 on a bad flag.
pub fn peer_setup() -> (SocketAddr, tokio::runtime::Runtime) {
    let args = args();
    let bind = or_exit(flag(&args, "bind", ([127, 0, 0, 1], 8080).into()));
    let threads: usize = or_exit(flag(&args, "threads", 1));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .expect("build the tokio runtime");
    (bind, runtime)
}

/// The whole `main` of a peer that serves a bound listener: [`peer_setup`],
/// bind `--bind`, then `serve` on that runtime until the process is killed.
pub fn run_peer<Fut: std::future::Future<Output = ()>>(
    serve: impl FnOnce(tokio::net::TcpListener) -> Fut,
) {
    let (bind, runtime) = peer_setup();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .unwrap_or_else(|e| panic!("bind {bind}: {e}"));
        serve(listener).await;
    });
}

/// The value of flag `--name` in `args`, parsed; `default` when absent.
/// Errors name the flag and the bad value.
pub fn flag<T: FromStr>(args: &[String], name: &str, default: T) -> Result<T, String> {
    let long = format!("--{name}");
    let mut found = None;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if *arg == long {
            found = Some(
                iter.next()
                    .ok_or_else(|| format!("{long} needs a value"))?
                    .as_str(),
            );
        } else if let Some(value) = arg.strip_prefix(&long).and_then(|v| v.strip_prefix('=')) {
            found = Some(value);
        }
    }
    match found {
        None => Ok(default),
        Some(value) => value
            .parse()
            .map_err(|_| format!("{long}: cannot parse {value:?}")),
    }
}

/// The process arguments after the program name.
pub fn args() -> Vec<String> {
    std::env::args().skip(1).collect()
}

/// Parses the flags with `parse`, or prints the error and exits with
/// status 2.
pub fn or_exit<T>(parsed: Result<T, String>) -> T {
    parsed.unwrap_or_else(|message| {
        eprintln!("error: {message}");
        std::process::exit(2)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn reads_both_spellings_and_defaults() {
        let args = argv("--threads 3 --bind=127.0.0.1:9 --x");
        assert_eq!(flag(&args, "threads", 1usize), Ok(3));
        assert_eq!(flag(&args, "bind", String::new()).unwrap(), "127.0.0.1:9");
        assert_eq!(flag(&args, "absent", 7u8), Ok(7));
        assert!(flag(&args, "x", 0u8).is_err(), "a flag without its value");
        assert!(flag(&argv("--threads lots"), "threads", 1usize).is_err());
    }
}
