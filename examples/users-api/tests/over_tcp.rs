//! The users API on the reference server over real TCP: every action and
//! error, and a restart that finds the data still in the SQLite file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const SECRET: &[u8] = b"users-api test secret, 32 bytes+";
const STEP: Duration = Duration::from_secs(20);

/// The API served on 127.0.0.1 until `stop` is sent; the task returns what
/// `serve` returned.
struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), rgi_server::ServeError>>,
}

impl Running {
    async fn start(db: &Path) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let app = users_api::app(db, SECRET);
        let task = tokio::spawn(async move {
            let signal = async {
                let _ = stopped.await;
            };
            rgi_server::Server::from_listener(listener)
                .serve_with_shutdown(app, signal)
                .await
        });
        Self { addr, stop, task }
    }

    /// Graceful shutdown: lifespan shutdown closes the database.
    async fn stop(self) {
        self.stop.send(()).unwrap();
        let served = tokio::time::timeout(STEP, self.task).await.unwrap();
        served.unwrap().expect("serves and shuts down cleanly");
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_owned()
    }
}

fn bearer() -> String {
    format!(
        "Bearer {}",
        users_api::token(SECRET, "tester", 600).unwrap()
    )
}

/// One request on its own connection (`connection: close`), raw bytes in
/// and out; the body is framed by `content-length` or by the close.
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: &[u8],
) -> Reply {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: users\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    if let Some(auth) = auth {
        head.push_str(&format!("authorization: {auth}\r\n"));
    }
    head.push_str("\r\n");
    tokio::time::timeout(STEP, async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        parse(&raw)
    })
    .await
    .expect("the response arrives in time")
}

fn parse(raw: &[u8]) -> Reply {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete head in {:?}", String::from_utf8_lossy(raw)));
    let head = std::str::from_utf8(&raw[..end]).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.to_ascii_lowercase(), value.trim().to_owned())
        })
        .collect();
    let mut body = raw[end + 4..].to_vec();
    if let Some((_, length)) = headers.iter().find(|(n, _)| n == "content-length") {
        body.truncate(length.parse().unwrap());
    }
    Reply {
        status,
        headers,
        body,
    }
}

async fn api(addr: SocketAddr, method: &str, path: &str, body: Value) -> Reply {
    let body = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    request(addr, method, path, Some(&bearer()), &body).await
}

fn db_in(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("users.db")
}

