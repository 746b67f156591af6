//! The server: bind, lifespan startup, accept loop, graceful shutdown.

use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;

use rgi::App;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::task::JoinSet;

use crate::config::Config;
use crate::ctx::ServerCtx;
use crate::error::ServeError;
use crate::lifecycle::Lifecycle;
use crate::listen::{self, ListenAddr, Listener};
use crate::shutdown::Shutdown;

/// An HTTP/1.1 server for one rgi app.
///
/// ```no_run
/// # async fn demo(app: impl rgi::App) -> Result<(), rgi_server::ServeError> {
/// let server = rgi_server::Server::bind("127.0.0.1:8000").await?;
/// server.serve(app).await // until Ctrl-C or SIGTERM
/// # }
/// ```
pub struct Server {
    listeners: Listeners,
    local_addr: SocketAddr,
    config: Config,
}

/// The listeners, or how to get them once lifespan startup completed.
enum Listeners {
    Bound(Vec<Listener>),
    AfterStartup(Box<dyn FnOnce() -> std::io::Result<Vec<Listener>> + Send>),
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let listeners = match &self.listeners {
            Listeners::Bound(l) => format!("{l:?}"),
            Listeners::AfterStartup(_) => "(bound after startup)".to_owned(),
        };
        f.debug_struct("Server")
            .field("listeners", &listeners)
            .field("config", &self.config)
            .finish()
    }
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
        Self::from_listeners(vec![Listener::Tcp(listener)])
    }

    /// A server on several listeners (TCP and Unix sockets, bound or
    /// inherited), all served alike.
    pub fn from_listeners(listeners: Vec<Listener>) -> Server {
        let local_addr = listeners
            .iter()
            .find_map(|l| match l.local_addr() {
                Ok(ListenAddr::Tcp(addr)) => Some(addr),
                _ => None,
            })
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        Server {
            listeners: Listeners::Bound(listeners),
            local_addr,
            config: Config::default(),
        }
    }

    /// A server that calls `bind` for its listeners only once lifespan
    /// startup has completed: until then nothing listens, so a client (a
    /// load balancer's health check, a proxy) is refused rather than
    /// queued on a server that may yet fail to start. A failed `bind` ends
    /// `serve` with [`ServeError::Io`]. [`local_addr`](Self::local_addr) is
    /// unknown (`0.0.0.0:0`) for such a server.
    pub fn bind_after_startup(
        bind: impl FnOnce() -> std::io::Result<Vec<Listener>> + Send + 'static,
    ) -> Server {
        Server {
            listeners: Listeners::AfterStartup(Box::new(bind)),
            local_addr: SocketAddr::from(([0, 0, 0, 0], 0)),
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

    /// The address of the first TCP listener (`0.0.0.0:0` when there is
    /// none, or it is bound after startup).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves `app` until Ctrl-C or SIGTERM, then shuts down gracefully.
    ///
    /// The server is generic over the app's type: each request's future is
    /// the app's own, polled in place in the connection's task, with no box
    /// (hand it a [`BoxApp`](rgi::BoxApp) for a stack chosen at run time).
    pub async fn serve(self, app: impl App) -> Result<(), ServeError> {
        self.serve_with_shutdown(app, shutdown_signal()).await
    }

    /// Serves `app` until `signal` completes, then shuts down gracefully:
    /// stops accepting, closes idle connections, lets in-flight requests
    /// finish within [`Config::drain_timeout`] (their responses say
    /// `connection: close`), drops what is left, then runs lifespan
    /// shutdown.
    ///
    /// Logs `rgi listening on http://ADDR` (or `unix:PATH`; target
    /// `rgi_server`, level info) for each listener once it accepts
    /// connections, and then tells systemd it is ready (`READY=1` to
    /// `$NOTIFY_SOCKET`, when set).
    pub async fn serve_with_shutdown(
        self,
        app: impl App,
        signal: impl Future<Output = ()> + Send,
    ) -> Result<(), ServeError> {
        let Server {
            listeners,
            local_addr: _,
            config,
        } = self;
        let app = Arc::new(app);
        let mut signal = pin!(signal);
        let Some((lifecycle, state)) = Lifecycle::start(&app, &config, signal.as_mut()).await?
        else {
            return Ok(());
        };

        let listeners = match listeners {
            Listeners::Bound(listeners) => listeners,
            Listeners::AfterStartup(bind) => match bind() {
                Ok(listeners) => listeners,
                Err(e) => {
                    lifecycle.finish().await;
                    return Err(ServeError::Io(e));
                }
            },
        };
        let addrs: Vec<ListenAddr> = listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect();
        // One listener on one IP: every connection's local address is it.
        let bound_addr = match addrs.as_slice() {
            [ListenAddr::Tcp(a)] if !a.ip().is_unspecified() && a.port() != 0 => Some(*a),
            _ => None,
        };
        let ctx = Arc::new(ServerCtx {
            config,
            bound_addr,
            state,
            shutdown: Arc::new(Shutdown::default()),
        });
        for addr in &addrs {
            tracing::info!(target: "rgi_server", "rgi listening on {addr}");
        }
        match listen::notify_ready() {
            Ok(true) => tracing::info!("READY=1 sent to systemd"),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "cannot notify systemd"),
        }
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                biased;
                () = &mut signal => break,
                accepted = poll_fn(|cx| listen::poll_accept_any(&listeners, cx)) => match accepted {
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
                        if ctx.config.limit_concurrency.is_some_and(|limit| conns.len() >= limit) {
                            tokio::spawn(crate::limit::refuse_overloaded(stream, ctx.config.server_header.clone()));
                            continue;
                        }
                        // Boxed: tokio moves a spawned future several times
                        // (into the task, out of it when it completes); one
                        // allocation of its ~700 bytes (the HTTP loop and the
                        // WebSocket are boxed inside it) is cheaper than those
                        // copies.
                        conns.spawn(Box::pin(crate::conn::serve_connection(stream, peer, ctx.clone(), app.clone())));
                    }
                    Err(e) => Lifecycle::accept_failed(e).await,
                },
            }
        }

        drop(listeners);
        ctx.shutdown.start();
        let drained = lifecycle
            .drain(conns.len(), async {
                while conns.join_next().await.is_some() {}
            })
            .await;
        if !drained {
            lifecycle.drain_timed_out(conns.len());
            conns.shutdown().await;
        }
        lifecycle.finish().await;
        Ok(())
    }
}

/// Completes on Ctrl-C, or SIGTERM on Unix.
pub async fn shutdown_signal() {
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
