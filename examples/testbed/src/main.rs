//! `testbed [--bind ADDR]`: the testbed app on the reference server.

use std::net::SocketAddr;
use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

const USAGE: &str = "\
usage: testbed [--bind ADDR] [--validate]

Serves the testbed app (see examples/testbed) on the reference rgi server.

  --bind ADDR   the address to listen on (default 127.0.0.1:8000)
  --validate    debug mode: run the app behind the rgi-conformance validator,
                which refuses any event that breaks a spec rule (the error,
                with its rule id, is logged by the server)
  -h, --help    print this text

RUST_LOG sets the log filter (default: info).";

const DEFAULT_BIND: &str = "127.0.0.1:8000";

/// What the command line asks for.
enum Command {
    Serve { addr: SocketAddr, validate: bool },
    Help,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut bind = DEFAULT_BIND.to_owned();
    let mut validate = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--validate" => validate = true,
            "--bind" => bind = args.next().ok_or("--bind needs an address")?,
            _ => match arg.strip_prefix("--bind=") {
                Some(value) => bind = value.to_owned(),
                None => return Err(format!("unexpected argument `{arg}`")),
            },
        }
    }
    bind.parse()
        .map(|addr| Command::Serve { addr, validate })
        .map_err(|_| format!("`{bind}` is not an address like {DEFAULT_BIND}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let (addr, validate) = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Serve { addr, validate }) => (addr, validate),
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("testbed: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let server = match rgi_server::Server::bind(addr).await {
        Ok(server) => server,
        Err(err) => {
            eprintln!("testbed: cannot listen on {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    // `serve` returns after a graceful shutdown (Ctrl-C, SIGTERM), or with an
    // error when lifespan startup fails: then the exit status says so.
    let app: rgi::BoxApp = if validate {
        rgi::boxed(rgi_conformance::Validator::new(testbed::Testbed).fail_fast())
    } else {
        rgi::boxed(testbed::Testbed)
    };
    match server.serve(app).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("testbed: {err}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn parses_bind_forms() {
        let default: SocketAddr = DEFAULT_BIND.parse().unwrap();
        assert!(
            matches!(parse(&[]), Ok(Command::Serve { addr, validate: false }) if addr == default)
        );
        let nine: SocketAddr = "0.0.0.0:9000".parse().unwrap();
        assert!(
            matches!(parse(&["--bind", "0.0.0.0:9000"]), Ok(Command::Serve { addr, .. }) if addr == nine)
        );
        assert!(
            matches!(parse(&["--bind=0.0.0.0:9000"]), Ok(Command::Serve { addr, .. }) if addr == nine)
        );
        assert!(matches!(
            parse(&["--validate"]),
            Ok(Command::Serve { validate: true, .. })
        ));
        assert!(matches!(parse(&["--help"]), Ok(Command::Help)));
        assert!(matches!(parse(&["-h", "--bind", "x"]), Ok(Command::Help)));
    }

    #[test]
    fn refuses_bad_arguments() {
        assert!(parse(&["--bind"]).is_err());
        assert!(parse(&["--bind", "nowhere"]).is_err());
        assert!(parse(&["--port", "80"]).is_err());
    }
}
