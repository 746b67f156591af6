//! Messages and control frames out, as unmasked server frames.

use bytes::Bytes;
use rgi::Message;

use super::deflate::{DeflateParams, Deflater};
use super::frame::{encode_header, HeaderBytes, OpCode};

/// One frame to write: its header, then its payload.
#[derive(Debug)]
pub(crate) struct EncodedFrame {
    pub(crate) header: HeaderBytes,
    pub(crate) payload: Bytes,
}

/// Encodes what the server sends. Messages go out as one frame each:
/// fragmenting would only cost headers (the server has the whole message).
#[derive(Debug)]
pub(crate) struct Encoder {
    /// Boxed: only connections that negotiated permessage-deflate pay
    /// for it.
    deflater: Option<Box<Deflater>>,
    /// Shorter messages go uncompressed.
    deflate_min_bytes: usize,
}

impl Encoder {
    /// An encoder that compresses with `deflate`, if it was negotiated,
    /// messages of `deflate_min_bytes` and more.
    pub(crate) fn new(deflate: Option<&DeflateParams>, deflate_min_bytes: usize) -> Self {
        Self {
            deflater: deflate.map(|params| Box::new(Deflater::new(params))),
            deflate_min_bytes,
        }
    }

    /// A message's frame: compressed (RSV1) when permessage-deflate is on,
    /// the message is long enough and deflate made it smaller.
    /// Text and binary payloads are not copied unless compressed.
    pub(crate) fn message(&mut self, message: Message) -> EncodedFrame {
        let (opcode, payload) = match message {
            Message::Text(text) => (OpCode::Text, Bytes::from(text)),
            Message::Binary(data) => (OpCode::Binary, data),
        };
        let compressed = match self.deflater.as_mut() {
            Some(deflater) if payload.len() >= self.deflate_min_bytes => deflater.deflate(&payload),
            _ => None,
        };
        let (rsv1, payload) = match compressed {
            Some(c) => (true, Bytes::from(c)),
            None => (false, payload),
        };
        EncodedFrame {
            header: encode_header(true, rsv1, opcode, payload.len(), None),
            payload,
        }
    }

    /// A ping or pong with `payload` (at most 125 bytes; the caller's
    /// payloads are the peer's ping's, already checked).
    pub(crate) fn control(opcode: OpCode, payload: Bytes) -> EncodedFrame {
        EncodedFrame {
            header: encode_header(true, false, opcode, payload.len(), None),
            payload,
        }
    }

    /// A close frame: the code and reason, or empty for `None` (the
    /// answer to a close without a code).
    pub(crate) fn close(code: Option<u16>, reason: &str) -> EncodedFrame {
        let payload = match code {
            None => Bytes::new(),
            Some(code) => {
                let mut p = Vec::with_capacity(2 + reason.len());
                p.extend_from_slice(&code.to_be_bytes());
                p.extend_from_slice(reason.as_bytes());
                Bytes::from(p)
            }
        };
        Self::control(OpCode::Close, payload)
    }
}
