//! The chat room on the reference server.
//!
//! ```sh
//! cargo run -p chat                       # http://127.0.0.1:8000/
//! cargo run -p chat -- --bind 127.0.0.1:9000
//! ```
//!
//! Open the page in two browser windows (or two browsers: one session
//! cookie per browser), pick a name in each, and talk.

use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let bind = std::env::args()
        .skip_while(|arg| arg != "--bind")
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8000".to_owned());
    // Logs "rgi listening on http://..." (tests wait for it), one access
    // line per request and per socket; Ctrl-C closes the sockets with 1001.
    rgi_server::Server::bind(&bind)
        .await?
        .serve(chat::app())
        .await?;
    Ok(())
}
