//! permessage-deflate (RFC 7692) over raw TCP: the negotiation, messages
//! compressed both ways (the client side is flate2, driven by hand), and
//! the inflated-size limit against a decompression bomb.

mod common;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};

use common::ws::{frame, next_line, upgrade, whole, WsApp, BINARY, CONT, TEXT};
use common::{start, start_with, test_config, Client};

const TAIL: [u8; 4] = [0, 0, 0xFF, 0xFF];

/// Opens `/echo` offering `extensions`; returns the client and the
/// server's `sec-websocket-extensions` answer.
async fn open(
    config: rgi_server::Config,
    extensions: &str,
) -> (common::TestServer, Client, Option<String>, common::ws::Log) {
    let (app, log) = WsApp::new();
    let server = start_with(app, config).await;
    let mut client = server.connect().await;
    let extra = if extensions.is_empty() {
        String::new()
    } else {
        format!("Sec-WebSocket-Extensions: {extensions}\r\n")
    };
    let headers = client.open("/echo", &extra).await;
    let answer = headers
        .into_iter()
        .find(|(n, _)| n == "sec-websocket-extensions")
        .map(|(_, v)| v);
    (server, client, answer, log)
}

#[tokio::test]
async fn offers_are_answered_or_declined() {
    let cases = [
        ("permessage-deflate", Some("permessage-deflate")),
        ("permessage-deflate; client_max_window_bits", Some("permessage-deflate")),
        (
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10",
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10"),
        ),
        ("permessage-deflate; server_max_window_bits=16", None),
        ("permessage-deflate; server_max_window_bits", None),
        ("permessage-deflate; client_max_window_bits=7", None),
        ("permessage-deflate; mystery=1", None),
        ("permessage-deflate; server_no_context_takeover; server_no_context_takeover", None),
        (
            "permessage-deflate; mystery, permessage-deflate; server_max_window_bits=9",
            Some("permessage-deflate; server_max_window_bits=9"),
        ),
        ("x-webkit-deflate-frame", None),
        ("", None),
    ];
    for (offer, expected) in cases {
        let (_server, _client, answer, _log) = open(test_config(), offer).await;
        assert_eq!(answer.as_deref(), expected, "{offer}");
    }
}

#[tokio::test]
async fn deflate_off_in_the_config_negotiates_nothing() {
    let mut config = test_config();
    config.websocket.deflate = false;
    let (_server, _client, answer, _log) = open(config, "permessage-deflate").await;
    assert_eq!(answer, None);
}

fn deflate(compress: &mut Compress, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 64);
    compress
        .compress_vec(data, &mut out, FlushCompress::Sync)
        .unwrap();
    assert!(out.ends_with(&TAIL));
    out.truncate(out.len() - 4);
    out
}

/// A compressed text frame of `text`.
fn compressed_text(compress: &mut Compress, text: &str) -> Vec<u8> {
    frame(true, 0x40, TEXT, &deflate(compress, text.as_bytes()))
}

fn inflate(decompress: &mut Decompress, data: &[u8]) -> Vec<u8> {
    let mut input = data.to_vec();
    input.extend_from_slice(&TAIL);
    let mut out = Vec::with_capacity(1 << 20);
    decompress
        .decompress_vec(&input, &mut out, FlushDecompress::Sync)
        .unwrap();
    out
}

#[tokio::test]
async fn compressed_messages_echo_compressed_with_context_kept_across_messages() {
    let (_server, mut client, answer, _log) = open(test_config(), "permessage-deflate").await;
    assert!(answer.is_some());
    let mut compress = Compress::new(Compression::default(), false);
    let mut decompress = Decompress::new(false);
    let text = "The same sentence, again and again. ".repeat(40);
    for round in 0..3 {
        client.send(&compressed_text(&mut compress, &text)).await;
        let echo = client.read_frame().await;
        assert!(echo.rsv1, "round {round}: the server compresses");
        assert_eq!(echo.opcode, TEXT);
        assert!(
            echo.payload.len() < text.len() / 4,
            "round {round}: {}",
            echo.payload.len()
        );
        assert_eq!(
            inflate(&mut decompress, &echo.payload),
            text.as_bytes(),
            "round {round}"
        );
    }
    // A compressed message in fragments: RSV1 on the first only.
    let payload = deflate(&mut compress, &[42; 5000]);
    let (a, b) = payload.split_at(payload.len() / 2);
    let mut bytes = frame(false, 0x40, BINARY, a);
    bytes.extend(frame(true, 0, CONT, b));
    client.send(&bytes).await;
    let echo = client.read_frame().await;
    assert_eq!(inflate(&mut decompress, &echo.payload), vec![42; 5000]);
    // Uncompressed messages stay allowed; a short one comes back
    // uncompressed (under `deflate_min_bytes`).
    client.send(&whole(TEXT, b"plain")).await;
    let echo = client.read_frame().await;
    assert!(!echo.rsv1);
    assert_eq!(echo.payload, b"plain");
}

/// `len` bytes that deflate cannot shrink (xorshift).
fn noise(len: usize, mut state: u32) -> Vec<u8> {
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect()
}

