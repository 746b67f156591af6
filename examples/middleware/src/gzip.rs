//! Gzip: compresses response bodies for clients that accept gzip, chunk by
//! chunk, without holding the stream back.
//!
//! Ports seed 002's `GZipMiddleware` (`accept-encoding`, the compressible
//! content types, `minimum_size`, level 6) and fixes the limitation the
//! seed itself points out: it gathers the whole body before compressing,
//! which breaks streaming. Here each body event becomes exactly one
//! compressed body event: the chunk goes into the encoder, the encoder is
//! flushed (a deflate sync flush), and what came out goes on at once; the
//! final event finishes the gzip stream. A server-sent event or a long poll
//! reaches the client as soon as the app sends it, and memory stays one
//! encoder per response, whatever the body's size. The price of flushing is
//! a few bytes per chunk.
//!
//! The response passes through unchanged when:
//!
//! * the client does not accept gzip (`accept-encoding`, `q=0` honoured),
//!   or the request is `HEAD` (no body to compress); then nothing at all is
//!   wrapped;
//! * the status is `204`, `304` or `206`, or the app set
//!   `content-encoding`, `content-range` or `cache-control: no-transform`;
//! * the content type is not in the seed's compressible list;
//! * the body is below the minimum size (500 bytes by default): too small
//!   to gain anything. Known from `content-length`, or, without one, from
//!   the first body event when it is the final one (what `respond` sends):
//!   such a `Start` is held back until that event says which it is.
//!
//! When it compresses it removes `content-length` (the compressed length is
//! not known in advance; the server frames the body), adds
//! `content-encoding: gzip` and `vary: accept-encoding`, and weakens a
//! strong `etag` (the bytes differ from the uncompressed representation).
//!
//! A server-read file (`HttpSend::File`) cannot be compressed here, so the
//! `send_file` capability is cleared in the scope the inner app sees (rule
//! `EXT-002`). Trailers and early hints pass through.

use std::io::Write;
use std::task::{Context, Poll};

use flate2::write::GzEncoder;
use flate2::Compression;
use rgi::bytes::Bytes;
use rgi::http::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE,
    ETAG, VARY,
};
use rgi::http::{HeaderMap, HeaderValue, Method, StatusCode};
use rgi::{App, AppResult, Conn, Error, HttpConn, HttpSend, ResponseStart, Sender};

/// The seed's compressible content types.
const COMPRESSIBLE: [&str; 8] = [
    "text/html",
    "text/plain",
    "text/css",
    "text/javascript",
    "application/json",
    "application/javascript",
    "application/xml",
    "image/svg+xml",
];

/// Compresses responses for clients that accept gzip.
#[derive(Debug, Clone)]
pub struct Gzip<A> {
    inner: A,
    minimum_size: u64,
    level: Compression,
}

impl<A> Gzip<A> {
    /// The seed's settings: bodies of known length from 500 bytes, level 6.
    pub fn new(inner: A) -> Self {
        Self {
            inner,
            minimum_size: 500,
            level: Compression::new(6),
        }
    }

    /// Leaves bodies of known length below `bytes` uncompressed.
    #[must_use]
    pub fn minimum_size(mut self, bytes: u64) -> Self {
        self.minimum_size = bytes;
        self
    }

    /// The compression level, 0 (none) to 9 (best).
    #[must_use]
    pub fn level(mut self, level: u32) -> Self {
        self.level = Compression::new(level.min(9));
        self
    }
}

impl<A: App> App for Gzip<A> {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(http) = conn else {
            return self.inner.call(conn).await;
        };
        if http.scope.method == Method::HEAD || !accepts_gzip(&http.scope.headers) {
            return self.inner.call(http.into()).await;
        }
        let (scope, receiver, sender) = http.into_parts();
        scope.capabilities.send_file = false;
        let mut sender = GzipSend {
            inner: sender,
            minimum_size: self.minimum_size,
            level: self.level,
            started: false,
            encoder: None,
            held: None,
            pending: None,
        };
        self.inner
            .call(HttpConn::new(scope, receiver, &mut sender).into())
            .await
    }
}

