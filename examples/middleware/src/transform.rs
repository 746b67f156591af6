//! Body transforms: rewrite each chunk of a text response as it streams
//! by, keeping its length, so `content-length` stays right and nothing is
//! buffered. Two of the seeds' exercises are instances:
//!
//! * [`BodyMap::capitalise`]: ASCII letters to upper case (seed 001's
//!   `capitalize_response`);
//! * [`BodyMap::reverse`]: each chunk's bytes reversed (seed 001's
//!   `reverser`). Applied twice it gives the original body back: the
//!   outer layer sees the chunks exactly as the inner one sent them.
//!
//! ```
//! # use rgi_middleware_examples::BodyMap;
//! # fn demo(app: rgi::BoxApp) {
//! let shouting = BodyMap::capitalise(app);
//! # }
//! # fn twice(app: rgi::BoxApp) {
//! let same_as_app = BodyMap::reverse(BodyMap::reverse(app));
//! # }
//! ```
//!
//! Only `text/*` responses without a `content-encoding` are rewritten
//! (the seeds transform everything, which breaks images and gzip). Upper
//! case is ASCII only: Unicode case mapping changes byte lengths (`ß` →
//! `SS`) and a character may straddle two chunks. Reversal is per chunk,
//! as in the seed, so it reverses bytes, not characters: a multi-byte
//! UTF-8 character comes out invalid until reversed back. The inner app
//! sees `send_file` cleared (a file the server reads cannot be rewritten;
//! rule `EXT-002`); the capability is restored when the call returns.

use rgi::bytes::BytesMut;
use rgi::http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use rgi::http::HeaderMap;
use rgi::{App, AppResult, Conn, HttpConn, HttpSend, MapSend};

/// Rewrites the body chunks of text responses in place with `map`.
#[derive(Debug, Clone)]
pub struct BodyMap<A> {
    inner: A,
    map: fn(&mut [u8]),
}

impl<A> BodyMap<A> {
    /// `inner`'s text bodies rewritten chunk by chunk by `map`, which must
    /// keep the length (it gets the bytes to change in place).
    pub fn new(inner: A, map: fn(&mut [u8])) -> Self {
        Self { inner, map }
    }

    /// ASCII upper case.
    pub fn capitalise(inner: A) -> Self {
        Self::new(inner, <[u8]>::make_ascii_uppercase)
    }

    /// Each chunk's bytes in reverse order.
    pub fn reverse(inner: A) -> Self {
        Self::new(inner, <[u8]>::reverse)
    }
}

/// Whether a response with these headers is text to rewrite.
fn is_plain_text(headers: &HeaderMap) -> bool {
    let text = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim_start().to_ascii_lowercase().starts_with("text/"));
    text && !headers.contains_key(CONTENT_ENCODING)
}

impl<A: App> App for BodyMap<A> {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(http) = conn else {
            return self.inner.call(conn).await;
        };
        let (scope, receiver, sender) = http.into_parts();
        let send_file = std::mem::replace(&mut scope.capabilities.send_file, false);
        let mut rewrite = false;
        let mut sender = MapSend::new(sender, |event: HttpSend| match event {
            HttpSend::Start(start) => {
                rewrite = is_plain_text(&start.headers);
                HttpSend::Start(start)
            }
            HttpSend::Body { data, more } if rewrite && !data.is_empty() => {
                // In place when the chunk is not shared, else one copy.
                let mut data = data
                    .try_into_mut()
                    .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
                (self.map)(&mut data);
                HttpSend::Body {
                    data: data.freeze(),
                    more,
                }
            }
            other => other,
        });
        let result = self
            .inner
            .call(HttpConn::new(&mut *scope, receiver, &mut sender).into())
            .await;
        scope.capabilities.send_file = send_file;
        result
    }
}

#[cfg(test)]
mod tests {
    use rgi::http::header::CONTENT_LENGTH;
    use rgi::http::{HeaderValue, StatusCode};
    use rgi::{Capabilities, ResponseStart};
    use rgi_conformance::{Request, TestClient};

    use super::*;

    /// Streams `Hello WSGI!` and `ünïcode\n` as two chunks, with the
    /// content type from the path (`/text`, `/png`, `/gzip`).
    struct Chunks;

    impl App for Chunks {
        async fn call(&self, conn: Conn<'_>) -> AppResult {
            let Conn::Http(mut http) = conn else {
                return conn.unsupported();
            };
            assert!(!http.scope.capabilities.send_file, "EXT-002: cleared");
            let mut start = ResponseStart::new(StatusCode::OK);
            let (kind, encoding) = match http.scope.path.as_str() {
                "/png" => ("image/png", None),
                "/gzip" => ("text/plain", Some("gzip")),
                _ => ("text/plain; charset=utf-8", None),
            };
            start
                .headers
                .insert(CONTENT_TYPE, HeaderValue::from_static(kind));
            if let Some(encoding) = encoding {
                start
                    .headers
                    .insert(CONTENT_ENCODING, HeaderValue::from_static(encoding));
            }
            start.headers.insert(CONTENT_LENGTH, HeaderValue::from(21));
            http.send(HttpSend::Start(start)).await?;
            http.send(HttpSend::chunk("Hello WSGI!")).await?;
            Ok(http.send(HttpSend::body("ünïcode\n")).await?)
        }
    }

    async fn chunks(app: impl App, path: &str) -> Vec<Vec<u8>> {
        let request = Request::get(path).capabilities(Capabilities::ALL);
        let response = TestClient::new(app).send(request).await.unwrap();
        assert_eq!(response.header("content-length"), Some("21"));
        response.chunks().iter().map(|c| c.to_vec()).collect()
    }

    #[tokio::test]
    async fn capitalises_ascii_chunk_by_chunk() {
        let got = chunks(BodyMap::capitalise(Chunks), "/text").await;
        assert_eq!(
            got,
            [b"HELLO WSGI!".to_vec(), "üNïCODE\n".as_bytes().to_vec()]
        );
    }

    #[tokio::test]
    async fn reverses_each_chunk_and_twice_is_the_original() {
        let once = chunks(BodyMap::reverse(Chunks), "/text").await;
        assert_eq!(once[0], b"!IGSW olleH");
        let mut expected = "ünïcode\n".as_bytes().to_vec();
        expected.reverse();
        assert_eq!(once[1], expected);
        let twice = chunks(BodyMap::reverse(BodyMap::reverse(Chunks)), "/text").await;
        assert_eq!(
            twice,
            [b"Hello WSGI!".to_vec(), "ünïcode\n".as_bytes().to_vec()]
        );
    }

    #[tokio::test]
    async fn leaves_binary_and_encoded_bodies_alone() {
        for path in ["/png", "/gzip"] {
            let got = chunks(BodyMap::capitalise(Chunks), path).await;
            assert_eq!(
                got,
                [b"Hello WSGI!".to_vec(), "ünïcode\n".as_bytes().to_vec()],
                "{path}"
            );
        }
    }
}