#[tokio::test]
async fn what_deflate_cannot_shrink_comes_back_uncompressed_and_the_rest_still_inflates() {
    let (_server, mut client, answer, _log) = open(test_config(), "permessage-deflate").await;
    assert!(answer.is_some());
    let mut compress = Compress::new(Compression::default(), false);
    // One decompressor for the connection (context takeover): every
    // compressed echo must inflate with what came before it.
    let mut decompress = Decompress::new(false);
    let text = "Compressible, the same words again. ".repeat(40);
    for round in 0..3u32 {
        client.send(&compressed_text(&mut compress, &text)).await;
        let echo = client.read_frame().await;
        assert!(echo.rsv1, "round {round}: compressible text is compressed");
        assert_eq!(inflate(&mut decompress, &echo.payload), text.as_bytes());

        // Random bytes, sent compressed (the client's choice) or not; 2 KiB
        // ones are deflated and given up on, 8 KiB ones are recognised by a
        // sample and not deflated at all.
        let size = if round == 1 { 8192 } else { 2048 };
        let random = noise(size, 11 + round);
        let sent = if round % 2 == 0 {
            frame(true, 0x40, BINARY, &deflate(&mut compress, &random))
        } else {
            frame(true, 0, BINARY, &random)
        };
        client.send(&sent).await;
        let echo = client.read_frame().await;
        assert!(
            !echo.rsv1,
            "round {round}: random bytes come back as they are"
        );
        assert_eq!(echo.opcode, BINARY);
        assert_eq!(echo.payload, random, "round {round}");
    }
}

#[tokio::test]
async fn short_messages_go_uncompressed_unless_the_threshold_is_0() {
    let text = "short, compressible, short, compressible".repeat(2);
    for (min_bytes, compressed) in [(None, false), (Some(0), true)] {
        let mut config = test_config();
        if let Some(min) = min_bytes {
            config.websocket.deflate_min_bytes = min;
        }
        let (_server, mut client, _answer, _log) = open(config, "permessage-deflate").await;
        let mut compress = Compress::new(Compression::default(), false);
        client.send(&compressed_text(&mut compress, &text)).await;
        let echo = client.read_frame().await;
        assert_eq!(echo.rsv1, compressed, "deflate_min_bytes {min_bytes:?}");
        let payload = if echo.rsv1 {
            inflate(&mut Decompress::new(false), &echo.payload)
        } else {
            echo.payload
        };
        assert_eq!(payload, text.as_bytes());
    }
}

#[tokio::test]
async fn server_no_context_takeover_makes_every_message_stand_alone() {
    let (_server, mut client, _answer, _log) = open(
        test_config(),
        "permessage-deflate; server_no_context_takeover",
    )
    .await;
    let mut compress = Compress::new(Compression::default(), false);
    // Over `deflate_min_bytes`, so it is compressed.
    let text = "stand alone ".repeat(100);
    for _ in 0..3 {
        client.send(&compressed_text(&mut compress, &text)).await;
        let echo = client.read_frame().await;
        // A fresh decompressor each time: no message refers to another.
        assert_eq!(
            inflate(&mut Decompress::new(false), &echo.payload),
            text.as_bytes()
        );
    }
}

#[tokio::test]
async fn a_window_of_2_to_the_8_is_honoured_by_sending_uncompressed() {
    let (_server, mut client, answer, _log) = open(
        test_config(),
        "permessage-deflate; server_max_window_bits=8",
    )
    .await;
    assert_eq!(
        answer.as_deref(),
        Some("permessage-deflate; server_max_window_bits=8")
    );
    let text = "small window ".repeat(30);
    let mut compress = Compress::new(Compression::default(), false);
    client.send(&compressed_text(&mut compress, &text)).await;
    let echo = client.read_frame().await;
    assert!(!echo.rsv1);
    assert_eq!(echo.payload, text.as_bytes());
}

#[tokio::test]
async fn a_decompression_bomb_ends_with_1009() {
    let mut config = test_config();
    config.websocket.max_message_bytes = 64 * 1024;
    let (_server, mut client, _answer, mut log) = open(config, "permessage-deflate").await;
    // 4 MiB of zeros in about 4 KiB: small on the wire, far over the limit.
    let bomb = deflate(
        &mut Compress::new(Compression::best(), false),
        &vec![0; 4 << 20],
    );
    assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
    let _ = client.try_send(&frame(true, 0x40, BINARY, &bomb)).await;
    assert_eq!(client.read_frame().await.close_code(), Some(1009));
    client.assert_closed().await;
    assert_eq!(next_line(&mut log).await, "disconnect 1009");
}

#[tokio::test]
async fn broken_compressed_data_is_1007_and_rsv1_on_a_continuation_is_1002() {
    let (_server, mut client, _answer, mut log) = open(test_config(), "permessage-deflate").await;
    client.send(&frame(true, 0x40, BINARY, &[0xFF; 32])).await;
    assert_eq!(client.read_frame().await.close_code(), Some(1007));
    assert_eq!(next_line(&mut log).await, "disconnect 1007");

    let (_server, mut client, _answer, mut log) = open(test_config(), "permessage-deflate").await;
    let mut bytes = frame(
        false,
        0x40,
        BINARY,
        &deflate(&mut Compress::new(Compression::default(), false), b"ab"),
    );
    bytes.extend(frame(true, 0x40, CONT, b""));
    client.send(&bytes).await;
    assert_eq!(client.read_frame().await.close_code(), Some(1002));
    assert_eq!(next_line(&mut log).await, "disconnect 1002");
}

#[tokio::test]
async fn deflate_is_on_by_default() {
    let (app, _log) = WsApp::new();
    let server = start(app).await;
    let mut client = server.connect().await;
    client
        .send(&upgrade(
            "/echo",
            "Sec-WebSocket-Extensions: permessage-deflate\r\n",
        ))
        .await;
    let (status, headers) = client.read_head().await;
    assert_eq!(status, 101);
    assert!(headers
        .iter()
        .any(|(n, v)| n == "sec-websocket-extensions" && v == "permessage-deflate"));
}
