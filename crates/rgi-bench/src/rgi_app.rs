//! The load app as an rgi app, written the way an rgi user would write it:
//! `respond` for the small response, one event per chunk for the others.

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, StatusCode};
use rgi::{
    Accept, App, AppResult, Conn, Error, HttpConn, HttpReceive, HttpSend, ResponseStart,
    WebSocketConn, WebSocketReceive, WebSocketSend,
};

use crate::routes::{stream_chunk, Route, StreamParams, HELLO, TEXT_PLAIN};

/// The load app: see [`routes`](crate::routes) for what it answers. A
/// WebSocket on any path is the echo (every message sent back as it came),
/// the route the WebSocket peers serve (`ws_peers`, `load/ws.sh`).
/// Lifespan is unsupported, so a server runs it without lifespan.
#[derive(Debug, Default, Clone, Copy)]
pub struct LoadApp;

impl App for LoadApp {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let mut http = match conn {
            Conn::Http(http) => http,
            Conn::WebSocket(ws) => return Ok(ws_echo(ws).await?),
            other => return other.unsupported(),
        };
        let scope = &http.scope;
        let query = scope.uri.query().unwrap_or("");
        match Route::of(&scope.method, &scope.path, query) {
            Route::Hello => {
                let mut headers = HeaderMap::new();
                headers.insert(CONTENT_TYPE, HeaderValue::from_static(TEXT_PLAIN));
                http.respond(StatusCode::OK, headers, Bytes::from_static(HELLO))
                    .await?;
            }
            Route::Echo => echo(&mut http).await?,
            Route::Stream(params) => stream(&mut http, params).await?,
            Route::NotFound => {
                http.respond(StatusCode::NOT_FOUND, HeaderMap::new(), Bytes::new())
                    .await?;
            }
        }
        Ok(())
    }
}

/// Accepts, then sends every message back until the client leaves.
async fn ws_echo(mut ws: WebSocketConn<'_>) -> Result<(), Error> {
    if ws.recv().await != WebSocketReceive::Connect {
        return Ok(());
    }
    ws.send(WebSocketSend::Accept(Accept::new())).await?;
    // Disconnect (or an event a later spec adds) ends it.
    while let WebSocketReceive::Message(message) = ws.recv().await {
        ws.send(WebSocketSend::Message(message)).await?;
    }
    Ok(())
}

/// Sends each request chunk back as it arrives, announcing the request's
/// length when it had one (as hyper does when it echoes a body).
async fn echo(http: &mut HttpConn<'_>) -> Result<(), Error> {
    let mut start = ResponseStart::new(StatusCode::OK);
    if let Some(length) = http.scope.headers.get(CONTENT_LENGTH) {
        start.headers.insert(CONTENT_LENGTH, length.clone());
    }
    http.send(HttpSend::Start(start)).await?;
    loop {
        match http.recv().await {
            HttpReceive::Body { data, more } => {
                http.send(HttpSend::Body { data, more }).await?;
                if !more {
                    return Ok(());
                }
            }
            // `Disconnect`, and any event a later spec adds: the request
            // body is over without its final chunk.
            _ => return Err(Error::Disconnected),
        }
    }
}

/// `params.chunks` chunks of `params.size` bytes; no length, so the server
/// frames it (chunked encoding in HTTP/1.1).
async fn stream(http: &mut HttpConn<'_>, params: StreamParams) -> Result<(), Error> {
    http.send(HttpSend::Start(ResponseStart::new(StatusCode::OK)))
        .await?;
    if params.chunks == 0 {
        return http.send(HttpSend::body(Bytes::new())).await;
    }
    let chunk = stream_chunk(params.size);
    for sent in 1..=params.chunks {
        let more = sent < params.chunks;
        http.send(HttpSend::Body {
            data: chunk.clone(),
            more,
        })
        .await?;
    }
    Ok(())
}

/// Serves `app` on the reference server at `bind` with [`peer_config`]
/// until the process is stopped; exits with status 1 (naming `peer`) when
/// the server fails. What both rgi peers' `main` does.
pub async fn serve_peer(
    peer: &str,
    bind: std::net::SocketAddr,
    config: rgi_server::Config,
    app: impl App,
) {
    let server = rgi_server::Server::bind(bind)
        .await
        .unwrap_or_else(|e| panic!("bind {bind}: {e}"))
        .with_config(config);
    if let Err(e) = server.serve(app).await {
        eprintln!("{peer}: {e}");
        std::process::exit(1);
    }
}

/// The server's config for the load peers: the defaults, aligned with
/// hyper's where they differ (see the `rgi-peer` binary's docs).
pub fn peer_config() -> rgi_server::Config {
    let mut config = rgi_server::Config::default();
    config.server_header = None;
    config.keep_alive_timeout = std::time::Duration::from_secs(600);
    // hyper's default max_buf_size, which bounds its write buffer too.
    config.write_buffer_bytes = 8192 + 4096 * 100;
    config
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::{run_http, RecordingSender, ScriptedReceiver};
    use http::{Method, Uri};
    use rgi::HttpScope;

    fn request(method: Method, uri: &'static str, body: &[Bytes]) -> (RecordingSender, AppResult) {
        let mut scope = HttpScope::new(method, Uri::from_static(uri)).unwrap();
        let length: usize = body.iter().map(Bytes::len).sum();
        scope
            .headers
            .insert(CONTENT_LENGTH, HeaderValue::from(length));
        let mut receiver = ScriptedReceiver::new(body);
        let mut sender = RecordingSender::default();
        let result = run_http(&LoadApp, scope, &mut receiver, &mut sender)
            .expect("every driver event is ready, so the app completes");
        (sender, result)
    }

    #[test]
    fn hello_is_plaintext_in_one_final_chunk() {
        let (sent, result) = request(Method::GET, "/", &[]);
        result.unwrap();
        let start = sent.start.unwrap();
        assert_eq!(start.status, StatusCode::OK);
        assert_eq!(start.headers[CONTENT_TYPE], TEXT_PLAIN);
        // One final chunk: the server sends it with a content-length of
        // its own (HTTP-034), as hyper does for a full body.
        assert_eq!(sent.body_events, 1);
        assert_eq!(sent.body, HELLO);
        assert!(sent.complete);
    }

    #[test]
    fn echo_returns_every_chunk_in_order() {
        let body = [Bytes::from_static(b"abc"), Bytes::from_static(b"defg")];
        let (sent, result) = request(Method::POST, "/echo", &body);
        result.unwrap();
        let start = sent.start.unwrap();
        assert_eq!(start.headers[CONTENT_LENGTH], "7");
        assert_eq!(sent.body, b"abcdefg");
        assert_eq!(sent.body_events, 2);
        assert!(sent.complete);
    }

    #[test]
    fn stream_sends_n_chunks_without_length() {
        let (sent, result) = request(Method::GET, "/stream?n=3&size=5", &[]);
        result.unwrap();
        let start = sent.start.unwrap();
        assert!(start.headers.get(CONTENT_LENGTH).is_none());
        assert_eq!(sent.body, b"xxxxxxxxxxxxxxx");
        assert_eq!(sent.body_events, 3);
        assert!(sent.complete);
    }

    #[test]
    fn unknown_route_is_404() {
        let (sent, result) = request(Method::GET, "/nope", &[]);
        result.unwrap();
        assert_eq!(sent.start.unwrap().status, StatusCode::NOT_FOUND);
        assert!(sent.body.is_empty());
        assert!(sent.complete);
    }
}
