//! The example app over TCP on the reference server: the users routes on a
//! real SQLite file (kept across a restart), the blocking onion, and the
//! async route.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use rgi_blocking::{Pool, PoolConfig};
use serde_json::Value;

struct Served {
    addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

fn serve(db: &std::path::Path) -> Served {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = rgi_blocking_examples::app(db, &Pool::new(PoolConfig::with_size(4))).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let addr = runtime.block_on(async {
        let server = rgi_server::Server::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr();
        tokio::spawn(server.serve_with_shutdown(app, async {
            let _ = stopped.await;
        }));
        addr
    });
    Served {
        addr,
        runtime: Some(runtime),
        stop: Some(stop),
    }
}

/// One request with `connection: close`; status and body.
fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head[9..12].parse().unwrap();
    (status, body.to_owned())
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
    let server = serve(&db);
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
    let server = serve(&db);
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
}

#[test]
fn the_onion_the_rewriters_and_the_async_route_share_the_server() {
    let db = temp_db();
    let server = serve(&db);
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
}
