//! Direction 1, a tower service as an rgi app: `TowerApp` on the reference
//! server, over TCP.

mod common;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, OriginalUri, Path};
use axum::routing::get;
use axum::Json;
use common::*;
use rgi_middleware_examples::Router;
use rgi_tower::{ScopeParts, TowerApp};

#[tokio::test]
async fn the_response_streams_in_lock_step_with_trailers() {
    let (side, feed) = TowerSide::new();
    let addr = rgi_server(TowerApp::new(side.service())).await;
    tower_inner_streams(addr, &feed).await;
}

#[tokio::test]
async fn the_request_streams_in_lock_step() {
    let (side, _feed) = TowerSide::new();
    let addr = rgi_server(TowerApp::new(side.service())).await;
    tower_inner_uploads(addr, &side).await;
}

#[tokio::test]
async fn a_client_that_leaves_drops_the_tower_body() {
    let (side, feed) = TowerSide::new();
    let addr = rgi_server(TowerApp::new(side.service())).await;
    tower_inner_disconnect(addr, &side, &feed).await;
}

#[tokio::test]
async fn a_router_mounted_under_api_sees_its_own_paths_and_the_client() {
    async fn user(
        Path(id): Path<String>,
        ConnectInfo(client): ConnectInfo<SocketAddr>,
        uri: axum::http::Uri,
        OriginalUri(original): OriginalUri,
        axum::Extension(parts): axum::Extension<ScopeParts>,
    ) -> Json<serde_json::Value> {
        Json(serde_json::json!({
            "id": id,
            "client": client.to_string(),
            "uri": uri.to_string(),
            "original": original.to_string(),
            "root_path": parts.root_path,
            "rgi_uri": parts.uri.to_string(),
        }))
    }
    let api = axum::Router::new().route("/users/{id}", get(user));
    let app = Router::new().mount(
        "/api",
        TowerApp::new(api).connect_info(ConnectInfo::<SocketAddr>),
    );
    let addr = rgi_server(app).await;
    let mut client = Client::connect(addr).await;
    let me = client.local_addr();
    client
        .send("GET /api/users/7?x=1 HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        .await;
    let text = client.read_to_end().await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let json: serde_json::Value = serde_json::from_str(&text[text.find('{').unwrap()..]).unwrap();
    assert_eq!(json["id"], "7");
    assert_eq!(json["client"], me.to_string());
    assert_eq!(json["uri"], "/users/7?x=1");
    assert_eq!(json["root_path"], "/api");
    assert_eq!(json["rgi_uri"], "/api/users/7?x=1");
    // axum's own OriginalUri is what axum was handed: below the mount.
    assert_eq!(json["original"], "/users/7?x=1");
    // A JSON body that knows its length is sent with it, not chunked.
    assert!(text.contains("content-length: "), "{text}");
}

#[tokio::test]
async fn an_unknown_path_is_the_routers_404_and_errors_are_500() {
    let api = axum::Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route(
            "/fail",
            get(|| async {
                axum::http::Response::builder()
                    .status(103)
                    .body(axum::body::Body::empty())
                    .unwrap()
            }),
        );
    let addr = rgi_server(TowerApp::new(api)).await;
    for (path, status) in [("/nope", "404"), ("/ok", "200"), ("/fail", "500")] {
        let mut client = Client::connect(addr).await;
        client
            .send(format!(
                "GET {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"
            ))
            .await;
        let text = client.read_to_end().await;
        assert!(
            text.starts_with(&format!("HTTP/1.1 {status}")),
            "{path}: {text}"
        );
    }
}
