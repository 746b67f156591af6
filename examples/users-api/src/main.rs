//! Runs the users API on the reference server.
//!
//! ```sh
//! cargo run -p users-api                                  # http://127.0.0.1:8000
//! cargo run -p users-api -- --bind 127.0.0.1:9000 --db /tmp/users.db
//! USERS_API_SECRET=... cargo run -p users-api             # a fixed HS256 secret
//! ```
//!
//! Without `USERS_API_SECRET` it makes a random secret for this run and
//! prints a token valid for an hour, with a `curl` line to try.

use tracing_subscriber::EnvFilter;

fn arg(name: &str) -> Option<String> {
    std::env::args().skip_while(|arg| arg != name).nth(1)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).init();
    if std::env::args().any(|arg| arg == "--help" || arg == "-h") {
        println!(
            "usage: users-api [--bind ADDR] [--db PATH]   (env USERS_API_SECRET: the HS256 secret)"
        );
        return Ok(());
    }
    let bind = arg("--bind").unwrap_or_else(|| "127.0.0.1:8000".to_owned());
    let db = arg("--db").unwrap_or_else(|| "users.db".to_owned());
    let secret = match std::env::var("USERS_API_SECRET") {
        Ok(secret) if !secret.is_empty() => secret.into_bytes(),
        _ => {
            let mut secret = vec![0u8; 32];
            getrandom::fill(&mut secret)?;
            let token = users_api::token(&secret, "demo", 3600)?;
            println!(
                "no USERS_API_SECRET: a random secret for this run; a token valid for an hour:"
            );
            println!("  curl -H 'authorization: Bearer {token}' http://{bind}/users");
            secret
        }
    };
    // Opens (or creates) the database at startup; a path it cannot open
    // stops here with SQLite's message. Ctrl-C shuts down gracefully and
    // closes it.
    rgi_server::Server::bind(&bind)
        .await?
        .serve(users_api::app(db, &secret))
        .await?;
    Ok(())
}
