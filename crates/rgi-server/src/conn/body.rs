//! Request-body decoding: by Content-Length, or the chunked transfer coding
//! with extensions and trailers accepted and discarded (RFC 9112 §6.3, §7.1).
//!
//! The decoder works on the connection's read buffer: framing bytes are
//! consumed in place, data bytes are split off as `Bytes` without copying.

use bytes::{Buf, Bytes, BytesMut};

use super::parse::BodyFraming;

/// Most bytes of chunk extensions accepted per chunk.
const MAX_EXTENSION_BYTES: usize = 4096;
/// Most bytes of trailer section accepted.
const MAX_TRAILER_BYTES: usize = 16 * 1024;
/// Most hex digits in a chunk size (leading zeros included).
const MAX_SIZE_DIGITS: usize = 32;

/// One step of decoding.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// Body bytes.
    Data(Bytes),
    /// The buffer holds no more body: read from the socket.
    NeedMore,
    /// The body is complete.
    Done,
}

/// Why a body cannot be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// Bad chunked framing (answered 400).
    Malformed(&'static str),
    /// More than the configured limit (answered 413).
    TooLarge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading hex digits of the chunk size.
    Size { digits: usize },
    /// Whitespace after the size (bad whitespace, RFC 9112 §7.1.1).
    AfterSize,
    /// Inside a chunk extension.
    Extension { len: usize },
    /// Expecting the LF ending the chunk-size line.
    SizeLf,
    /// Inside chunk data; `remaining` bytes to go.
    Data,
    /// Expecting the CR after chunk data.
    DataCr,
    /// Expecting the LF after chunk data.
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart,
    /// Inside a trailer field's name.
    TrailerName,
    /// Inside a trailer field's value (after the colon).
    TrailerValue,
    /// Expecting the LF ending a trailer line.
    TrailerLf,
    /// Expecting the LF of the final empty line.
    FinalLf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Length,
    Chunked(Chunk),
    Done,
}

/// Decodes one request body.
#[derive(Debug)]
pub(crate) struct BodyDecoder {
    state: State,
    /// Bytes left in the body (Length) or in the current chunk (Chunked).
    remaining: u64,
    /// Trailer bytes seen so far.
    trailer_len: usize,
    /// Body bytes handed out so far.
    received: u64,
    limit: Option<u64>,
}

impl BodyDecoder {
    /// A decoder for a body framed as `framing`, refusing more than `limit`
    /// bytes.
    pub(crate) fn new(framing: BodyFraming, limit: Option<u64>) -> Self {
        let (state, remaining) = match framing {
            BodyFraming::Empty => (State::Done, 0),
            BodyFraming::Length(n) => (State::Length, n),
            BodyFraming::Chunked => (State::Chunked(Chunk::Size { digits: 0 }), 0),
        };
        Self {
            state,
            remaining,
            trailer_len: 0,
            received: 0,
            limit,
        }
    }

    /// Whether the whole body has been decoded.
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Whether a Content-Length body still needs more than `buffered`
    /// bytes: what is left of it has not all arrived yet. `false` for a
    /// chunked body (its end cannot be known without decoding).
    pub(crate) fn needs_more_than(&self, buffered: usize) -> bool {
        self.state == State::Length && self.remaining > buffered as u64
    }

