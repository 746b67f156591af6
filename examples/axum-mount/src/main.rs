//! ```sh
//! cargo run -p axum-mount                            # the reference server, rgi in front
//! cargo run -p axum-mount -- axum                    # axum::serve, axum in front
//! cargo run -p axum-mount -- axum --bind 0.0.0.0:9000
//! ```

use std::net::SocketAddr;

use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bind = args
        .iter()
        .skip_while(|arg| *arg != "--bind")
        .nth(1)
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:8000".to_owned());
    if args.first().map(String::as_str) == Some("axum") {
        let listener = tokio::net::TcpListener::bind(&bind).await?;
        println!(
            "axum::serve on http://{}/ (rgi middleware inside, rgi app at /rgi)",
            listener.local_addr()?
        );
        let app = axum_mount::axum_front().into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, app).await?;
    } else {
        rgi_server::Server::bind(&bind)
            .await?
            .serve(axum_mount::rgi_front())
            .await?;
    }
    Ok(())
}
