//! Frame headers (RFC 6455 §5.2) and masking (§5.3).

use super::CloseError;

/// A frame's opcode; the reserved ones never get this far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpCode {
    Continuation = 0x0,
    Text = 0x1,
    Binary = 0x2,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA,
}

impl OpCode {
    fn from_bits(bits: u8) -> Option<Self> {
        Some(match bits {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            _ => return None,
        })
    }

    /// Close, ping and pong.
    pub(crate) fn is_control(self) -> bool {
        (self as u8) & 0x8 != 0
    }
}

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameHeader {
    pub(crate) fin: bool,
    /// RSV1: "compressed" under permessage-deflate; the decoder decides
    /// whether it may be set.
    pub(crate) rsv1: bool,
    pub(crate) opcode: OpCode,
    pub(crate) mask: Option<[u8; 4]>,
    /// The payload length (checked against the caller's limit, so it fits
    /// in memory).
    pub(crate) len: usize,
    /// The header's own length in bytes (2 to 14).
    pub(crate) header_len: usize,
}

/// Largest control frame payload (§5.5).
pub(crate) const MAX_CONTROL_PAYLOAD: usize = 125;

/// Parses the frame header at the start of `buf`: `Ok(None)` while it is
/// incomplete. `max_len` is the largest payload the caller accepts; a
/// longer one is `1009` before any of it is read. Broken rules (reserved
/// bits and opcodes, a control frame fragmented or over 125 bytes, a 64-bit
/// length with its top bit set) are `1002`.
pub(crate) fn parse_header(buf: &[u8], max_len: usize) -> Result<Option<FrameHeader>, CloseError> {
    let [b0, b1, ..] = *buf else {
        return Ok(None);
    };
    if b0 & 0x30 != 0 {
        return Err(CloseError::protocol("reserved bit RSV2 or RSV3 set"));
    }
    let opcode = OpCode::from_bits(b0 & 0x0F).ok_or(CloseError::protocol("reserved opcode"))?;
    let fin = b0 & 0x80 != 0;
    let rsv1 = b0 & 0x40 != 0;
    let masked = b1 & 0x80 != 0;
    let (len, mut header_len): (u64, usize) = match b1 & 0x7F {
        126 => match buf.get(2..4) {
            Some(&[a, b]) => (u64::from(u16::from_be_bytes([a, b])), 4),
            _ => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(bytes) => {
                let mut be = [0u8; 8];
                be.copy_from_slice(bytes);
                let len = u64::from_be_bytes(be);
                if len >> 63 != 0 {
                    return Err(CloseError::protocol("64-bit length with its top bit set"));
                }
                (len, 10)
            }
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    if opcode.is_control() {
        if !fin {
            return Err(CloseError::protocol("fragmented control frame"));
        }
        if len > MAX_CONTROL_PAYLOAD as u64 {
            return Err(CloseError::protocol("control frame over 125 bytes"));
        }
    }
    let len = match usize::try_from(len) {
        Ok(len) if len <= max_len => len,
        _ => return Err(CloseError::too_big()),
    };
    let mask = if masked {
        let Some(key) = buf.get(header_len..header_len + 4) else {
            return Ok(None);
        };
        header_len += 4;
        Some([key[0], key[1], key[2], key[3]])
    } else {
        None
    };
    Ok(Some(FrameHeader {
        fin,
        rsv1,
        opcode,
        mask,
        len,
        header_len,
    }))
}

/// A frame header as bytes: at most 14.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeaderBytes {
    bytes: [u8; 14],
    len: u8,
}

impl HeaderBytes {
    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// Encodes a frame header with the shortest length encoding.
pub(crate) fn encode_header(
    fin: bool,
    rsv1: bool,
    opcode: OpCode,
    len: usize,
    mask: Option<[u8; 4]>,
) -> HeaderBytes {
    let mut bytes = [0u8; 14];
    bytes[0] = (u8::from(fin) << 7) | (u8::from(rsv1) << 6) | opcode as u8;
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let mut n = if len < 126 {
        bytes[1] = mask_bit | len as u8;
        2
    } else if let Ok(short) = u16::try_from(len) {
        bytes[1] = mask_bit | 126;
        bytes[2..4].copy_from_slice(&short.to_be_bytes());
        4
    } else {
        bytes[1] = mask_bit | 127;
        bytes[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    if let Some(key) = mask {
        bytes[n..n + 4].copy_from_slice(&key);
        n += 4;
    }
    HeaderBytes {
        bytes,
        len: n as u8,
    }
}

/// XORs `payload` with the masking key, in place (masking and unmasking
/// are the same operation). Eight bytes at a time: this runs over every
/// byte a client sends.
pub(crate) fn apply_mask(payload: &mut [u8], key: [u8; 4]) {
    let wide = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut chunks = payload.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= key[i & 3];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(buf: &[u8]) -> Result<Option<FrameHeader>, CloseError> {
        parse_header(buf, usize::MAX)
    }

    #[test]
    fn lengths_round_trip_in_their_three_encodings() {
        for len in [0, 1, 125, 126, 65_535, 65_536, 1 << 33] {
            let head = encode_header(true, false, OpCode::Binary, len, Some([1, 2, 3, 4]));
            let parsed = parse(head.as_slice()).unwrap().unwrap();
            assert_eq!(parsed.len, len);
            assert_eq!(parsed.header_len, head.as_slice().len());
            assert_eq!(parsed.mask, Some([1, 2, 3, 4]));
            // Every shorter prefix is incomplete, not an error.
            for cut in 0..head.as_slice().len() {
                assert_eq!(
                    parse(&head.as_slice()[..cut]),
                    Ok(None),
                    "len {len} cut {cut}"
                );
            }
        }
    }

    #[test]
    fn broken_headers_get_their_close_codes() {
        let code = |buf: &[u8]| parse(buf).unwrap_err().code;
        assert_eq!(code(&[0x82 | 0x20, 0x80]), 1002, "RSV2");
        assert_eq!(code(&[0x82 | 0x10, 0x80]), 1002, "RSV3");
        for op in [3u8, 7, 0xB, 0xF] {
            assert_eq!(code(&[0x80 | op, 0x80]), 1002, "opcode {op}");
        }
        assert_eq!(code(&[0x09, 0x80]), 1002, "fragmented ping");
        assert_eq!(code(&[0x89, 0x80 | 126, 0, 126]), 1002, "126-byte ping");
        let mut top_bit = vec![0x82, 0x80 | 127, 0x80];
        top_bit.extend_from_slice(&[0; 7]);
        assert_eq!(code(&top_bit), 1002, "64-bit length with the top bit");
        let mut huge = vec![0x82, 0x80 | 127, 0x7F];
        huge.extend_from_slice(&[0xFF; 7]);
        assert_eq!(parse_header(&huge, 1 << 20).unwrap_err().code, 1009);
    }

    #[test]
    fn masking_is_its_own_inverse_at_every_alignment() {
        let data: Vec<u8> = (0..=255).collect();
        for len in 0..40 {
            let mut buf = data[..len].to_vec();
            apply_mask(&mut buf, [0xA5, 0x5A, 0x01, 0xFF]);
            for (i, (&m, &d)) in buf.iter().zip(&data).enumerate() {
                assert_eq!(m, d ^ [0xA5, 0x5A, 0x01, 0xFF][i % 4]);
            }
            apply_mask(&mut buf, [0xA5, 0x5A, 0x01, 0xFF]);
            assert_eq!(buf, &data[..len]);
        }
    }
}
