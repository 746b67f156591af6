//! The WebSocket load client's protocol side: a handshake, prebuilt masked
//! frames, and a reader that takes one whole message at a time
//! (reassembling fragments, inflating `permessage-deflate`, answering
//! pings), so the client costs little next to the server it measures.
//!
//! Written by hand rather than on a WebSocket crate for two reasons: the
//! client must speak `permessage-deflate` to measure its cost, which no
//! released client crate does; and a frame built once and written many
//! times keeps the client's core free for reading. (The frame is masked
//! once with a fixed key: the server cannot tell, and a load client need
//! not defend against cache poisoning.)

use std::io;
use std::net::SocketAddr;

use bytes::{Buf, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest response head accepted.
const MAX_HEAD: usize = 16 * 1024;
/// The largest message accepted (inflated), so a broken server cannot make
/// the client allocate without bound.
pub const MAX_MESSAGE: usize = 64 << 20;

/// Opcodes the client sends and reads.
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CONTINUATION: u8 = 0x0;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// One open WebSocket.
#[derive(Debug)]
pub struct WsClient {
    stream: TcpStream,
    buf: BytesMut,
    /// The reassembled (and inflated) message being read.
    message: Vec<u8>,
    /// `Some` when the server accepted `permessage-deflate`.
    inflate: Option<Decompress>,
}

/// One message as read: its opcode (text or binary) and its bytes, which
/// stay valid until the next read.
#[derive(Debug)]
pub struct Read<'a> {
    /// [`TEXT`] (1) or [`BINARY`] (2).
    pub opcode: u8,
    /// The message, inflated.
    pub payload: &'a [u8],
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

impl WsClient {
    /// Connects to `addr`, asks for `path`, offering `permessage-deflate`
    /// the way Chromium does when `deflate` (`client_max_window_bits`,
    /// nothing else). Fails unless the answer is `101`.
    pub async fn connect(addr: SocketAddr, path: &str, deflate: bool) -> io::Result<Self> {
        let mut stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let extensions = if deflate {
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        } else {
            ""
        };
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extensions}\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut buf = BytesMut::with_capacity(4096);
        let negotiated = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            match response.parse(&buf).map_err(|e| invalid(e.to_string()))? {
                httparse::Status::Complete(head) => {
                    if response.code != Some(101) {
                        return Err(invalid(format!("handshake answered {:?}", response.code)));
                    }
                    let negotiated = response.headers.iter().any(|h| {
                        h.name.eq_ignore_ascii_case("sec-websocket-extensions")
                            && h.value.starts_with(b"permessage-deflate")
                    });
                    buf.advance(head);
                    break negotiated;
                }
                httparse::Status::Partial if buf.len() < MAX_HEAD => {
                    if stream.read_buf(&mut buf).await? == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
                httparse::Status::Partial => return Err(invalid("handshake head too large")),
            }
        };
        if negotiated && !deflate {
            return Err(invalid(
                "the server chose an extension that was not offered",
            ));
        }
        Ok(Self {
            stream,
            buf,
            message: Vec::new(),
            inflate: negotiated.then(|| Decompress::new(false)),
        })
    }

    /// Whether the connection is still open and silent: nothing to read
    /// (a closed one reads end of stream at once).
    pub fn is_open(&self) -> bool {
        crate::client::is_open_and_silent(&self.stream)
    }

    /// Whether `permessage-deflate` is on.
    pub fn deflate(&self) -> bool {
        self.inflate.is_some()
    }

    /// A whole masked frame carrying `payload` (text when `text`),
    /// compressed when deflate is on (each message on its own, which every
    /// server accepts: no context is ever referenced). Build it once, send
    /// it with [`send_frame`](Self::send_frame) as often as needed.
    pub fn frame(&self, payload: &[u8], text: bool) -> Vec<u8> {
        let opcode = if text { TEXT } else { BINARY };
        if self.deflate() {
            let compressed = compress(payload);
            encode_frame(0x80 | 0x40 | opcode, &compressed)
        } else {
            encode_frame(0x80 | opcode, payload)
        }
    }

    /// Writes a frame built by [`frame`](Self::frame).
    pub async fn send_frame(&mut self, frame: &[u8]) -> io::Result<()> {
        self.stream.write_all(frame).await
    }

    /// Reads the next whole data message, answering pings on the way. A
    /// close frame or end of stream is an error: the echo never closes.
    pub async fn read_message(&mut self) -> io::Result<Read<'_>> {
        self.message.clear();
        let mut first: Option<(u8, bool)> = None; // opcode, compressed
        loop {
            let (b0, payload) = self.read_frame().await?;
            let opcode = b0 & 0x0F;
            let fin = b0 & 0x80 != 0;
            match opcode {
                PING => {
                    let pong = encode_frame(0x80 | PONG, &payload);
                    self.stream.write_all(&pong).await?;
                    continue;
                }
                PONG => continue,
                CLOSE => return Err(invalid("the server closed")),
                TEXT | BINARY if first.is_none() => first = Some((opcode, b0 & 0x40 != 0)),
                CONTINUATION if first.is_some() => {}
                _ => return Err(invalid(format!("unexpected opcode {opcode}"))),
            }
            let compressed = first.is_some_and(|(_, c)| c);
            if compressed {
                self.inflate_into(&payload, false)?;
            } else {
                self.message.extend_from_slice(&payload);
            }
            if self.message.len() > MAX_MESSAGE {
                return Err(invalid("message too large"));
            }
            if fin {
                if compressed {
                    self.inflate_into(&[0, 0, 0xff, 0xff], true)?;
                }
                let (opcode, _) = first.unwrap_or((BINARY, false));
                return Ok(Read {
                    opcode,
                    payload: &self.message,
                });
            }
        }
    }

    /// One frame: its first byte and its (unmasked) payload.
    async fn read_frame(&mut self) -> io::Result<(u8, BytesMut)> {
        loop {
            if let Some((header, len)) = parse_header(&self.buf)? {
                if self.buf.len() >= header + len {
                    let b0 = self.buf[0];
                    self.buf.advance(header);
                    return Ok((b0, self.buf.split_to(len)));
                }
                self.buf.reserve(header + len - self.buf.len());
            }
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    fn inflate_into(&mut self, mut input: &[u8], last: bool) -> io::Result<()> {
        let Some(inflate) = self.inflate.as_mut() else {
            return Err(invalid("RSV1 without permessage-deflate"));
        };
        loop {
            self.message.reserve(input.len().max(4096) * 2);
            let before = inflate.total_in();
            let flush = if last {
                FlushDecompress::Sync
            } else {
                FlushDecompress::None
            };
            let status = inflate
                .decompress_vec(input, &mut self.message, flush)
                .map_err(|e| invalid(e.to_string()))?;
            let used = (inflate.total_in() - before) as usize;
            input = &input[used..];
            let full = self.message.len() == self.message.capacity();
            if (input.is_empty() && !full) || status == Status::StreamEnd {
                return Ok(());
            }
            if self.message.len() > MAX_MESSAGE {
                return Err(invalid("message too large"));
            }
        }
    }
}

/// The header length and payload length of the frame at the start of
/// `buf`, once its header is complete.
fn parse_header(buf: &[u8]) -> io::Result<Option<(usize, usize)>> {
    if buf.len() < 2 {
        return Ok(None);
    }
    if buf[1] & 0x80 != 0 {
        return Err(invalid("a masked frame from the server"));
    }
    let (header, len) = match buf[1] & 0x7F {
        126 if buf.len() >= 4 => (4, u64::from(u16::from_be_bytes([buf[2], buf[3]]))),
        127 if buf.len() >= 10 => {
            let mut be = [0u8; 8];
            be.copy_from_slice(&buf[2..10]);
            (10, u64::from_be_bytes(be))
        }
        126 | 127 => return Ok(None),
        n => (2, u64::from(n)),
    };
    match usize::try_from(len) {
        Ok(len) if len <= MAX_MESSAGE => Ok(Some((header, len))),
        _ => Err(invalid("frame too large")),
    }
}

/// A masked frame: `b0` (FIN, RSV, opcode), then `payload` masked with a
/// fixed key.
fn encode_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = Vec::with_capacity(payload.len() + 14);
    frame.push(b0);
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= 0xFFFF => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&KEY);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]));
    frame
}

