//! Both programs over TCP: the reference server with axum under `/api`, and
//! axum::serve with rgi middleware inside.

use std::io::Read;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn rgi_server() -> SocketAddr {
    let server = rgi_server::Server::bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    tokio::spawn(server.serve_with_shutdown(axum_mount::rgi_front(), std::future::pending()));
    addr
}

async fn axum_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum_mount::axum_front().into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// One request with `connection: close`; the head (lower-cased) and the
/// de-chunked body.
async fn get(addr: SocketAddr, path: &str, headers: &str) -> (String, Vec<u8>, SocketAddr) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let me = stream.local_addr().unwrap();
    let request =
        format!("GET {path} HTTP/1.1\r\nhost: example\r\n{headers}connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .expect("the response in time")
        .unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    let mut body = raw[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    (head, body, me)
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&raw[..line]).unwrap().trim(), 16).unwrap();
        raw = &raw[line + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}

fn gunzip(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut out)
        .unwrap();
    out
}

const AUTH: &str = "authorization: Bearer secret\r\n";

/// What both programs answer on `/api`: 401 without a token (from the rgi
/// bearer auth, with the rgi request id), the users as gzip JSON with one,
/// and `/whoami` with what crossed into axum: the user, the request id,
/// the client's address. Returns `/whoami`'s JSON.
async fn the_api_answers(addr: SocketAddr) -> serde_json::Value {
    let (head, body, _) = get(addr, "/api/users", "").await;
    assert!(head.starts_with("http/1.1 401"), "{head}");
    assert!(head.contains("x-request-id: "), "{head}");
    assert_eq!(json(&body)["error"], "Missing Authorization header");

    let gzip = format!("{AUTH}accept-encoding: gzip\r\n");
    let (head, body, _) = get(addr, "/api/users", &gzip).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-encoding: gzip"), "{head}");
    let users = json(&gunzip(&body));
    assert_eq!(users["users"][0]["name"], "ada");
    assert_eq!(users["users"][2]["name"], "barbara");

    let (head, body, me) = get(addr, "/api/whoami", AUTH).await;
    let who = json(&body);
    assert_eq!(who["user"], "api-user");
    assert_eq!(who["client"], me.to_string());
    let id = who["request_id"].as_str().unwrap();
    assert!(
        head.contains(&format!("x-request-id: {id}")),
        "{head} {who}"
    );
    who
}

#[tokio::test]
async fn rgi_in_front_serves_axum_under_api_next_to_a_native_app() {
    let addr = rgi_server().await;

    let (head, body, _) = get(addr, "/", "").await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(json(&body)["app"], "rgi");

    // axum routes on the path below the mount point.
    let who = the_api_answers(addr).await;
    assert_eq!(who["uri"], "/whoami");
    let (head, body, _) = get(addr, "/api/users/2", AUTH).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(json(&body)["name"], "grace");
    let (head, _, _) = get(addr, "/api/users/9", AUTH).await;
    assert!(head.starts_with("http/1.1 404"), "{head}");
}

#[tokio::test]
async fn axum_in_front_runs_rgi_middleware_and_an_rgi_app() {
    let addr = axum_server().await;

    let (head, body, _) = get(addr, "/rgi/x", "").await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let home = json(&body);
    assert_eq!(home["path"], "/rgi/x");
    assert_eq!(home["root_path"], "/rgi");

    the_api_answers(addr).await;
}
