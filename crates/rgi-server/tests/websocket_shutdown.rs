//! Graceful shutdown with open WebSockets (rule `CORE-033`): each gets a
//! close frame with 1001 and its app `Disconnect` with 1001, within the
//! drain timeout.

mod common;

use common::ws::{close_payload, next_line, whole, WsApp, CLOSE, TEXT};
use common::{start_with, test_config};

#[tokio::test]
async fn open_websockets_are_closed_with_1001() {
    let (app, mut log) = WsApp::new();
    let mut server = start_with(app, test_config()).await;
    let mut answering = server.connect().await;
    answering.open("/echo", "").await;
    let mut silent = server.connect().await;
    silent.open("/echo", "").await;
    // Both are in use before the shutdown.
    answering.send(&whole(TEXT, b"hi")).await;
    assert_eq!(answering.read_frame().await.payload, b"hi");

    server.signal_stop();
    for client in [&mut answering, &mut silent] {
        assert_eq!(client.read_frame().await.close_code(), Some(1001));
    }
    assert_eq!(next_line(&mut log).await, "disconnect 1001");
    assert_eq!(next_line(&mut log).await, "late send: Err(Disconnected)");
    answering
        .send(&whole(CLOSE, &close_payload(1001, "")))
        .await;
    answering.assert_closed().await;
    // The silent one never answers: the close timeout (or the drain
    // timeout) ends it, and the server stops.
    silent.assert_closed().await;
    assert!(server.join().await.is_ok());
}
