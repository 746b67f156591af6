//! Apps that break the rules: bodies where none may go, lying
//! content-lengths, hop-by-hop headers, panics anywhere. The wire stays
//! valid HTTP/1.1 whatever the app does, and other requests are served.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use http::{HeaderMap, StatusCode};
use rgi::{App, AppResult, Conn, HttpSend, ResponseStart};

/// Misbehaves according to the path.
struct Rogue;

/// How many body events for HEAD / 204 / 304 the server refused citing
/// HTTP-025 (only `no_body_bytes_for_head_204_304_whatever_the_app_sends`
/// sends such requests).
static REFUSED_NO_BODY: AtomicUsize = AtomicUsize::new(0);

/// Sends `event`; a refusal citing HTTP-025 is counted, any other outcome
/// ignored: the test looks at the wire and the count.
async fn send_counting_refusal(http: &mut rgi::HttpConn<'_>, event: HttpSend) {
    if let Err(rgi::Error::Protocol {
        rule: "HTTP-025", ..
    }) = http.send(event).await
    {
        REFUSED_NO_BODY.fetch_add(1, Ordering::SeqCst);
    }
}

fn start_with_headers(status: u16, headers: &[(&'static str, &'static str)]) -> HttpSend {
    let mut start = ResponseStart::new(StatusCode::from_u16(status).unwrap());
    for (name, value) in headers {
        start = start.header(http::HeaderName::from_static(name), *value);
    }
    HttpSend::Start(start)
}

impl App for Rogue {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        let path = http.scope.path.clone();
        match path.as_str() {
            // A body for HEAD / 204 / 304 (breaks HTTP-025): the server
            // refuses it (CORE-012) and never puts it on the wire; the
            // app then ends the body as it should.
            "/body" | "/204" | "/304" => {
                let status = match path.as_str() {
                    "/204" => 204,
                    "/304" => 304,
                    _ => 200,
                };
                http.send(start_with_headers(status, &[("content-length", "5")]))
                    .await?;
                send_counting_refusal(&mut http, HttpSend::body("hello")).await;
                let _ = http.send(HttpSend::body("")).await;
                Ok(())
            }
            "/stream-body" => {
                http.send(start_with_headers(200, &[])).await?;
                send_counting_refusal(&mut http, HttpSend::chunk("hel")).await;
                send_counting_refusal(&mut http, HttpSend::body("lo")).await;
                let _ = http.send(HttpSend::body("")).await;
                Ok(())
            }
            // content-length 10, 5 bytes: the connection is aborted.
            "/short" => {
                http.send(start_with_headers(200, &[("content-length", "10")]))
                    .await?;
                http.send(HttpSend::chunk("12345")).await?;
                http.send(HttpSend::flush()).await?;
                http.send(HttpSend::body("")).await?;
                Ok(())
            }
            // content-length 5, 15 bytes: refused; the app fails.
            "/long" => {
                http.send(start_with_headers(200, &[("content-length", "5")]))
                    .await?;
                http.send(HttpSend::body("123456789012345")).await?;
                Ok(())
            }
            "/long-streamed" => {
                http.send(start_with_headers(200, &[("content-length", "5")]))
                    .await?;
                http.send(HttpSend::chunk("123")).await?;
                http.send(HttpSend::flush()).await?;
                http.send(HttpSend::body("456")).await?;
                Ok(())
            }
            // Framing and connection fields set by the app (HTTP-023):
            // each is refused at Start, which leaves the response
            // unstarted (CORE-012); the app then starts it properly and
            // reports the rules cited in `x-refused`.
            "/hop-by-hop" => {
                let mut refused = Vec::new();
                for field in [
                    ("transfer-encoding", "chunked"),
                    ("connection", "keep-alive, upgrade"),
                    ("keep-alive", "timeout=999"),
                    ("upgrade", "h2c"),
                    ("proxy-connection", "keep-alive"),
                    ("te", "trailers"),
                ] {
                    match http
                        .send(start_with_headers(200, &[field, ("x-kept", "yes")]))
                        .await
                    {
                        Err(rgi::Error::Protocol { rule, .. }) => refused.push(rule),
                        _ => refused.push("accepted"),
                    }
                }
                let start = ResponseStart::new(StatusCode::OK)
                    .header(http::HeaderName::from_static("x-kept"), "yes")
                    .header(
                        http::HeaderName::from_static("x-refused"),
                        refused.join(","),
                    );
                http.send(HttpSend::Start(start)).await?;
                http.send(HttpSend::body("hello")).await?;
                Ok(())
            }
            "/bad-length" => {
                http.send(start_with_headers(200, &[("content-length", "5, 5")]))
                    .await?;
                http.send(HttpSend::body("hello")).await?;
                Ok(())
            }
            "/panic-reading" => {
                let _ = http.recv().await;
                panic!("panicked while reading the body");
            }
            "/panic-non-string" => std::panic::panic_any(42_u32),
            "/panic-after-complete" => {
                http.respond(StatusCode::OK, HeaderMap::new(), "done")
                    .await?;
                panic!("panicked after the response was complete");
            }
            "/error-after-complete" => {
                http.respond(StatusCode::OK, HeaderMap::new(), "done")
                    .await?;
                Err("failed after the response was complete".into())
            }
            "/start-twice" => {
                http.send(start_with_headers(200, &[])).await?;
                // Refused (HTTP-020); the app ignores the error and goes on.
                let _ = http.send(start_with_headers(500, &[])).await;
                http.send(HttpSend::body("first start wins")).await?;
                Ok(())
            }
            _ => {
                http.respond(StatusCode::OK, HeaderMap::new(), "ok").await?;
                Ok(())
            }
        }
    }
}