    /// Takes the next piece of body from `buf`, at most `max` bytes.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut, max: usize) -> Result<Decoded, BodyError> {
        self.consume_framing(buf)?;
        match self.state {
            State::Done => return Ok(Decoded::Done),
            _ if buf.is_empty() => return Ok(Decoded::NeedMore),
            _ => {}
        }
        let n = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(buf.len())
            .min(max);
        self.remaining -= n as u64;
        self.received += n as u64;
        if self.limit.is_some_and(|limit| self.received > limit) {
            return Err(BodyError::TooLarge);
        }
        let data = buf.split_to(n).freeze();
        // Read on past the framing that follows, so that the caller learns
        // whether this was the last piece without another round trip.
        self.consume_framing(buf)?;
        Ok(Decoded::Data(data))
    }

    /// Consumes framing bytes from `buf` up to the next data byte (or the
    /// end of the buffer, or of the body).
    fn consume_framing(&mut self, buf: &mut BytesMut) -> Result<(), BodyError> {
        loop {
            match self.state {
                State::Done => return Ok(()),
                State::Length if self.remaining == 0 => {
                    self.state = State::Done;
                    return Ok(());
                }
                State::Length => return Ok(()),
                State::Chunked(Chunk::Data) if self.remaining == 0 => {
                    self.state = State::Chunked(Chunk::DataCr);
                }
                State::Chunked(Chunk::Data) => return Ok(()),
                State::Chunked(chunk) => {
                    let Some(&byte) = buf.first() else {
                        return Ok(());
                    };
                    buf.advance(1);
                    self.state = self.step(chunk, byte)?;
                }
            }
        }
    }

    /// The chunked state machine, one framing byte at a time.
    fn step(&mut self, chunk: Chunk, b: u8) -> Result<State, BodyError> {
        use Chunk::*;
        let next = match (chunk, b) {
            (Size { digits }, _) if b.is_ascii_hexdigit() => {
                if digits >= MAX_SIZE_DIGITS {
                    return Err(BodyError::Malformed("chunk size too long"));
                }
                let digit = u64::from((b as char).to_digit(16).unwrap_or(0) as u8);
                self.remaining = self
                    .remaining
                    .checked_mul(16)
                    .and_then(|n| n.checked_add(digit))
                    .ok_or(BodyError::Malformed("chunk size overflow"))?;
                Size { digits: digits + 1 }
            }
            (Size { digits: 0 }, _) => return Err(BodyError::Malformed("missing chunk size")),
            (Size { .. } | AfterSize, b' ' | b'\t') => AfterSize,
            (Size { .. } | AfterSize, b';') => Extension { len: 0 },
            (Size { .. } | AfterSize, b'\r') => SizeLf,
            (Size { .. } | AfterSize, _) => {
                return Err(BodyError::Malformed("bad chunk size line"))
            }
            (Extension { .. }, b'\r') => SizeLf,
            (Extension { len }, _) => {
                if len >= MAX_EXTENSION_BYTES || !is_field_byte(b) {
                    return Err(BodyError::Malformed("bad chunk extension"));
                }
                Extension { len: len + 1 }
            }
            (SizeLf, b'\n') if self.remaining == 0 => TrailerStart,
            (SizeLf, b'\n') => Data,
            (DataCr, b'\r') => DataLf,
            (DataLf, b'\n') => Size { digits: 0 },
            (TrailerStart, b'\r') => FinalLf,
            // A trailer line is a field line, `name ":" value` (RFC 9112
            // §7.1.2): a line without a colon, or starting with whitespace
            // (obs-fold), is refused, so that a request pipelined after a
            // last chunk that lacks its final CRLF is never swallowed as
            // trailers (hyper refuses the same).
            (TrailerStart | TrailerName, _) if is_tchar(b) => self.trailer_byte(TrailerName)?,
            (TrailerName, b':') => self.trailer_byte(TrailerValue)?,
            (TrailerValue, _) if is_field_byte(b) => self.trailer_byte(TrailerValue)?,
            (TrailerValue, b'\r') => TrailerLf,
            (TrailerLf, b'\n') => TrailerStart,
            (FinalLf, b'\n') => return Ok(State::Done),
            (SizeLf | DataCr | DataLf | TrailerLf | FinalLf, _) => {
                return Err(BodyError::Malformed("bad chunk framing"))
            }
            (Data | TrailerStart | TrailerName | TrailerValue, _) => {
                return Err(BodyError::Malformed("bad byte in chunk trailer"))
            }
        };
        Ok(State::Chunked(next))
    }

    /// Counts one trailer byte against the limit.
    fn trailer_byte(&mut self, next: Chunk) -> Result<Chunk, BodyError> {
        self.trailer_len += 1;
        if self.trailer_len > MAX_TRAILER_BYTES {
            return Err(BodyError::Malformed("trailer section too large"));
        }
        Ok(next)
    }
}

