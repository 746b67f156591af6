//! Limits under attack: many or huge header fields, huge targets, floods of
//! half-open connections. Each limit answers its status and closes; the
//! server holds no state for clients that went away.

mod common;

use std::time::Duration;

use common::*;
use tokio::io::AsyncWriteExt;

fn with_fields(n: usize, value: &str) -> Vec<u8> {
    let fields: String = (0..n).map(|i| format!("X-{i}: {value}\r\n")).collect();
    format!("GET / HTTP/1.1\r\nHost: t\r\n{fields}\r\n").into_bytes()
}

#[tokio::test]
async fn header_count_and_size_limits_with_defaults() {
    let server = start(Reflect).await;
    // 100 fields (Host + 99) is the default limit; 101 is over it.
    let mut client = server.connect().await;
    assert_eq!(client.request(&with_fields(99, "v")).await.status, 200);
    assert_refused(&server, &with_fields(100, "v"), 431).await;
    assert_refused(&server, &with_fields(5000, "v"), 431).await;
    // A 10 000-byte value fits the 16 KiB head; 20 000 bytes do not.
    let mut client = server.connect().await;
    assert_eq!(
        client
            .request(&with_fields(1, &"a".repeat(10_000)))
            .await
            .status,
        200
    );
    assert_refused(&server, &with_fields(1, &"a".repeat(20_000)), 431).await;
    // Many fields, each small, adding up over the head limit.
    assert_refused(&server, &with_fields(90, &"b".repeat(300)), 431).await;
    // A head that never ends, sent without waiting: refused once the
    // limit is reached, not buffered until the client stops.
    let mut endless = b"GET / HTTP/1.1\r\nHost: t\r\nX: ".to_vec();
    endless.extend(std::iter::repeat_n(b'c', 1 << 20));
    assert_refused(&server, &endless, 431).await;
    // Targets: 8 KiB is the limit, finished or not.
    let mut client = server.connect().await;
    let at_limit = format!(
        "GET /{} HTTP/1.1\r\nHost: t\r\n\r\n",
        "p".repeat(8 * 1024 - 1)
    );
    assert_eq!(client.request(at_limit.as_bytes()).await.status, 200);
    let over = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "p".repeat(8 * 1024));
    assert_refused(&server, over.as_bytes(), 414).await;
    let endless_target = format!("GET /{}", "p".repeat(1 << 20));
    assert_refused(&server, endless_target.as_bytes(), 414).await;
    // Endless leading empty lines (RFC 9112 §2.2 only asks to skip "at
    // least one") are not an endless wait either, and not a long URI.
    assert_refused(&server, &b"\r\n".repeat(100_000), 400).await;
    assert_still_serving(&server).await;
    server.stop().await.unwrap();
}

/// Thousands of connections that send part of a head and vanish (or vanish
/// at once) leave nothing behind: the server answers afterwards, and a
/// graceful shutdown with long timeouts finishes at once, which it could
/// not if a connection task were still waiting on one of them.
#[tokio::test]
async fn thousands_of_connections_dropped_mid_head_leave_nothing_behind() {
    let mut config = test_config();
    config.head_timeout = Duration::from_secs(60);
    config.keep_alive_timeout = Duration::from_secs(60);
    config.drain_timeout = Duration::from_secs(60);
    let server = start_with(Reflect, config).await;
    let partials: [&[u8]; 4] = [
        b"",
        b"GET / HT",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhe",
    ];
    for batch in 0..10 {
        let mut clients = Vec::new();
        for i in 0..200 {
            let mut client = server.connect().await;
            let _ = client
                .try_send(partials[(batch + i) % partials.len()])
                .await;
            clients.push(client);
        }
        // Half of them reset (SO_LINGER 0), half close normally.
        for (i, client) in clients.into_iter().enumerate() {
            if i % 2 == 0 {
                let _ = client.stream.set_zero_linger();
            } else {
                let mut stream = client.stream;
                let _ = stream.shutdown().await;
            }
        }
    }
    assert_still_serving(&server).await;
    // Connections notice the client leaving without waiting for a
    // timeout: give the server a moment to see every close, then it must
    // stop well within the 60 s drain timeout.
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.stop().await.unwrap();
}
