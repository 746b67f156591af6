//! The server keeps one scope per connection and clears it between
//! requests (rule CORE-009): whatever an app sets or leaves in the scope of
//! one request does not reach the next request on the same connection.

mod common;

use std::sync::Arc;

use common::*;
use rgi::http::uri::Scheme;
use rgi::http::{HeaderMap, StatusCode};
use rgi::{App, AppResult, Capabilities, Conn, TlsInfo};

/// A marker an app leaves in the extensions.
#[derive(Clone)]
struct LeftBehind;

/// `/dirty` changes every field of the scope it can and takes the headers
/// away; any other path answers `clean`, or what it found left over.
struct Litterer;

impl App for Litterer {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        let scope = &mut *http.scope;
        if scope.path == "/dirty" {
            scope.extensions.insert(LeftBehind);
            scope.root_path.push_str("/mounted");
            scope.scheme = Scheme::HTTPS;
            scope.tls = Some(Arc::new(TlsInfo::default()));
            scope.capabilities = Capabilities::NONE;
            scope.client = None;
            scope.path = "/somewhere/else".to_owned();
            let mut headers = std::mem::take(&mut scope.headers);
            headers.insert("x-from-the-first", "1".parse()?);
            scope.headers = headers;
            return Ok(http
                .respond(StatusCode::OK, HeaderMap::new(), "dirtied")
                .await?);
        }
        let mut found = Vec::new();
        if scope.extensions.get::<LeftBehind>().is_some() {
            found.push("extensions");
        }
        if !scope.root_path.is_empty() {
            found.push("root_path");
        }
        if scope.scheme != Scheme::HTTP {
            found.push("scheme");
        }
        if scope.tls.is_some() {
            found.push("tls");
        }
        if scope.client.is_none() {
            found.push("client");
        }
        if !scope.capabilities.trailers && !scope.capabilities.send_file {
            found.push("capabilities");
        }
        if scope.headers.contains_key("x-from-the-first") || !scope.headers.contains_key("host") {
            found.push("headers");
        }
        if scope.path != "/check" {
            found.push("path");
        }
        let body = if found.is_empty() {
            "clean".to_owned()
        } else {
            found.join(",")
        };
        Ok(http.respond(StatusCode::OK, HeaderMap::new(), body).await?)
    }
}

#[tokio::test]
async fn nothing_of_one_request_reaches_the_next_on_the_same_connection() {
    let server = start(Litterer).await;
    let mut client = server.connect().await;
    let first = client.request(&get("/dirty")).await;
    assert_eq!((first.status, first.text()), (200, "dirtied"));
    let second = client
        .request(b"GET /check HTTP/1.1\r\nHost: t\r\nTE: trailers\r\n\r\n")
        .await;
    assert_eq!((second.status, second.text()), (200, "clean"));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn pipelined_requests_each_get_a_clean_scope() {
    let server = start(Litterer).await;
    let mut client = server.connect().await;
    client
        .send(b"GET /dirty HTTP/1.1\r\nHost: t\r\n\r\nGET /check HTTP/1.1\r\nHost: t\r\nTE: trailers\r\n\r\nGET /dirty HTTP/1.1\r\nHost: t\r\n\r\nGET /check HTTP/1.1\r\nHost: t\r\nTE: trailers\r\n\r\n")
        .await;
    for expected in ["dirtied", "clean", "dirtied", "clean"] {
        let response = client.read_response().await;
        assert_eq!((response.status, response.text()), (200, expected));
    }
    server.stop().await.unwrap();
}