/// The connection still serves a request after the one under test.
async fn next_on_same_connection(client: &mut Client) {
    let r = client.request(&get("/")).await;
    assert_eq!((r.status, r.text()), (200, "ok"));
}

#[tokio::test]
async fn no_body_bytes_for_head_204_304_whatever_the_app_sends() {
    let server = start(Rogue).await;
    let mut client = server.connect().await;
    // HEAD: the app's content-length is kept (HTTP-026), its bytes are not.
    client.send(b"HEAD /body HTTP/1.1\r\nHost: t\r\n\r\n").await;
    let r = client.read_response_to(true).await;
    assert_eq!((r.status, r.header("content-length")), (200, Some("5")));
    next_on_same_connection(&mut client).await;
    client
        .send(b"HEAD /stream-body HTTP/1.1\r\nHost: t\r\n\r\n")
        .await;
    let r = client.read_response_to(true).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("transfer-encoding"), None);
    next_on_same_connection(&mut client).await;
    // 204 drops content-length, 304 keeps it; neither has body bytes. A
    // stray "hello" would show up as a bad status line in the next read.
    let r = client.request(&get("/204")).await;
    assert_eq!((r.status, r.header("content-length")), (204, None));
    next_on_same_connection(&mut client).await;
    let r = client.request(&get("/304")).await;
    assert_eq!((r.status, r.header("content-length")), (304, Some("5")));
    next_on_same_connection(&mut client).await;
    // Every body event with bytes was refused citing HTTP-025: HEAD /body
    // (1), HEAD /stream-body (2), /204 (1), /304 (1).
    assert_eq!(REFUSED_NO_BODY.load(Ordering::SeqCst), 5);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_lying_content_length_never_reaches_the_client_as_complete() {
    let server = start(Rogue).await;
    // Too short: head and the 5 bytes, then the connection ends, so the
    // client sees a truncated message (RFC 9112 §8), never a complete one.
    let raw = server.exchange_raw(&get("/short")).await;
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text:?}");
    assert!(text.contains("content-length: 10\r\n"), "{text:?}");
    assert!(text.ends_with("\r\n\r\n12345"), "{text:?}");
    // Too long in one piece: refused before the head went out; nothing of
    // the response is on the wire and the connection is aborted.
    let raw = server.exchange_raw(&get("/long")).await;
    assert!(raw.is_empty(), "{:?}", String::from_utf8_lossy(&raw));
    // Too long, streamed: the excess chunk is refused, the connection
    // aborted after the 3 bytes that fit.
    let raw = server.exchange_raw(&get("/long-streamed")).await;
    let text = String::from_utf8_lossy(&raw);
    assert!(text.contains("content-length: 5\r\n"), "{text:?}");
    assert!(text.ends_with("\r\n\r\n123"), "{text:?}");
    // A malformed content-length from the app is refused at Start: 500.
    let mut client = server.connect().await;
    let r = client.request(&get("/bad-length")).await;
    assert_eq!(r.status, 500);
    assert_still_serving(&server).await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn hop_by_hop_headers_from_the_app_are_refused() {
    let server = start(Rogue).await;
    let mut client = server.connect().await;
    client.send(&get("/hop-by-hop")).await;
    let (status, headers) = client.read_head().await;
    assert_eq!(status, 200);
    let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    for dropped in [
        "transfer-encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "proxy-connection",
        "te",
    ] {
        assert!(!names.contains(&dropped), "{dropped} in {headers:?}");
    }
    assert!(names.contains(&"x-kept"));
    let refused = headers.iter().find(|(n, _)| n == "x-refused");
    assert_eq!(
        refused.map(|(_, v)| v.as_str()),
        Some(["HTTP-023"; 6].join(",").as_str())
    );
    let length = headers.iter().find(|(n, _)| n == "content-length");
    assert_eq!(length.map(|(_, v)| v.as_str()), Some("5"));
    assert_eq!(client.read_exact_raw(5).await, b"hello");
    next_on_same_connection(&mut client).await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn panics_anywhere_are_contained() {
    let server = start(Rogue).await;
    // Before the response: 500 and close (CORE-040).
    for raw in [
        post("/panic-reading", b"some body"),
        get("/panic-non-string"),
    ] {
        let mut client = server.connect().await;
        let r = client.request(&raw).await;
        assert_eq!(r.status, 500);
        assert_eq!(r.header("connection"), Some("close"));
        client.assert_closed().await;
    }
    // After a complete response: the client has its answer; the failure
    // is logged and the connection goes on (nothing on the wire is wrong).
    for path in ["/panic-after-complete", "/error-after-complete"] {
        let mut client = server.connect().await;
        let r = client.request(&get(path)).await;
        assert_eq!((r.status, r.text()), (200, "done"));
        next_on_same_connection(&mut client).await;
    }
    // A second Start is refused; the first one stands.
    let mut client = server.connect().await;
    let r = client.request(&get("/start-twice")).await;
    assert_eq!((r.status, r.text()), (200, "first start wins"));
    assert_still_serving(&server).await;
    server.stop().await.unwrap();
}

/// `Expect` edge cases (RFC 9110 §10.1.1).
#[tokio::test]
async fn expectations() {
    let server = start(Reflect).await;
    let mut client = server.connect().await;
    // The body sent along with the head: the server "MAY omit" the 100;
    // it sends it when the app asks for the body, which clients must
    // accept, and the final response follows.
    client
        .send(b"POST /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello")
        .await;
    let (status, _) = client.read_head().await;
    let r = if status == 100 {
        client.read_response().await
    } else {
        panic!("expected 100 then 200, got {status}")
    };
    assert_eq!(r.text(), "POST /e host=t body=hello");
    // No body: nothing to continue, no 100.
    client
        .send(b"GET /n HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n\r\n")
        .await;
    let r = client.read_response().await;
    assert_eq!((r.status, r.text()), (200, "GET /n host=t body="));
    // An unknown expectation: RFC 9110 §10.1.1 says a server "MAY respond
    // with 417"; like hyper and nginx, this server ignores it and serves
    // the request (the expectation cannot change what it does).
    client
        .send(b"POST /f HTTP/1.1\r\nHost: t\r\nExpect: foo\r\nContent-Length: 2\r\n\r\nhi")
        .await;
    let r = client.read_response().await;
    assert_eq!((r.status, r.text()), (200, "POST /f host=t body=hi"));
    server.stop().await.unwrap();
}

/// An app that never returns, with a client that never reads: graceful
/// shutdown still ends within the drain timeout.
#[tokio::test]
async fn a_stuck_app_cannot_hold_shutdown_past_the_drain_timeout() {
    struct Stuck;
    impl App for Stuck {
        async fn call(&self, conn: Conn<'_>) -> AppResult {
            let Conn::Http(_http) = conn else {
                return conn.unsupported();
            };
            std::future::pending::<()>().await;
            Ok(())
        }
    }
    let mut config = test_config();
    config.drain_timeout = Duration::from_millis(300);
    let mut server = start_with(Stuck, config).await;
    let mut clients = Vec::new();
    for _ in 0..20 {
        let mut client = server.connect().await;
        client.send(&get("/")).await;
        clients.push(client);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.signal_stop();
    server.join().await.unwrap();
    // The dropped connections are closed, not left half-open.
    for mut client in clients {
        let rest = client.read_to_eof().await;
        assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    }
}
