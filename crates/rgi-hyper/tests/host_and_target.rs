//! The request target and `Host` over raw TCP: hyper accepts what RFC
//! 9112 §3.2 refuses, so rgi-hyper applies rgi-server's own rules
//! (`rgi_server::shared::check_target_and_host`) before the app: a head
//! they refuse gets its status, an empty body and `connection: close`, and
//! the connection serves nothing after it; the `host` an app sees is
//! always there (rule `HTTP-008`) and, for an absolute-form target, the
//! target's authority (rule `HTTP-033`).

mod common;

use bytes::Bytes;
use common::{body_of, bounded, exchange, full, h2c, start, TestServer};
use http::{HeaderMap, Request, StatusCode};
use rgi::{App, AppResult, Conn};

/// Answers `200` with what it saw: `METHOD PATH host=[VALUES]`.
struct Reflect;

impl App for Reflect {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        let hosts: Vec<String> = http
            .scope
            .headers
            .get_all(http::header::HOST)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        let seen = format!("{} {} host={hosts:?}", http.scope.method, http.scope.path);
        Ok(http.respond(StatusCode::OK, HeaderMap::new(), seen).await?)
    }
}

/// A request the app always answers, sent behind a refused one: it must
/// get no response, the connection closes after the refusal.
const NEXT: &str = "GET /next HTTP/1.1\r\nHost: t\r\n\r\n";

/// The status code of the first response in `response`, an HTTP/1.0 or
/// HTTP/1.1 one.
fn status_of(response: &str) -> Option<&str> {
    let rest = response
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| response.strip_prefix("HTTP/1.0 "))?;
    rest.get(..3)
}

/// What the app saw of `head`, sent alone on a connection.
async fn seen(server: &TestServer, head: &str) -> String {
    let response = exchange(server.addr, head.as_bytes()).await;
    assert_eq!(status_of(&response), Some("200"), "{head:?}: {response}");
    let (_, body) = response.split_once("\r\n\r\n").expect("a whole head");
    body.to_owned()
}

/// `head` (with a request pipelined behind it) is answered `status` with
/// an empty body and `connection: close`, and nothing else: the app saw
/// neither request.
async fn assert_refused(server: &TestServer, head: &str, status: u16) {
    let response = exchange(server.addr, format!("{head}{NEXT}").as_bytes()).await;
    assert_eq!(
        status_of(&response),
        Some(status.to_string().as_str()),
        "{head:?}: {response}"
    );
    let lower = response.to_ascii_lowercase();
    assert!(
        lower.contains("\r\nconnection: close\r\n"),
        "{head:?}: {response}"
    );
    assert!(
        lower.contains("\r\ncontent-length: 0\r\n"),
        "{head:?}: {response}"
    );
    assert!(
        response.ends_with("\r\n\r\n"),
        "{head:?}: a body: {response}"
    );
    assert_eq!(
        response.matches("HTTP/1.").count(),
        1,
        "{head:?}: {response}"
    );
}

