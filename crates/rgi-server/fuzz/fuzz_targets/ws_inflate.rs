//! The permessage-deflate inflater on arbitrary bytes, and on what the
//! server's own deflater makes of arbitrary messages.
//!
//! The first input byte picks the options (context takeover, the limit,
//! the piece size, how many messages the rest is cut into).
//!
//! Invariants, beyond "no panic":
//! * arbitrary bytes inflate to at most the limit, or fail with 1009 (too
//!   big) or 1007 (not deflate);
//! * messages deflated then inflated, fed whole or in pieces, with or
//!   without context takeover across messages, come back byte for byte,
//!   and a message is sent compressed only when deflate shrank it (the
//!   others go as they are, and the messages after them still round-trip).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rgi_server::fuzz_support::{WsDeflater, WsInflater};

fuzz_target!(|input: &[u8]| {
    let Some((&knobs, data)) = input.split_first() else {
        return;
    };
    let no_context_takeover = knobs & 1 != 0;
    let limit = [64usize, 4096, 1 << 20][usize::from(knobs >> 1 & 3) % 3];
    let piece = usize::from(knobs >> 3 & 7) * 7 + 1;
    let messages = usize::from(knobs >> 6) + 1;

    // Raw bytes as a compressed message.
    let mut inflater = WsInflater::new(no_context_takeover);
    let mut out = Vec::new();
    match inflater.inflate(data, true, &mut out, limit) {
        Ok(()) => assert!(
            out.len() <= limit,
            "{} bytes over the {limit} limit",
            out.len()
        ),
        Err(code) => assert!(code == 1009 || code == 1007, "close code {code}"),
    }

    // Round trip, message by message on one connection's pair.
    let mut deflater = WsDeflater::new(no_context_takeover);
    let mut inflater = WsInflater::new(no_context_takeover);
    let size = data.len().div_ceil(messages).max(1);
    for message in data.chunks(size) {
        let Some(compressed) = deflater.deflate(message) else {
            // Sent as it is (RFC 7692 lets the sender choose per message):
            // empty, or deflate would not shrink it. The next message must
            // still round-trip, the compressor having started afresh.
            continue;
        };
        assert!(
            compressed.len() < message.len(),
            "a message sent compressed that deflate did not shrink"
        );
        let mut out = Vec::new();
        let mut parts = compressed.chunks(piece).peekable();
        while let Some(part) = parts.next() {
            inflater
                .inflate(part, parts.peek().is_none(), &mut out, 1 << 20)
                .expect("what the deflater made inflates");
        }
        assert_eq!(out, message, "the round trip changed the message");
    }
});
