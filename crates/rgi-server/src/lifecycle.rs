//! A server's life around its accept loop, the same for every rgi server
//! (this one and `rgi-hyper`): lifespan startup before the first accept,
//! the back-off after a failed accept, the drain, then lifespan shutdown
//! and the access log's last lines.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rgi::{App, BoxApp, State};

use crate::access_log::AccessLog;
use crate::config::Config;
use crate::error::ServeError;
use crate::lifespan::{self, Lifespan};

/// How long a failed accept (out of file descriptors, say) pauses the
/// accept loop, so that it does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// How long the access log's writer gets for its last lines.
const LOG_FLUSH: Duration = Duration::from_secs(2);

/// The running server's lifespan and what its shutdown needs.
#[derive(Debug)]
pub struct Lifecycle {
    lifespan: Option<Lifespan>,
    drain_timeout: Duration,
    access_log: Option<AccessLog>,
}

impl Lifecycle {
    /// Runs lifespan startup (rule `LIFE-001`: nothing is accepted before
    /// it completes) unless `signal` completes first, which is `Ok(None)`:
    /// the server stops without serving. The state is what startup stored,
    /// for every scope.
    pub async fn start<A: App>(
        app: &Arc<A>,
        config: &Config,
        signal: Pin<&mut (impl Future<Output = ()> + Send)>,
    ) -> Result<Option<(Lifecycle, State)>, ServeError> {
        tokio::select! {
            started = lifespan::startup(app.clone() as BoxApp, config.lifespan) => {
                let (lifespan, state) = started?;
                let lifecycle = Lifecycle {
                    lifespan,
                    drain_timeout: config.drain_timeout,
                    access_log: config.access_log.clone(),
                };
                Ok(Some((lifecycle, state)))
            }
            () = signal => {
                tracing::info!("shutdown requested during lifespan startup");
                Ok(None)
            }
        }
    }

    /// An accept failed: logged, then a short pause before the next one.
    /// The server keeps serving the connections it has.
    pub async fn accept_failed(error: std::io::Error) {
        tracing::warn!(error = %error, "accept failed");
        tokio::time::sleep(ACCEPT_BACKOFF).await;
    }

    /// Waits for `drained` (every connection finished) for at most the
    /// drain timeout. `false` when the timeout passed: the caller drops
    /// what is left and says how much with
    /// [`drain_timed_out`](Self::drain_timed_out).
    pub async fn drain(&self, connections: usize, drained: impl Future<Output = ()>) -> bool {
        tracing::info!(connections, "shutting down: no longer accepting; draining");
        tokio::time::timeout(self.drain_timeout, drained)
            .await
            .is_ok()
    }

    /// Logs that the drain timeout passed with `connections` still open.
    pub fn drain_timed_out(&self, connections: usize) {
        tracing::warn!(
            connections,
            drain_timeout = ?self.drain_timeout,
            "drain timeout passed; dropping the remaining connections"
        );
    }

    /// Runs lifespan shutdown, lets the access log write its last lines,
    /// and logs that the server stopped.
    pub async fn finish(self) {
        if let Some(lifespan) = self.lifespan {
            lifespan.shutdown(self.drain_timeout).await;
        }
        if let Some(log) = self.access_log {
            // Its writer is a thread: waiting for it blocks, so not here.
            let _ = tokio::task::spawn_blocking(move || log.flush(LOG_FLUSH)).await;
        }
        tracing::info!("server stopped");
    }
}