/// Other connections are served as before.
async fn assert_still_serving(server: &TestServer) {
    assert_eq!(
        seen(
            server,
            "GET /ok HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        )
        .await,
        "GET /ok host=[\"t\"]"
    );
}

/// RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without
/// a Host field.
#[tokio::test]
async fn an_http11_request_without_host_is_400() {
    let server = start(Reflect).await;
    assert_refused(&server, "GET / HTTP/1.1\r\n\r\n", 400).await;
    assert_refused(&server, "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 400).await;
    assert_still_serving(&server).await;
}

/// RFC 9112 §3.2: more than one Host field is a 400, the same value twice
/// included (an app would read one, a proxy maybe the other).
#[tokio::test]
async fn two_host_fields_are_400() {
    let server = start(Reflect).await;
    assert_refused(&server, "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400).await;
    assert_refused(&server, "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400).await;
    assert_refused(&server, "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400).await;
    assert_still_serving(&server).await;
}

/// RFC 9112 §3.2: a Host that is not `uri-host [":" port]` is a 400.
#[tokio::test]
async fn an_invalid_host_is_400() {
    let server = start(Reflect).await;
    for host in [
        "a b", "a/b", "user@a", "a:b", "a:80:80", "[::1", "a%zz", "a?b",
    ] {
        assert_refused(
            &server,
            &format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n"),
            400,
        )
        .await;
    }
    assert_refused(
        &server,
        "GET / HTTP/1.1\r\nHost: a\r\nHost: a b\r\n\r\n",
        400,
    )
    .await;
    // The forms a client really sends still pass.
    for host in ["localhost", "127.0.0.1:8080", "[::1]:443", "a.example:"] {
        let head = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        assert_eq!(seen(&server, &head).await, format!("GET / host=[{host:?}]"));
    }
}

/// Rule `HTTP-008`: `headers` always has a `host`; an HTTP/1.0 request
/// may come without one and gets an empty one (RFC 9112 §3.2).
#[tokio::test]
async fn an_http10_request_without_host_gets_an_empty_host() {
    let server = start(Reflect).await;
    assert_eq!(
        seen(&server, "GET /old HTTP/1.0\r\n\r\n").await,
        "GET /old host=[\"\"]"
    );
    assert_eq!(
        seen(&server, "GET /old HTTP/1.0\r\nHost: h\r\n\r\n").await,
        "GET /old host=[\"h\"]"
    );
}

/// Rule `HTTP-033` (RFC 9112 §3.2.2): with an absolute-form target the
/// server ignores Host: the app sees one `host`, the target's authority.
#[tokio::test]
async fn an_absolute_form_target_names_the_host() {
    let server = start(Reflect).await;
    assert_eq!(
        seen(
            &server,
            "GET http://a.example:8080/p?q HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n"
        )
        .await,
        "GET /p host=[\"a.example:8080\"]"
    );
    // HTTP/1.0 needs no Host line: the target's authority is the host.
    assert_eq!(
        seen(&server, "GET http://a.example/p HTTP/1.0\r\n\r\n").await,
        "GET /p host=[\"a.example\"]"
    );
    // HTTP/1.1 still requires the Host line, and only one.
    assert_refused(&server, "GET http://a.example/p HTTP/1.1\r\n\r\n", 400).await;
    assert_refused(
        &server,
        "GET http://a.example/p HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        400,
    )
    .await;
    // Userinfo in the authority is refused (RFC 9110 §4.2.4).
    assert_refused(
        &server,
        "GET http://user@a.example/p HTTP/1.1\r\nHost: a.example\r\n\r\n",
        400,
    )
    .await;
    assert_still_serving(&server).await;
}

/// No tunnels: an app answering `CONNECT` with 2xx would have hyper turn
/// the connection into a tunnel nobody serves. So `CONNECT` is 501 on
/// HTTP/1.1 and on HTTP/2 (where only the WebSocket's extended `CONNECT`
/// goes on, tested in websocket.rs).
#[tokio::test]
async fn connect_is_501() {
    let server = start(Reflect).await;
    assert_refused(
        &server,
        "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n",
        501,
    )
    .await;

    let mut h2 = h2c(server.addr).await;
    let request = Request::connect("a.example:443")
        .body(full(Bytes::new()))
        .unwrap();
    let response = bounded("h2 CONNECT", h2.send_request(request))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_IMPLEMENTED);
    assert_eq!(body_of(response).await, "");
    // The HTTP/2 connection goes on: only that stream was refused.
    let request = Request::get(format!("http://{}/h2", server.addr))
        .body(full(Bytes::new()))
        .unwrap();
    let response = bounded("h2 GET", h2.send_request(request)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        body_of(response).await,
        format!("GET /h2 host=[{:?}]", server.addr.to_string())
    );
    assert_still_serving(&server).await;
}

/// RFC 9112 §3.2.3-§3.2.4: the asterisk form is only for OPTIONS, the
/// authority form only for CONNECT.
#[tokio::test]
async fn the_asterisk_form_is_only_for_options() {
    let server = start(Reflect).await;
    assert_refused(&server, "GET * HTTP/1.1\r\nHost: t\r\n\r\n", 400).await;
    assert_eq!(
        seen(
            &server,
            "OPTIONS * HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        )
        .await,
        "OPTIONS * host=[\"t\"]"
    );
    assert_refused(
        &server,
        "GET a.example:80 HTTP/1.1\r\nHost: a.example\r\n\r\n",
        400,
    )
    .await;
    assert_still_serving(&server).await;
}
