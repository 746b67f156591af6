//! The server: bind, lifespan startup, accept loop, graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use rgi::{App, BoxApp};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::task::JoinSet;

use crate::config::Config;
use crate::ctx::ServerCtx;
use crate::error::ServeError;
use crate::lifespan;
use crate::shutdown::Shutdown;

/// An HTTP/1.1 server for one rgi app.
///
/// ```no_run
/// # async fn demo(app: impl rgi::App) -> Result<(), rgi_server::ServeError> {
/// let server = rgi_server::Server::bind("127.0.0.1:8000").await?;
/// server.serve(app).await // until Ctrl-C or SIGTERM
/// # }
/// ```
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    config: Config,
}

impl Server {
    /// Binds a listener on `addr`, with the default [`Config`].
    pub async fn bind(addr: impl ToSocketAddrs) -> std::io::Result<Server> {
        Ok(Self::from_listener(TcpListener::bind(addr).await?))
    }

    /// A server on an already bound listener. Its address is known before
    /// `serve` starts (handy in tests); connections the kernel queues on it
    /// are only accepted once lifespan startup has completed (rule LIFE-001).
    pub fn from_listener(listener: TcpListener) -> Server {
        let local_addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        Server {
            listener,
            local_addr,
            config: Config::default(),
        }
    }

    /// Replaces the configuration.
    #[must_use]
    pub fn with_config(mut self, config: Config) -> Server {
        self.config = config;
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
    ///
    /// The server is generic over the app's type: each request's future is
    /// the app's own, polled in place in the connection's task, with no box
    /// (hand it a [`BoxApp`] for a stack chosen at run time).
    pub async fn serve(self, app: impl App) -> Result<(), ServeError> {
        self.serve_with_shutdown(app, shutdown_signal()).await
    }

    /// Serves `app` until `signal` completes, then shuts down gracefully:
    /// stops accepting, closes idle connections, lets in-flight requests
    /// finish within [`Config::drain_timeout`] (their responses say
    /// `connection: close`), drops what is left, then runs lifespan
    /// shutdown.
    ///
    /// Logs `rgi listening on http://ADDR` (target `rgi_server`, level
    /// info) once it accepts connections.
    pub async fn serve_with_shutdown(
        self,
        app: impl App,
        signal: impl Future<Output = ()> + Send,
    ) -> Result<(), ServeError> {
        let Server {
            listener,
            local_addr,
            config,
        } = self;
        let app = Arc::new(app);
        let mut signal = pin!(signal);

        // LIFE-001: nothing is accepted before startup completes.
        let (lifespan, state) = tokio::select! {
            started = lifespan::startup(app.clone() as BoxApp, config.lifespan) => started?,
            () = &mut signal => {
                tracing::info!("shutdown requested during lifespan startup");
                return Ok(());
            }
        };

        let ctx = Arc::new(ServerCtx {
            config,
            bound_addr: Some(local_addr).filter(|a| !a.ip().is_unspecified() && a.port() != 0),
            state,
            shutdown: Arc::new(Shutdown::default()),
        });
        tracing::info!(target: "rgi_server", "rgi listening on http://{local_addr}");
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                biased;
                () = &mut signal => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        // Finished connections are reaped here, without
                        // registering a waker: a `join_next` branch in this
                        // select woke the accept loop (often on another
                        // thread: a futex call and a context switch) every
                        // time a connection ended.
                        while let Some(done) = conns.try_join_next() {
                            if let Err(e) = done {
                                tracing::error!(error = %e, "connection task failed");
                            }
                        }
                        if ctx.config.nodelay {
                            let _ = stream.set_nodelay(true);
                        }
                        // Boxed: the connection's future holds all its state
                        // (a few KiB), and tokio moves a spawned future several
                        // times (into the task, out of it when it completes);
                        // one allocation is cheaper than those copies.
                        conns.spawn(Box::pin(crate::conn::serve_connection(stream, peer, ctx.clone(), app.clone())));
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: back off
                        // instead of spinning, and keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
            }
        }

        drop(listener);
        tracing::info!(
            connections = conns.len(),
            "shutting down: no longer accepting; draining"
        );
        ctx.shutdown.start();
        let drain_timeout = ctx.config.drain_timeout;
        let drained = tokio::time::timeout(drain_timeout, async {
            while conns.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                connections = conns.len(),
                ?drain_timeout,
                "drain timeout passed; dropping the remaining connections"
            );
            conns.shutdown().await;
        }
        if let Some(lifespan) = lifespan {
            lifespan.shutdown(drain_timeout).await;
        }
        tracing::info!("server stopped");
        Ok(())
    }
}

/// Completes on Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}
