//! The load app's plaintext and echo routes as blocking handlers
//! (`rgi-blocking`), plus `GET /sleep?ms=N`: a handler that blocks its
//! thread for N ms (at most 1 s), standing in for a blocking query. Served
//! by the `blocking-peer` binary; measured against the same routes
//! written async (`rgi-peer`) to price the thread hop.

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use rgi::ResponseStart;
use rgi_blocking::{Request, Response};

use crate::routes::{HELLO, TEXT_PLAIN};

/// The longest `/sleep` honoured, in ms.
pub const MAX_SLEEP_MS: u64 = 1000;

/// The blocking load handler.
pub fn handler(mut request: Request, response: &mut Response) -> std::io::Result<()> {
    let scope = &request.scope;
    match (&scope.method, scope.path.as_str()) {
        (&Method::GET, "/") => hello(response),
        (&Method::GET, "/sleep") => {
            let ms = scope
                .uri
                .query()
                .and_then(|q| q.strip_prefix("ms="))
                .and_then(|ms| ms.parse::<u64>().ok())
                .unwrap_or(10)
                .min(MAX_SLEEP_MS);
            std::thread::sleep(std::time::Duration::from_millis(ms));
            hello(response)
        }
        (&Method::POST, "/echo") => {
            // As the async echo: the request's length announced, each chunk
            // sent on as it arrives, without a copy.
            let mut start = ResponseStart::new(StatusCode::OK);
            if let Some(length) = scope.headers.get(CONTENT_LENGTH) {
                start.headers.insert(CONTENT_LENGTH, length.clone());
            }
            response.start_with(start)?;
            while let Some(chunk) = request.body.next_chunk()? {
                response.write_chunk(chunk)?;
            }
            Ok(())
        }
        _ => response.send(StatusCode::NOT_FOUND, HeaderMap::new(), Bytes::new()),
    }
}

fn hello(response: &mut Response) -> std::io::Result<()> {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(TEXT_PLAIN));
    response.send(StatusCode::OK, headers, Bytes::from_static(HELLO))
}
