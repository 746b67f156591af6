//! The lifespan rules: one answer per phase, in order, then return.

use rgi::{AppResult, LifespanReceive, LifespanSend};

use super::{Found, Machine};

#[derive(Debug, Default)]
pub(crate) struct LifespanMachine {
    startup_received: bool,
    /// `Some(true)` for `StartupComplete`, `Some(false)` for `StartupFailed`.
    startup_answer: Option<bool>,
    shutdown_received: bool,
    shutdown_answered: bool,
    waiting_after_shutdown_reported: bool,
}

impl Machine<LifespanReceive, LifespanSend> for LifespanMachine {
    fn before_receive(&mut self) -> Option<Found> {
        if self.shutdown_answered && !self.waiting_after_shutdown_reported {
            self.waiting_after_shutdown_reported = true;
            return Some(Found::app(
                "LIFE-006",
                "the app waited for another lifespan event after answering Shutdown",
                "the app to return once it answered Shutdown",
            ));
        }
        None
    }

    fn on_receive(&mut self, event: &LifespanReceive) -> Option<Found> {
        match event {
            LifespanReceive::Startup => {
                if self.startup_received {
                    return Some(Found::server(
                        "LIFE-001",
                        "a second Startup was delivered",
                        "Startup once, as the first event",
                    ));
                }
                self.startup_received = true;
            }
            LifespanReceive::Shutdown => {
                if !self.startup_received {
                    return Some(Found::server(
                        "LIFE-001",
                        "Shutdown was delivered before Startup",
                        "Startup as the first event",
                    ));
                }
                if self.startup_answer != Some(true) {
                    return Some(Found::server(
                        "LIFE-004",
                        "Shutdown was delivered although startup did not complete",
                        "Shutdown only after StartupComplete",
                    ));
                }
                if self.shutdown_received {
                    return Some(Found::server(
                        "LIFE-004",
                        "a second Shutdown was delivered",
                        "Shutdown once",
                    ));
                }
                self.shutdown_received = true;
            }
            _ => {}
        }
        None
    }

    fn check_send(&self, event: &LifespanSend) -> Option<Found> {
        match event {
            LifespanSend::StartupComplete | LifespanSend::StartupFailed { .. } => {
                if !self.startup_received {
                    return Some(Found::app(
                        "LIFE-002",
                        format!("{event:?} was sent before Startup was received"),
                        "an answer to Startup only once it was received",
                    ));
                }
                if self.startup_answer.is_some() {
                    return Some(Found::app(
                        "LIFE-002",
                        format!("Startup was answered a second time ({event:?})"),
                        "exactly one answer to Startup",
                    ));
                }
                None
            }
            LifespanSend::ShutdownComplete | LifespanSend::ShutdownFailed { .. } => {
                if !self.shutdown_received {
                    return Some(Found::app(
                        "LIFE-005",
                        format!("{event:?} was sent but Shutdown was never received"),
                        "never answering a phase the app was not asked",
                    ));
                }
                if self.shutdown_answered {
                    return Some(Found::app(
                        "LIFE-005",
                        format!("Shutdown was answered a second time ({event:?})"),
                        "exactly one answer to Shutdown",
                    ));
                }
                None
            }
            _ => None,
        }
    }

    fn apply_send(&mut self, event: &LifespanSend) {
        match event {
            LifespanSend::StartupComplete if self.startup_answer.is_none() => {
                self.startup_answer = Some(true);
            }
            LifespanSend::StartupFailed { .. } if self.startup_answer.is_none() => {
                self.startup_answer = Some(false);
            }
            LifespanSend::ShutdownComplete | LifespanSend::ShutdownFailed { .. } => {
                self.shutdown_answered = true;
            }
            _ => {}
        }
    }

    fn peer_gone(&self) -> bool {
        false
    }

    fn on_return(&self, result: &AppResult, _send_disconnected: bool) -> Option<Found> {
        if result.is_err() {
            return None;
        }
        if self.startup_received && self.startup_answer.is_none() {
            return Some(Found::app(
                "LIFE-002",
                "the app returned Ok(()) without answering Startup",
                "StartupComplete or StartupFailed (returning Ok first is a startup failure, LIFE-015)",
            ));
        }
        if self.shutdown_received && !self.shutdown_answered {
            return Some(Found::app(
                "LIFE-005",
                "the app returned Ok(()) without answering Shutdown",
                "ShutdownComplete or ShutdownFailed before returning",
            ));
        }
        None
    }
}
