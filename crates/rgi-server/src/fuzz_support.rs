//! Internals exposed for the fuzz targets in `crates/rgi-server/fuzz` (the
//! request-head parser and the request-body decoder, as a connection
//! drives them); hidden from the docs and not part of the stable API.

use bytes::{Bytes, BytesMut};
use rgi::HttpScope;

use crate::config::Config;
use crate::conn::body::{BodyDecoder as Decoder, BodyError, Decoded};
pub use crate::conn::parse::FieldRanges;
use crate::conn::parse::{parse_head_into, BodyFraming};
use crate::ws::codec::deflate::DeflateParams;

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

/// A WebSocket event as the frame decoder reports it.
#[derive(Debug, PartialEq, Eq)]
pub enum WsEvent {
    /// A whole message (reassembled, inflated, text checked).
    Message(rgi::Message),
    /// A ping with its payload.
    Ping(Bytes),
    /// A pong.
    Pong,
    /// A close frame: code and reason, `None` without a code.
    Close(Option<(u16, String)>),
}

/// The server's WebSocket frame decoder (client frames in, events out).
#[derive(Debug)]
pub struct WsDecoder(crate::ws::codec::Decoder);

/// permessage-deflate parameters: `(server_no_context_takeover,
/// client_no_context_takeover)`.
fn deflate_params(no_context_takeover: (bool, bool)) -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: no_context_takeover.0,
        client_no_context_takeover: no_context_takeover.1,
        server_max_window_bits: None,
    }
}

impl WsDecoder {
    /// A decoder for messages of at most `max_message` bytes, with
    /// permessage-deflate (`(server, client)_no_context_takeover`) when
    /// given.
    pub fn new(max_message: usize, deflate: Option<(bool, bool)>) -> Self {
        let params = deflate.map(deflate_params);
        Self(crate::ws::codec::Decoder::new(max_message, params.as_ref()))
    }

    /// The next event from the start of `buf` (consumed); `Ok(None)` when
    /// more bytes are needed; `Err(close code)` when the connection fails.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<WsEvent>, u16> {
        use crate::ws::codec::Incoming;
        match self.0.decode(buf) {
            Ok(Some(Incoming::Message(m))) => Ok(Some(WsEvent::Message(m))),
            Ok(Some(Incoming::Ping(p))) => Ok(Some(WsEvent::Ping(p))),
            Ok(Some(Incoming::Pong)) => Ok(Some(WsEvent::Pong)),
            Ok(Some(Incoming::Close(c))) => Ok(Some(WsEvent::Close(c.map(|c| (c.code, c.reason))))),
            Ok(None) => Ok(None),
            Err(e) => Err(e.code),
        }
    }
}

/// A masked client frame, as a client would send it.
pub fn ws_client_frame(
    fin: bool,
    rsv1: bool,
    opcode: u8,
    payload: &[u8],
    mask: [u8; 4],
) -> Vec<u8> {
    use crate::ws::codec::frame::{apply_mask, encode_header, OpCode};
    let opcode = match opcode {
        0x0 => OpCode::Continuation,
        0x1 => OpCode::Text,
        0x2 => OpCode::Binary,
        0x8 => OpCode::Close,
        0x9 => OpCode::Ping,
        _ => OpCode::Pong,
    };
    let header = encode_header(fin, rsv1, opcode, payload.len(), Some(mask));
    let mut frame = header.as_slice().to_vec();
    let start = frame.len();
    frame.extend_from_slice(payload);
    apply_mask(&mut frame[start..], mask);
    frame
}

/// The permessage-deflate decompressor of one connection.
#[derive(Debug)]
pub struct WsInflater(crate::ws::codec::deflate::Inflater);

impl WsInflater {
    /// With `client_no_context_takeover` as negotiated.
    pub fn new(client_no_context_takeover: bool) -> Self {
        Self(crate::ws::codec::deflate::Inflater::new(&deflate_params((
            false,
            client_no_context_takeover,
        ))))
    }

    /// Inflates part of a message onto `out` (`last`: the message ends
    /// here), refusing to grow `out` past `limit`: `Err(close code)`.
    pub fn inflate(
        &mut self,
        input: &[u8],
        last: bool,
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), u16> {
        self.0.inflate(input, last, out, limit).map_err(|e| e.code)
    }
}

/// The permessage-deflate compressor of one connection (what a client's
/// compressor does too: raw deflate, sync-flushed, tail removed).
#[derive(Debug)]
pub struct WsDeflater(crate::ws::codec::deflate::Deflater);

impl WsDeflater {
    /// With `no_context_takeover` (reset after every message) or not.
    pub fn new(no_context_takeover: bool) -> Self {
        Self(crate::ws::codec::deflate::Deflater::new(&deflate_params((
            no_context_takeover,
            false,
        ))))
    }

    /// One message compressed, or `None` when it is sent as it is.
    pub fn deflate(&mut self, input: &[u8]) -> Option<Vec<u8>> {
        self.0.deflate(input)
    }
}
