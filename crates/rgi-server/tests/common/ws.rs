//! WebSocket helpers: a test app with one route per behaviour, and raw
//! frames over [`Client`].

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use rgi::{
    Accept, App, AppResult, CloseFrame, Conn, Error, LifespanReceive, LifespanSend, Message,
    ResponseStart, WebSocketReceive, WebSocketSend,
};
use tokio::sync::mpsc;

use super::{bounded, Client};

/// The key of RFC 6455 §1.3 and its accept value.
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// An upgrade request for `path` with `extra` header lines (each ending
/// in `\r\n`).
pub fn upgrade(path: &str, extra: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n{extra}\r\n"
    )
    .into_bytes()
}

/// What the app saw, one line per event of interest, in order.
pub type Log = mpsc::UnboundedReceiver<String>;

/// The app of the WebSocket tests. Routes:
///
/// * `/echo`: accepts (offering the first subprotocol), echoes; logs
///   `disconnect CODE`, then `late send: ERROR` for a send after it.
/// * `/accept-extra`: accepts with the header `x-extra: 1`, then echoes.
/// * `/reject`: `Close` before accepting.
/// * `/deny`: a 401 denial with a JSON body.
/// * `/unsupported`: returns `Error::Unsupported` before answering.
/// * `/ok-unanswered`: returns `Ok` before answering.
/// * `/wait`: never answers `Connect`; logs what `receive` returns.
/// * `/close?CODE`: accepts, closes with CODE and reason `bye`, logs the
///   disconnect.
/// * `/return`: accepts and returns `Ok`; `/fail`: accepts and fails.
/// * `/push?N`: accepts and sends N binary messages of 64 KiB without
///   receiving, logging `sent K` after each.
/// * `/slow`: accepts, sleeps 1 s before each receive, logs `got N` with
///   each message's length.
/// * `/state`: accepts and sends one text message: the lifespan state's
///   [`Greeting`], whether the scope has the client's address, and
///   whether it announces `websocket_denial`.
///
/// Lifespan startup puts a [`Greeting`] in the state.
#[derive(Clone)]
pub struct WsApp {
    log: Arc<mpsc::UnboundedSender<String>>,
}

impl WsApp {
    pub fn new() -> (WsApp, Log) {
        let (tx, rx) = mpsc::unbounded_channel();
        (WsApp { log: Arc::new(tx) }, rx)
    }

    fn log(&self, line: String) {
        let _ = self.log.send(line);
    }
}

