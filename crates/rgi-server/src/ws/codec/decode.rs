//! Frames in, events out: reassembly, validation, inflation.

use bytes::{Buf, Bytes, BytesMut};
use rgi::{CloseFrame, Message};

use super::deflate::{DeflateParams, Inflater};
use super::frame::{apply_mask, parse_header, OpCode, MAX_CONTROL_PAYLOAD};
use super::{is_sendable_close_code, CloseError};

/// What the peer sent, once a whole event is in.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Incoming {
    /// A whole message, reassembled, inflated and (text) validated.
    Message(Message),
    /// A ping and its payload, to be answered with a pong.
    Ping(Bytes),
    /// A pong (the payload does not matter to the server).
    Pong,
    /// A close frame: its code and reason, or `None` when it had no code
    /// (reported as 1005).
    Close(Option<CloseFrame>),
}

/// A message whose frames are still arriving.
#[derive(Debug)]
struct Partial {
    text: bool,
    compressed: bool,
    data: Vec<u8>,
    /// How far `data` is known to be UTF-8 (text only): everything after
    /// it is at most an incomplete sequence.
    utf8_checked: usize,
}

/// Turns the bytes a client sends into [`Incoming`] events (server side:
/// every frame must be masked).
#[derive(Debug)]
pub(crate) struct Decoder {
    max_message: usize,
    /// Boxed: only connections that negotiated permessage-deflate pay
    /// for it (every connection's state is kept small; see `conn.rs`).
    inflater: Option<Box<Inflater>>,
    partial: Option<Partial>,
}

impl Decoder {
    /// A decoder for messages of at most `max_message` bytes (inflated),
    /// with permessage-deflate when `deflate` was negotiated.
    pub(crate) fn new(max_message: usize, deflate: Option<&DeflateParams>) -> Self {
        Self {
            max_message,
            inflater: deflate.map(|params| Box::new(Inflater::new(params))),
            partial: None,
        }
    }

    /// Bytes the frame at the start of `buf` still needs, if its header is
    /// in: a hint for how much to read.
    pub(crate) fn wanted(&self, buf: &[u8]) -> usize {
        match parse_header(buf, self.max_message) {
            Ok(Some(h)) => (h.header_len + h.len).saturating_sub(buf.len()),
            _ => 0,
        }
    }

