//! The WebSocket frame decoder (client frames in, events out) on arbitrary
//! bytes, with and without permessage-deflate.
//!
//! The first input byte picks the options (deflate, its context takeover,
//! the message limit, the piece size); the rest is the wire.
//!
//! Invariants, beyond "no panic":
//! * a failure is one of the close codes the decoder documents (1002,
//!   1007, 1009);
//! * no message is larger than the limit, inflated;
//! * feeding the bytes whole or in pieces gives the same events and the
//!   same outcome;
//! * the events, re-encoded as a client would send them (one masked frame
//!   per message, compressed when deflate is on), decode to the same events.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use rgi::Message;
use rgi_server::fuzz_support::{ws_client_frame, WsDecoder, WsDeflater, WsEvent};

#[derive(Debug, PartialEq, Eq)]
enum End {
    NeedMore,
    Failed(u16),
}

fn decode(
    wire: &[u8],
    piece: usize,
    limit: usize,
    deflate: Option<(bool, bool)>,
) -> (Vec<WsEvent>, End) {
    let mut decoder = WsDecoder::new(limit, deflate);
    let mut buf = BytesMut::new();
    let mut events = Vec::new();
    let mut pieces = wire.chunks(piece);
    loop {
        match decoder.decode(&mut buf) {
            Ok(Some(event)) => {
                let closed = matches!(event, WsEvent::Close(_));
                events.push(event);
                if closed {
                    // The server stops reading after a close.
                    return (events, End::NeedMore);
                }
            }
            Ok(None) => match pieces.next() {
                Some(p) => buf.extend_from_slice(p),
                None => return (events, End::NeedMore),
            },
            Err(code) => return (events, End::Failed(code)),
        }
    }
}

fn reencode(events: &[WsEvent], client_no_context_takeover: bool, deflate: bool) -> Vec<u8> {
    let mut deflater = WsDeflater::new(client_no_context_takeover);
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut wire = Vec::new();
    for event in events {
        let frame = match event {
            WsEvent::Message(message) => {
                let (opcode, data): (u8, &[u8]) = match message {
                    Message::Text(text) => (1, text.as_bytes()),
                    Message::Binary(bytes) => (2, bytes),
                };
                match deflate.then(|| deflater.deflate(data)).flatten() {
                    Some(compressed) => ws_client_frame(true, true, opcode, &compressed, mask),
                    None => ws_client_frame(true, false, opcode, data, mask),
                }
            }
            WsEvent::Ping(payload) => ws_client_frame(true, false, 0x9, payload, mask),
            WsEvent::Pong => ws_client_frame(true, false, 0xA, b"", mask),
            WsEvent::Close(None) => ws_client_frame(true, false, 0x8, b"", mask),
            WsEvent::Close(Some((code, reason))) => {
                let mut payload = code.to_be_bytes().to_vec();
                payload.extend_from_slice(reason.as_bytes());
                ws_client_frame(true, false, 0x8, &payload, mask)
            }
        };
        wire.extend_from_slice(&frame);
    }
    wire
}

fuzz_target!(|input: &[u8]| {
    let Some((&knobs, wire)) = input.split_first() else {
        return;
    };
    let deflate = (knobs & 1 != 0).then_some((knobs & 2 != 0, knobs & 4 != 0));
    let limit = [16usize, 1024, 64 * 1024, 1 << 20][usize::from(knobs >> 3 & 3)];
    let piece = usize::from(knobs >> 5) * 3 + 1;

    let (events, end) = decode(wire, wire.len().max(1), limit, deflate);
    if let End::Failed(code) = end {
        assert!([1002, 1007, 1009].contains(&code), "close code {code}");
    }
    for event in &events {
        if let WsEvent::Message(m) = event {
            let len = match m {
                Message::Text(t) => t.len(),
                Message::Binary(b) => b.len(),
            };
            assert!(len <= limit, "a {len}-byte message over the {limit} limit");
        }
    }
    let (pieced, pieced_end) = decode(wire, piece, limit, deflate);
    assert_eq!(
        pieced, events,
        "events differ when fed in pieces of {piece}"
    );
    assert_eq!(pieced_end, end);

    let client_nct = deflate.is_some_and(|(_, client)| client);
    let again = reencode(&events, client_nct, deflate.is_some());
    let (decoded, _) = decode(&again, again.len().max(1), limit, deflate);
    assert_eq!(decoded, events, "re-encoded events decode differently");
});
