//! Frames over raw TCP (RFC 6455 §5-§7; rules `WS-008`, `WS-011`,
//! `WS-013`, `WS-014`): messages, fragments, control frames, the closing
//! handshake, and every protocol error with its close code.

mod common;

use std::time::Duration;

use common::ws::{
    close_payload, frame, next_line, whole, Log, WsApp, BINARY, CLOSE, CONT, PING, PONG, TEXT,
};
use common::{start_with, test_config, Client, TestServer};

async fn open(path: &str) -> (TestServer, Client, Log) {
    open_with(path, test_config()).await
}

async fn open_with(path: &str, config: rgi_server::Config) -> (TestServer, Client, Log) {
    let (app, log) = WsApp::new();
    let server = start_with(app, config).await;
    let mut client = server.connect().await;
    client.open(path, "").await;
    (server, client, log)
}

#[tokio::test]
async fn text_and_binary_messages_echo_as_they_came() {
    let (_server, mut client, _log) = open("/echo").await;
    for (opcode, payload) in [
        (TEXT, "héllo".as_bytes().to_vec()),
        (BINARY, vec![0, 1, 2, 255]),
        (TEXT, Vec::new()),
        (BINARY, vec![9; 70_000]),
    ] {
        client.send(&whole(opcode, &payload)).await;
        let echoed = client.read_frame().await;
        assert!(echoed.fin && !echoed.rsv1);
        assert_eq!((echoed.opcode, echoed.payload), (opcode, payload));
    }
}

#[tokio::test]
async fn fragments_reassemble_with_control_frames_between_them() {
    let (_server, mut client, _log) = open("/echo").await;
    let word = "wörld".as_bytes();
    let mut bytes = frame(false, 0, TEXT, b"hello ");
    bytes.extend(whole(PING, b"in between"));
    // Split inside the two bytes of 'ö'.
    bytes.extend(frame(false, 0, CONT, &word[..2]));
    bytes.extend(frame(false, 0, CONT, b""));
    bytes.extend(frame(true, 0, CONT, &word[2..]));
    client.send(&bytes).await;
    let pong = client.read_frame().await;
    assert_eq!(
        (pong.opcode, pong.payload.as_slice()),
        (PONG, &b"in between"[..])
    );
    let message = client.read_frame().await;
    assert_eq!(message.opcode, TEXT);
    assert_eq!(message.payload, "hello wörld".as_bytes());
}

#[tokio::test]
async fn a_ping_is_answered_with_its_payload_and_a_pong_is_ignored() {
    let (_server, mut client, _log) = open("/echo").await;
    client.send(&whole(PONG, b"unsolicited")).await;
    client.send(&whole(PING, &[7; 125])).await;
    let pong = client.read_frame().await;
    assert_eq!((pong.opcode, pong.payload), (PONG, vec![7; 125]));
}

#[tokio::test]
async fn the_clients_close_is_echoed_then_the_server_closes() {
    let (_server, mut client, mut log) = open("/echo").await;
    client
        .send(&whole(CLOSE, &close_payload(4321, "done")))
        .await;
    client.expect_close(4321).await;
    assert_eq!(next_line(&mut log).await, "disconnect 4321", "WS-008");
    assert_eq!(
        next_line(&mut log).await,
        "late send: Err(Disconnected)",
        "WS-005"
    );
}

#[tokio::test]
async fn a_close_without_code_is_1005_to_the_app_and_echoed_empty() {
    let (_server, mut client, mut log) = open("/echo").await;
    client.send(&whole(CLOSE, b"")).await;
    let echo = client.read_frame().await;
    assert_eq!(echo.close_code(), None);
    assert!(echo.payload.is_empty());
    client.assert_closed().await;
    assert_eq!(next_line(&mut log).await, "disconnect 1005");
}

#[tokio::test]
async fn a_connection_lost_without_close_is_1006() {
    let (_server, client, mut log) = open("/echo").await;
    drop(client);
    assert_eq!(next_line(&mut log).await, "disconnect 1006");
    assert_eq!(next_line(&mut log).await, "late send: Err(Disconnected)");
}

#[tokio::test]
async fn the_apps_close_carries_code_and_reason_and_waits_for_the_clients() {
    let (_server, mut client, mut log) = open("/close?4000").await;
    let close = client.read_frame().await;
    assert_eq!(close.close_code(), Some(4000));
    assert_eq!(&close.payload[2..], b"bye");
    // Messages after the server's close are dropped; the close answers.
    client.send(&whole(TEXT, b"ignored")).await;
    client.send(&whole(CLOSE, &close_payload(4000, ""))).await;
    client.assert_closed().await;
    assert_eq!(next_line(&mut log).await, "disconnect 4000", "WS-014");
}

#[tokio::test]
async fn an_unanswered_server_close_ends_after_the_close_timeout_with_1006() {
    let mut config = test_config();
    config.websocket.close_timeout = Duration::from_millis(300);
    let (_server, mut client, mut log) = open_with("/close?1000", config).await;
    assert_eq!(client.read_frame().await.close_code(), Some(1000));
    assert_eq!(next_line(&mut log).await, "disconnect 1006", "WS-014");
    client.assert_closed().await;
}

#[tokio::test]
async fn an_app_that_returns_closes_with_1000_and_one_that_fails_with_1011() {
    for (path, code) in [("/return", 1000), ("/fail", 1011)] {
        let (_server, mut client, _log) = open(path).await;
        assert_eq!(
            client.read_frame().await.close_code(),
            Some(code),
            "{path}: WS-011"
        );
        client.send(&whole(CLOSE, &close_payload(code, ""))).await;
        client.assert_closed().await;
    }
}