    /// The next event from the frames at the start of `buf`, consuming
    /// them; `Ok(None)` when more bytes are needed. After an error the
    /// connection is to be failed with its code; the decoder is not
    /// called again.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Incoming>, CloseError> {
        loop {
            let room = self.max_message - self.partial.as_ref().map_or(0, |p| p.data.len());
            // Compressed bytes may outnumber what they inflate to (a stored
            // block adds 5 bytes per 64 KiB; the final flush a few): the
            // exact limit is applied to the inflated bytes (WS-016), so a
            // frame's wire length gets that much slack here.
            let room_on_wire = match self.inflater {
                Some(_) => room.saturating_add(5 * (room / 65_535 + 1) + 16),
                None => room,
            };
            // A control frame may arrive whatever room a message has left.
            let limit = room_on_wire.max(MAX_CONTROL_PAYLOAD);
            let Some(header) = parse_header(buf, limit)? else {
                return Ok(None);
            };
            if buf.len() < header.header_len + header.len {
                return Ok(None);
            }
            let Some(mask) = header.mask else {
                return Err(CloseError::protocol("unmasked client frame"));
            };
            if header.rsv1 && (self.inflater.is_none() || header.opcode.is_control()) {
                return Err(CloseError::protocol("reserved bit RSV1 set"));
            }
            // Only compressed bytes get the slack: an uncompressed frame is
            // what it will be for the app (and may reach it without a copy).
            let compressed = header.rsv1 || self.partial.as_ref().is_some_and(|p| p.compressed);
            let room = if compressed { room_on_wire } else { room };
            if !header.opcode.is_control() && header.len > room {
                return Err(CloseError::too_big());
            }
            buf.advance(header.header_len);
            let mut payload = buf.split_to(header.len);
            apply_mask(&mut payload, mask);
            if let Some(event) = self.frame(header.opcode, header.fin, header.rsv1, payload)? {
                return Ok(Some(event));
            }
        }
    }

    fn frame(
        &mut self,
        opcode: OpCode,
        fin: bool,
        rsv1: bool,
        payload: BytesMut,
    ) -> Result<Option<Incoming>, CloseError> {
        let text = match opcode {
            OpCode::Ping => return Ok(Some(Incoming::Ping(payload.freeze()))),
            OpCode::Pong => return Ok(Some(Incoming::Pong)),
            OpCode::Close => return close_frame(&payload).map(|c| Some(Incoming::Close(c))),
            OpCode::Continuation => {
                if rsv1 {
                    return Err(CloseError::protocol("RSV1 on a continuation frame"));
                }
                let Some(partial) = self.partial.as_mut() else {
                    return Err(CloseError::protocol("continuation frame without a message"));
                };
                append(
                    partial,
                    self.inflater.as_deref_mut(),
                    &payload,
                    fin,
                    self.max_message,
                )?;
                if !fin {
                    return Ok(None);
                }
                let Some(partial) = self.partial.take() else {
                    return Ok(None);
                };
                return finish(partial).map(Some);
            }
            OpCode::Text => true,
            OpCode::Binary => false,
        };
        if self.partial.is_some() {
            return Err(CloseError::protocol(
                "new message before the last one ended",
            ));
        }
        if fin && !rsv1 {
            // The common case: one frame, uncompressed; binary payloads
            // are handed on without a copy.
            return Ok(Some(Incoming::Message(if text {
                Message::Text(
                    String::from_utf8(Vec::from(payload))
                        .map_err(|_| CloseError::invalid_data("text message is not UTF-8"))?,
                )
            } else {
                Message::Binary(payload.freeze())
            })));
        }
        let mut partial = Partial {
            text,
            compressed: rsv1,
            data: Vec::new(),
            utf8_checked: 0,
        };
        append(
            &mut partial,
            self.inflater.as_deref_mut(),
            &payload,
            fin,
            self.max_message,
        )?;
        if fin {
            return finish(partial).map(Some);
        }
        self.partial = Some(partial);
        Ok(None)
    }
}

/// Adds a frame's payload to its message (inflating it if the message is
/// compressed) and checks the text so far, failing fast: an invalid
/// sequence is 1007 in the fragment where it appears, not at the end.
fn append(
    partial: &mut Partial,
    inflater: Option<&mut Inflater>,
    payload: &[u8],
    fin: bool,
    limit: usize,
) -> Result<(), CloseError> {
    match inflater {
        Some(inflater) if partial.compressed => {
            inflater.inflate(payload, fin, &mut partial.data, limit)?
        }
        _ => {
            if partial.data.len() + payload.len() > limit {
                return Err(CloseError::too_big());
            }
            partial.data.extend_from_slice(payload);
        }
    }
    if partial.text {
        match std::str::from_utf8(&partial.data[partial.utf8_checked..]) {
            Ok(_) => partial.utf8_checked = partial.data.len(),
            // Cut in the middle of a sequence: fine until the last frame.
            Err(e) if e.error_len().is_none() && !fin => partial.utf8_checked += e.valid_up_to(),
            Err(_) => return Err(CloseError::invalid_data("text message is not UTF-8")),
        }
    }
    Ok(())
}

fn finish(partial: Partial) -> Result<Incoming, CloseError> {
    Ok(Incoming::Message(if partial.text {
        Message::Text(
            String::from_utf8(partial.data)
                .map_err(|_| CloseError::invalid_data("text message is not UTF-8"))?,
        )
    } else {
        Message::Binary(Bytes::from(partial.data))
    }))
}

