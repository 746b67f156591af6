//! Internals exposed for the fuzz targets in `crates/rgi-server/fuzz` (the
//! request-head parser and the request-body decoder, as a connection
//! drives them); hidden from the docs and not part of the stable API.

use bytes::{Bytes, BytesMut};
use rgi::HttpScope;

use crate::config::Config;
use crate::conn::body::{BodyDecoder as Decoder, BodyError, Decoded};
pub use crate::conn::parse::FieldRanges;
use crate::conn::parse::{parse_head_into, BodyFraming};

/// How the head says its body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// The chunked transfer coding.
    Chunked,
}

/// What the connection learns from a head besides the scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// The body's framing.
    pub framing: Framing,
    /// Whether the connection may stay open after this request.
    pub keep_alive: bool,
    /// `Expect: 100-continue` on HTTP/1.1.
    pub expect_continue: bool,
    /// `TE: trailers`.
    pub te_trailers: bool,
}

/// Parses the head at the start of `buf` into `scope` (fresh or cleared),
/// exactly as a connection does: `Ok(None)` when incomplete, `Err(status)`
/// when refused; on success the head's bytes are split off `buf`.
/// `fields` is scratch space (start with an empty `Vec`).
pub fn parse_head(
    buf: &mut BytesMut,
    config: &Config,
    fields: &mut Vec<FieldRanges>,
    scope: &mut HttpScope,
) -> Result<Option<Head>, u16> {
    match parse_head_into(buf, config, fields, scope) {
        Ok(Some(head)) => Ok(Some(Head {
            framing: match head.body {
                BodyFraming::Empty => Framing::Empty,
                BodyFraming::Length(n) => Framing::Length(n),
                BodyFraming::Chunked => Framing::Chunked,
            },
            keep_alive: head.keep_alive,
            expect_continue: head.expect_continue,
            te_trailers: head.te_trailers,
        })),
        Ok(None) => Ok(None),
        Err(e) => Err(e.status.as_u16()),
    }
}

/// One step of [`BodyDecoder::decode`].
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Body bytes.
    Data(Bytes),
    /// The buffer holds no more body.
    NeedMore,
    /// The body is complete.
    Done,
    /// Refused with this status (400 framing, 413 limit).
    Refused(u16),
}

/// The connection's request-body decoder.
#[derive(Debug)]
pub struct BodyDecoder(Decoder);

impl BodyDecoder {
    /// A decoder for `framing`, refusing more than `limit` body bytes.
    pub fn new(framing: Framing, limit: Option<u64>) -> Self {
        let framing = match framing {
            Framing::Empty => BodyFraming::Empty,
            Framing::Length(n) => BodyFraming::Length(n),
            Framing::Chunked => BodyFraming::Chunked,
        };
        Self(Decoder::new(framing, limit))
    }

    /// Takes the next piece of body (at most `max` bytes) from `buf`.
    pub fn decode(&mut self, buf: &mut BytesMut, max: usize) -> Step {
        match self.0.decode(buf, max) {
            Ok(Decoded::Data(data)) => Step::Data(data),
            Ok(Decoded::NeedMore) => Step::NeedMore,
            Ok(Decoded::Done) => Step::Done,
            Err(BodyError::Malformed(_)) => Step::Refused(400),
            Err(BodyError::TooLarge) => Step::Refused(413),
        }
    }
}
