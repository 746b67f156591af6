//! The example app over TCP on the reference server: the users routes on a
//! real SQLite file (kept across a restart), the blocking onion, and the
//! async route.

// The TCP test harness of rgi-blocking's own tests: a server on a
// runtime of its own, a raw client on std sockets.
#[path = "../../../crates/rgi-blocking/tests/common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::path::PathBuf;

use common::{Client, TestServer};
use rgi_blocking::{Pool, PoolConfig};
use rgi_conformance::ViolationLog;
use serde_json::Value;

/// The app in debug mode: the validator in front of every blocking
/// adapter and outermost; each test ends with its log clean.
fn serve(db: &std::path::Path, log: &ViolationLog) -> TestServer {
    let pool = Pool::new(PoolConfig::with_size(4));
    common::serve(rgi_blocking_examples::validated_app(db, &pool, log).unwrap())
}

/// One request on a new connection; status and body.
fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut client = Client::connect(addr);
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: t\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    client.send(head.as_bytes());
    client.send(body.as_bytes());
    let response = client.response().unwrap();
    (
        response.status,
        String::from_utf8_lossy(&response.body).into_owned(),
    )
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"))
}

fn temp_db() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::env::temp_dir().join(format!(
        "rgi-blocking-users-{}-{nanos}.db",
        std::process::id()
    ))
}

#[test]
fn users_are_created_read_listed_deleted_and_kept_across_a_restart() {
    let db = temp_db();
    let log = ViolationLog::new();
    let server = serve(&db, &log);
    let addr = server.addr;

    let (status, body) = request(
        addr,
        "POST",
        "/users",
        r#"{"name":"Ada","email":"ada@example.com"}"#,
    );
    assert_eq!(status, 201, "{body}");
    let ada = json(&body);
    let id = ada["id"].as_i64().unwrap();
    assert_eq!(ada["name"], "Ada");
    assert!(ada["created_at"].is_string());

    let (status, body) = request(
        addr,
        "POST",
        "/users",
        r#"{"name":"Ada 2","email":"ada@example.com"}"#,
    );
    assert_eq!(status, 409, "{body}");
    let (status, body) = request(addr, "POST", "/users", r#"{"name":"#);
    assert_eq!(status, 400);
    assert!(body.contains("malformed JSON"), "{body}");
    let (status, _) = request(addr, "POST", "/users", r#"{"name":"Bob"}"#);
    assert_eq!(status, 400);
    let (status, _) = request(addr, "POST", "/users", &"x".repeat(70_000));
    assert_eq!(status, 413);

    request(
        addr,
        "POST",
        "/users",
        r#"{"name":"Bob","email":"bob@example.com"}"#,
    );
    let (status, body) = request(addr, "GET", &format!("/users/{id}"), "");
    assert_eq!(
        (status, json(&body)["email"].clone()),
        (200, Value::from("ada@example.com"))
    );
    let (status, body) = request(addr, "GET", "/users?limit=1&offset=1", "");
    assert_eq!(status, 200);
    let page = json(&body);
    assert_eq!(page.as_array().map(Vec::len), Some(1));
    assert_eq!(page[0]["name"], "Bob");
    assert_eq!(request(addr, "GET", "/users/999999", "").0, 404);
    assert_eq!(request(addr, "PUT", "/users", "").0, 405);

    drop(server);
    let server = serve(&db, &log);
    let (status, body) = request(server.addr, "GET", "/users", "");
    assert_eq!(status, 200);
    assert_eq!(
        json(&body).as_array().map(Vec::len),
        Some(2),
        "kept across the restart"
    );
    assert_eq!(
        request(server.addr, "DELETE", &format!("/users/{id}"), "").0,
        204
    );
    assert_eq!(
        request(server.addr, "GET", &format!("/users/{id}"), "").0,
        404
    );
    drop(server);
    let _ = std::fs::remove_file(&db);
    log.assert_clean();
}

#[test]
fn the_onion_the_rewriters_and_the_async_route_share_the_server() {
    let db = temp_db();
    let log = ViolationLog::new();
    let server = serve(&db, &log);
    // The test connects from 127.0.0.1, which the onion allows.
    assert_eq!(
        request(server.addr, "GET", "/hello", ""),
        (200, "Hello World!\n".into())
    );
    assert_eq!(
        request(server.addr, "GET", "/shout", ""),
        (200, "HELLO WORLD!\n".into())
    );
    assert_eq!(
        request(server.addr, "GET", "/", ""),
        (200, "hello from async\n".into())
    );
    drop(server);
    let _ = std::fs::remove_file(&db);
    log.assert_clean();
}
