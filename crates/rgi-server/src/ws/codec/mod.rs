//! The WebSocket protocol as bytes in, events out (RFC 6455, RFC 7692),
//! server side. No socket, no tokio, no `ServerCtx`: a second server can
//! feed it the bytes it reads and write the bytes it gets back.
//!
//! * `frame.rs`: frame headers (parse, encode) and masking.
//! * `decode.rs`: [`Decoder`], frames to whole messages and control events
//!   (reassembly, UTF-8 checked as fragments arrive, close codes, inflate).
//! * `encode.rs`: [`Encoder`], messages and control frames to frames.
//! * `deflate.rs`: permessage-deflate, the offer and answer and the
//!   per-message compression.
//! * `handshake.rs`: the upgrade request's checks and `Sec-WebSocket-Accept`.

mod decode;
pub(crate) mod deflate;
mod encode;
pub(crate) mod frame;
pub(crate) mod handshake;

pub(crate) use decode::{Decoder, Incoming};
pub(crate) use encode::{EncodedFrame, Encoder};

/// A reason to fail the connection: the close code to send (and to report
/// to the app) and a short reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CloseError {
    pub(crate) code: u16,
    pub(crate) reason: &'static str,
}

impl CloseError {
    /// 1002: the peer broke the framing rules.
    pub(crate) const fn protocol(reason: &'static str) -> Self {
        Self { code: 1002, reason }
    }

    /// 1007: a text message or close reason that is not UTF-8, or
    /// compressed data that does not inflate.
    pub(crate) const fn invalid_data(reason: &'static str) -> Self {
        Self { code: 1007, reason }
    }

    /// 1009: a message over the size limit.
    pub(crate) const fn too_big() -> Self {
        Self {
            code: 1009,
            reason: "message too big",
        }
    }
}

/// Whether `code` may travel in a close frame (RFC 6455 §7.4.1 and the
/// IANA registry): 1000-1003, 1007-1014 and 3000-4999. 1004 is reserved,
/// 1005, 1006 and 1015 only report and are never sent (rule `WS-007`).
pub(crate) fn is_sendable_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}
