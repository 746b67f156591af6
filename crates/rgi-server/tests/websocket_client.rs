//! Real clients against the echo route: tokio-tungstenite (no
//! permessage-deflate) and, for the compressed path, a client of this
//! file's own built on flate2 (no maintained Rust client negotiates
//! permessage-deflate): 1,000 messages of mixed sizes up to 1 MiB each,
//! all echoed intact.

mod common;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use common::ws::{frame, WsApp, BINARY, TEXT};
use common::{bounded, start};

const COUNT: usize = 1000;

/// Message `i`: its size (0 to 1 MiB, every framing length class) and
/// bytes; text for even `i`.
fn message(i: usize, seed: &mut u64) -> (bool, Vec<u8>) {
    const SIZES: [usize; 10] = [0, 1, 125, 126, 1000, 65_535, 65_536, 100_000, 1, 1 << 20];
    // Mostly small; a 1 MiB one every 50.
    let size = if i % 50 == 49 { 1 << 20 } else { SIZES[i % 9] };
    let text = i % 2 == 0;
    let bytes = (0..size)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            if text {
                b'a' + (*seed % 26) as u8
            } else {
                *seed as u8
            }
        })
        .collect();
    (text, bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tungstenite_echoes_1000_mixed_messages() {
    let (app, _log) = WsApp::new();
    let server = start(app).await;
    let url = format!("ws://{}/echo", server.addr);
    let (mut ws, response) = bounded("connect", tokio_tungstenite::connect_async(url))
        .await
        .unwrap();
    assert_eq!(response.status(), 101);
    let mut seed = 0x2545_F491_4F6C_DD1D;
    for i in 0..COUNT {
        let (text, bytes) = message(i, &mut seed);
        let sent = if text {
            WsMessage::text(String::from_utf8(bytes).unwrap())
        } else {
            WsMessage::binary(bytes)
        };
        bounded("send", ws.send(sent.clone())).await.unwrap();
        let echoed = bounded("echo", ws.next()).await.unwrap().unwrap();
        assert_eq!(echoed, sent, "message {i}");
    }
    bounded("close", ws.close(None)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deflate_client_echoes_1000_mixed_messages() {
    let (app, _log) = WsApp::new();
    let server = start(app).await;
    let mut client = server.connect().await;
    let headers = client
        .open("/echo", "Sec-WebSocket-Extensions: permessage-deflate\r\n")
        .await;
    assert!(headers
        .iter()
        .any(|(n, v)| n == "sec-websocket-extensions" && v == "permessage-deflate"));
    let mut compress = Compress::new(Compression::fast(), false);
    let mut decompress = Decompress::new(false);
    let mut seed = 0x2545_F491_4F6C_DD1D;
    let mut compressed_echoes = 0;
    for i in 0..COUNT {
        let (text, bytes) = message(i, &mut seed);
        let payload = if bytes.is_empty() {
            // An empty message compressed: one empty block (RFC 7692 §7.2.3.6).
            vec![0x00]
        } else {
            // Room for the worst case (fixed Huffman codes on random bytes).
            let mut payload = Vec::with_capacity(bytes.len() * 2 + 1024);
            compress
                .compress_vec(&bytes, &mut payload, FlushCompress::Sync)
                .unwrap();
            assert!(
                payload.ends_with(&[0, 0, 0xFF, 0xFF]),
                "message {i}: compressed whole"
            );
            payload.truncate(payload.len() - 4);
            payload
        };
        client
            .send(&frame(
                true,
                0x40,
                if text { TEXT } else { BINARY },
                &payload,
            ))
            .await;
        let echo = client.read_frame().await;
        assert_eq!(echo.opcode, if text { TEXT } else { BINARY }, "message {i}");
        // The server compresses what is at least `deflate_min_bytes` (1024)
        // and shrinks: the text (26 letters); random binary goes back as it
        // is, and the compressed echoes after it must still inflate.
        assert_eq!(
            echo.rsv1,
            text && bytes.len() >= 1024,
            "message {i}: {} bytes, text {text}",
            bytes.len()
        );
        let got = if echo.rsv1 {
            compressed_echoes += 1;
            let mut input = echo.payload;
            input.extend_from_slice(&[0, 0, 0xFF, 0xFF]);
            let mut out = Vec::with_capacity(bytes.len() + 64);
            decompress
                .decompress_vec(&input, &mut out, FlushDecompress::Sync)
                .unwrap();
            out
        } else {
            echo.payload
        };
        assert!(
            got == bytes,
            "message {i} of {} bytes differs: got {} bytes, rsv1 {}",
            bytes.len(),
            got.len(),
            compressed_echoes
        );
    }
    assert!(compressed_echoes > 100, "{compressed_echoes}");
}
