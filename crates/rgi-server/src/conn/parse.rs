//! Request-head parsing and validation (RFC 9112 §2-§7, RFC 9110 §5-§7).
//!
//! The head is parsed by httparse in place, then split off the read buffer
//! and frozen: the URI and every header value are slices of that one
//! allocation, so no header byte is copied.

use std::mem::MaybeUninit;
use std::ops::Range;

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri, Version};
use rgi::HttpScope;

use crate::config::Config;
use crate::head_rules::{check_target_and_host, is_valid_host, HeadError, INVALID_HOST};

/// How a request body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFraming {
    /// No body: no framing header, or `Content-Length: 0`.
    Empty,
    /// Exactly this many bytes (more than zero).
    Length(u64),
    /// The chunked transfer coding.
    Chunked,
}

/// A parsed, validated request head: what the connection needs of it. The
/// rest went into the connection's scope.
#[derive(Debug)]
pub(crate) struct RequestHead {
    /// How the body is framed.
    pub(crate) body: BodyFraming,
    /// Whether the client allows the connection to stay open afterwards.
    pub(crate) keep_alive: bool,
    /// `Expect: 100-continue` on an HTTP/1.1 request.
    pub(crate) expect_continue: bool,
    /// `TE: trailers`: the client accepts response trailers.
    pub(crate) te_trailers: bool,
    /// `Upgrade: websocket`: a WebSocket handshake (served by `ws/`).
    pub(crate) websocket: bool,
}

/// Byte ranges of one header field inside the head.
pub type FieldRanges = (Range<usize>, Range<usize>);

/// Header slots kept on the stack; larger `max_headers` use the heap.
const STACK_HEADERS: usize = 128;

/// Slack allowed on top of `max_target_bytes` for the method, version and
/// spaces of a request line that has not ended yet.
const REQUEST_LINE_SLACK: usize = 1024;

/// What httparse told us, as owned values and ranges into the buffer.
struct RawHead {
    len: usize,
    method: Method,
    version: Version,
    target: Range<usize>,
}

/// Parses the request head at the start of `buf`. `Ok(None)` means the head
/// is incomplete (read more and call again). On success the head's bytes are
/// split off `buf`, leaving any body or pipelined request after it.
/// `fields` is scratch space, reused across calls to avoid an allocation.
#[cfg(test)]
pub(crate) fn parse_head(
    buf: &mut BytesMut,
    config: &Config,
    fields: &mut Vec<FieldRanges>,
) -> Result<Option<(RequestHead, HttpScope)>, HeadError> {
    let mut scope = HttpScope::default();
    let head = parse_head_into(buf, config, fields, &mut scope)?;
    Ok(head.map(|head| (head, scope)))
}

/// [`parse_head`] into the connection's scope, which must be fresh or
/// [`clear`](HttpScope::clear)ed: method, URI, version, path and headers
/// are written in place, so a keep-alive request reuses the storage of
/// the last one's path and header map instead of allocating, and the scope
/// is never moved. On an error the scope is left half-filled (the
/// connection closes).
pub(crate) fn parse_head_into(
    buf: &mut BytesMut,
    config: &Config,
    fields: &mut Vec<FieldRanges>,
    scope: &mut HttpScope,
) -> Result<Option<RequestHead>, HeadError> {
    fields.clear();
    let raw = match parse_raw(buf, config, fields) {
        // RFC 9112 §2.3: a server SHOULD answer a request with a higher
        // minor version (`HTTP/1.9`) as the highest it supports. httparse
        // reads only `HTTP/1.0` and `HTTP/1.1`, so the minor digit is
        // rewritten in place and the head parsed again; the request line's
        // bytes reach the app only as `Version::HTTP_11`.
        Err(e) if e == UNSUPPORTED_VERSION => match higher_minor_version(buf) {
            HigherMinor::At(digit) => {
                buf[digit] = b'1';
                fields.clear();
                parse_raw(buf, config, fields)?
            }
            HigherMinor::Unfinished if buf.len() < config.max_head_bytes => None,
            HigherMinor::Unfinished => return Err(head_too_large()),
            HigherMinor::No => return Err(e),
        },
        other => other?,
    };
    let Some(raw) = raw else {
        return Ok(None);
    };
    let head = buf.split_to(raw.len).freeze();
    build(head, raw, config, fields, scope).map(Some)
}

