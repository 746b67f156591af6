//! The lifespan driver: startup, shutdown, the frozen state.

use std::sync::{Arc, Mutex, PoisonError};

use rgi::{LifespanReceive, LifespanSend, State, StateBuilder};

use super::core::Core;
use super::trace::{AppExit, Summary, Trace};
use super::ClientError;

/// How startup went.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartupOutcome {
    /// `StartupComplete`; the state frozen at that moment (rule `LIFE-010`).
    Complete(State),
    /// `StartupFailed` with this message.
    Failed(String),
    /// The app returned `Error::Unsupported` before answering (rule
    /// `LIFE-007`): no lifespan.
    Unsupported,
    /// The app returned another error, or panicked, before answering: a
    /// startup failure for the server.
    Error(String),
    /// The app returned `Ok(())` without answering.
    NoAnswer,
}

/// How shutdown went.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShutdownOutcome {
    /// `ShutdownComplete`.
    Complete,
    /// `ShutdownFailed` with this message.
    Failed(String),
    /// The app returned an error or panicked before answering.
    Error(String),
    /// The app returned `Ok(())` without answering.
    NoAnswer,
}

/// The lifespan call of an app, driven by the test: see
/// [`TestClient::lifespan`](crate::TestClient::lifespan).
///
/// Dropping it drops (cancels) the app's future.
pub struct Lifespan {
    pub(crate) core: Core<LifespanReceive, LifespanSend>,
    pub(crate) builder: StateBuilder,
    pub(crate) client_state: Arc<Mutex<State>>,
    pub(crate) state: Option<State>,
}

impl std::fmt::Debug for Lifespan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lifespan")
            .field("trace", &self.core.trace.summary())
            .finish_non_exhaustive()
    }
}

impl Lifespan {
    async fn ask(&mut self, event: LifespanReceive) -> Result<Option<LifespanSend>, ClientError> {
        let what = format!("the app to answer {event:?}");
        match self.core.push(event, &what).await {
            Ok(()) | Err(ClientError::AppReturned(_)) => {}
            Err(e) => return Err(e),
        }
        Ok(self.core.next_event(&what).await?.cloned())
    }

    fn early_exit(exit: &AppExit) -> Result<String, ()> {
        match exit {
            AppExit::Ok => Err(()),
            other => Ok(other.to_string()),
        }
    }

    /// Sends `Startup` and waits (bounded) for the answer. On
    /// `StartupComplete` the state is frozen, kept, and given to every
    /// later request of the client that made this driver.
    pub async fn startup(&mut self) -> Result<StartupOutcome, ClientError> {
        Ok(match self.ask(LifespanReceive::Startup).await? {
            Some(LifespanSend::StartupComplete) => {
                let state = self.builder.freeze();
                *self
                    .client_state
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = state.clone();
                self.state = Some(state.clone());
                StartupOutcome::Complete(state)
            }
            Some(LifespanSend::StartupFailed { message }) => StartupOutcome::Failed(message),
            Some(other) => {
                return Err(ClientError::Unexpected(format!(
                    "{} as the answer to Startup",
                    other.summary()
                )))
            }
            None => {
                let exit = self.core.exit().await;
                if exit.is_unsupported() {
                    StartupOutcome::Unsupported
                } else {
                    match Self::early_exit(exit) {
                        Ok(message) => StartupOutcome::Error(message),
                        Err(()) => StartupOutcome::NoAnswer,
                    }
                }
            }
        })
    }

    /// Sends `Shutdown` and waits (bounded) for the answer.
    pub async fn shutdown(&mut self) -> Result<ShutdownOutcome, ClientError> {
        Ok(match self.ask(LifespanReceive::Shutdown).await? {
            Some(LifespanSend::ShutdownComplete) => ShutdownOutcome::Complete,
            Some(LifespanSend::ShutdownFailed { message }) => ShutdownOutcome::Failed(message),
            Some(other) => {
                return Err(ClientError::Unexpected(format!(
                    "{} as the answer to Shutdown",
                    other.summary()
                )))
            }
            None => match Self::early_exit(self.core.exit().await) {
                Ok(message) => ShutdownOutcome::Error(message),
                Err(()) => ShutdownOutcome::NoAnswer,
            },
        })
    }

    /// The state frozen at `StartupComplete`, if startup completed.
    pub fn state(&self) -> Option<&State> {
        self.state.as_ref()
    }

    /// Waits (bounded) for the app's future to return (rule `LIFE-006`).
    pub async fn finish(mut self) -> Result<LifespanTranscript, ClientError> {
        self.core
            .run_to_end("the lifespan app to return after its last answer")
            .await?;
        Ok(LifespanTranscript {
            trace: std::mem::take(&mut self.core.trace),
            exit: self.core.take_exit(),
        })
    }
}

/// A finished lifespan call.
#[derive(Debug)]
#[non_exhaustive]
pub struct LifespanTranscript {
    /// Every event both ways.
    pub trace: Trace<LifespanReceive, LifespanSend>,
    /// How the app's future ended.
    pub exit: AppExit,
}