/// What lifespan startup puts in the state.
pub struct Greeting(pub &'static str);

/// The next log line, within the wait bound.
pub async fn next_line(log: &mut Log) -> String {
    bounded("an app log line", log.recv())
        .await
        .expect("log open")
}

fn disconnect_line(event: &WebSocketReceive) -> String {
    match event {
        WebSocketReceive::Disconnect(close) => format!("disconnect {}", close.code),
        other => format!("unexpected {other:?}"),
    }
}

impl App for WsApp {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let mut ws = match conn {
            Conn::WebSocket(ws) => ws,
            Conn::Lifespan(mut life) => {
                assert_eq!(life.recv().await, LifespanReceive::Startup);
                life.scope.state.insert(Greeting("from startup"));
                life.send(LifespanSend::StartupComplete).await?;
                assert_eq!(life.recv().await, LifespanReceive::Shutdown);
                return Ok(life.send(LifespanSend::ShutdownComplete).await?);
            }
            other => return other.unsupported(),
        };
        let path = ws.scope.path.clone();
        let query = ws.scope.uri.query().unwrap_or("").to_owned();
        match path.as_str() {
            "/unsupported" => return Err(Error::Unsupported(rgi::ScopeKind::WebSocket).into()),
            "/ok-unanswered" => return Ok(()),
            _ => {}
        }
        assert_eq!(ws.recv().await, WebSocketReceive::Connect);
        let mut accept = Accept::new();
        match path.as_str() {
            "/reject" => return Ok(ws.send(WebSocketSend::Close(CloseFrame::normal())).await?),
            "/deny" => {
                let mut start = ResponseStart::new(StatusCode::UNAUTHORIZED);
                start
                    .headers
                    .insert("www-authenticate", HeaderValue::from_static("Bearer"));
                ws.send(WebSocketSend::DenyStart(start)).await?;
                ws.send(WebSocketSend::DenyBody {
                    data: Bytes::from_static(b"{\"error\":\"no\"}"),
                    more: false,
                })
                .await?;
                let event = ws.recv().await;
                self.log(disconnect_line(&event));
                return Ok(());
            }
            "/wait" => {
                let event = ws.recv().await;
                self.log(disconnect_line(&event));
                return Ok(());
            }
            "/accept-extra" => {
                accept
                    .headers
                    .insert("x-extra", HeaderValue::from_static("1"));
            }
            _ => {}
        }
        accept.subprotocol = ws.scope.subprotocols.first().cloned();
        ws.send(WebSocketSend::Accept(accept)).await?;
        match path.as_str() {
            "/close" => {
                let mut close = CloseFrame::new(query.parse()?);
                close.reason = "bye".into();
                ws.send(WebSocketSend::Close(close)).await?;
                let event = ws.recv().await;
                self.log(disconnect_line(&event));
                return Ok(());
            }
            "/state" => {
                let greeting = ws.scope.state.get::<Greeting>().map_or("no state", |g| g.0);
                let line = format!(
                    "{greeting}; client {}; denial {}",
                    ws.scope.client.is_some(),
                    ws.scope.capabilities.websocket_denial
                );
                ws.send(WebSocketSend::Message(Message::Text(line))).await?;
                return Ok(());
            }
            "/return" => return Ok(()),
            "/fail" => return Err("failed on purpose".into()),
            "/push" => {
                let n: usize = query.parse()?;
                for k in 1..=n {
                    ws.send(WebSocketSend::Message(Message::Binary(Bytes::from(
                        vec![7u8; 64 * 1024],
                    ))))
                    .await?;
                    self.log(format!("sent {k}"));
                }
                return Ok(());
            }
            _ => {}
        }
        loop {
            if path == "/slow" {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            match ws.recv().await {
                WebSocketReceive::Message(message) => {
                    if path == "/slow" {
                        let len = match &message {
                            Message::Text(t) => t.len(),
                            Message::Binary(b) => b.len(),
                        };
                        self.log(format!("got {len}"));
                    }
                    ws.send(WebSocketSend::Message(message)).await?;
                }
                event => {
                    self.log(disconnect_line(&event));
                    let late = ws
                        .send(WebSocketSend::Message(Message::Text("late".into())))
                        .await;
                    self.log(format!("late send: {late:?}"));
                    return Ok(());
                }
            }
        }
    }
}

/// Opcodes.
pub const CONT: u8 = 0x0;
pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

const MASK: [u8; 4] = [0x12, 0x34, 0x56, 0x78];

/// A masked client frame; `first_byte_extra` ORs into the first byte
/// (RSV bits), `fin` sets FIN.
pub fn frame(fin: bool, first_byte_extra: u8, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | first_byte_extra | opcode];
    length(&mut out, 0x80, payload.len() as u64);
    out.extend_from_slice(&MASK);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    out
}

/// A whole masked frame.
pub fn whole(opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame(true, 0, opcode, payload)
}

fn length(out: &mut Vec<u8>, mask_bit: u8, len: u64) {
    if len < 126 {
        out.push(mask_bit | len as u8);
    } else if len <= 0xFFFF {
        out.push(mask_bit | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// A close payload.
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    p
}

/// A frame from the server.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub rsv1: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl Frame {
    /// A close frame's code (`None` when it has none).
    pub fn close_code(&self) -> Option<u16> {
        assert_eq!(self.opcode, CLOSE, "expected a close frame, got {self:?}");
        (self.payload.len() >= 2).then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

impl Client {
    /// Sends the upgrade request for `path` and reads the `101` head.
    pub async fn open(&mut self, path: &str, extra: &str) -> Vec<(String, String)> {
        self.send(&upgrade(path, extra)).await;
        let (status, headers) = self.read_head().await;
        assert_eq!(status, 101, "{headers:?}");
        headers
    }

    /// Reads one frame; the server never masks.
    pub async fn read_frame(&mut self) -> Frame {
        let head = self.read_exact_raw(2).await;
        assert_eq!(head[1] & 0x80, 0, "server frames are not masked");
        assert_eq!(head[0] & 0x30, 0, "RSV2 and RSV3 are clear");
        let len = match head[1] & 0x7F {
            126 => u16::from_be_bytes(self.read_exact_raw(2).await.try_into().unwrap()) as usize,
            127 => u64::from_be_bytes(self.read_exact_raw(8).await.try_into().unwrap()) as usize,
            n => usize::from(n),
        };
        Frame {
            fin: head[0] & 0x80 != 0,
            rsv1: head[0] & 0x40 != 0,
            opcode: head[0] & 0x0F,
            payload: self.read_exact_raw(len).await,
        }
    }

    /// Expects a close frame with `code`, then the server closing the
    /// connection.
    pub async fn expect_close(&mut self, code: u16) {
        let frame = self.read_frame().await;
        assert_eq!(frame.close_code(), Some(code), "{frame:?}");
        self.assert_closed().await;
    }
}
