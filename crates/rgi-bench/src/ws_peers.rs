//! The WebSocket baselines: echo servers on tokio-tungstenite and on
//! fastwebsockets, each written the way its own documentation writes one
//! (read a message, write it back, flush), `TCP_NODELAY` on, no logging,
//! no compression (neither crate has permessage-deflate). Every path is
//! the echo; both answer pings and close handshakes through their crate.

use std::time::Duration;

use bytes::Bytes;
use fastwebsockets::{upgrade, FragmentCollector, OpCode, WebSocketError};
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

/// Accepts connections forever; accept errors (out of descriptors under the
/// idle test) are skipped after a pause, as the HTTP peers do.
async fn accept_loop<F, Fut>(listener: TcpListener, serve: F)
where
    F: Fn(TcpStream) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve(stream));
    }
}

/// The tokio-tungstenite echo server.
pub async fn serve_tungstenite(listener: TcpListener) {
    accept_loop(listener, |stream| async move {
        let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
            return;
        };
        while let Some(Ok(message)) = ws.next().await {
            if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
                return;
            }
        }
    })
    .await;
}

/// The fastwebsockets echo server, upgraded through hyper as its README
/// and examples do.
pub async fn serve_fastwebsockets(listener: TcpListener) {
    accept_loop(listener, |stream| async move {
        let http = http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service_fn(fastwebsockets_upgrade))
            .with_upgrades();
        let _ = http.await;
    })
    .await;
}

async fn fastwebsockets_upgrade(
    mut request: Request<Incoming>,
) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    let (response, upgraded) = upgrade::upgrade(&mut request)?;
    tokio::spawn(async move {
        let Ok(ws) = upgraded.await else { return };
        let mut ws = FragmentCollector::new(ws);
        while let Ok(frame) = ws.read_frame().await {
            let echo = match frame.opcode {
                OpCode::Close => return,
                OpCode::Text | OpCode::Binary => ws.write_frame(frame).await,
                _ => Ok(()),
            };
            if echo.is_err() {
                return;
            }
        }
    });
    Ok(response)
}
