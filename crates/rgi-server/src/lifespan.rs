//! Driving the app's lifespan scope (spec: `spec/lifespan.md`): startup
//! before accepting, shutdown after draining.
//!
//! The lifespan call runs in its own task for the server's whole life; the
//! server talks to it through two small channels (two events each way, so
//! their cost does not matter).

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::FutureExt;
use rgi::{
    App, AppResult, BoxApp, Conn, Error, LifespanConn, LifespanReceive, LifespanScope,
    LifespanSend, Receiver, Sender, State, StateBuilder,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::LifespanMode;
use crate::error::ServeError;

const IDLE: u8 = 0;
const STARTUP: u8 = 1;
/// `StartupComplete` sent: serving, no `Shutdown` asked yet.
const STARTUP_COMPLETED: u8 = 2;
const SHUTDOWN: u8 = 3;
const SHUTDOWN_ANSWERED: u8 = 4;
const STARTUP_FAILED: u8 = 5;

type Outcome = Result<AppResult, Box<dyn Any + Send>>;

/// A lifespan call that completed startup and waits for shutdown.
#[derive(Debug)]
pub struct Lifespan {
    events: mpsc::Sender<LifespanReceive>,
    answers: mpsc::UnboundedReceiver<LifespanSend>,
    task: JoinHandle<Outcome>,
}

/// Runs lifespan startup. `Ok((None, empty state))` when the app has no
/// lifespan support (in `Auto` mode) or lifespan is off.
pub async fn startup(
    app: BoxApp,
    mode: LifespanMode,
) -> Result<(Option<Lifespan>, State), ServeError> {
    if mode == LifespanMode::Off {
        return Ok((None, State::new()));
    }
    let (event_tx, event_rx) = mpsc::channel(2);
    let (answer_tx, mut answers) = mpsc::unbounded_channel();
    let phase = Arc::new(AtomicU8::new(IDLE));
    let builder = StateBuilder::new();
    let mut scope = LifespanScope::new(builder.clone());
    let mut rx = LifespanRx {
        events: event_rx,
        phase: phase.clone(),
    };
    let ended_in = phase.clone();
    let mut tx = LifespanTx {
        answers: answer_tx,
        phase,
    };
    let task = tokio::spawn(async move {
        let call = app.call(Conn::Lifespan(LifespanConn::new(
            &mut scope, &mut rx, &mut tx,
        )));
        let outcome = AssertUnwindSafe(call).catch_unwind().await;
        if ended_in.load(Ordering::SeqCst) == STARTUP_COMPLETED {
            log_ended_while_serving(&outcome);
        }
        outcome
    });
    // The channel has room: this cannot wait.
    let _ = event_tx.send(LifespanReceive::Startup).await;
    match answers.recv().await {
        Some(LifespanSend::StartupComplete) => {
            tracing::info!("lifespan startup complete");
            let lifespan = Lifespan {
                events: event_tx,
                answers,
                task,
            };
            Ok((Some(lifespan), builder.freeze()))
        }
        Some(LifespanSend::StartupFailed { message }) => {
            task.abort();
            tracing::error!(%message, "lifespan startup failed");
            Err(ServeError::StartupFailed(message))
        }
        // The sender checks the order, so only a finished call is left:
        // the app returned (or failed) without answering startup.
        _ => {
            let outcome = task
                .await
                .unwrap_or_else(|join_error| Err(Box::new(join_error.to_string())));
            unanswered_startup(outcome, mode)
        }
    }
}

fn unanswered_startup(
    outcome: Outcome,
    mode: LifespanMode,
) -> Result<(Option<Lifespan>, State), ServeError> {
    let unsupported = |why: &str| {
        if mode == LifespanMode::On {
            let message = format!("lifespan is required but {why}");
            tracing::error!(%message, "lifespan startup failed");
            Err(ServeError::StartupFailed(message))
        } else {
            tracing::info!("{why}; serving without lifespan");
            Ok((None, State::new()))
        }
    };
    match outcome {
        Ok(Err(e)) if Error::is_unsupported(&*e) => {
            unsupported("the app does not support lifespan")
        }
        // Returning `Ok` without answering is a startup failure, as an
        // error is (LIFE-015): an app with no lifespan says so with
        // `Error::Unsupported`, so a silent return is a bug to surface.
        Ok(Ok(())) => {
            let message = "the lifespan call returned without answering startup".to_owned();
            tracing::error!(%message, "lifespan startup failed");
            Err(ServeError::StartupFailed(message))
        }
        Ok(Err(e)) => {
            let message = e.to_string();
            tracing::error!(%message, "lifespan startup failed");
            Err(ServeError::StartupFailed(message))
        }
        Err(panic) => {
            let message = format!("lifespan startup panicked: {}", panic_text(&*panic));
            tracing::error!(%message, "lifespan startup failed");
            Err(ServeError::StartupFailed(message))
        }
    }
}

impl Lifespan {
    /// Sends `Shutdown` and waits (at most `timeout`) for the answer and for
    /// the call to return.
    pub async fn shutdown(mut self, timeout: Duration) {
        if self.events.send(LifespanReceive::Shutdown).await.is_err() {
            // Its end was logged when it happened (LIFE-011).
            tracing::debug!("lifespan call already ended: no Shutdown sent");
            return;
        }
        let finished = tokio::time::timeout(timeout, async {
            match self.answers.recv().await {
                Some(LifespanSend::ShutdownComplete) => {
                    tracing::info!("lifespan shutdown complete")
                }
                Some(LifespanSend::ShutdownFailed { message }) => {
                    tracing::error!(%message, "lifespan shutdown failed");
                }
                _ => tracing::warn!("lifespan call ended without answering shutdown"),
            }
            match (&mut self.task).await {
                Ok(Ok(Err(e))) => tracing::error!(error = %e, "lifespan call failed"),
                Ok(Err(panic)) => {
                    tracing::error!(panic = panic_text(&*panic), "lifespan call panicked")
                }
                _ => {}
            }
        })
        .await;
        if finished.is_err() {
            tracing::warn!(?timeout, "lifespan shutdown timed out");
            self.task.abort();
        }
    }
}

/// A lifespan call that ends after `StartupComplete` but before it was
/// asked to shut down is logged when it ends; serving goes on and it gets
/// no `Shutdown` (LIFE-011).
fn log_ended_while_serving(outcome: &Outcome) {
    const WHAT: &str = "lifespan call ended while serving; no Shutdown will be sent";
    match outcome {
        Ok(Ok(())) => tracing::warn!("{WHAT}"),
        Ok(Err(e)) if Error::is_unsupported(&**e) => tracing::warn!(error = %e, "{WHAT}"),
        Ok(Err(e)) => tracing::error!(error = %e, "{WHAT}"),
        Err(panic) => tracing::error!(panic = panic_text(&**panic), "{WHAT}"),
    }
}

fn panic_text(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-string panic payload)".to_owned())
}

