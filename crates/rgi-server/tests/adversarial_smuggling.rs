//! Request smuggling: every way two parties could disagree on where a
//! request body ends. The server either frames the body exactly one way or
//! refuses with 400/501 and closes; bytes that might be a hidden request
//! are never parsed as one (RFC 9112 §6.1, §6.3, §11.2).

mod common;

use common::*;

/// A request that, if the server took the wrong framing, would surface as
/// a second response to `/smuggled`.
const SMUGGLED: &str = "GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n";

#[tokio::test]
async fn content_length_with_transfer_encoding_is_refused_in_any_order() {
    let server = start(Reflect).await;
    let body = format!("0\r\n\r\n{SMUGGLED}");
    for fields in [
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
        "Transfer-Encoding: CHUNKED\r\nContent-Length: 5\r\n",
        "Transfer-Encoding:\tchunked\r\nContent-Length: 5\r\n",
        "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n",
        "Content-Length: 5\r\nTransfer-Encoding: identity\r\n",
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
    ] {
        let raw = format!("POST / HTTP/1.1\r\nHost: t\r\n{fields}\r\n{body}");
        // RFC 9112 §6.1: such a message "ought to be handled as an error";
        // §6.3 point 3 allows processing by Transfer-Encoding, but
        // refusing is the only answer no upstream can disagree with.
        assert_refused(&server, raw.as_bytes(), 400).await;
    }
    assert_still_serving(&server).await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn transfer_encoding_variants() {
    let server = start(Reflect).await;
    // Accepted as chunked: coding names are case-insensitive (RFC 9110
    // §10.1.4), whitespace around a field value is not part of it (RFC 9110
    // §5.5), empty list elements are ignored (RFC 9110 §5.6.1).
    for te in [
        "chunked",
        "Chunked",
        "CHUNKED",
        "\tchunked ",
        ",chunked",
        "chunked,",
    ] {
        let raw = format!(
            "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: {te}\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        );
        let mut client = server.connect().await;
        let r = client.request(raw.as_bytes()).await;
        assert_eq!(
            (r.status, r.text()),
            (200, "POST / host=t body=abc"),
            "{te:?}"
        );
    }
    // Chunked not last, chunked twice, an empty list: the length cannot be
    // determined, 400 (RFC 9112 §6.3 point 4).
    for fields in [
        "Transfer-Encoding: chunked, identity\r\n",
        "Transfer-Encoding: chunked, chunked\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: \r\n",
        "Transfer-Encoding: \r\n",
        "Transfer-Encoding: ,\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n",
    ] {
        let raw =
            format!("POST / HTTP/1.1\r\nHost: t\r\n{fields}\r\n3\r\nabc\r\n0\r\n\r\n{SMUGGLED}");
        assert_refused(&server, raw.as_bytes(), 400).await;
    }
    // A coding the server does not know, with chunked last or not at all:
    // 501 (RFC 9112 §6.1 "SHOULD respond with 501"). `xchunked` and a
    // quoted `"chunked"` are not `chunked`.
    for te in [
        "identity",
        "xchunked",
        "\"chunked\"",
        "chunked;q=1",
        "gzip, chunked",
        "x",
    ] {
        let raw = format!(
            "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: {te}\r\n\r\n3\r\nabc\r\n0\r\n\r\n{SMUGGLED}"
        );
        assert_refused(&server, raw.as_bytes(), 501).await;
    }
    // Whitespace between the field name and the colon: 400, never a
    // different header (RFC 9112 §5.1 "MUST respond with 400").
    let raw = format!(
        "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n{SMUGGLED}"
    );
    assert_refused(&server, raw.as_bytes(), 400).await;
    // Transfer-Encoding on HTTP/1.0: faulty framing (RFC 9112 §6.1).
    let raw = format!("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{SMUGGLED}");
    assert_refused(&server, raw.as_bytes(), 400).await;
    assert_still_serving(&server).await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn content_length_variants() {
    let server = start(Reflect).await;
    // `Content-Length = 1*DIGIT` (RFC 9110 §8.6): no sign, no hex, no list,
    // no inner space, no overflow, no empty value, no non-ASCII digit.
    for cl in [
        "+5",
        "-5",
        "-1",
        "5,5",
        "5, 5",
        "5 5",
        "0x5",
        "5.0",
        "5e0",
        "",
        "18446744073709551616",
        "99999999999999999999999999",
        "\u{0665}",
    ] {
        let raw =
            format!("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: {cl}\r\n\r\nhello{SMUGGLED}");
        assert_refused(&server, raw.as_bytes(), 400).await;
    }
    // Two differing lines: 400 (RFC 9112 §6.3 point 5).
    let raw = format!(
        "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\ncontent-length: 50\r\n\r\nhello{SMUGGLED}"
    );
    assert_refused(&server, raw.as_bytes(), 400).await;
    // Accepted: surrounding whitespace is not part of the value (RFC 9110
    // §5.5), leading zeros are digits, and identical repeated lines may be
    // taken as one (RFC 9110 §8.6 "MUST either reject ... or replace").
    for fields in [
        "Content-Length:  5 ",
        "Content-Length:\t5\t",
        "Content-Length: 00000000000000000000000005",
        "Content-Length: 5\r\nContent-Length: 5",
    ] {
        let raw = format!("POST / HTTP/1.1\r\nHost: t\r\n{fields}\r\n\r\nhello");
        let mut client = server.connect().await;
        let r = client.request(raw.as_bytes()).await;
        assert_eq!(
            (r.status, r.text()),
            (200, "POST / host=t body=hello"),
            "{fields:?}"
        );
    }
    assert_still_serving(&server).await;
    server.stop().await.unwrap();
}

/// A body the app does not read is never parsed as a request, whether it
/// is already buffered, arrives later, or is chunked (rule HTTP-015).
#[tokio::test]
async fn an_unread_body_is_never_parsed_as_a_request() {
    let server = start(PathNoRead).await;
    // Buffered with the head, by length and chunked, then a real request.
    let chunked_body = format!("{:x}\r\n{SMUGGLED}\r\n0\r\n\r\n", SMUGGLED.len());
    let raw = format!(
        "POST /first HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{SMUGGLED}\
         POST /second HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{chunked_body}\
         GET /third HTTP/1.1\r\nHost: t\r\n\r\n",
        SMUGGLED.len()
    );
    let mut client = server.connect().await;
    client.send(raw.as_bytes()).await;
    for path in ["/first", "/second", "/third"] {
        let r = client.read_response().await;
        assert_eq!((r.status, r.text()), (200, path));
    }
    assert!(
        client
            .nothing_within(std::time::Duration::from_millis(200))
            .await
    );

    // The body arrives after the response went out: the server must skip
    // it (or close), not read it as the next head.
    let mut client = server.connect().await;
    let head = format!(
        "POST /late HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        SMUGGLED.len()
    );
    client.send(head.as_bytes()).await;
    let r = client.read_response().await;
    assert_eq!(r.text(), "/late");
    let _ = client.try_send(SMUGGLED.as_bytes()).await;
    let rest = client.read_to_eof_or_idle().await;
    assert!(
        !String::from_utf8_lossy(&rest).contains("/smuggled"),
        "a late body was parsed as a request: {:?}",
        String::from_utf8_lossy(&rest)
    );
    assert_still_serving(&server).await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_refused_request_is_answered_after_the_good_ones_before_it() {
    let server = start(Reflect).await;
    let raw = format!(
        "GET /one HTTP/1.1\r\nHost: t\r\n\r\n\
         POST /two HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc\
         POST /bad HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n\
         {SMUGGLED}"
    );
    let mut client = server.connect().await;
    client.send(raw.as_bytes()).await;
    let r = client.read_response().await;
    assert_eq!(r.text(), "GET /one host=t body=");
    let r = client.read_response().await;
    assert_eq!(r.text(), "POST /two host=t body=abc");
    let r = client.read_response().await;
    assert_eq!(r.status, 400);
    assert_eq!(r.header("connection"), Some("close"));
    client.assert_closed().await;
    assert_still_serving(&server).await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn trailer_fields_never_reframe_the_message() {
    let server = start(Reflect).await;
    // Framing fields in the trailer section are discarded (RFC 9110 §6.5.1:
    // trailers must not carry framing); the next request is read where the
    // chunked body really ended.
    let raw = "POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
               3\r\nabc\r\n0\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\nHost: evil\r\n\r\n\
               GET /b HTTP/1.1\r\nHost: t\r\n\r\n";
    let mut client = server.connect().await;
    client.send(raw.as_bytes()).await;
    assert_eq!(
        client.read_response().await.text(),
        "POST /a host=t body=abc"
    );
    assert_eq!(client.read_response().await.text(), "GET /b host=t body=");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_hundred_mixed_pipelined_requests_in_one_write() {
    let server = start(Reflect).await;
    let mut raw = Vec::new();
    for i in 0..100 {
        let req = match i % 3 {
            0 => format!("GET /{i} HTTP/1.1\r\nHost: t\r\n\r\n"),
            1 => format!("POST /{i} HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{:02}", i % 100),
            _ => format!(
                "POST /{i} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1;x=y\r\nc\r\n0\r\nT: v\r\n\r\n"
            ),
        };
        raw.extend_from_slice(req.as_bytes());
    }
    let mut client = server.connect().await;
    client.send(&raw).await;
    for i in 0..100 {
        let want = match i % 3 {
            0 => format!("GET /{i} host=t body="),
            1 => format!("POST /{i} host=t body={:02}", i % 100),
            _ => format!("POST /{i} host=t body=c"),
        };
        assert_eq!(client.read_response().await.text(), want);
    }
    server.stop().await.unwrap();
}
