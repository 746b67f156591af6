//! Backpressure both ways (rule `CORE-020`): a client that does not read
//! holds the app's `send`; an app that does not receive holds the client.

mod common;

use std::time::Duration;

use common::ws::{next_line, whole, WsApp, BINARY};
use common::{start, Client};
use tokio::io::AsyncWriteExt;

const MESSAGES: usize = 300; // of 64 KiB: 19 MiB, more than socket buffers hold

#[tokio::test]
async fn a_client_that_does_not_read_holds_the_apps_send() {
    let (app, mut log) = WsApp::new();
    let server = start(app).await;
    let mut client = server.connect().await;
    client.open(&format!("/push?{MESSAGES}"), "").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut sent = 0;
    while let Ok(line) = log.try_recv() {
        sent = line.strip_prefix("sent ").unwrap().parse().unwrap();
    }
    assert!(
        sent < MESSAGES,
        "the app sent everything to a client that read nothing"
    );
    // Reading lets it finish, every message intact.
    for _ in 0..MESSAGES {
        let frame = client.read_frame().await;
        assert_eq!((frame.opcode, frame.payload.len()), (BINARY, 64 * 1024));
    }
    while sent < MESSAGES {
        sent = next_line(&mut log)
            .await
            .strip_prefix("sent ")
            .unwrap()
            .parse()
            .unwrap();
    }
}

#[tokio::test]
async fn an_app_that_does_not_receive_holds_the_client() {
    let (app, mut log) = WsApp::new();
    let server = start(app).await;
    let mut client = server.connect().await;
    client.open("/slow", "").await;
    // 64 messages of 1 MiB while the app takes one a second: the server
    // reads one message ahead, so the client's writes must stall.
    let message = whole(BINARY, &vec![5; 1 << 20]);
    let mut all = Vec::with_capacity(64 * message.len());
    for _ in 0..64 {
        all.extend_from_slice(&message);
    }
    let Client { stream, .. } = &mut client;
    let wrote = tokio::time::timeout(Duration::from_millis(1500), stream.write_all(&all)).await;
    assert!(
        wrote.is_err(),
        "the server read 64 MiB ahead of an app that received one message"
    );
    assert_eq!(next_line(&mut log).await, format!("got {}", 1 << 20));
}