/// The app's lifespan receiver.
struct LifespanRx {
    events: mpsc::Receiver<LifespanReceive>,
    phase: Arc<AtomicU8>,
}

impl Receiver<LifespanReceive> for LifespanRx {
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<LifespanReceive> {
        match self.events.poll_recv(cx) {
            Poll::Ready(Some(event)) => {
                let phase = match event {
                    LifespanReceive::Shutdown => SHUTDOWN,
                    _ => STARTUP,
                };
                self.phase.store(phase, Ordering::SeqCst);
                Poll::Ready(event)
            }
            // No more events: the server is gone. Nothing more will come.
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }
}

/// The app's lifespan sender: checks the answer order (rules LIFE-002,
/// LIFE-005) and forwards answers to the server.
struct LifespanTx {
    answers: mpsc::UnboundedSender<LifespanSend>,
    phase: Arc<AtomicU8>,
}

impl Sender<LifespanSend> for LifespanTx {
    fn start_send(&mut self, event: LifespanSend) -> Result<(), Error> {
        let phase = self.phase.load(Ordering::SeqCst);
        let next = match (&event, phase) {
            (LifespanSend::StartupComplete, STARTUP) => STARTUP_COMPLETED,
            (LifespanSend::StartupFailed { .. }, STARTUP) => STARTUP_FAILED,
            (LifespanSend::ShutdownComplete | LifespanSend::ShutdownFailed { .. }, SHUTDOWN) => {
                SHUTDOWN_ANSWERED
            }
            (LifespanSend::StartupComplete | LifespanSend::StartupFailed { .. }, _) => {
                return Err(Error::protocol(
                    "LIFE-002",
                    "startup answered twice, or without a Startup event",
                ))
            }
            _ => {
                return Err(Error::protocol(
                    "LIFE-005",
                    "shutdown answered twice, or without a Shutdown event",
                ))
            }
        };
        self.phase.store(next, Ordering::SeqCst);
        // The server may already have stopped listening; the answer then
        // has nobody to reach, which is not the app's fault.
        let _ = self.answers.send(event);
        Ok(())
    }

    fn poll_flush(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }
}