/// Sends `bytes` after the handshake and expects a close frame with
/// `code`, the connection closed, and the app told the same code.
async fn fails_with(what: &str, bytes: Vec<u8>, code: u16) {
    let (_server, mut client, mut log) = open("/echo").await;
    let _ = client.try_send(&bytes).await;
    let close = client.read_frame().await;
    assert_eq!(close.close_code(), Some(code), "{what}");
    client.assert_closed().await;
    assert_eq!(
        next_line(&mut log).await,
        format!("disconnect {code}"),
        "{what}: WS-013"
    );
}

#[tokio::test]
async fn an_unmasked_frame_is_1002() {
    fails_with("unmasked", vec![0x81, 0x02, b'h', b'i'], 1002).await;
}

#[tokio::test]
async fn reserved_bits_are_1002() {
    for (what, bit) in [
        ("RSV1 without deflate", 0x40),
        ("RSV2", 0x20),
        ("RSV3", 0x10),
    ] {
        fails_with(what, frame(true, bit, TEXT, b"x"), 1002).await;
    }
}

#[tokio::test]
async fn reserved_opcodes_are_1002() {
    for opcode in [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        fails_with(&format!("opcode {opcode}"), whole(opcode, b""), 1002).await;
    }
}

#[tokio::test]
async fn fragmented_or_oversized_control_frames_are_1002() {
    fails_with("fragmented ping", frame(false, 0, PING, b"x"), 1002).await;
    fails_with("126-byte ping", whole(PING, &[0; 126]), 1002).await;
    fails_with("126-byte close", whole(CLOSE, &[3; 126]), 1002).await;
}

#[tokio::test]
async fn fragmentation_errors_are_1002() {
    fails_with("continuation first", frame(true, 0, CONT, b"x"), 1002).await;
    let mut two_starts = frame(false, 0, TEXT, b"a");
    two_starts.extend(frame(true, 0, BINARY, b"b"));
    fails_with("new message mid-message", two_starts, 1002).await;
}

#[tokio::test]
async fn invalid_utf8_is_1007_and_fails_fast_across_fragments() {
    fails_with(
        "whole",
        whole(
            TEXT,
            b"\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5\xED\xA0\x80",
        ),
        1007,
    )
    .await;
    // The invalid byte is in the first fragment; the message never ends,
    // so only a check per fragment can catch it.
    fails_with("first fragment", frame(false, 0, TEXT, b"ok\xFF"), 1007).await;
    let mut split = frame(false, 0, TEXT, b"ok\xE2\x82");
    split.extend(frame(false, 0, CONT, b"\x28 broken"));
    fails_with("sequence broken across fragments", split, 1007).await;
    let mut truncated = frame(false, 0, TEXT, b"ok\xE2\x82");
    truncated.extend(frame(true, 0, CONT, b""));
    fails_with("ends mid-sequence", truncated, 1007).await;
}

#[tokio::test]
async fn bad_close_frames_are_1002_or_1007() {
    fails_with("one-byte close", whole(CLOSE, &[3]), 1002).await;
    for code in [
        0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535,
    ] {
        fails_with(
            &format!("close code {code}"),
            whole(CLOSE, &close_payload(code, "")),
            1002,
        )
        .await;
    }
    let mut bad_reason = close_payload(1000, "");
    bad_reason.push(0xFF);
    fails_with("reason not UTF-8", whole(CLOSE, &bad_reason), 1007).await;
}

#[tokio::test]
async fn a_message_over_the_limit_is_1009_before_it_is_read() {
    let mut config = test_config();
    config.websocket.max_message_bytes = 1000;
    for (what, bytes) in [
        ("one frame", whole(BINARY, &[0; 1001])),
        ("fragments", {
            let mut b = frame(false, 0, BINARY, &[0; 600]);
            b.extend(frame(true, 0, CONT, &[0; 401]));
            b
        }),
        // Only the header: the server must not wait for 4 GiB.
        (
            "a header announcing 4 GiB",
            vec![0x82, 0x80 | 127, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4],
        ),
    ] {
        let (_server, mut client, mut log) = open_with("/echo", config.clone()).await;
        let _ = client.try_send(&bytes).await;
        assert_eq!(client.read_frame().await.close_code(), Some(1009), "{what}");
        client.assert_closed().await;
        assert_eq!(next_line(&mut log).await, "disconnect 1009", "{what}");
    }
    // Exactly at the limit is fine.
    let (_server, mut client, _log) = open_with("/echo", config).await;
    client.send(&whole(BINARY, &[1; 1000])).await;
    assert_eq!(client.read_frame().await.payload.len(), 1000);
}

#[tokio::test]
async fn a_64_bit_length_with_the_top_bit_set_is_1002() {
    fails_with(
        "top bit",
        vec![0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4],
        1002,
    )
    .await;
}

#[tokio::test]
async fn an_idle_client_gets_pings_and_a_dead_one_is_dropped_with_1006() {
    let mut config = test_config();
    config.websocket.ping_interval = Some(Duration::from_millis(200));
    let (_server, mut client, mut log) = open_with("/echo", config).await;
    let ping = client.read_frame().await;
    assert_eq!(ping.opcode, PING);
    // Answered: the connection lives on, and the next ping comes.
    client.send(&whole(PONG, &ping.payload)).await;
    assert_eq!(client.read_frame().await.opcode, PING);
    // Not answered: dead.
    assert_eq!(next_line(&mut log).await, "disconnect 1006");
    let _ = client.read_to_eof().await;
}