/// The response side: decides on `Start`, then compresses each body event.
struct GzipSend<S> {
    inner: S,
    minimum_size: u64,
    level: Compression,
    started: bool,
    /// `Some` while compressing; taken by the final body.
    encoder: Option<GzEncoder<Vec<u8>>>,
    /// A compressible `Start` without `content-length`, held until the
    /// first body event tells whether the body is too small.
    held: Option<ResponseStart>,
    /// The body event that follows a `Start` released late: passed on
    /// once the `Start` is flushed (one event in flight, CORE-020).
    pending: Option<HttpSend>,
}

impl<S: Sender<HttpSend>> GzipSend<S> {
    /// Decides on a held `Start` at its first body event, passes the
    /// `Start` on and keeps the (maybe compressed) body for `poll_flush`.
    fn release(&mut self, mut start: ResponseStart, event: HttpSend) -> Result<(), Error> {
        let small_and_whole = matches!(
            &event,
            HttpSend::Body { data, more: false } if (data.len() as u64) < self.minimum_size
        );
        let compress = matches!(event, HttpSend::Body { .. }) && !small_and_whole;
        if compress {
            mark_compressed(&mut start.headers);
            self.encoder = Some(GzEncoder::new(Vec::new(), self.level));
        }
        self.inner.start_send(HttpSend::Start(start))?;
        self.pending = Some(match event {
            // The explicit flush passes on as it is, as it does later.
            HttpSend::Body { data, more } if compress && !(more && data.is_empty()) => {
                self.compress(data, more)
            }
            other => other,
        });
        Ok(())
    }

    /// One body event through the encoder: a sync flush, or the gzip
    /// stream's end for the final one.
    fn compress(&mut self, data: Bytes, more: bool) -> HttpSend {
        let compressed = if more {
            let encoder = self.encoder.as_mut().expect("compressing");
            encoder.write_all(&data).expect(IN_MEMORY);
            encoder.flush().expect(IN_MEMORY);
            std::mem::take(encoder.get_mut())
        } else {
            let mut encoder = self.encoder.take().expect("compressing");
            encoder.write_all(&data).expect(IN_MEMORY);
            encoder.finish().expect(IN_MEMORY)
        };
        HttpSend::Body {
            data: Bytes::from(compressed),
            more,
        }
    }
}

impl<S: Sender<HttpSend>> Sender<HttpSend> for GzipSend<S> {
    fn start_send(&mut self, event: HttpSend) -> Result<(), Error> {
        match event {
            HttpSend::Start(mut start) if !self.started => {
                self.started = true;
                match worth_compressing(&start, self.minimum_size) {
                    Worth::No => self.inner.start_send(HttpSend::Start(start)),
                    Worth::Yes => {
                        mark_compressed(&mut start.headers);
                        self.encoder = Some(GzEncoder::new(Vec::new(), self.level));
                        self.inner.start_send(HttpSend::Start(start))
                    }
                    Worth::IfNotSmall => {
                        self.held = Some(start);
                        Ok(())
                    }
                }
            }
            event if self.held.is_some() => {
                let start = self.held.take().expect("checked by the guard");
                self.release(start, event)
            }
            // The explicit flush: everything sent so far was flushed
            // already, so it passes on as it is.
            HttpSend::Body { data, more: true } if data.is_empty() => {
                self.inner.start_send(HttpSend::flush())
            }
            HttpSend::Body { data, more } if self.encoder.is_some() => {
                let event = self.compress(data, more);
                self.inner.start_send(event)
            }
            HttpSend::File(_) if self.encoder.is_some() => Err(Error::protocol(
                "EXT-001",
                "gzip cleared the send_file capability: send the file's bytes as Body",
            )),
            other => self.inner.start_send(other),
        }
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            std::task::ready!(self.inner.poll_flush(cx))?;
            match self.pending.take() {
                Some(event) => self.inner.start_send(event)?,
                None => return Poll::Ready(Ok(())),
            }
        }
    }
}

const IN_MEMORY: &str = "compressing into a Vec cannot fail";

/// Whether the request's `accept-encoding` allows gzip (RFC 9110 §12.5.3).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut any = false;
    let codings = headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','));
    for item in codings {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
            .map(|q| q.trim().parse::<f32>().unwrap_or(0.0))
            .next()
            .unwrap_or(1.0);
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            return q > 0.0;
        }
        if coding == "*" {
            any = q > 0.0;
        }
    }
    any
}

/// What `Start` says about compressing the body.
enum Worth {
    No,
    Yes,
    /// Compressible, of unknown length: decided at the first body event.
    IfNotSmall,
}

