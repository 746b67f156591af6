//! Direction 3, a tower layer as rgi middleware: `TowerLayer` around an rgi
//! app on the reference server, over TCP.

mod common;

use std::time::Duration;

use common::*;
use rgi::http::StatusCode;
use rgi_tower::TowerLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

#[tokio::test]
async fn the_response_streams_in_lock_step_with_trailers() {
    let (side, events) = RgiSide::new();
    let addr = rgi_server(TowerLayer::new(TraceLayer::new_for_http()).wrap(side)).await;
    rgi_inner_streams(addr, &events).await;
}

#[tokio::test]
async fn the_request_streams_in_lock_step() {
    let (side, _events) = RgiSide::new();
    let addr = rgi_server(TowerLayer::new(TraceLayer::new_for_http()).wrap(side.clone())).await;
    rgi_inner_uploads(addr, &side).await;
}

#[tokio::test]
async fn a_client_that_leaves_reaches_the_inner_app() {
    let (side, events) = RgiSide::new();
    let addr = rgi_server(TowerLayer::new(TraceLayer::new_for_http()).wrap(side.clone())).await;
    rgi_inner_disconnect(addr, &side, &events).await;
}

#[tokio::test]
async fn a_timeout_answers_408_and_the_inner_app_learns_it_was_dropped() {
    let (side, _events) = RgiSide::new();
    let layer =
        TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_millis(200));
    let addr = rgi_server(TowerLayer::new(layer).wrap(side.clone())).await;
    let mut client = Client::connect(addr).await;
    // The inner app waits for the request body, which never comes.
    client
        .send("POST /upload HTTP/1.1\r\nhost: t\r\ncontent-length: 10\r\n\r\n")
        .await;
    client.read_until("HTTP/1.1 408").await;
    assert_eq!(side.next_seen().await, Seen::Disconnect);
}