/// `payload` deflated on its own (RFC 7692 §7.2.1: sync flush, the final
/// `00 00 ff ff` removed).
fn compress(payload: &[u8]) -> Vec<u8> {
    let mut deflate = Compress::new(Compression::fast(), false);
    let mut out = Vec::with_capacity(payload.len() + 64);
    loop {
        let consumed = deflate.total_in() as usize;
        out.reserve(payload.len() / 2 + 1024);
        deflate
            .compress_vec(&payload[consumed..], &mut out, FlushCompress::Sync)
            .expect("deflating into a growing buffer cannot fail");
        // Room left over: the sync flush is complete.
        if deflate.total_in() as usize == payload.len() && out.len() < out.capacity() {
            break;
        }
    }
    if out.ends_with(&[0, 0, 0xff, 0xff]) {
        out.truncate(out.len() - 4);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_masked_with_the_right_lengths() {
        for (len, header) in [(0, 6), (125, 6), (126, 8), (65535, 8), (65536, 14)] {
            let frame = encode_frame(0x82, &vec![7u8; len]);
            assert_eq!(frame.len(), header + len, "{len}");
            assert_eq!(frame[0], 0x82);
            assert_ne!(frame[1] & 0x80, 0, "masked");
        }
    }

    #[test]
    fn headers_parse_and_bound_the_length() {
        assert_eq!(parse_header(&[0x81]).unwrap(), None);
        assert_eq!(parse_header(&[0x81, 5]).unwrap(), Some((2, 5)));
        assert_eq!(parse_header(&[0x82, 126, 1, 0]).unwrap(), Some((4, 256)));
        assert_eq!(parse_header(&[0x82, 126, 1]).unwrap(), None);
        let huge = [0x82, 127, 0xff, 0, 0, 0, 0, 0, 0, 0];
        assert!(parse_header(&huge).is_err());
        assert!(parse_header(&[0x82, 0x85]).is_err(), "masked from a server");
    }

    #[test]
    fn compressed_messages_inflate_back() {
        let payload = b"hello hello hello hello, a compressible message".repeat(50);
        let compressed = compress(&payload);
        assert!(compressed.len() < payload.len() / 4);
        assert!(
            !compressed.ends_with(&[0, 0, 0xff, 0xff]),
            "the tail is cut"
        );
        let mut inflate = Decompress::new(false);
        let mut out = Vec::with_capacity(payload.len() * 2);
        let mut input = compressed;
        input.extend_from_slice(&[0, 0, 0xff, 0xff]);
        inflate
            .decompress_vec(&input, &mut out, FlushDecompress::Sync)
            .unwrap();
        assert_eq!(out, payload);
    }
}
