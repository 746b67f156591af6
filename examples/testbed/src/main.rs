//! `testbed [OPTIONS]`: the testbed app on the reference server, with the
//! command line every rgi server shares (`testbed --help`).

use std::process::ExitCode;

use clap::Parser;
use rgi::{App, AppResult, Conn, LifespanReceive, LifespanSend};

/// Serves the testbed app (see examples/testbed) on the reference rgi
/// server.
#[derive(Debug, Parser)]
#[command(name = "testbed", version)]
struct Cli {
    #[command(flatten)]
    serve: rgi_hyper::cli::AnyServerArgs,
    /// Debug mode: run the app behind the rgi-conformance validator, which
    /// refuses any event that breaks a spec rule (the error, with its rule
    /// id, is logged by the server)
    #[arg(long, help_heading = "Application")]
    validate: bool,
    /// Answer lifespan startup with this failure (to try a deployment's
    /// handling of a server that cannot start)
    #[arg(long, value_name = "MESSAGE", help_heading = "Application")]
    fail_startup: Option<String>,
}

/// The testbed, with a lifespan startup that fails with `message`.
struct FailingStartup {
    message: String,
}

impl App for FailingStartup {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Lifespan(mut lifespan) = conn else {
            return testbed::Testbed.call(conn).await;
        };
        while !matches!(lifespan.recv().await, LifespanReceive::Startup) {}
        let message = self.message.clone();
        lifespan
            .send(LifespanSend::StartupFailed { message })
            .await?;
        Ok(())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (validate, fail_startup) = (cli.validate, cli.fail_startup);
    cli.serve.run(move || -> rgi::BoxApp {
        match (fail_startup, validate) {
            (Some(message), _) => rgi::boxed(FailingStartup { message }),
            (None, true) => {
                rgi::boxed(rgi_conformance::Validator::new(testbed::Testbed).fail_fast())
            }
            (None, false) => rgi::boxed(testbed::Testbed),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_its_own_flags_next_to_the_servers() {
        let cli = Cli::try_parse_from(["testbed", "--validate", "--bind", "0.0.0.0:9000"]).unwrap();
        assert!(cli.validate && cli.fail_startup.is_none());
        assert_eq!(cli.serve.serve.bind, vec!["0.0.0.0:9000".parse().unwrap()]);
        assert!(Cli::try_parse_from(["testbed", "--port", "80"]).is_err());
    }
}
