//! The WebSocket routes.

use rgi::bytes::Bytes;
use rgi::http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use rgi::http::{HeaderValue, StatusCode};
use rgi::{
    Accept, AppResult, CloseFrame, Conn, ResponseStart, WebSocketConn, WebSocketReceive,
    WebSocketSend,
};

use crate::query;

/// The body of `/ws/deny`'s 401.
pub const DENY_BODY: &str = "{\"error\":\"unauthorized\"}";

/// Serves one WebSocket scope.
pub(crate) async fn handle(mut ws: WebSocketConn<'_>) -> AppResult {
    let path = ws.scope.route_path().to_owned();
    let close_code = match path.as_str() {
        "/ws/echo" | "/ws/reject" | "/ws/deny" => None,
        "/ws/close" => {
            let query = ws.scope.uri.query().unwrap_or("");
            match query::number(query, "code", 1000, 4999) {
                Ok(code) => Some(code as u16),
                Err(_) => return refuse(ws).await,
            }
        }
        _ => return refuse(ws).await,
    };
    if ws.recv().await != WebSocketReceive::Connect {
        return Ok(());
    }
    match path.as_str() {
        "/ws/reject" => return Ok(ws.send(WebSocketSend::Close(CloseFrame::normal())).await?),
        "/ws/deny" => return deny(ws).await,
        _ => {}
    }
    let mut accept = Accept::new();
    accept.subprotocol = ws.scope.subprotocols.first().cloned();
    ws.send(WebSocketSend::Accept(accept)).await?;
    if let Some(code) = close_code {
        return Ok(ws.send(WebSocketSend::Close(CloseFrame::new(code))).await?);
    }
    loop {
        match ws.recv().await {
            WebSocketReceive::Message(message) => ws.send(WebSocketSend::Message(message)).await?,
            // Disconnect: the peer is gone (or an event a later spec adds).
            _ => return Ok(()),
        }
    }
}

/// An unknown WebSocket route: declined, which the server answers 403.
async fn refuse(ws: WebSocketConn<'_>) -> AppResult {
    Conn::WebSocket(ws).unsupported()
}

/// `/ws/deny`: a 401 with a JSON body, as an auth middleware sends.
async fn deny(mut ws: WebSocketConn<'_>) -> AppResult {
    let mut start = ResponseStart::new(StatusCode::UNAUTHORIZED);
    start
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    start
        .headers
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    ws.send(WebSocketSend::DenyStart(start)).await?;
    ws.send(WebSocketSend::DenyBody {
        data: Bytes::from_static(DENY_BODY.as_bytes()),
        more: false,
    })
    .await?;
    Ok(())
}
