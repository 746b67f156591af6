//! `--limit-concurrency`: a connection beyond the limit is answered at
//! once with `503 Service Unavailable` and `Retry-After`, then closed, in
//! a small task of its own, so the accept loop never waits for it and the
//! client never hangs.

use std::time::Duration;

use http::HeaderValue;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::listen::Stream;

/// Seconds a refused client is asked to wait.
const RETRY_AFTER_SECS: u32 = 1;
/// The refusal's whole life is bounded: a client that does not read it
/// does not keep its socket.
const REFUSAL_TIME: Duration = Duration::from_secs(2);

const BODY: &str = "Service Unavailable: the server is at its connection limit\n";

/// The 503 response for a connection over the limit.
pub(crate) fn overload_response(server: Option<&HeaderValue>) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nretry-after: {RETRY_AFTER_SECS}\r\nconnection: close\r\n",
        BODY.len()
    )
    .into_bytes();
    if let Some(server) = server {
        out.extend_from_slice(b"server: ");
        out.extend_from_slice(server.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(BODY.as_bytes());
    out
}

/// Answers `503` on `stream` and closes it. The request (if the client
/// sent one already) is read and discarded, briefly, so that the close
/// does not reset the answer away.
pub(crate) async fn refuse_overloaded(mut stream: Stream, server: Option<HeaderValue>) {
    tracing::warn!("connection limit reached: answered 503");
    let response = overload_response(server.as_ref());
    let _ = tokio::time::timeout(REFUSAL_TIME, async {
        stream.write_all(&response).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 1024];
        let mut total = 0;
        while total < 64 * 1024 {
            match stream.read(&mut sink).await? {
                0 => break,
                n => total += n,
            }
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_is_a_complete_response() {
        let bytes = overload_response(Some(&HeaderValue::from_static("rgi")));
        let mut headers = [httparse::EMPTY_HEADER; 8];
        let mut response = httparse::Response::new(&mut headers);
        let head = match response.parse(&bytes).unwrap() {
            httparse::Status::Complete(n) => n,
            httparse::Status::Partial => panic!("partial"),
        };
        assert_eq!(response.code, Some(503));
        let get = |name: &str| {
            response
                .headers
                .iter()
                .find(|h| h.name == name)
                .map(|h| std::str::from_utf8(h.value).unwrap())
        };
        assert_eq!(get("retry-after"), Some("1"));
        assert_eq!(get("connection"), Some("close"));
        assert_eq!(get("content-length"), Some(BODY.len().to_string().as_str()));
        assert_eq!(&bytes[head..], BODY.as_bytes());
    }
}
