//! The HTTP/1.1 client side the load binaries share: write a request, read
//! one response (length-delimited, chunked, or to end of stream) while
//! keeping only counts, so that an 8 MiB echo needs no 8 MiB buffer.

use std::future::Future;
use std::io;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The largest response head accepted.
pub const MAX_HEAD: usize = 64 * 1024;

/// What was read of one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseSummary {
    /// The status code.
    pub status: u16,
    /// How many body bytes (after de-chunking).
    pub body_len: u64,
    /// Whether the server will close the connection after this response.
    pub close: bool,
}

enum Framing {
    Length(u64),
    Chunked,
    UntilEof,
}

/// Reads one response from `stream`. `buf` carries bytes already read past
/// the previous response (pipelining) and keeps those past this one.
pub async fn read_response<R: AsyncRead + Unpin>(
    stream: &mut R,
    buf: &mut BytesMut,
) -> io::Result<ResponseSummary> {
    read_response_with(stream, buf, &mut |_| {}).await
}

/// [`read_response`], handing every piece of the (de-chunked) body to
/// `body` as it arrives (to checksum it without keeping it).
pub async fn read_response_with<R: AsyncRead + Unpin>(
    stream: &mut R,
    buf: &mut BytesMut,
    body: &mut impl FnMut(&[u8]),
) -> io::Result<ResponseSummary> {
    let (status, framing, close) = loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(buf) {
            Ok(httparse::Status::Complete(head_len)) => {
                let head = summarize_head(&response)?;
                buf.advance(head_len);
                break head;
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => fill(stream, buf).await?,
            Ok(httparse::Status::Partial) => return Err(invalid("response head too large")),
            Err(e) => return Err(invalid(e)),
        }
    };
    let body_len = match framing {
        Framing::Length(length) => {
            take(stream, buf, length, body).await?;
            length
        }
        Framing::Chunked => read_chunked(stream, buf, body).await?,
        Framing::UntilEof => {
            let mut total = buf.len() as u64;
            body(buf);
            buf.clear();
            while stream.read_buf(buf).await? != 0 {
                total += buf.len() as u64;
                body(buf);
                buf.clear();
            }
            total
        }
    };
    Ok(ResponseSummary {
        status,
        body_len,
        close: close || matches!(framing, Framing::UntilEof),
    })
}

fn summarize_head(response: &httparse::Response<'_, '_>) -> io::Result<(u16, Framing, bool)> {
    let status = response.code.ok_or_else(|| invalid("no status"))?;
    let mut framing = Framing::UntilEof;
    let mut close = false;
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            let length = std::str::from_utf8(header.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| invalid("bad content-length"))?;
            framing = Framing::Length(length);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            if header.value.eq_ignore_ascii_case(b"chunked") {
                framing = Framing::Chunked;
            }
        } else if header.name.eq_ignore_ascii_case("connection") {
            close = header.value.eq_ignore_ascii_case(b"close");
        }
    }
    // No body on these, whatever the headers say.
    if (100..200).contains(&status) || status == 204 || status == 304 {
        framing = Framing::Length(0);
    }
    Ok((status, framing, close))
}

async fn read_chunked<R: AsyncRead + Unpin>(
    stream: &mut R,
    buf: &mut BytesMut,
    body: &mut impl FnMut(&[u8]),
) -> io::Result<u64> {
    let mut total = 0;
    loop {
        let size = loop {
            match httparse::parse_chunk_size(buf) {
                Ok(httparse::Status::Complete((line_len, size))) => {
                    buf.advance(line_len);
                    break size;
                }
                Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => fill(stream, buf).await?,
                _ => return Err(invalid("bad chunk size")),
            }
        };
        if size == 0 {
            // No trailers are expected from the peers: just the final CRLF.
            take(stream, buf, 2, &mut |_| {}).await?;
            return Ok(total);
        }
        take(stream, buf, size, body).await?;
        take(stream, buf, 2, &mut |_| {}).await?;
        total += size;
    }
}

/// Consumes `count` bytes, from `buf` first and then from the stream,
/// handing them to `sink`.
async fn take<R: AsyncRead + Unpin>(
    stream: &mut R,
    buf: &mut BytesMut,
    mut count: u64,
    sink: &mut impl FnMut(&[u8]),
) -> io::Result<()> {
    loop {
        let available = buf.len().min(usize::try_from(count).unwrap_or(usize::MAX));
        sink(&buf[..available]);
        buf.advance(available);
        count -= available as u64;
        if count == 0 {
            return Ok(());
        }
        fill(stream, buf).await?;
    }
}

async fn fill<R: AsyncRead + Unpin>(stream: &mut R, buf: &mut BytesMut) -> io::Result<()> {
    if buf.capacity() - buf.len() < 4096 {
        buf.reserve(16 * 1024);
    }
    match stream.read_buf(buf).await? {
        0 => Err(io::ErrorKind::UnexpectedEof.into()),
        _ => Ok(()),
    }
}

fn invalid(error: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error.to_string())
}

/// Opens `count` connections with `open`, at most `parallel` at a time so
/// that the server's accept backlog never overflows into SYN retries; the
/// connections that opened, and how many failed (an error, a panic).
pub async fn open_many<T, F, Fut>(count: usize, parallel: usize, open: F) -> (Vec<T>, usize)
where
    T: Send + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = io::Result<T>> + Send + 'static,
{
    let mut opened = Vec::with_capacity(count);
    let mut failed = 0usize;
    let mut pending = tokio::task::JoinSet::new();
    let mut started = 0;
    while started < count || !pending.is_empty() {
        while started < count && pending.len() < parallel.max(1) {
            pending.spawn(open());
            started += 1;
        }
        match pending.join_next().await {
            Some(Ok(Ok(connection))) => opened.push(connection),
            _ => failed += 1,
        }
    }
    (opened, failed)
}

/// Whether `stream` is still open and silent: a connection the server
/// closed reads end of stream at once, an open idle one has nothing to read.
pub fn is_open_and_silent(stream: &tokio::net::TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(stream.try_read(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn summaries(wire: &[u8], count: usize) -> io::Result<Vec<ResponseSummary>> {
        let mut stream = wire;
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for _ in 0..count {
            out.push(read_response(&mut stream, &mut buf).await?);
        }
        Ok(out)
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn reads_pipelined_length_and_chunked_responses() {
        let wire = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\n\
            transfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n\
            HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
        let got = block_on(summaries(wire, 3)).unwrap();
        assert_eq!(
            got[0],
            ResponseSummary {
                status: 200,
                body_len: 5,
                close: false
            }
        );
        assert_eq!(
            got[1],
            ResponseSummary {
                status: 200,
                body_len: 5,
                close: false
            }
        );
        assert_eq!(
            got[2],
            ResponseSummary {
                status: 404,
                body_len: 0,
                close: true
            }
        );
    }

    #[test]
    fn reads_to_eof_without_framing() {
        let got = block_on(summaries(b"HTTP/1.0 200 OK\r\n\r\nabcdef", 1)).unwrap();
        assert_eq!(
            got[0],
            ResponseSummary {
                status: 200,
                body_len: 6,
                close: true
            }
        );
    }

    #[test]
    fn truncated_or_garbage_input_is_an_error_not_a_hang() {
        assert!(block_on(summaries(
            b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nabc",
            1
        ))
        .is_err());
        assert!(block_on(summaries(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
            1
        ))
        .is_err());
        assert!(block_on(summaries(b"\x00\x01garbage\r\n\r\n", 1)).is_err());
        assert!(block_on(summaries(b"HTTP/1.1 200", 1)).is_err());
    }
}
