//! The WebSocket rules: the handshake answer, messages, close, denial.

use rgi::{AppResult, Capabilities, WebSocketReceive, WebSocketScope, WebSocketSend};

use super::http::connection_header;
use super::{Found, Machine};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Handshake,
    Accepted,
    Denying,
    /// Closed by the app, refused, or denied in full.
    Over,
}

#[derive(Debug)]
pub(crate) struct WebSocketMachine {
    capabilities: Capabilities,
    offered: Vec<String>,
    connect_received: bool,
    disconnect_received: bool,
    phase: Phase,
}

impl WebSocketMachine {
    pub(crate) fn new(scope: &WebSocketScope) -> Self {
        Self {
            capabilities: scope.capabilities,
            offered: scope.subprotocols.clone(),
            connect_received: false,
            disconnect_received: false,
            phase: Phase::Handshake,
        }
    }
}

/// Close codes an endpoint may send (RFC 6455 §7.4, rule `WS-007`).
fn sendable_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

const AFTER_CLOSE: &str = "nothing sent after Close, after a finished denial, or after Disconnect";

impl Machine<WebSocketReceive, WebSocketSend> for WebSocketMachine {
    fn on_receive(&mut self, event: &WebSocketReceive) -> Option<Found> {
        if self.disconnect_received && !matches!(event, WebSocketReceive::Disconnect(_)) {
            return Some(Found::server(
                "WS-008",
                "an event other than Disconnect was delivered after Disconnect",
                "Disconnect repeated on every receive once delivered",
            ));
        }
        match event {
            WebSocketReceive::Connect if self.connect_received => Some(Found::server(
                "WS-001",
                "a second Connect was delivered",
                "Connect once, as the first event",
            )),
            WebSocketReceive::Connect => {
                self.connect_received = true;
                None
            }
            WebSocketReceive::Message(_) if !self.connect_received => Some(Found::server(
                "WS-001",
                "a Message was delivered before Connect",
                "Connect as the first event",
            )),
            WebSocketReceive::Message(_) if self.phase == Phase::Handshake => Some(Found::server(
                "WS-001",
                "a Message was delivered before the app answered Connect",
                "no message before the handshake is complete",
            )),
            WebSocketReceive::Disconnect(_) => {
                self.disconnect_received = true;
                None
            }
            _ => None,
        }
    }

    fn check_send(&self, event: &WebSocketSend) -> Option<Found> {
        let name = crate::client::Summary::summary(event);
        if self.disconnect_received {
            return Some(Found::app(
                "WS-005",
                format!("{name} was sent after Disconnect was received"),
                AFTER_CLOSE,
            ));
        }
        if self.phase == Phase::Over {
            return Some(Found::app(
                "WS-005",
                format!("{name} was sent after the connection was closed or refused"),
                AFTER_CLOSE,
            ));
        }
        if self.phase == Phase::Denying && !matches!(event, WebSocketSend::DenyBody { .. }) {
            return Some(Found::app(
                "WS-009",
                format!("{name} was sent in the middle of a denial response"),
                "DenyStart once, then DenyBody until more: false",
            ));
        }
        match event {
            WebSocketSend::Accept(accept) => {
                if self.phase != Phase::Handshake {
                    return Some(Found::app(
                        "WS-002",
                        "a second Accept was sent",
                        "exactly one answer to Connect",
                    ));
                }
                if let Some(chosen) = &accept.subprotocol {
                    if !self.offered.contains(chosen) {
                        return Some(Found::app(
                            "WS-006",
                            format!(
                                "Accept chose subprotocol {chosen:?}, the client offered {:?}",
                                self.offered
                            ),
                            "a subprotocol the client offered",
                        ));
                    }
                }
                if let Some(name) = accept
                    .headers
                    .keys()
                    .find(|n| n.as_str().starts_with("sec-websocket-"))
                {
                    return Some(Found::app(
                        "WS-006",
                        format!("Accept carried the header {:?}", name.as_str()),
                        "no sec-websocket-* header in Accept (use Accept.subprotocol)",
                    ));
                }
                None
            }
            WebSocketSend::Message(_) if self.phase == Phase::Handshake => Some(Found::app(
                "WS-003",
                "a Message was sent before Accept",
                "Message only after Accept and before Close",
            )),
            WebSocketSend::Close(frame) => {
                if !sendable_close_code(frame.code) {
                    return Some(Found::app(
                        "WS-007",
                        format!("Close carried code {}", frame.code),
                        "a close code in 1000-1003, 1007-1014 or 3000-4999",
                    ));
                }
                if frame.reason.len() > 123 {
                    return Some(Found::app(
                        "WS-007",
                        format!("Close carried a reason of {} bytes", frame.reason.len()),
                        "a close reason of at most 123 bytes",
                    ));
                }
                None
            }
            WebSocketSend::DenyStart(start) => {
                if !self.capabilities.websocket_denial {
                    return Some(Found::app(
                        "WS-002",
                        "DenyStart was sent but the scope does not announce websocket_denial",
                        "DenyStart only with the denial capability (otherwise Close, a 403)",
                    ));
                }
                if self.phase != Phase::Handshake {
                    return Some(Found::app(
                        "WS-002",
                        "DenyStart was sent after Accept",
                        "exactly one answer to Connect",
                    ));
                }
                if start.trailers {
                    return Some(Found::app(
                        "WS-012",
                        "DenyStart announced trailers",
                        "DenyStart.trailers false",
                    ));
                }
                if !(200..=599).contains(&start.status.as_u16()) {
                    return Some(Found::app(
                        "WS-012",
                        format!("DenyStart carried status {}", start.status.as_u16()),
                        "a final status 200-599 (HTTP-021)",
                    ));
                }
                if let Some(name) = connection_header(&start.headers) {
                    return Some(Found::app(
                        "WS-012",
                        format!("DenyStart carried the connection-specific header {name:?}"),
                        "no connection-specific header (HTTP-023)",
                    ));
                }
                None
            }
            WebSocketSend::DenyBody { .. } if self.phase != Phase::Denying => Some(Found::app(
                "WS-009",
                "DenyBody was sent without DenyStart",
                "DenyStart once, then DenyBody until more: false",
            )),
            _ => None,
        }
    }

    fn apply_send(&mut self, event: &WebSocketSend) {
        self.phase = match (self.phase, event) {
            (Phase::Handshake, WebSocketSend::Accept(_)) => Phase::Accepted,
            (Phase::Handshake, WebSocketSend::DenyStart(_)) => Phase::Denying,
            (Phase::Denying, WebSocketSend::DenyBody { more: false, .. }) => Phase::Over,
            (_, WebSocketSend::Close(_)) => Phase::Over,
            (phase, _) => phase,
        };
    }

    fn peer_gone(&self) -> bool {
        self.disconnect_received
    }

    fn on_return(&self, result: &AppResult, _send_disconnected: bool) -> Option<Found> {
        if result.is_err() || self.disconnect_received {
            return None;
        }
        match self.phase {
            Phase::Handshake => Some(Found::app(
                "WS-002",
                "the app returned Ok(()) without answering Connect",
                "Accept, Close or DenyStart in answer to Connect (the server refuses with 500, WS-010)",
            )),
            Phase::Denying => Some(Found::app(
                "WS-009",
                "the app returned Ok(()) in the middle of a denial response",
                "DenyBody until more: false",
            )),
            _ => None,
        }
    }
}