/// A close frame's payload (§5.5.1): nothing, or a code and a UTF-8
/// reason. A one-byte payload, a code that may not be sent, or a reason
/// that is not UTF-8 fail the connection.
fn close_frame(payload: &[u8]) -> Result<Option<CloseFrame>, CloseError> {
    match payload {
        [] => Ok(None),
        [_] => Err(CloseError::protocol("one-byte close payload")),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !is_sendable_close_code(code) {
                return Err(CloseError::protocol("invalid close code"));
            }
            let reason = std::str::from_utf8(reason)
                .map_err(|_| CloseError::invalid_data("close reason is not UTF-8"))?;
            let mut frame = CloseFrame::new(code);
            frame.reason = reason.to_owned();
            Ok(Some(frame))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::frame::encode_header;
    use super::*;

    const KEY: [u8; 4] = [0x37, 0xFA, 0x21, 0x3D];

    fn frame(fin: bool, rsv1: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
        let mut out = encode_header(fin, rsv1, opcode, payload.len(), Some(KEY))
            .as_slice()
            .to_vec();
        let mut masked = payload.to_vec();
        apply_mask(&mut masked, KEY);
        out.extend_from_slice(&masked);
        out
    }

    fn decode_all(bytes: &[u8], max: usize) -> Vec<Result<Incoming, u16>> {
        let mut decoder = Decoder::new(max, None);
        let mut buf = BytesMut::from(bytes);
        let mut events = Vec::new();
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(e)) => events.push(Ok(e)),
                Ok(None) => return events,
                Err(e) => {
                    events.push(Err(e.code));
                    return events;
                }
            }
        }
    }

    #[test]
    fn fragments_reassemble_around_control_frames() {
        let mut bytes = frame(false, false, OpCode::Text, "héllo ".as_bytes());
        bytes.extend(frame(true, false, OpCode::Ping, b"p"));
        // "wörld" split inside the two bytes of 'ö'.
        let world = "wörld".as_bytes();
        bytes.extend(frame(false, false, OpCode::Continuation, &world[..2]));
        bytes.extend(frame(true, false, OpCode::Continuation, &world[2..]));
        assert_eq!(
            decode_all(&bytes, 1 << 20),
            vec![
                Ok(Incoming::Ping(Bytes::from_static(b"p"))),
                Ok(Incoming::Message(Message::Text("héllo wörld".into()))),
            ]
        );
    }

    #[test]
    fn invalid_utf8_fails_in_the_fragment_that_has_it() {
        let mut bytes = frame(false, false, OpCode::Text, b"ok \xF0\x28");
        // The message never ends: the failure cannot wait for the end.
        bytes.extend(frame(false, false, OpCode::Continuation, b"more"));
        assert_eq!(decode_all(&bytes, 1 << 20), vec![Err(1007)]);
    }

    #[test]
    fn protocol_errors_have_their_codes() {
        let code = |bytes: Vec<u8>| decode_all(&bytes, 1024).pop().unwrap().unwrap_err();
        let mut unmasked = frame(true, false, OpCode::Binary, b"x");
        unmasked[1] &= 0x7F;
        unmasked.truncate(2);
        unmasked.push(b'x');
        assert_eq!(code(unmasked), 1002);
        assert_eq!(code(frame(true, false, OpCode::Continuation, b"x")), 1002);
        let mut two_starts = frame(false, false, OpCode::Text, b"a");
        two_starts.extend(frame(true, false, OpCode::Text, b"b"));
        assert_eq!(code(two_starts), 1002);
        assert_eq!(
            code(frame(true, true, OpCode::Text, b"a")),
            1002,
            "RSV1 without deflate"
        );
        assert_eq!(code(frame(true, false, OpCode::Binary, &[0; 1025])), 1009);
        let mut growing = frame(false, false, OpCode::Binary, &[0; 1000]);
        growing.extend(frame(true, false, OpCode::Continuation, &[0; 100]));
        assert_eq!(code(growing), 1009);
        assert_eq!(code(frame(true, false, OpCode::Close, &[3])), 1002);
        assert_eq!(
            code(frame(true, false, OpCode::Close, &1005u16.to_be_bytes())),
            1002
        );
        assert_eq!(
            code(frame(true, false, OpCode::Close, &[0x03, 0xE8, 0xFF])),
            1007
        );
        assert_eq!(code(frame(true, false, OpCode::Text, b"\xFF")), 1007);
    }

    #[test]
    fn close_frames_carry_code_and_reason() {
        let mut payload = 4000u16.to_be_bytes().to_vec();
        payload.extend_from_slice(b"bye");
        let mut expected = CloseFrame::new(4000);
        expected.reason = "bye".into();
        assert_eq!(
            decode_all(&frame(true, false, OpCode::Close, &payload), 1024),
            vec![Ok(Incoming::Close(Some(expected)))]
        );
        assert_eq!(
            decode_all(&frame(true, false, OpCode::Close, b""), 1024),
            vec![Ok(Incoming::Close(None))]
        );
    }
}
