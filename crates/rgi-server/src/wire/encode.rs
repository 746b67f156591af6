//! Response encoding: status line, headers, framing headers, chunks.

use bytes::BytesMut;
use http::header::{self, HeaderName};
use http::{HeaderMap, HeaderValue, StatusCode};

use crate::date;
use crate::wire::io::WriteBuf;

/// The framing header the server writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LengthHeader {
    /// No framing header (no body, or a close-delimited body).
    None,
    /// `content-length: n`.
    Length(u64),
    /// `transfer-encoding: chunked`.
    Chunked,
}

/// The `connection` header the server writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectionHeader {
    None,
    Close,
    KeepAlive,
    /// `connection: upgrade` and `upgrade: websocket`, for a `101`.
    UpgradeWebSocket,
}

/// Whether `name` is a connection-specific field the app must not set
/// (rule HTTP-023): the server frames the response and drops them.
pub(crate) fn is_hop_by_hop(name: &HeaderName) -> bool {
    *name == header::CONNECTION
        || *name == header::TRANSFER_ENCODING
        || *name == header::UPGRADE
        || *name == header::TE
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

/// Writes a response head into `out`; returns the number of bytes written.
pub(crate) fn encode_head(
    out: &mut BytesMut,
    status: StatusCode,
    headers: &HeaderMap,
    length: LengthHeader,
    connection: ConnectionHeader,
    server: Option<&HeaderValue>,
) -> usize {
    let start = out.len();
    out.reserve(128 + headers.len() * 32);
    status_line(out, status);
    let mut has_date = false;
    let mut has_server = false;
    for (name, value) in headers {
        if *name == header::CONTENT_LENGTH || is_hop_by_hop(name) {
            continue;
        }
        has_date |= *name == header::DATE;
        has_server |= *name == header::SERVER;
        field(out, name.as_str().as_bytes(), value.as_bytes());
    }
    if !has_date {
        out.extend_from_slice(b"date: ");
        date::extend_with_date(out);
        out.extend_from_slice(b"\r\n");
    }
    if let (false, Some(server)) = (has_server, server) {
        field(out, b"server", server.as_bytes());
    }
    match length {
        LengthHeader::None => {}
        LengthHeader::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        LengthHeader::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    match connection {
        ConnectionHeader::None => {}
        ConnectionHeader::Close => out.extend_from_slice(b"connection: close\r\n"),
        ConnectionHeader::KeepAlive => out.extend_from_slice(b"connection: keep-alive\r\n"),
        ConnectionHeader::UpgradeWebSocket => {
            out.extend_from_slice(b"connection: upgrade\r\nupgrade: websocket\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
    out.len() - start
}

/// Writes a `103 Early Hints` head; returns the number of bytes written.
pub(crate) fn encode_early_hints(out: &mut BytesMut, headers: &HeaderMap) -> usize {
    let start = out.len();
    out.extend_from_slice(b"HTTP/1.1 103 Early Hints\r\n");
    for (name, value) in headers {
        if !is_hop_by_hop(name) && *name != header::CONTENT_LENGTH {
            field(out, name.as_str().as_bytes(), value.as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
    out.len() - start
}

/// Writes the last chunk with trailer fields; returns the bytes written.
pub(crate) fn encode_trailers(out: &mut BytesMut, trailers: &HeaderMap) -> usize {
    let start = out.len();
    out.extend_from_slice(b"0\r\n");
    for (name, value) in trailers {
        // Framing and routing fields are not allowed in trailers
        // (RFC 9110 §6.5.1); drop them rather than confuse the client.
        if *name == header::CONTENT_LENGTH || *name == header::HOST || is_hop_by_hop(name) {
            continue;
        }
        field(out, name.as_str().as_bytes(), value.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.len() - start
}

/// Writes a chunk-size line for `len` bytes; returns the bytes written.
pub(crate) fn encode_chunk_size(out: &mut BytesMut, len: usize) -> usize {
    let mut hex = [0u8; 18];
    let mut i = hex.len() - 2;
    hex[i] = b'\r';
    hex[i + 1] = b'\n';
    let mut n = len;
    loop {
        i -= 1;
        hex[i] = b"0123456789abcdef"[n & 0xf];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&hex[i..]);
    hex.len() - i
}

fn field(out: &mut BytesMut, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

fn status_line(out: &mut BytesMut, status: StatusCode) {
    let line: &[u8] = match status.as_u16() {
        200 => b"HTTP/1.1 200 OK\r\n",
        201 => b"HTTP/1.1 201 Created\r\n",
        202 => b"HTTP/1.1 202 Accepted\r\n",
        204 => b"HTTP/1.1 204 No Content\r\n",
        206 => b"HTTP/1.1 206 Partial Content\r\n",
        301 => b"HTTP/1.1 301 Moved Permanently\r\n",
        302 => b"HTTP/1.1 302 Found\r\n",
        303 => b"HTTP/1.1 303 See Other\r\n",
        304 => b"HTTP/1.1 304 Not Modified\r\n",
        307 => b"HTTP/1.1 307 Temporary Redirect\r\n",
        308 => b"HTTP/1.1 308 Permanent Redirect\r\n",
        400 => b"HTTP/1.1 400 Bad Request\r\n",
        401 => b"HTTP/1.1 401 Unauthorized\r\n",
        403 => b"HTTP/1.1 403 Forbidden\r\n",
        404 => b"HTTP/1.1 404 Not Found\r\n",
        405 => b"HTTP/1.1 405 Method Not Allowed\r\n",
        500 => b"HTTP/1.1 500 Internal Server Error\r\n",
        502 => b"HTTP/1.1 502 Bad Gateway\r\n",
        503 => b"HTTP/1.1 503 Service Unavailable\r\n",
        _ => {
            out.extend_from_slice(b"HTTP/1.1 ");
            out.extend_from_slice(status.as_str().as_bytes());
            out.extend_from_slice(b" ");
            out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
            out.extend_from_slice(b"\r\n");
            return;
        }
    };
    out.extend_from_slice(line);
}

/// Writes a complete server-generated response (errors: 400, 408, 413,
/// 500...) that closes the connection.
pub(crate) fn write_error_response(
    out: &mut WriteBuf,
    status: StatusCode,
    detail: &str,
    server: Option<&HeaderValue>,
) {
    let reason = status.canonical_reason().unwrap_or("Error");
    let body_len = reason.len()
        + if detail.is_empty() {
            1
        } else {
            detail.len() + 3
        };
    let mut headers = http::HeaderMap::with_capacity(1);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    let n = encode_head(
        out.tail(),
        status,
        &headers,
        LengthHeader::Length(body_len as u64),
        ConnectionHeader::Close,
        server,
    );
    out.grew(n);
    out.extend(reason.as_bytes());
    if !detail.is_empty() {
        out.extend(b": ");
        out.extend(detail.as_bytes());
    }
    out.extend(b"\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_with_framing_and_defaults() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        headers.insert("connection", HeaderValue::from_static("upgrade"));
        headers.insert("content-length", HeaderValue::from_static("999"));
        let mut out = BytesMut::new();
        let server = HeaderValue::from_static("rgi");
        let n = encode_head(
            &mut out,
            StatusCode::IM_A_TEAPOT,
            &headers,
            LengthHeader::Length(5),
            ConnectionHeader::Close,
            Some(&server),
        );
        assert_eq!(n, out.len());
        let text = std::str::from_utf8(&out).unwrap();
        assert!(text.starts_with("HTTP/1.1 418 I'm a teapot\r\ncontent-type: text/plain\r\ndate: "));
        assert!(text.ends_with("\r\nserver: rgi\r\ncontent-length: 5\r\nconnection: close\r\n\r\n"));
        assert!(!text.contains("999") && !text.contains("upgrade"));
    }

    #[test]
    fn chunk_sizes_in_hex() {
        for (len, want) in [
            (0, "0\r\n"),
            (10, "a\r\n"),
            (4096, "1000\r\n"),
            (usize::MAX, "ffffffffffffffff\r\n"),
        ] {
            let mut out = BytesMut::new();
            assert_eq!(encode_chunk_size(&mut out, len), want.len());
            assert_eq!(&out[..], want.as_bytes());
        }
    }
}