/// `tchar` (RFC 9110 §5.6.2): a byte of a field name.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A byte allowed inside a field line or extension: visible, SP, HTAB or
/// obs-text; never CR, LF, NUL or another control.
fn is_field_byte(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed in pieces of `step` bytes; returns the body.
    fn decode_all(framing: BodyFraming, input: &[u8], step: usize) -> Result<Vec<u8>, BodyError> {
        let mut decoder = BodyDecoder::new(framing, Some(1 << 20));
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        let mut fed = 0;
        loop {
            match decoder.decode(&mut buf, 7)? {
                Decoded::Data(d) => {
                    assert!(!d.is_empty() && d.len() <= 7);
                    body.extend_from_slice(&d);
                }
                Decoded::Done => return Ok(body),
                Decoded::NeedMore => {
                    assert!(fed < input.len(), "decoder wants more after the end");
                    let end = (fed + step).min(input.len());
                    buf.extend_from_slice(&input[fed..end]);
                    fed = end;
                }
            }
        }
    }

    #[test]
    fn chunked_bodies_in_every_split() {
        let input = b"5;ext=1;q=\"x\"\r\nhello\r\n0000a \t; a\r\n world, ok\r\n0\r\nX-T: 1\r\nY: 2\r\n\r\nNEXT";
        for step in 1..input.len() {
            let body = decode_all(BodyFraming::Chunked, input, step).unwrap();
            assert_eq!(body, b"hello world, ok", "step {step}");
        }
        assert_eq!(
            decode_all(BodyFraming::Chunked, b"0\r\n\r\n", 1).unwrap(),
            b""
        );
    }

    #[test]
    fn leaves_the_next_request_in_the_buffer() {
        let mut decoder = BodyDecoder::new(BodyFraming::Chunked, None);
        let mut buf = BytesMut::from(&b"3\r\nabc\r\n0\r\n\r\nGET /"[..]);
        assert_eq!(
            decoder.decode(&mut buf, 100).unwrap(),
            Decoded::Data(Bytes::from_static(b"abc"))
        );
        assert!(
            decoder.is_done(),
            "the end of the body was already buffered"
        );
        assert_eq!(&buf[..], b"GET /");
        let mut decoder = BodyDecoder::new(BodyFraming::Length(3), None);
        let mut buf = BytesMut::from(&b"abcGET"[..]);
        assert_eq!(
            decoder.decode(&mut buf, 100).unwrap(),
            Decoded::Data(Bytes::from_static(b"abc"))
        );
        assert!(decoder.is_done());
        assert_eq!(&buf[..], b"GET");
    }

    #[test]
    fn length_bodies() {
        assert_eq!(
            decode_all(BodyFraming::Length(20), &[b'x'; 20], 3).unwrap(),
            vec![b'x'; 20]
        );
        assert_eq!(decode_all(BodyFraming::Empty, b"", 1).unwrap(), b"");
    }

    #[test]
    fn bad_chunked_framing_is_refused() {
        for bad in [
            &b"x\r\n"[..],
            b"\r\n",
            b"5\nhello\r\n0\r\n\r\n",
            b"5\r\nhelloXX0\r\n\r\n",
            b"5\r\nhello\r\n0\r\n\r\r",
            b"5 x\r\nhello\r\n0\r\n\r\n",
            b"5;a\0b\r\nhello\r\n0\r\n\r\n",
            b"10000000000000000\r\n",
            b"ffffffffffffffffff\r\n",
            b"0\r\nX: a\nb\r\n\r\n",
            // Trailer lines are field lines: a name, then a colon.
            b"5\r\nhello\r\n0\r\nT v\r\n\r\n",
            b"0\r\n: v\r\n\r\n",
            b"0\r\nT : v\r\n\r\n",
            b"0\r\nT: v\r\n folded\r\n\r\n",
            // A last chunk without its final CRLF, a request behind it.
            b"5\r\nhello\r\n0\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n",
        ] {
            let err = decode_all(BodyFraming::Chunked, bad, 1).unwrap_err();
            assert!(
                matches!(err, BodyError::Malformed(_)),
                "{bad:?} gave {err:?}"
            );
        }
    }

    #[test]
    fn limit_applies_to_chunked_bodies() {
        let mut decoder = BodyDecoder::new(BodyFraming::Chunked, Some(4));
        let mut buf = BytesMut::from(&b"5\r\nhello\r\n0\r\n\r\n"[..]);
        assert_eq!(decoder.decode(&mut buf, 100), Err(BodyError::TooLarge));
    }
}
