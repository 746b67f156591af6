//! The server: bind, lifespan startup, accept loop, graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;

use hyper_util::server::graceful::GracefulShutdown;
use rgi::App;
use rgi_server::shared::{shutdown_signal, Lifecycle};
use rgi_server::{Config, ServeError};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::task::JoinSet;

use crate::conn::{ConnCtx, Protocol};

/// An HTTP/1.1 and HTTP/2 server for one rgi app, on hyper.
///
/// ```no_run
/// # async fn demo(app: impl rgi::App) -> Result<(), rgi_server::ServeError> {
/// let server = rgi_hyper::Server::bind("127.0.0.1:8000").await?;
/// server.serve(app).await // until Ctrl-C or SIGTERM
/// # }
/// ```
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    config: Config,
    protocol: Protocol,
}

impl Server {
    /// Binds a listener on `addr`, with the default [`Config`].
    pub async fn bind(addr: impl ToSocketAddrs) -> std::io::Result<Server> {
        Ok(Self::from_listener(TcpListener::bind(addr).await?))
    }

    /// A server on an already bound listener; connections are accepted only
    /// once lifespan startup has completed (rule `LIFE-001`).
    pub fn from_listener(listener: TcpListener) -> Server {
        let local_addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        Server {
            listener,
            local_addr,
            config: Config::default(),
            protocol: Protocol::Plain,
        }
    }

    /// Replaces the configuration. Of [`Config`], this server uses the
    /// lifespan mode, `max_body_bytes` (413 past it), `head_timeout` (for
    /// HTTP/1.1 heads and TLS handshakes), `disconnect_grace`,
    /// `drain_timeout`, `server_header`, `nodelay`, `access_log`, and for
    /// WebSockets `websocket`, `write_buffer_bytes`, `write_timeout` and
    /// `read_chunk_bytes`.
    #[must_use]
    pub fn with_config(mut self, config: Config) -> Server {
        self.config = config;
        self
    }

    /// Serves HTTPS with `tls` (ALPN `h2` and `http/1.1`).
    #[cfg(feature = "tls")]
    #[must_use]
    pub fn with_tls(mut self, tls: crate::TlsConfig) -> Server {
        let (acceptor, server_cert) = tls.acceptor();
        self.protocol = Protocol::Tls(acceptor, server_cert);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves `app` until Ctrl-C or SIGTERM, then shuts down gracefully.
    pub async fn serve(self, app: impl App) -> Result<(), ServeError> {
        self.serve_with_shutdown(app, shutdown_signal()).await
    }

    /// Serves `app` until `signal` completes, then shuts down gracefully:
    /// stops accepting, lets every connection finish what it has in flight
    /// (HTTP/2 gets `GOAWAY`, idle HTTP/1.1 connections close, WebSockets
    /// get a close with 1001) within
    /// [`Config::drain_timeout`], drops what is left, then runs lifespan
    /// shutdown.
    ///
    /// Logs `rgi listening on http://ADDR` (the reference server's line,
    /// target `rgi_hyper`, level info) once it accepts connections.
    pub async fn serve_with_shutdown(
        self,
        app: impl App,
        signal: impl Future<Output = ()> + Send,
    ) -> Result<(), ServeError> {
        let Server {
            listener,
            local_addr,
            config,
            protocol,
        } = self;
        let app = Arc::new(app);
        let mut signal = pin!(signal);
        let Some((lifecycle, state)) = Lifecycle::start(&app, &config, signal.as_mut()).await?
        else {
            return Ok(());
        };
        let ctx = Arc::new(ConnCtx::new(config, state, protocol, local_addr));
        let graceful = GracefulShutdown::new();
        let mut conns = JoinSet::new();
        tracing::info!(
            target: "rgi_hyper",
            "rgi listening on {}://{local_addr}",
            ctx.scheme()
        );
        loop {
            tokio::select! {
                biased;
                () = &mut signal => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        // Finished connections are reaped here, without a
                        // waker of their own (as in the reference server).
                        while conns.try_join_next().is_some() {}
                        conns.spawn(crate::conn::serve(stream, peer, ctx.clone(), app.clone(), graceful.watcher()));
                    }
                    Err(e) => Lifecycle::accept_failed(e).await,
                },
            }
        }
        drop(listener);
        // WebSockets left hyper's connections when they upgraded: they
        // close with 1001 on their own signal, and are waited for too.
        ctx.sessions.start_shutdown();
        let drained = lifecycle
            .drain(conns.len(), async {
                graceful.shutdown().await;
                ctx.sessions.drained().await;
            })
            .await;
        if !drained {
            lifecycle.drain_timed_out(conns.len());
        }
        ctx.sessions.abort();
        conns.shutdown().await;
        lifecycle.finish().await;
        Ok(())
    }
}