#[tokio::test]
async fn every_action_and_error_over_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(&db_in(&dir)).await;
    let addr = server.addr;

    // No token: 401 with a challenge; /health needs none.
    let refused = request(addr, "GET", "/users", None, b"").await;
    assert_eq!(refused.status, 401);
    assert!(refused
        .header("www-authenticate")
        .unwrap()
        .starts_with("Bearer"));
    let claims = users_api::Claims {
        sub: "late".into(),
        exp: 1_000_000_000, // 2001
    };
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET);
    let expired = jsonwebtoken::encode(&Default::default(), &claims, &key).unwrap();
    let late = request(
        addr,
        "GET",
        "/users",
        Some(&format!("Bearer {expired}")),
        b"",
    )
    .await;
    assert_eq!(late.status, 401);
    assert_eq!(late.error(), "the token has expired");
    let forged = users_api::token(b"not the server's secret, 32 bytes", "eve", 600).unwrap();
    let forged = request(
        addr,
        "GET",
        "/users",
        Some(&format!("Bearer {forged}")),
        b"",
    )
    .await;
    assert_eq!(forged.status, 401);
    let health = request(addr, "GET", "/health", None, b"").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json(), json!({ "status": "ok" }));

    // Create.
    let created = api(
        addr,
        "POST",
        "/users",
        json!({ "name": "Ada", "email": "ada@example.org" }),
    )
    .await;
    assert_eq!(created.status, 201, "{:?}", created.error());
    assert!(created.header("x-request-id").is_some());
    assert_eq!(created.header("content-type"), Some("application/json"));
    let ada = created.json()["user"].clone();
    let id = ada["id"].as_i64().unwrap();
    assert_eq!(
        created.header("location"),
        Some(format!("/users/{id}").as_str())
    );
    assert_eq!(ada["name"], "Ada");
    assert_eq!(ada["email"], "ada@example.org");
    assert_eq!(ada["created_at"].as_str().unwrap().len(), 19);

    // The client's mistakes.
    let duplicate = api(
        addr,
        "POST",
        "/users",
        json!({ "name": "Other", "email": "ada@example.org" }),
    )
    .await;
    assert_eq!(duplicate.status, 409);
    assert!(
        duplicate.error().contains("ada@example.org"),
        "{}",
        duplicate.error()
    );
    let malformed = request(addr, "POST", "/users", Some(&bearer()), b"{\"name\": ").await;
    assert_eq!(malformed.status, 400);
    assert!(
        malformed.error().starts_with("malformed JSON"),
        "{}",
        malformed.error()
    );
    let missing = api(addr, "POST", "/users", json!({ "name": "No Email" })).await;
    assert_eq!(missing.status, 400);
    assert!(missing.error().contains("email"), "{}", missing.error());
    let wrong_type = api(
        addr,
        "POST",
        "/users",
        json!({ "name": 7, "email": "x@y.z" }),
    )
    .await;
    assert_eq!(wrong_type.status, 400);
    assert!(
        wrong_type.error().starts_with("invalid user"),
        "{}",
        wrong_type.error()
    );
    let not_email = api(
        addr,
        "POST",
        "/users",
        json!({ "name": "N", "email": "nope" }),
    )
    .await;
    assert_eq!(not_email.status, 400);
    let huge = vec![b' '; 64 * 1024];
    let too_large = request(addr, "POST", "/users", Some(&bearer()), &huge).await;
    assert_eq!(too_large.status, 413);

    // Read.
    let got = api(addr, "GET", &format!("/users/{id}"), Value::Null).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json()["user"], ada);
    for path in ["/users/999999", "/users/abc", "/nowhere"] {
        let missing = api(addr, "GET", path, Value::Null).await;
        assert_eq!(missing.status, 404, "{path}");
        assert_eq!(missing.error(), "not found");
    }

    // Update.
    let put_half = api(
        addr,
        "PUT",
        &format!("/users/{id}"),
        json!({ "name": "Ada L." }),
    )
    .await;
    assert_eq!(put_half.status, 400);
    let patched = api(
        addr,
        "PATCH",
        &format!("/users/{id}"),
        json!({ "name": "Ada Lovelace" }),
    )
    .await;
    assert_eq!(patched.status, 200);
    assert_eq!(patched.json()["user"]["name"], "Ada Lovelace");
    assert_eq!(patched.json()["user"]["email"], "ada@example.org");
    let bob = api(
        addr,
        "POST",
        "/users",
        json!({ "name": "Bob", "email": "bob@example.org" }),
    )
    .await;
    let bob_id = bob.json()["user"]["id"].as_i64().unwrap();
    let taken = api(
        addr,
        "PUT",
        &format!("/users/{bob_id}"),
        json!({ "name": "Bob", "email": "ada@example.org" }),
    )
    .await;
    assert_eq!(taken.status, 409);
    let absent = api(addr, "PATCH", "/users/999999", json!({ "name": "x" })).await;
    assert_eq!(absent.status, 404);

    // List, a page at a time.
    for n in 0..4 {
        let email = format!("user{n}@example.org");
        let made = api(
            addr,
            "POST",
            "/users",
            json!({ "name": format!("User {n}"), "email": email }),
        )
        .await;
        assert_eq!(made.status, 201);
    }
    let page = api(addr, "GET", "/users?limit=2&offset=1", Value::Null).await;
    assert_eq!(page.status, 200);
    let page = page.json();
    assert_eq!(page["total"], 6);
    assert_eq!(page["limit"], 2);
    assert_eq!(page["offset"], 1);
    let names: Vec<&str> = page["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Bob", "User 0"]);
    let everyone = api(addr, "GET", "/users", Value::Null).await.json();
    assert_eq!(everyone["users"].as_array().unwrap().len(), 6);
    let bad_page = api(addr, "GET", "/users?limit=1000", Value::Null).await;
    assert_eq!(bad_page.status, 400);

    // Delete.
    let deleted = api(addr, "DELETE", &format!("/users/{bob_id}"), Value::Null).await;
    assert_eq!(deleted.status, 204);
    assert!(deleted.body.is_empty());
    let again = api(addr, "DELETE", &format!("/users/{bob_id}"), Value::Null).await;
    assert_eq!(again.status, 404);
    let wrong_method = api(addr, "DELETE", "/users", Value::Null).await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.header("allow"), Some("GET, HEAD, POST"));

    server.stop().await;
}

#[tokio::test]
async fn the_data_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_in(&dir);
    let first = Running::start(&db).await;
    let created = api(
        first.addr,
        "POST",
        "/users",
        json!({ "name": "Grace", "email": "grace@example.org" }),
    )
    .await;
    assert_eq!(created.status, 201);
    let user = created.json()["user"].clone();
    first.stop().await;

    let second = Running::start(&db).await;
    let id = user["id"].as_i64().unwrap();
    let got = api(second.addr, "GET", &format!("/users/{id}"), Value::Null).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json()["user"], user);
    // The unique email is still enforced against the stored row.
    let again = api(
        second.addr,
        "POST",
        "/users",
        json!({ "name": "G", "email": "grace@example.org" }),
    )
    .await;
    assert_eq!(again.status, 409);
    second.stop().await;
}

#[tokio::test]
async fn a_database_that_cannot_open_stops_the_server_with_its_message() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("missing-dir").join("users.db");
    let server = Running::start(&db).await;
    let served = tokio::time::timeout(STEP, server.task)
        .await
        .unwrap()
        .unwrap();
    let message = served.expect_err("startup fails").to_string();
    assert!(
        message.contains("unable to open database file"),
        "{message}"
    );
    assert!(message.contains("missing-dir"), "{message}");
}
