//! WebSocket sessions: handshake, messages both ways, close.

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, StatusCode};
use rgi::{CloseFrame, Message, WebSocketReceive, WebSocketSend};

use super::core::Core;
use super::trace::{AppExit, Summary, Trace};
use super::ClientError;

/// How the app answered `Connect`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Handshake {
    /// It sent `Accept`.
    Accepted {
        /// The subprotocol it chose.
        subprotocol: Option<String>,
        /// The extra headers for the `101`.
        headers: HeaderMap,
    },
    /// It sent `Close` before accepting: the server refuses with 403
    /// (rule `WS-004`).
    Closed(CloseFrame),
    /// It sent a denial response (`DenyStart` and its body).
    Denied {
        /// The status.
        status: StatusCode,
        /// The headers.
        headers: HeaderMap,
        /// The body, concatenated.
        body: Bytes,
        /// Whether the body reached its final event.
        complete: bool,
    },
    /// Its future returned without answering.
    NoAnswer,
}

impl Handshake {
    /// Whether the app accepted.
    pub fn is_accepted(&self) -> bool {
        matches!(self, Self::Accepted { .. })
    }

    /// The HTTP status the client would see for a refusal: 403 for a close
    /// before accept, the denial's status for a denial.
    pub fn refusal_status(&self) -> Option<StatusCode> {
        match self {
            Self::Closed(_) => Some(StatusCode::FORBIDDEN),
            Self::Denied { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A live WebSocket session from [`TestClient::connect`](crate::TestClient::connect).
///
/// Dropping it drops (cancels) the app's future.
pub struct WebSocketSession {
    pub(crate) core: Core<WebSocketReceive, WebSocketSend>,
    pub(crate) handshake: Handshake,
}

impl std::fmt::Debug for WebSocketSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketSession")
            .field("handshake", &self.handshake)
            .field("trace", &self.core.trace.summary())
            .finish_non_exhaustive()
    }
}

impl WebSocketSession {
    /// Sends `Connect` and reads the app's answer.
    pub(crate) async fn handshake(
        mut core: Core<WebSocketReceive, WebSocketSend>,
    ) -> Result<Self, ClientError> {
        core.push(WebSocketReceive::Connect, "the app to receive Connect")
            .await
            .or_else(|e| match e {
                // An app that returned at once is reported as NoAnswer.
                ClientError::AppReturned(_) => Ok(()),
                e => Err(e),
            })?;
        let waiting = "the app to answer Connect";
        let handshake = match core.next_event(waiting).await? {
            None => Handshake::NoAnswer,
            Some(WebSocketSend::Accept(a)) => Handshake::Accepted {
                subprotocol: a.subprotocol.clone(),
                headers: a.headers.clone(),
            },
            Some(WebSocketSend::Close(frame)) => Handshake::Closed(frame.clone()),
            Some(WebSocketSend::DenyStart(start)) => {
                let (status, headers) = (start.status, start.headers.clone());
                let mut body = BytesMut::new();
                let mut complete = false;
                while let Some(ev) = core.next_event("the denial response body").await? {
                    match ev {
                        WebSocketSend::DenyBody { data, more } => {
                            body.extend_from_slice(data);
                            if !more {
                                complete = true;
                                break;
                            }
                        }
                        other => {
                            return Err(ClientError::Unexpected(format!(
                                "{} in the middle of a denial response",
                                other.summary()
                            )))
                        }
                    }
                }
                Handshake::Denied {
                    status,
                    headers,
                    body: body.freeze(),
                    complete,
                }
            }
            Some(other) => {
                return Err(ClientError::Unexpected(format!(
                    "{} as the answer to Connect (expected Accept, Close or DenyStart)",
                    other.summary()
                )))
            }
        };
        Ok(Self { core, handshake })
    }

    /// How the app answered `Connect`.
    pub fn handshake_outcome(&self) -> &Handshake {
        &self.handshake
    }

    /// Sends a message to the app.
    pub async fn send(&mut self, message: Message) -> Result<(), ClientError> {
        self.core
            .push(
                WebSocketReceive::Message(message),
                "the app to receive the message",
            )
            .await
    }

    /// Sends a text message.
    pub async fn send_text(&mut self, text: &str) -> Result<(), ClientError> {
        self.send(Message::Text(text.to_owned())).await
    }

    /// Sends a binary message.
    pub async fn send_binary(&mut self, data: impl Into<Bytes>) -> Result<(), ClientError> {
        self.send(Message::Binary(data.into())).await
    }

    /// The app's next event; `None` once its future returned.
    pub async fn recv(&mut self) -> Result<Option<&WebSocketSend>, ClientError> {
        self.core.next_event("the app's next WebSocket event").await
    }

    /// The app's next event, which must be a message.
    pub async fn recv_message(&mut self) -> Result<Message, ClientError> {
        match self.recv().await? {
            Some(WebSocketSend::Message(m)) => Ok(m.clone()),
            Some(other) => Err(ClientError::Unexpected(format!(
                "{} where a message was expected",
                other.summary()
            ))),
            None => Err(ClientError::AppReturned(self.core.exit().await.to_string())),
        }
    }

    /// The client closes with `frame`: the app receives `Disconnect(frame)`
    /// and its sends fail with `Disconnected`.
    pub fn close(&mut self, frame: CloseFrame) {
        self.core.disconnect(WebSocketReceive::Disconnect(frame));
    }

    /// The connection drops without a close frame (code 1006).
    pub fn drop_connection(&mut self) {
        self.close(CloseFrame::new(1006));
    }

    /// Drives to the end: takes every event, waits (bounded) for the app's
    /// future to return.
    pub async fn finish(mut self) -> Result<WebSocketTranscript, ClientError> {
        self.core.run_to_end("the WebSocket app to return").await?;
        Ok(WebSocketTranscript {
            handshake: self.handshake.clone(),
            trace: std::mem::take(&mut self.core.trace),
            exit: self.core.take_exit(),
        })
    }

    /// The trace so far.
    pub fn trace(&self) -> &Trace<WebSocketReceive, WebSocketSend> {
        &self.core.trace
    }
}

/// A finished WebSocket session.
#[derive(Debug)]
#[non_exhaustive]
pub struct WebSocketTranscript {
    /// How the app answered `Connect`.
    pub handshake: Handshake,
    /// Every event both ways.
    pub trace: Trace<WebSocketReceive, WebSocketSend>,
    /// How the app's future ended.
    pub exit: AppExit,
}