fn worth_compressing(start: &ResponseStart, minimum_size: u64) -> Worth {
    let headers = &start.headers;
    let status_has_plain_body = !matches!(
        start.status,
        StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED | StatusCode::PARTIAL_CONTENT
    );
    let compressible = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim())
        .is_some_and(|essence| COMPRESSIBLE.iter().any(|t| t.eq_ignore_ascii_case(essence)));
    let length = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let too_small = length.is_some_and(|length| length < minimum_size);
    let no_transform = headers
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|directive| directive.trim().eq_ignore_ascii_case("no-transform"));
    let worth = status_has_plain_body
        && compressible
        && !too_small
        && !no_transform
        && !headers.contains_key(CONTENT_ENCODING)
        && !headers.contains_key(CONTENT_RANGE);
    match (worth, length) {
        (false, _) => Worth::No,
        (true, Some(_)) => Worth::Yes,
        (true, None) => Worth::IfNotSmall,
    }
}

fn mark_compressed(headers: &mut HeaderMap) {
    headers.remove(CONTENT_LENGTH);
    headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    let varies = headers
        .get_all(VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|name| {
            let name = name.trim();
            name == "*" || name.eq_ignore_ascii_case("accept-encoding")
        });
    if !varies {
        headers.append(VARY, HeaderValue::from_static("accept-encoding"));
    }
    if let Some(etag) = headers.get(ETAG) {
        if etag.as_bytes().starts_with(b"\"") {
            let weak = [b"W/", etag.as_bytes()].concat();
            if let Ok(weak) = HeaderValue::from_bytes(&weak) {
                headers.insert(ETAG, weak);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::write::GzDecoder;
    use rgi::http::HeaderName;
    use rgi::Capabilities;
    use rgi_conformance::{Request, TestClient};

    use super::*;

    /// Sends a scripted response: status, headers, then the chunks (the
    /// last one final), with a `content-length` when asked.
    #[derive(Clone)]
    struct Reply {
        status: u16,
        headers: Vec<(&'static str, &'static str)>,
        chunks: Vec<String>,
        with_length: bool,
    }

    impl Reply {
        fn text(chunks: &[String]) -> Self {
            Self {
                status: 200,
                headers: vec![("content-type", "text/plain; charset=utf-8")],
                chunks: chunks.to_vec(),
                with_length: false,
            }
        }
    }

    impl App for Reply {
        async fn call(&self, conn: Conn<'_>) -> AppResult {
            let Conn::Http(mut http) = conn else {
                return conn.unsupported();
            };
            let mut start = ResponseStart::new(StatusCode::from_u16(self.status)?);
            for (name, value) in &self.headers {
                start.headers.append(
                    HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                );
            }
            if self.with_length {
                let length: usize = self.chunks.iter().map(String::len).sum();
                start.headers.insert(CONTENT_LENGTH, length.into());
            }
            http.send(HttpSend::Start(start)).await?;
            let last = self.chunks.len().saturating_sub(1);
            for (k, chunk) in self.chunks.iter().enumerate() {
                let data = Bytes::from(chunk.clone());
                http.send(HttpSend::Body {
                    data,
                    more: k < last,
                })
                .await?;
            }
            if self.chunks.is_empty() {
                http.send(HttpSend::body(Bytes::new())).await?;
            }
            Ok(())
        }
    }

    /// A whole gzip stream, decompressed.
    fn gunzip(compressed: &[u8]) -> Vec<u8> {
        let mut decoder = GzDecoder::new(Vec::new());
        decoder.write_all(compressed).unwrap();
        decoder.finish().unwrap()
    }

    fn gzip_get(path: &str) -> Request {
        Request::get(path).header("accept-encoding", "deflate, gzip;q=0.8")
    }

    fn paragraph(k: usize) -> String {
        format!(
            "chunk {k}: {}\n",
            "all work and no play makes a dull body. ".repeat(30)
        )
    }

    #[tokio::test]
    async fn compresses_each_chunk_as_it_comes() {
        let chunks: Vec<String> = (0..4).map(paragraph).collect();
        let client = TestClient::new(Gzip::new(Reply::text(&chunks)));
        let response = client.send(gzip_get("/")).await.unwrap();
        assert_eq!(response.header("content-encoding"), Some("gzip"));
        assert_eq!(response.header("vary"), Some("accept-encoding"));
        assert_eq!(response.header("content-length"), None);
        assert!(response.is_complete());

        // One compressed event per event sent, and each one decodes to its
        // own chunk on arrival: nothing waited for the next.
        let received = response.chunks();
        assert_eq!(received.len(), chunks.len());
        let mut decoder = GzDecoder::new(Vec::new());
        let mut expected = String::new();
        for (compressed, original) in received.iter().zip(&chunks) {
            assert!(compressed.len() < original.len());
            decoder.write_all(compressed).unwrap();
            decoder.flush().unwrap();
            expected.push_str(original);
            assert_eq!(String::from_utf8_lossy(decoder.get_ref()), expected);
        }
        assert_eq!(decoder.finish().unwrap(), expected.as_bytes());
    }

    /// Sends chunk k+1 only once the test says the client got chunk k.
    struct LockStep(tokio::sync::Mutex<tokio::sync::mpsc::Receiver<()>>);

    impl App for LockStep {
        async fn call(&self, conn: Conn<'_>) -> AppResult {
            let Conn::Http(mut http) = conn else {
                return conn.unsupported();
            };
            let start = ResponseStart::new(StatusCode::OK).header(CONTENT_TYPE, "text/plain");
            http.send(HttpSend::Start(start)).await?;
            let mut client_got = self.0.lock().await;
            for k in 0..3 {
                http.send(HttpSend::Body {
                    data: Bytes::from(paragraph(k)),
                    more: k < 2,
                })
                .await?;
                if k < 2 {
                    let wait = std::time::Duration::from_secs(2);
                    tokio::time::timeout(wait, client_got.recv())
                        .await
                        .map_err(|_| format!("the client never got chunk {k}"))?;
                }
            }
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_client_gets_each_compressed_chunk_before_the_app_sends_the_next() {
        let (client_got, rx) = tokio::sync::mpsc::channel(1);
        let client = TestClient::new(Gzip::new(LockStep(tokio::sync::Mutex::new(rx))));
        let mut exchange = client.open(gzip_get("/"));
        let mut decoder = GzDecoder::new(Vec::new());
        let mut expected = String::new();
        for k in 0..3 {
            let data = loop {
                match exchange.next_event().await.unwrap() {
                    Some(HttpSend::Body { data, .. }) => break data.clone(),
                    Some(_) => {}
                    None => panic!("the app returned before chunk {k} reached the client"),
                }
            };
            // The chunk decodes on arrival, before the app may go on.
            decoder.write_all(&data).unwrap();
            decoder.flush().unwrap();
            expected.push_str(&paragraph(k));
            assert_eq!(String::from_utf8_lossy(decoder.get_ref()), expected);
            if k < 2 {
                client_got.send(()).await.unwrap();
            }
        }
        let response = exchange.finish().await.unwrap();
        assert!(response.exit().is_ok(), "{}", response.exit());
        assert_eq!(decoder.finish().unwrap(), expected.as_bytes());
    }

    #[tokio::test]
    async fn compresses_a_large_body_of_known_length() {
        let mut reply = Reply::text(&[paragraph(0)]);
        reply.with_length = true;
        reply.headers.push(("etag", "\"v1\""));
        reply.headers.push(("vary", "Cookie"));
        let response = TestClient::new(Gzip::new(reply))
            .send(gzip_get("/"))
            .await
            .unwrap();
        assert_eq!(response.header("content-length"), None);
        assert_eq!(response.header("etag"), Some("W/\"v1\""));
        let vary: Vec<_> = response.headers().unwrap().get_all(VARY).iter().collect();
        assert_eq!(vary, ["Cookie", "accept-encoding"]);
        assert_eq!(gunzip(&response.body()), paragraph(0).as_bytes());
    }

    #[tokio::test]
    async fn decides_at_the_first_body_when_start_has_no_length() {
        // `respond` sends no content-length: a whole body above the
        // minimum is compressed (and the held Start goes out first)...
        let response = TestClient::new(Gzip::new(Reply::text(&[paragraph(0)])))
            .send(gzip_get("/"))
            .await
            .unwrap();
        assert_eq!(response.header("content-encoding"), Some("gzip"));
        assert_eq!(gunzip(&response.body()), paragraph(0).as_bytes());
        // ...and a stream whose first chunk is small is still a stream.
        let response = TestClient::new(Gzip::new(Reply::text(&["a".into(), paragraph(1)])))
            .send(gzip_get("/"))
            .await
            .unwrap();
        assert_eq!(response.header("content-encoding"), Some("gzip"));
        assert_eq!(
            gunzip(&response.body()),
            format!("a{}", paragraph(1)).as_bytes()
        );
    }

    #[tokio::test]
    async fn leaves_alone_what_it_should_not_compress() {
        let big = [paragraph(0)];
        let with = |f: fn(&mut Reply)| {
            let mut reply = Reply::text(&big);
            f(&mut reply);
            reply
        };
        let cases: Vec<(&str, Reply, Request)> = vec![
            ("no accept-encoding", Reply::text(&big), Request::get("/")),
            (
                "gzip refused",
                Reply::text(&big),
                Request::get("/").header("accept-encoding", "gzip;q=0, *"),
            ),
            (
                "HEAD",
                with(|r| r.chunks.clear()),
                gzip_get("/").with_scope(|s| s.method = Method::HEAD),
            ),
            (
                "204",
                with(|r| (r.status, r.chunks) = (204, vec![])),
                gzip_get("/"),
            ),
            (
                "304",
                with(|r| (r.status, r.chunks) = (304, vec![])),
                gzip_get("/"),
            ),
            (
                "encoded",
                with(|r| r.headers.push(("content-encoding", "br"))),
                gzip_get("/"),
            ),
            (
                "image",
                with(|r| r.headers[0].1 = "image/png"),
                gzip_get("/"),
            ),
            ("no type", with(|r| r.headers.clear()), gzip_get("/")),
            (
                "no-transform",
                with(|r| r.headers.push(("cache-control", "public, no-transform"))),
                gzip_get("/"),
            ),
            (
                "small",
                Reply {
                    with_length: true,
                    ..Reply::text(&["tiny".into()])
                },
                gzip_get("/"),
            ),
            (
                "small, one final chunk, no length (what respond sends)",
                Reply::text(&["tiny".into()]),
                gzip_get("/"),
            ),
        ];
        for (case, reply, request) in cases {
            let expected_body: String = reply.chunks.concat();
            let response = TestClient::new(Gzip::new(reply))
                .send(request)
                .await
                .unwrap();
            assert_eq!(
                response.header("content-encoding").filter(|e| *e == "gzip"),
                None,
                "{case}"
            );
            assert_eq!(response.header("vary"), None, "{case}");
            assert_eq!(response.body(), expected_body.as_bytes(), "{case}");
        }
    }

    #[tokio::test]
    async fn accepts_the_usual_spellings() {
        let mut headers = HeaderMap::new();
        for (value, accepted) in [
            ("gzip", true),
            ("GZIP", true),
            ("br, gzip;q=0.5", true),
            ("x-gzip", true),
            ("*", true),
            ("gzip;q=0", false),
            ("gzip; q=0.000", false),
            ("*;q=0", false),
            ("br, deflate", false),
            ("", false),
        ] {
            headers.insert(ACCEPT_ENCODING, HeaderValue::from_static(value));
            assert_eq!(accepts_gzip(&headers), accepted, "{value}");
        }
    }

    #[tokio::test]
    async fn passes_an_explicit_flush_and_clears_send_file() {
        struct Flusher;
        impl App for Flusher {
            async fn call(&self, conn: Conn<'_>) -> AppResult {
                let Conn::Http(mut http) = conn else {
                    return conn.unsupported();
                };
                assert!(!http.scope.capabilities.send_file, "EXT-002");
                let start = ResponseStart::new(StatusCode::OK).header(CONTENT_TYPE, "text/html");
                http.send(HttpSend::Start(start)).await?;
                http.send(HttpSend::flush()).await?;
                Ok(http.send(HttpSend::body("<p>done</p>")).await?)
            }
        }
        let request = gzip_get("/").capabilities(Capabilities::ALL);
        let response = TestClient::new(Gzip::new(Flusher))
            .send(request)
            .await
            .unwrap();
        assert!(response.exit().is_ok(), "{}", response.exit());
        let chunks = response.chunks();
        assert_eq!(chunks.len(), 2);
        assert!(chunks[0].is_empty());
        assert_eq!(gunzip(&chunks[1]), b"<p>done</p>");
    }
}
