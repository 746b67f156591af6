//! Chunked request bodies with broken or hostile framing (RFC 9112 §7.1):
//! refused with 400 (413 over the limit) and a close, never handed to the
//! app truncated, never a hang.

mod common;

use common::*;
use tokio::io::AsyncWriteExt;

const HEAD: &str = "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";

fn chunked(body: &[u8]) -> Vec<u8> {
    [HEAD.as_bytes(), body].concat()
}

#[tokio::test]
async fn broken_chunk_framing_gets_400() {
    let server = start(Reflect).await;
    let long_ext = format!("5;{}\r\nhello\r\n0\r\n\r\n", "e".repeat(5000));
    let size_33_digits = format!("{}5\r\nhello\r\n0\r\n\r\n", "0".repeat(32));
    let cases: Vec<&[u8]> = vec![
        // Sizes: overflow, sign, hex prefix, none, non-hex.
        b"ffffffffffffffffff\r\n",
        b"10000000000000000\r\n",
        b"-5\r\nhello\r\n0\r\n\r\n",
        b"+5\r\nhello\r\n0\r\n\r\n",
        b"0x5\r\nhello\r\n0\r\n\r\n",
        b"\r\nhello\r\n0\r\n\r\n",
        b";ext\r\nhello\r\n0\r\n\r\n",
        b"5g\r\nhello\r\n0\r\n\r\n",
        b"5 5\r\nhello\r\n0\r\n\r\n",
        size_33_digits.as_bytes(),
        // Line endings: bare LF and bare CR are not CRLF. The head may end
        // lines with LF alone (RFC 9112 §2.2), the chunked framing may not:
        // lenient chunk parsing is a known smuggling vector.
        b"5\nhello\r\n0\r\n\r\n",
        b"5\r\nhello\n0\r\n\r\n",
        b"5\r\nhello\r\n0\n\n",
        b"5\rhello\r\n0\r\n\r\n",
        b"5\r\nhello\r0\r\n\r\n",
        // Data longer or shorter than its size.
        b"5\r\nhello world\r\n0\r\n\r\n",
        b"5\r\nhel\r\n0\r\n\r\n",
        b"5\r\nhelloXY0\r\n\r\n",
        // Controls inside an extension, and an extension over the bound.
        b"5;a=\x00\r\nhello\r\n0\r\n\r\n",
        b"5;a\nb\r\nhello\r\n0\r\n\r\n",
        long_ext.as_bytes(),
        // Trailer section: a bare LF, a NUL, a bad final line.
        b"0\r\nX: a\nb\r\n\r\n",
        b"0\r\nX: a\x00\r\n\r\n",
        b"0\r\n\r\r",
        // Trailer lines are field lines (RFC 9112 §7.1.2): without a colon,
        // or folded, they are refused. A last chunk missing its final CRLF
        // must not swallow the request behind it as trailers (found by the
        // differential test against hyper, RELIABILITY.md).
        b"0\r\nT v\r\n\r\n",
        b"0\r\nT: v\r\n folded\r\n\r\n",
        b"5\r\nhello\r\n0\r\nGET /next HTTP/1.1\r\nHost: t\r\n\r\n",
    ];
    for body in cases {
        assert_refused(&server, &chunked(body), 400).await;
    }
    assert_still_serving(&server).await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn odd_but_valid_chunking_is_accepted() {
    let server = start(Reflect).await;
    let many_zeros = format!("{}5\r\nhello\r\n0\r\n\r\n", "0".repeat(31));
    let cases: Vec<(&[u8], &str)> = vec![
        // Extensions, quoted strings with escapes and `;` inside, BWS.
        (b"5;a=\"b;c\\\"d\";e\r\nhello\r\n0;last\r\n\r\n", "hello"),
        (b"5 ;a = b\r\nhello\r\n0\r\n\r\n", "hello"),
        (b"5\t;x\r\nhello\r\n0\r\n\r\n", "hello"),
        // Upper and lower case hex, leading zeros, empty chunks mid-body
        // are not allowed (a 0 chunk ends it), many tiny chunks.
        (
            b"A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n",
            "0123456789abcdefghij",
        ),
        (many_zeros.as_bytes(), "hello"),
        (b"1\r\na\r\n1\r\nb\r\n1\r\nc\r\n0\r\n\r\n", "abc"),
        // Trailers, including fields that are not allowed there (RFC 9110
        // §6.5.1): they are discarded, never merged into the head.
        (
            b"3\r\nabc\r\n0\r\nX-Checksum: 1\r\nContent-Length: 99\r\nHost: evil\r\n\r\n",
            "abc",
        ),
    ];
    for (body, want) in cases {
        let mut client = server.connect().await;
        let r = client.request(&chunked(body)).await;
        assert_eq!(
            (r.status, r.text()),
            (200, format!("POST /echo host=t body={want}").as_str()),
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn trailer_section_over_its_bound_gets_400() {
    // The trailer section is bounded (16 KiB) like a head; endless trailer
    // lines cannot keep the server reading and buffering.
    let server = start(Reflect).await;
    let mut body = b"3\r\nabc\r\n0\r\n".to_vec();
    for i in 0..1000 {
        body.extend_from_slice(format!("X-Trailer-{i}: {}\r\n", "v".repeat(20)).as_bytes());
    }
    body.extend_from_slice(b"\r\n");
    assert_refused(&server, &chunked(&body), 400).await;
    assert_still_serving(&server).await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn an_endless_chunk_hits_the_body_limit() {
    // A chunk announcing u64::MAX bytes is only as dangerous as the bytes
    // that follow: they count against `max_body_bytes` (413).
    let mut config = test_config();
    config.max_body_bytes = Some(1000);
    let server = start_with(Reflect, config).await;
    let mut body = b"ffffffffffffffff\r\n".to_vec();
    body.extend_from_slice(&[b'x'; 2000]);
    assert_refused(&server, &chunked(&body), 413).await;
    assert_still_serving(&server).await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn chunked_body_fed_one_byte_at_a_time() {
    let server = start(Reflect).await;
    let mut client = server.connect().await;
    let raw = chunked(b"5;x=\"y\"\r\nhello\r\n6\r\n world\r\n0\r\nT: 1\r\n\r\n");
    for b in &raw {
        client.send(&[*b]).await;
    }
    let r = client.read_response().await;
    assert_eq!(r.text(), "POST /echo host=t body=hello world");
    // And the connection is still good for the next request.
    let r = client.request(&get("/next")).await;
    assert_eq!(r.text(), "GET /next host=test body=");
    server.stop().await.unwrap();
}

/// A body that ends in the middle (the client half-closes or goes away):
/// the app sees `Disconnect`, never a short body as complete, and the
/// server closes without a response. RFC 9112 §8 lets a server answer an
/// incomplete message with an error ("MAY"); the client that cut its own
/// request short gets the close, as from hyper and uvicorn.
#[tokio::test]
async fn a_body_cut_short_is_a_disconnect_not_a_short_body() {
    let server = start(Reflect).await;
    for raw in [
        chunked(b"5\r\nhel"),
        chunked(b"5\r\nhello\r\n"),
        chunked(b"5\r\nhello\r\n0\r\n"),
        chunked(b"5\r\nhello\r\n0\r\nTrailer: x\r\n"),
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhel".to_vec(),
    ] {
        let mut client = server.connect().await;
        client.send(&raw).await;
        client.stream.shutdown().await.unwrap();
        let rest = client.read_to_eof().await;
        assert!(
            rest.is_empty(),
            "{:?} got {:?}",
            String::from_utf8_lossy(&raw),
            String::from_utf8_lossy(&rest)
        );
    }
    assert_still_serving(&server).await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn an_unread_broken_body_closes_after_the_response() {
    // The app answers without reading; the broken framing behind the head
    // is never taken as a next request: the connection closes.
    let server = start(PathNoRead).await;
    let mut raw = chunked(b"zz\r\nGET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n");
    raw.extend_from_slice(&get("/after"));
    let mut client = server.connect().await;
    client.send(&raw).await;
    let r = client.read_response().await;
    assert_eq!((r.status, r.text()), (200, "/echo"));
    client.assert_closed().await;
    server.stop().await.unwrap();
}