fn parse_raw(
    buf: &[u8],
    config: &Config,
    fields: &mut Vec<FieldRanges>,
) -> Result<Option<RawHead>, HeadError> {
    let mut stack: [MaybeUninit<httparse::Header<'_>>; STACK_HEADERS] =
        [const { MaybeUninit::uninit() }; STACK_HEADERS];
    let mut heap: Vec<MaybeUninit<httparse::Header<'_>>> = Vec::new();
    let slots = if config.max_headers <= STACK_HEADERS {
        &mut stack[..config.max_headers]
    } else {
        heap.resize_with(config.max_headers, MaybeUninit::uninit);
        &mut heap[..]
    };
    let mut req = httparse::Request::new(&mut []);
    let status = req
        .parse_with_uninit_headers(buf, slots)
        .map_err(|e| match e {
            httparse::Error::TooManyHeaders => HeadError::new(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "too many header fields",
            ),
            httparse::Error::HeaderName => {
                HeadError::bad("invalid header name or obsolete line folding")
            }
            httparse::Error::HeaderValue => HeadError::bad("invalid header value"),
            httparse::Error::NewLine => HeadError::bad("invalid line ending"),
            httparse::Error::Version if other_major_version(buf) => HeadError::new(
                StatusCode::HTTP_VERSION_NOT_SUPPORTED,
                "only HTTP/1.0 and HTTP/1.1 are served here",
            ),
            httparse::Error::Version => UNSUPPORTED_VERSION,
            _ => HeadError::bad("malformed request line"),
        })?;
    let len = match status {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => {
            return match req.path {
                Some(path) if path.len() > config.max_target_bytes => Err(uri_too_long()),
                None if buf.len() > config.max_target_bytes + REQUEST_LINE_SLACK => {
                    if buf.iter().all(|&b| b == b'\r' || b == b'\n') {
                        // Endless empty lines: no target at all, too long.
                        Err(HeadError::bad(
                            "too many empty lines before the request line",
                        ))
                    } else {
                        Err(uri_too_long())
                    }
                }
                _ if buf.len() >= config.max_head_bytes => Err(head_too_large()),
                _ => Ok(None),
            };
        }
    };
    let (Some(method), Some(path), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(HeadError::bad("malformed request line"));
    };
    if path.len() > config.max_target_bytes {
        return Err(uri_too_long());
    }
    if len > config.max_head_bytes {
        return Err(head_too_large());
    }
    let base = buf.as_ptr() as usize;
    let range = |s: &[u8]| {
        let start = s.as_ptr() as usize - base;
        start..start + s.len()
    };
    fields.extend(
        req.headers
            .iter()
            .map(|h| (range(h.name.as_bytes()), range(h.value))),
    );
    Ok(Some(RawHead {
        len,
        method: Method::from_bytes(method.as_bytes())
            .map_err(|_| HeadError::bad("invalid method"))?,
        version: if minor == 0 {
            Version::HTTP_10
        } else {
            Version::HTTP_11
        },
        target: range(path.as_bytes()),
    }))
}

/// A version httparse does not read: malformed, or `HTTP/1.x` with x > 1
/// (which [`parse_head_into`] then serves as HTTP/1.1).
const UNSUPPORTED_VERSION: HeadError = HeadError::bad("invalid or unsupported HTTP version");

/// Whether a request line names `HTTP/1.x` with x > 1.
#[derive(Debug, PartialEq, Eq)]
enum HigherMinor {
    /// It does, and its line ended: the minor digit is at this index.
    At(usize),
    /// The buffer ends right after such a version: wait for the line end.
    Unfinished,
    /// It does not.
    No,
}

fn higher_minor_version(buf: &[u8]) -> HigherMinor {
    match request_line_version(buf) {
        Some((end, [b'H', b'T', b'T', b'P', b'/', b'1', b'.', minor], ended))
            if minor.is_ascii_digit() && *minor > b'1' =>
        {
            if ended {
                HigherMinor::At(end - 1)
            } else {
                HigherMinor::Unfinished
            }
        }
        _ => HigherMinor::No,
    }
}

/// Whether the request line is well formed but names an HTTP major
/// version other than 1 (`HTTP/2.0`, the HTTP/2 preface `PRI * HTTP/2.0`,
/// `HTTP/0.9`): that deserves `505` (RFC 9110 §15.6.6), not `400`.
fn other_major_version(buf: &[u8]) -> bool {
    matches!(request_line_version(buf), Some((_, [b'H', b'T', b'T', b'P', b'/', major, b'.', minor], true))
        if major.is_ascii_digit() && minor.is_ascii_digit() && *major != b'1')
}

/// The third part of a request line of three space-separated parts: where
/// it ends in `buf`, its bytes, and whether the line has ended (else the
/// buffer ends there). Leading empty lines are skipped, as httparse does.
fn request_line_version(buf: &[u8]) -> Option<(usize, &[u8], bool)> {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let line = &buf[start..];
    let (line, ended) = match line.iter().position(|&b| b == b'\r' || b == b'\n') {
        Some(end) => (&line[..end], true),
        None => (line, false),
    };
    let mut parts = line.split(|&b| b == b' ');
    let (Some(_method), Some(_target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    Some((start + line.len(), version, ended))
}

fn uri_too_long() -> HeadError {
    HeadError::new(StatusCode::URI_TOO_LONG, "request target too long")
}

fn head_too_large() -> HeadError {
    HeadError::new(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "request head too large",
    )
}

/// What the framing and connection headers said, gathered in one pass.
#[derive(Default)]
struct Framing {
    content_length: Option<u64>,
    transfer_encoding: bool,
    /// `chunked` appeared among the transfer codings.
    chunked: bool,
    /// The last transfer coding was `chunked`.
    chunked_last: bool,
    /// `chunked` appeared twice, or a list was empty.
    malformed_te: bool,
    /// A coding other than `chunked` appeared.
    unknown_coding: bool,
    hosts: usize,
    close: bool,
    keep_alive: bool,
    expect_continue: bool,
    te_trailers: bool,
    websocket: bool,
}

fn build(
    head: Bytes,
    raw: RawHead,
    config: &Config,
    fields: &[FieldRanges],
    scope: &mut HttpScope,
) -> Result<RequestHead, HeadError> {
    let uri = Uri::from_maybe_shared(head.slice(raw.target.clone()))
        .map_err(|_| HeadError::bad("invalid request target"))?;
    let headers = &mut scope.headers;
    // Fresh or cleared (`parse_head_into`'s contract): clearing again would
    // walk the map's whole index table a second time per request.
    debug_assert!(headers.is_empty(), "the scope was not cleared");
    headers.reserve(fields.len());
    let mut framing = Framing::default();
    for (name, value) in fields {
        let name = HeaderName::from_bytes(&head[name.clone()])
            .map_err(|_| HeadError::bad("invalid header name"))?;
        let value = HeaderValue::from_maybe_shared(head.slice(value.clone()))
            .map_err(|_| HeadError::bad("invalid header value"))?;
        framing.observe(&name, &value)?;
        headers.append(name, value);
    }
    let version = raw.version;
    let http11 = version == Version::HTTP_11;
    // The Host fields were checked and counted on the way (`observe`): no
    // second pass over them.
    check_target_and_host(&raw.method, &uri, version, headers, framing.hosts)?;
    let body = framing.body(version, config)?;
    if !rgi::decode_path_into(uri.path(), &mut scope.path) {
        return Err(HeadError::bad("request path is not UTF-8 once decoded"));
    }
    scope.method = raw.method;
    scope.uri = uri;
    scope.version = version;
    Ok(RequestHead {
        body,
        keep_alive: if http11 {
            !framing.close
        } else {
            framing.keep_alive && !framing.close
        },
        expect_continue: http11 && framing.expect_continue,
        te_trailers: framing.te_trailers,
        websocket: framing.websocket,
    })
}

impl Framing {
    fn observe(&mut self, name: &HeaderName, value: &HeaderValue) -> Result<(), HeadError> {
        if *name == header::CONTENT_LENGTH {
            let n = parse_content_length(value.as_bytes())
                .ok_or(HeadError::bad("malformed Content-Length"))?;
            if self.content_length.is_some_and(|m| m != n) {
                return Err(HeadError::bad("conflicting Content-Length headers"));
            }
            self.content_length = Some(n);
        } else if *name == header::TRANSFER_ENCODING {
            self.transfer_encoding = true;
            let mut any = false;
            for coding in tokens(value.as_bytes()) {
                any = true;
                if coding.eq_ignore_ascii_case(b"chunked") {
                    self.malformed_te |= self.chunked;
                    self.chunked = true;
                    self.chunked_last = true;
                } else {
                    self.unknown_coding = true;
                    self.chunked_last = false;
                }
            }
            self.malformed_te |= !any;
        } else if *name == header::HOST {
            if !is_valid_host(value.as_bytes()) {
                return Err(INVALID_HOST);
            }
            self.hosts += 1;
        } else if *name == header::CONNECTION {
            for option in tokens(value.as_bytes()) {
                if option.eq_ignore_ascii_case(b"close") {
                    self.close = true;
                } else if option.eq_ignore_ascii_case(b"keep-alive") {
                    self.keep_alive = true;
                }
            }
        } else if *name == header::EXPECT {
            self.expect_continue |= value.as_bytes().eq_ignore_ascii_case(b"100-continue");
        } else if *name == header::UPGRADE {
            self.websocket |= crate::ws::codec::handshake::wants_websocket(value);
        } else if *name == header::TE {
            self.te_trailers |=
                tokens(value.as_bytes()).any(|t| t.eq_ignore_ascii_case(b"trailers"));
        }
        Ok(())
    }

    /// The body framing, per RFC 9112 §6.1-§6.3.
    fn body(&self, version: Version, config: &Config) -> Result<BodyFraming, HeadError> {
        if self.transfer_encoding {
            if self.content_length.is_some() {
                return Err(HeadError::bad("both Content-Length and Transfer-Encoding"));
            }
            if version == Version::HTTP_10 {
                // RFC 9112 §6.1: treat the framing as faulty.
                return Err(HeadError::bad("Transfer-Encoding in an HTTP/1.0 request"));
            }
            if self.malformed_te || (self.chunked && !self.chunked_last) {
                return Err(HeadError::bad("malformed Transfer-Encoding"));
            }
            if self.unknown_coding {
                return Err(HeadError::new(
                    StatusCode::NOT_IMPLEMENTED,
                    "unsupported transfer coding",
                ));
            }
            return Ok(BodyFraming::Chunked);
        }
        match self.content_length {
            None | Some(0) => Ok(BodyFraming::Empty),
            Some(n) if config.max_body_bytes.is_some_and(|max| n > max) => Err(HeadError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large",
            )),
            Some(n) => Ok(BodyFraming::Length(n)),
        }
    }
}

/// `1*DIGIT`, without sign, list or whitespace, and without overflow.
pub(crate) fn parse_content_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |n, &b| {
        if b.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// The elements of a comma-separated list, trimmed, empty ones skipped
/// (RFC 9110 §5.6.1).
pub(crate) fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &[u8]) -> Result<Option<RequestHead>, HeadError> {
        parse_with(raw, &Config::default())
    }

    fn parse_with(raw: &[u8], config: &Config) -> Result<Option<RequestHead>, HeadError> {
        let mut buf = BytesMut::from(raw);
        Ok(parse_head(&mut buf, config, &mut Vec::new())?.map(|(head, _scope)| head))
    }

    fn status(raw: &[u8]) -> u16 {
        parse(raw).unwrap_err().status.as_u16()
    }

    #[test]
    fn parses_a_simple_request_without_copying_the_rest() {
        let mut buf = BytesMut::from(
            &b"GET /a%20b?x=1 HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\n\r\nNEXT"[..],
        );
        let (head, scope) = parse_head(&mut buf, &Config::default(), &mut Vec::new())
            .unwrap()
            .unwrap();
        assert_eq!(&buf[..], b"NEXT");
        assert_eq!(scope.method, Method::GET);
        assert_eq!(scope.path, "/a b");
        assert_eq!(scope.query_string(), b"x=1");
        assert_eq!(scope.version, Version::HTTP_11);
        let values: Vec<_> = scope.headers.get_all("x-a").iter().collect();
        assert_eq!(values, ["1", "2"]);
        assert_eq!(head.body, BodyFraming::Empty);
        assert!(head.keep_alive);
    }

    #[test]
    fn incomplete_head_asks_for_more() {
        assert!(parse(b"GET / HTTP/1.1\r\nHost: h\r\n").unwrap().is_none());
        assert!(parse(b"GET /").unwrap().is_none());
    }

    #[test]
    fn framing_and_connection_options() {
        let h =
            parse(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nConnection: close\r\n\r\n")
                .unwrap()
                .unwrap();
        assert_eq!(h.body, BodyFraming::Length(5));
        assert!(!h.keep_alive);
        let h = parse(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\nExpect: 100-continue\r\nTE: trailers\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.body, BodyFraming::Chunked);
        assert!(h.expect_continue && h.te_trailers);
        let h = parse(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!h.keep_alive);
        let h = parse(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.keep_alive);
        let h =
            parse(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\n")
                .unwrap()
                .unwrap();
        assert_eq!(h.body, BodyFraming::Length(3));
    }

    #[test]
    fn bad_heads_get_their_status() {
        assert_eq!(status(b"GET\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\n\r\n"), 400, "no Host");
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            400
        );
        for cl in [
            "+5",
            "5,5",
            "-1",
            "99999999999999999999999",
            "",
            "5 5",
            "0x5",
        ] {
            let raw = format!("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: {cl}\r\n\r\n");
            assert_eq!(status(raw.as_bytes()), 400, "Content-Length {cl:?}");
        }
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n"),
            501
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            501
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n"),
            400,
            "obs-fold"
        );
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost: h\r\nBad Name: a\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n"),
            400,
            "NUL"
        );
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n"),
            400,
            "bare CR"
        );
        assert_eq!(
            status(b"GET /%FF HTTP/1.1\r\nHost: h\r\n\r\n"),
            400,
            "not UTF-8"
        );
        assert_eq!(status(b"GET / HTTP/2.0\r\nHost: h\r\n\r\n"), 505);
        assert_eq!(status(b"GET / HTTP/2.x\r\nHost: h\r\n\r\n"), 400);
    }

    #[test]
    fn host_syntax() {
        for ok in [
            "",
            "a",
            "a.b:80",
            "127.0.0.1:8080",
            "x:",
            "[::1]",
            "[::1]:443",
            "%41b",
            "a!$&'()*+,;=~_-",
        ] {
            assert!(is_valid_host(ok.as_bytes()), "{ok:?}");
        }
        for bad in [
            "a b", "a/b", "u@a", "a:b", "a:1:2", "a:80x", "a:8 0", "[::1", "[]", "[::1]x", "%4",
            "a?", "\u{e9}",
        ] {
            assert!(!is_valid_host(bad.as_bytes()), "{bad:?}");
        }
    }

    #[test]
    fn other_major_versions() {
        assert!(other_major_version(b"PRI * HTTP/2.0\r\n\r\nSM"));
        assert!(other_major_version(b"\r\nGET / HTTP/0.9\r\n"));
        assert!(!other_major_version(b"GET / HTTP/1.2\r\n"));
        assert!(!other_major_version(b"GET / HTTX/2.0\r\n"));
        assert!(!other_major_version(b"GET /a b HTTP/2.0\r\n"));
        assert!(!other_major_version(b"GET / HTTP/2.0"));
    }

    #[test]
    fn higher_minor_versions_are_served_as_http11() {
        // RFC 9112 §2.3.
        for raw in [
            &b"GET /v HTTP/1.9\r\nHost: h\r\n\r\nNEXT"[..],
            b"\r\nGET /v HTTP/1.2\r\nHost: h\r\n\r\nNEXT",
            b"GET /v HTTP/1.9\nHost: h\n\nNEXT",
        ] {
            let mut buf = BytesMut::from(raw);
            let (head, scope) = parse_head(&mut buf, &Config::default(), &mut Vec::new())
                .unwrap()
                .unwrap();
            assert_eq!(scope.version, Version::HTTP_11, "{raw:?}");
            assert_eq!(scope.path, "/v");
            assert!(head.keep_alive);
            assert_eq!(&buf[..], b"NEXT");
        }
        // The line is not over yet: more bytes may still make it invalid.
        assert!(parse(b"GET / HTTP/1.9").unwrap().is_none());
        assert_eq!(status(b"GET / HTTP/1.90\r\nHost: h\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.9 \r\nHost: h\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.x\r\nHost: h\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.9\r\n\r\n"), 400, "no Host");
        assert_eq!(higher_minor_version(b"GET / HTTP/1.1\r\n"), HigherMinor::No);
        assert_eq!(
            higher_minor_version(b"GET / HTTP/1.9\r\n"),
            HigherMinor::At(13)
        );
    }

    #[test]
    fn limits() {
        let config = Config {
            max_headers: 3,
            max_target_bytes: 10,
            max_head_bytes: 100,
            max_body_bytes: Some(10),
            ..Config::default()
        };
        let code = |raw: &[u8]| parse_with(raw, &config).unwrap_err().status.as_u16();
        assert_eq!(
            code(b"GET / HTTP/1.1\r\nHost: h\r\na: 1\r\nb: 2\r\nc: 3\r\n\r\n"),
            431
        );
        assert_eq!(code(b"GET /01234567890 HTTP/1.1\r\nHost: h\r\n\r\n"), 414);
        let long_line = [b"GET /".as_slice(), &[b'a'; 2000]].concat();
        assert_eq!(code(&long_line), 414, "unfinished request line");
        let big = [b"GET / HTTP/1.1\r\nHost: h\r\nx: ".as_slice(), &[b'a'; 200]].concat();
        assert_eq!(code(&big), 431, "unfinished head over the limit");
        assert_eq!(
            code(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n"),
            413
        );
    }
}
