//! Refusing a WebSocket handshake the way the server can carry it: the
//! HTTP response you mean (a 401 with a JSON body, a 429 with
//! `retry-after`) when the server announces `websocket_denial`, else
//! `Close` before `Accept`, which every server answers with `403`
//! (rules `WS-004`, `EXT-001`).
//!
//! What the short-circuiting middleware of the catalogue (bearer auth, rate
//! limit, a session guard) share, so each says only *what* to answer.

use rgi::bytes::Bytes;
use rgi::http::{HeaderMap, StatusCode};
use rgi::{AppResult, CloseFrame, ResponseStart, WebSocketConn, WebSocketReceive, WebSocketSend};

/// Waits for the client's `Connect`, then refuses it: `status`, `headers`
/// and `body` as the denial response when the scope's capabilities allow
/// one, otherwise `Close(1008)` ("policy violation"), which reaches the
/// client as a bare `403`. A client that leaves before `Connect` is
/// answered nothing.
pub async fn refuse_handshake(
    ws: &mut WebSocketConn<'_>,
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult {
    if ws.recv().await != WebSocketReceive::Connect {
        return Ok(());
    }
    if !ws.scope.capabilities.websocket_denial {
        ws.send(WebSocketSend::Close(CloseFrame::new(1008))).await?;
        return Ok(());
    }
    let mut start = ResponseStart::new(status);
    start.headers = headers;
    ws.send(WebSocketSend::DenyStart(start)).await?;
    ws.send(WebSocketSend::DenyBody {
        data: body,
        more: false,
    })
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use rgi::http::header::CONTENT_TYPE;
    use rgi::http::HeaderValue;
    use rgi::{App, Capabilities, Conn};
    use rgi_conformance::{Handshake, Request, TestClient};

    use super::*;

    /// Refuses every handshake with a 418 and a body.
    struct Teapot;

    impl App for Teapot {
        async fn call(&self, conn: Conn<'_>) -> AppResult {
            let Conn::WebSocket(mut ws) = conn else {
                return conn.unsupported();
            };
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            refuse_handshake(&mut ws, StatusCode::IM_A_TEAPOT, headers, "short".into()).await
        }
    }

    #[tokio::test]
    async fn a_denial_where_the_server_carries_one() {
        let request = Request::get("/ws").capabilities(Capabilities::ALL);
        let session = TestClient::new(Teapot).connect(request).await.unwrap();
        let transcript = session.finish().await.unwrap();
        let Handshake::Denied {
            status,
            headers,
            body,
            complete,
        } = transcript.handshake
        else {
            panic!("not denied: {:?}", transcript.handshake);
        };
        assert_eq!(status, StatusCode::IM_A_TEAPOT);
        assert_eq!(headers[CONTENT_TYPE], "text/plain");
        assert_eq!(body, "short");
        assert!(complete);
        assert!(transcript.exit.is_ok());
    }

    #[tokio::test]
    async fn a_close_before_accept_elsewhere() {
        let session = TestClient::new(Teapot)
            .connect(Request::get("/ws"))
            .await
            .unwrap();
        let transcript = session.finish().await.unwrap();
        assert_eq!(
            transcript.handshake,
            Handshake::Closed(CloseFrame::new(1008))
        );
        assert!(transcript.exit.is_ok());
    }
}
