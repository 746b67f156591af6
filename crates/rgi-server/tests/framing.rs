//! Response framing by the server (rules HTTP-024..HTTP-029) and request
//! bodies by Content-Length and chunked.

mod common;

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::*;
use http::{HeaderMap, HeaderValue, StatusCode};
use rgi::{App, AppResult, Conn, HttpSend, ResponseStart};
use tokio::sync::Notify;

/// Errors the app saw from `send`: (scenario, rule id).
type SeenErrors = Arc<Mutex<Vec<(String, Option<&'static str>)>>>;

/// Routes on the path to one framing scenario each.
struct Framer {
    /// Errors the app saw from `send`, by scenario.
    errors: SeenErrors,
    /// Released by the test in the flush scenario.
    go_on: Arc<Notify>,
}

fn start_with_headers(status: u16, headers: &[(&str, &str)]) -> HttpSend {
    let mut start = ResponseStart::new(StatusCode::from_u16(status).unwrap());
    for (name, value) in headers {
        start.headers.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    HttpSend::Start(start)
}

impl App for Framer {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        let path = http.scope.path.clone();
        match path.as_str() {
            "/whole" => {
                http.send(start_with_headers(200, &[])).await?;
                http.send(HttpSend::body("whole body")).await?;
            }
            "/stream" => {
                http.send(start_with_headers(200, &[])).await?;
                for part in ["one,", "two,", "three"] {
                    http.send(HttpSend::chunk(part)).await?;
                }
                http.send(HttpSend::body(Bytes::new())).await?;
            }
            "/big" => {
                // Larger than the copy threshold: written with writev.
                http.send(start_with_headers(200, &[])).await?;
                http.send(HttpSend::chunk(vec![b'x'; 100_000])).await?;
                http.send(HttpSend::body(vec![b'y'; 50_000])).await?;
            }
            "/excess" => {
                http.send(start_with_headers(200, &[("content-length", "5")]))
                    .await?;
                let refused = http.send(HttpSend::body("too long")).await;
                self.errors
                    .lock()
                    .unwrap()
                    .push((path.clone(), refused.err().and_then(|e| e.rule())));
                http.send(HttpSend::body("hello")).await?;
            }
            "/short" => {
                http.send(start_with_headers(200, &[("content-length", "10")]))
                    .await?;
                http.send(HttpSend::chunk("short")).await?;
                let result = http.send(HttpSend::body(Bytes::new())).await;
                let rule = result.as_ref().err().and_then(|e| e.rule());
                self.errors.lock().unwrap().push((path.clone(), rule));
                result?;
            }
            "/204" => {
                http.send(start_with_headers(204, &[("content-length", "0")]))
                    .await?;
                http.send(HttpSend::body(Bytes::new())).await?;
            }
            "/304" => {
                http.send(start_with_headers(304, &[("content-length", "42")]))
                    .await?;
                http.send(HttpSend::body(Bytes::new())).await?;
            }
            "/flush" => {
                http.send(start_with_headers(200, &[])).await?;
                http.send(HttpSend::flush()).await?;
                self.go_on.notified().await;
                http.send(HttpSend::body("after flush")).await?;
            }
            "/own-headers" => {
                http.send(start_with_headers(
                    200,
                    &[
                        ("date", "Thu, 01 Jan 1970 00:00:00 GMT"),
                        ("server", "mine"),
                        ("x-custom", "a"),
                        ("x-custom", "b"),
                    ],
                ))
                .await?;
                http.send(HttpSend::body("own")).await?;
            }
            "/app-close" => {
                // `connection: close` is the one connection field an app
                // may set: it asks for a close after this response
                // (HTTP-036); the server writes its own `connection` field.
                http.send(start_with_headers(200, &[("connection", "close")]))
                    .await?;
                http.send(HttpSend::body("bye")).await?;
            }
            "/app-keep-alive" => {
                // Any other `connection` value is the server's (HTTP-023):
                // refused at Start, which leaves the response unstarted
                // (CORE-012).
                let refused = match http
                    .send(start_with_headers(200, &[("connection", "keep-alive")]))
                    .await
                {
                    Err(rgi::Error::Protocol { rule, .. }) => rule,
                    Err(e) => return Err(e.into()),
                    Ok(()) => "nothing",
                };
                http.send(start_with_headers(200, &[("x-refused", refused)]))
                    .await?;
                http.send(HttpSend::body("bye")).await?;
            }
            "/trailers" => {
                http.send(HttpSend::Start(
                    ResponseStart::new(StatusCode::OK).with_trailers(),
                ))
                .await?;
                http.send(HttpSend::body("with trailers")).await?;
                let mut trailers = HeaderMap::new();
                trailers.insert("x-checksum", HeaderValue::from_static("abc"));
                http.send(HttpSend::Trailers(trailers)).await?;
            }
            "/hints" => {
                let mut hints = HeaderMap::new();
                hints.insert(
                    "link",
                    HeaderValue::from_static("</style.css>; rel=preload"),
                );
                http.send(HttpSend::EarlyHints(hints)).await?;
                http.send(start_with_headers(200, &[])).await?;
                http.send(HttpSend::body("hinted")).await?;
            }
            _ => {
                let body = http.read_body(1 << 20).await?;
                http.respond(StatusCode::OK, HeaderMap::new(), body).await?;
            }
        }
        Ok(())
    }
}

fn framer() -> (Framer, SeenErrors, Arc<Notify>) {
    let errors = Arc::new(Mutex::new(Vec::new()));
    let go_on = Arc::new(Notify::new());
    (
        Framer {
            errors: errors.clone(),
            go_on: go_on.clone(),
        },
        errors,
        go_on,
    )
}

#[tokio::test]
async fn whole_body_gets_content_length_date_and_server() {
    let (app, _, _) = framer();
    let server = start(app).await;
    let mut client = server.connect().await;
    let r = client.request(&get("/whole")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("10"));
    assert_eq!(r.header("transfer-encoding"), None);
    assert_eq!(r.header("server"), Some("rgi"));
    let date = r.header("date").expect("date header");
    httpdate::parse_http_date(date).expect("IMF-fixdate");
    assert_eq!(r.text(), "whole body");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn streamed_body_is_chunked_on_http11() {
    let (app, _, _) = framer();
    let server = start(app).await;
    let raw = server
        .exchange_raw(b"GET /stream HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await;
    let text = String::from_utf8(raw).unwrap();
    assert!(text.contains("transfer-encoding: chunked\r\n"), "{text}");
    assert!(!text.contains("content-length"), "{text}");
    assert!(
        text.ends_with("\r\n\r\n4\r\none,\r\n4\r\ntwo,\r\n5\r\nthree\r\n0\r\n\r\n"),
        "{text}"
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn large_chunks_arrive_intact() {
    let (app, _, _) = framer();
    let server = start(app).await;
    let mut client = server.connect().await;
    let r = client.request(&get("/big")).await;
    assert!(r.chunked);
    assert_eq!(r.body.len(), 150_000);
    assert!(r.body[..100_000].iter().all(|&b| b == b'x'));
    assert!(r.body[100_000..].iter().all(|&b| b == b'y'));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn streamed_body_is_close_delimited_on_http10() {
    let (app, _, _) = framer();
    let server = start(app).await;
    let raw = server
        .exchange_raw(b"GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .await;
    let text = String::from_utf8(raw).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("connection: close\r\n"), "{text}");
    assert!(!text.contains("transfer-encoding") && !text.contains("content-length"));
    assert!(text.ends_with("\r\n\r\none,two,three"), "{text}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn bytes_beyond_content_length_are_refused() {
    let (app, errors, _) = framer();
    let server = start(app).await;
    let mut client = server.connect().await;
    let r = client.request(&get("/excess")).await;
    assert_eq!((r.status, r.text()), (200, "hello"));
    assert_eq!(r.header("content-length"), Some("5"));
    // The connection is still usable: nothing extra was written.
    let r = client.request(&get("/whole")).await;
    assert_eq!(r.text(), "whole body");
    assert_eq!(
        errors.lock().unwrap().as_slice(),
        [("/excess".to_owned(), Some("HTTP-024"))]
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn short_body_aborts_the_connection() {
    let (app, errors, _) = framer();
    let server = start(app).await;
    let mut client = server.connect().await;
    client.send(&get("/short")).await;
    let (status, headers) = client.read_head().await;
    assert_eq!(status, 200);
    assert!(headers.contains(&("content-length".into(), "10".into())));
    let rest = client.read_to_eof().await;
    assert_eq!(rest, b"short", "the connection closes short of 10 bytes");
    assert_eq!(
        errors.lock().unwrap().as_slice(),
        [("/short".to_owned(), Some("HTTP-024"))]
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn no_body_for_204_and_304() {
    let (app, _, _) = framer();
    let server = start(app).await;
    let mut client = server.connect().await;
    let r = client.request(&get("/204")).await;
    assert_eq!(r.status, 204);
    assert_eq!(r.header("content-length"), None, "dropped on 204");
    assert_eq!(r.header("transfer-encoding"), None);
    let r = client.request(&get("/304")).await;
    assert_eq!(r.status, 304);
    assert_eq!(r.header("content-length"), Some("42"), "kept on 304");
    // Nothing was written after either head: the next response parses.
    let r = client.request(&get("/whole")).await;
    assert_eq!(r.text(), "whole body");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn empty_chunk_flushes_the_head() {
    let (app, _, go_on) = framer();
    let server = start(app).await;
    let mut client = server.connect().await;
    client.send(&get("/flush")).await;
    let (status, headers) = client.read_head().await;
    assert_eq!(status, 200);
    assert!(headers.contains(&("transfer-encoding".into(), "chunked".into())));
    go_on.notify_one();
    let rest = client
        .read_exact_raw(b"b\r\nafter flush\r\n0\r\n\r\n".len())
        .await;
    assert_eq!(
        rest, b"b\r\nafter flush\r\n0\r\n\r\n",
        "no empty chunk was written"
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn app_date_and_server_kept_hop_by_hop_dropped() {
    let (app, _, _) = framer();
    let server = start(app).await;
    let mut client = server.connect().await;
    let r = client.request(&get("/own-headers")).await;
    assert_eq!(r.header("date"), Some("Thu, 01 Jan 1970 00:00:00 GMT"));
    assert_eq!(r.header("server"), Some("mine"));
    assert_eq!(r.headers.iter().filter(|(n, _)| n == "date").count(), 1);
    assert_eq!(r.headers.iter().filter(|(n, _)| n == "server").count(), 1);
    let custom: Vec<_> = r.headers.iter().filter(|(n, _)| n == "x-custom").collect();
    assert_eq!(custom.len(), 2);
    assert_eq!(r.text(), "own");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn server_header_can_be_turned_off() {
    let (app, _, _) = framer();
    let mut config = test_config();
    config.server_header = None;
    let server = start_with(app, config).await;
    let mut client = server.connect().await;
    let r = client.request(&get("/whole")).await;
    assert_eq!(r.header("server"), None);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn app_connection_close_is_honoured() {
    let (app, _, _) = framer();
    let server = start(app).await;
    let mut client = server.connect().await;
    let r = client.request(&get("/app-close")).await;
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(r.text(), "bye");
    client.assert_closed().await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn other_app_connection_values_are_refused_and_the_connection_goes_on() {
    let (app, _, _) = framer();
    let server = start(app).await;
    let mut client = server.connect().await;
    let r = client.request(&get("/app-keep-alive")).await;
    assert_eq!(r.header("x-refused"), Some("HTTP-023"));
    assert_eq!(r.header("connection"), None);
    assert_eq!(r.text(), "bye");
    let r = client.request(&get("/whole")).await;
    assert_eq!(r.status, 200);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn trailers_sent_when_the_client_accepts_them() {
    let (app, _, _) = framer();
    let server = start(app).await;
    let mut client = server.connect().await;
    let r = client
        .request(b"GET /trailers HTTP/1.1\r\nHost: t\r\nTE: trailers\r\n\r\n")
        .await;
    assert!(r.chunked);
    assert_eq!(r.text(), "with trailers");
    assert_eq!(r.trailers, [("x-checksum".to_owned(), "abc".to_owned())]);
    // Without TE: trailers they are dropped and the body framed by length.
    let r = client.request(&get("/trailers")).await;
    assert_eq!(r.header("content-length"), Some("13"));
    assert_eq!(r.text(), "with trailers");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn early_hints_precede_the_response() {
    let (app, _, _) = framer();
    let server = start(app).await;
    let mut client = server.connect().await;
    client.send(&get("/hints")).await;
    let (status, headers) = client.read_head().await;
    assert_eq!(status, 103);
    assert_eq!(
        headers,
        [("link".to_owned(), "</style.css>; rel=preload".to_owned())]
    );
    let r = client.read_response().await;
    assert_eq!((r.status, r.text()), (200, "hinted"));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn request_bodies_by_length_and_chunked() {
    let (app, _, _) = framer();
    let server = start(app).await;
    let mut client = server.connect().await;
    let r = client.request(&post("/echo", b"length body")).await;
    assert_eq!(r.text(), "length body");
    let r = client
        .request(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
              6;name=value\r\nchunk \r\n7\r\nencoded\r\n0\r\nX-Trailer: yes\r\n\r\n",
        )
        .await;
    assert_eq!(r.text(), "chunk encoded");
    // The connection survives both.
    let r = client.request(&post("/echo", b"")).await;
    assert_eq!(r.text(), "");
    server.stop().await.unwrap();
}
