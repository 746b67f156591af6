//! Head (slowloris) and keep-alive timeouts, with small configured values.

mod common;

use std::time::Duration;

use common::*;

fn short_timeouts() -> rgi_server::Config {
    let mut config = test_config();
    config.head_timeout = Duration::from_millis(300);
    config.keep_alive_timeout = Duration::from_millis(300);
    config
}

#[tokio::test]
async fn partial_head_gets_408() {
    let server = start_with(Hello, short_timeouts()).await;
    let mut client = server.connect().await;
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ").await;
    let r = client.read_response().await;
    assert_eq!(r.status, 408);
    assert_eq!(r.header("connection"), Some("close"));
    client.assert_closed().await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn slowloris_trickle_does_not_extend_the_deadline() {
    let server = start_with(Hello, short_timeouts()).await;
    let mut client = server.connect().await;
    // One byte every 50 ms, for longer than the head timeout: the deadline
    // counts from the start, so progress does not extend it.
    let trickle = async {
        for b in b"GET / HTTP/1.1\r\n" {
            if client.try_send(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    bounded("trickle", trickle).await;
    let r = client.read_response().await;
    assert_eq!(r.status, 408);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn silent_connection_is_closed_without_a_response() {
    let server = start_with(Hello, short_timeouts()).await;
    let mut client = server.connect().await;
    client.assert_closed().await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn idle_keep_alive_connection_is_closed() {
    let server = start_with(Hello, short_timeouts()).await;
    let mut client = server.connect().await;
    let r = client.request(&get("/")).await;
    assert_eq!(r.text(), "Hello, world!");
    // Nothing for longer than the keep-alive timeout: closed, no response.
    client.assert_closed().await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_busy_connection_is_not_timed_out() {
    let server = start_with(Hello, short_timeouts()).await;
    let mut client = server.connect().await;
    // Requests 100 ms apart, for longer than either timeout.
    for _ in 0..6 {
        let r = client.request(&get("/")).await;
        assert_eq!(r.status, 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.stop().await.unwrap();
}
