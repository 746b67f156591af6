//! The load app's routes, identical for both peers:
//!
//! * `GET /`: `Hello, world!` as `text/plain; charset=utf-8`, with a length.
//! * `POST /echo`: the request body back, streamed as it arrives.
//! * `GET /stream?n=N&size=S`: `N` chunks of `S` bytes, no length (chunked).
//! * anything else: `404` with an empty body.

/// The plaintext body.
pub const HELLO: &[u8] = b"Hello, world!";

/// The plaintext content type.
pub const TEXT_PLAIN: &str = "text/plain; charset=utf-8";

/// The largest chunk `/stream` sends; larger `size` values are clamped.
pub const MAX_CHUNK: usize = 256 * 1024;

/// The most chunks `/stream` sends; larger `n` values are clamped.
pub const MAX_CHUNKS: usize = 100_000;

/// The bytes `/stream` chunks are cut from. Static, so that streaming costs
/// no allocation and no copy in either peer: only the framing is measured.
static STREAM_BYTES: [u8; MAX_CHUNK] = [b'x'; MAX_CHUNK];

/// One `/stream` chunk of `size` bytes (at most [`MAX_CHUNK`]), without
/// allocating.
pub fn stream_chunk(size: usize) -> bytes::Bytes {
    bytes::Bytes::from_static(&STREAM_BYTES[..size.min(MAX_CHUNK)])
}

/// Which route a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET /`.
    Hello,
    /// `POST /echo`.
    Echo,
    /// `GET /stream`, with its parameters.
    Stream(StreamParams),
    /// Anything else.
    NotFound,
}

impl Route {
    /// Routes a request by method, path and raw query string.
    pub fn of(method: &http::Method, path: &str, query: &str) -> Self {
        match (method, path) {
            (&http::Method::GET, "/") => Self::Hello,
            (&http::Method::POST, "/echo") => Self::Echo,
            (&http::Method::GET, "/stream") => Self::Stream(StreamParams::parse(query)),
            _ => Self::NotFound,
        }
    }
}

/// The parameters of `/stream`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamParams {
    /// How many chunks.
    pub chunks: usize,
    /// The size of each chunk in bytes.
    pub size: usize,
}

impl Default for StreamParams {
    /// 100 chunks of 16 KiB: the load scenario's shape.
    fn default() -> Self {
        Self {
            chunks: 100,
            size: 16 * 1024,
        }
    }
}

impl StreamParams {
    /// Reads `n` and `size` from a query string such as `n=100&size=16384`.
    /// Missing or malformed values keep their defaults; values are clamped
    /// to [`MAX_CHUNKS`] and [`MAX_CHUNK`] so that no request can ask for an
    /// unbounded response.
    pub fn parse(query: &str) -> Self {
        let mut params = Self::default();
        for pair in query.split('&') {
            let Some((key, value)) = pair.split_once('=') else {
                continue;
            };
            let Ok(value) = value.parse::<usize>() else {
                continue;
            };
            match key {
                "n" => params.chunks = value.min(MAX_CHUNKS),
                "size" => params.size = value.min(MAX_CHUNK),
                _ => {}
            }
        }
        params
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    #[test]
    fn routes_by_method_and_path() {
        assert_eq!(Route::of(&Method::GET, "/", ""), Route::Hello);
        assert_eq!(Route::of(&Method::POST, "/echo", ""), Route::Echo);
        assert_eq!(Route::of(&Method::POST, "/", ""), Route::NotFound);
        assert_eq!(Route::of(&Method::GET, "/echo", ""), Route::NotFound);
        assert_eq!(
            Route::of(&Method::GET, "/stream", "n=3&size=5"),
            Route::Stream(StreamParams { chunks: 3, size: 5 })
        );
    }

    #[test]
    fn stream_params_default_and_clamp() {
        assert_eq!(StreamParams::parse(""), StreamParams::default());
        assert_eq!(
            StreamParams::parse("n=x&size=&junk"),
            StreamParams::default()
        );
        let huge = StreamParams::parse("n=99999999999&size=99999999999");
        assert_eq!(huge.chunks, MAX_CHUNKS);
        assert_eq!(huge.size, MAX_CHUNK);
        assert_eq!(stream_chunk(huge.size).len(), MAX_CHUNK);
        assert_eq!(stream_chunk(7), &b"xxxxxxx"[..]);
    }
}
