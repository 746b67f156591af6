//! Direction 4, rgi middleware as a tower layer: `RgiLayer` (catalogue
//! middleware) on an axum router, on `axum::serve`, over TCP.

mod common;

use common::*;
use rgi::BoxApp;
use rgi_middleware_examples::{BearerAuth, SetRequestId};
use rgi_tower::RgiLayer;

fn request_id(inner: BoxApp) -> BoxApp {
    rgi::boxed(SetRequestId::new(inner))
}

#[tokio::test]
async fn the_response_streams_in_lock_step_with_trailers() {
    let (side, feed) = TowerSide::new();
    let addr = axum_server(side.router().layer(RgiLayer::new(request_id))).await;
    tower_inner_streams(addr, &feed).await;
}

#[tokio::test]
async fn the_request_streams_in_lock_step() {
    let (side, _feed) = TowerSide::new();
    let addr = axum_server(side.router().layer(RgiLayer::new(request_id))).await;
    tower_inner_uploads(addr, &side).await;
}

#[tokio::test]
async fn a_client_that_leaves_drops_the_tower_body() {
    let (side, feed) = TowerSide::new();
    let addr = axum_server(side.router().layer(RgiLayer::new(request_id))).await;
    tower_inner_disconnect(addr, &side, &feed).await;
}

#[tokio::test]
async fn the_middleware_runs_and_can_answer_without_the_router() {
    let (side, _feed) = TowerSide::new();
    let auth = RgiLayer::new(|inner: BoxApp| {
        rgi::boxed(BearerAuth::new(inner, |token: &str| {
            (token == "s3cret").then(|| "ada".to_owned())
        }))
    });
    let router = side.router().layer(RgiLayer::new(request_id)).layer(auth);
    let addr = axum_server(router).await;

    let mut client = Client::connect(addr).await;
    client
        .send(
            "POST /upload HTTP/1.1\r\nhost: t\r\ncontent-length: 2\r\nconnection: close\r\n\r\nhi",
        )
        .await;
    let text = client.read_to_end().await;
    assert!(text.starts_with("HTTP/1.1 401"), "{text}");
    assert!(text.contains("Missing Authorization header"), "{text}");

    let mut client = Client::connect(addr).await;
    client
        .send("POST /upload HTTP/1.1\r\nhost: t\r\nauthorization: Bearer s3cret\r\ncontent-length: 2\r\nconnection: close\r\n\r\nhi")
        .await;
    let text = client.read_to_end().await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("x-request-id: "), "{text}");
    assert!(text.ends_with("got 2"), "{text}");
    // The refused request never reached the router: only one upload read.
    assert_eq!(side.next_chunk().await, "hi");
    assert!(side.chunks.lock().await.try_recv().is_err());
}
