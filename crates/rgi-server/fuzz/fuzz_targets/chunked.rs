//! The chunked request-body decoder on arbitrary bytes, fed whole and in
//! pieces.
//!
//! The first input byte picks the piece size and the piece cap (how many
//! body bytes the app takes per read); the rest is the body on the wire.
//!
//! Invariants, beyond "no panic":
//! * decoded body bytes never exceed the bytes sent less the framing (a
//!   size line before data, `0\r\n\r\n` at the end), nor the limit (413
//!   instead);
//! * no piece is larger than the cap the reader asked for;
//! * feeding the bytes whole or in pieces gives the same body and the same
//!   outcome (done, refused with the same status, or waiting for more);
//! * a complete body leaves exactly the bytes after it (a pipelined next
//!   request) in the buffer, and re-encoded as one chunk decodes back to
//!   itself.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use rgi_server::fuzz_support::{BodyDecoder, Framing, Step};

const LIMIT: u64 = 64 * 1024;

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Complete; this many bytes were left after the body.
    Done {
        left: usize,
    },
    Refused(u16),
    NeedMore,
}

/// Decodes `wire` arriving `piece` bytes at a time, the reader taking at
/// most `cap` bytes per step.
fn decode(wire: &[u8], piece: usize, cap: usize) -> (Vec<u8>, Outcome) {
    let mut decoder = BodyDecoder::new(Framing::Chunked, Some(LIMIT));
    let mut buf = BytesMut::new();
    let mut body = Vec::new();
    let mut pieces = wire.chunks(piece);
    loop {
        match decoder.decode(&mut buf, cap) {
            Step::Data(data) => {
                assert!(!data.is_empty(), "an empty Data step");
                assert!(data.len() <= cap, "a piece over the reader's cap");
                body.extend_from_slice(&data);
                assert!(body.len() as u64 <= LIMIT, "past the limit without a 413");
            }
            Step::NeedMore => match pieces.next() {
                Some(p) => buf.extend_from_slice(p),
                None => return (body, Outcome::NeedMore),
            },
            Step::Done => {
                let left = buf.len() + pieces.map(<[u8]>::len).sum::<usize>();
                return (body, Outcome::Done { left });
            }
            Step::Refused(status) => return (body, Outcome::Refused(status)),
        }
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&knobs, wire)) = input.split_first() else {
        return;
    };
    let piece = usize::from(knobs & 0x0f) + 1;
    let cap = usize::from(knobs >> 4) * 64 + 1;

    let (whole, outcome) = decode(wire, wire.len().max(1), usize::MAX);
    let (pieced, outcome_pieced) = decode(wire, piece, cap);
    // Data follows a size line of at least three bytes (`1\r\n`).
    assert!(whole.is_empty() || whole.len() + 3 <= wire.len());
    // A refusal may come earlier in pieces (413 is found before the data
    // arrives), but never differ in kind, and what was decoded before it
    // is a prefix of the whole body.
    match (&outcome, &outcome_pieced) {
        (Outcome::Refused(a), Outcome::Refused(b)) => {
            assert_eq!(a, b);
            assert!(whole.starts_with(&pieced) || pieced.starts_with(&whole));
        }
        _ => {
            assert_eq!(outcome, outcome_pieced);
            assert_eq!(whole, pieced);
        }
    }
    if let Outcome::Done { left } = outcome {
        let sent = wire.len() - left;
        assert!(
            whole.len() + 5 <= sent,
            "framing is at least `0\\r\\n\\r\\n`"
        );
        // What follows the body is untouched.
        let mut again = Vec::new();
        if !whole.is_empty() {
            again.extend_from_slice(format!("{:x}\r\n", whole.len()).as_bytes());
            again.extend_from_slice(&whole);
            again.extend_from_slice(b"\r\n");
        }
        again.extend_from_slice(b"0\r\n\r\n");
        again.extend_from_slice(&wire[sent..]);
        let (reencoded, outcome_again) = decode(&again, again.len().max(1), usize::MAX);
        assert_eq!(reencoded, whole);
        assert_eq!(outcome_again, Outcome::Done { left });
    }
});
