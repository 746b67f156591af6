//! Request lines and header sections that try to confuse the parser: each
//! is refused with its status and a close, or accepted for a stated reason
//! (RFC 9112 §2-§5, RFC 9110 §5, §7.2).

mod common;

use common::*;

/// Sends `raw` and returns the one response the app gave (keep-alive).
async fn accepted(server: &TestServer, raw: &[u8]) -> String {
    let mut client = server.connect().await;
    let r = client.request(raw).await;
    let shown = String::from_utf8_lossy(raw).into_owned();
    assert_eq!(r.status, 200, "for {shown:?}: {}", r.text());
    r.text().to_owned()
}

#[tokio::test]
async fn malformed_request_lines_get_400() {
    let server = start(Reflect).await;
    let cases: &[&[u8]] = &[
        b"GET /\r\nHost: t\r\n\r\n",
        b"GET\r\n\r\n",
        b"/ HTTP/1.1\r\nHost: t\r\n\r\n",
        b" GET / HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET  / HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET / HTTP/1.1 \r\nHost: t\r\n\r\n",
        b"GET /a b HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /a\x00b HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /a\x7fb HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /\tx HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET / http/1.1\r\nHost: t\r\n\r\n",
        b"GET / HTTP/1\r\nHost: t\r\n\r\n",
        b"GET / HTTP/1.1.1\r\nHost: t\r\n\r\n",
        b"G\x00T / HTTP/1.1\r\nHost: t\r\n\r\n",
        b"G(T / HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET\x0b/ HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET / HTTP/1.1\rHost: t\r\n\r\n",
        // Percent escapes that decode to invalid UTF-8 (rule HTTP-003).
        b"GET /%ff%fe HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /%c0%af HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /\xff HTTP/1.1\r\nHost: t\r\n\r\n",
        // Asterisk-form is only for OPTIONS (RFC 9112 §3.2.4), authority-form
        // only for CONNECT (§3.2.3): a `GET *` or `GET host:80` would reach
        // routers with a path that does not start with `/`.
        b"GET * HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET host:80 HTTP/1.1\r\nHost: t\r\n\r\n",
        b"POST * HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
    ];
    for raw in cases {
        assert_refused(&server, raw, 400).await;
    }
    assert_still_serving(&server).await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn other_http_major_versions_get_505() {
    // RFC 9110 §15.6.6: 505 for a major version the server does not
    // support. The HTTP/2 connection preface (RFC 9113 §3.4) sent to an
    // HTTP/1.1-only port gets it too, instead of a puzzling 400.
    let server = start(Reflect).await;
    for raw in [
        &b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[..],
        b"GET / HTTP/2.0\r\nHost: t\r\n\r\n",
        b"GET / HTTP/3.0\r\nHost: t\r\n\r\n",
        b"GET / HTTP/0.9\r\nHost: t\r\n\r\n",
    ] {
        assert_refused(&server, raw, 505).await;
    }
    assert_still_serving(&server).await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn higher_http1_minor_versions_are_served_as_http11() {
    // RFC 9112 §2.3: a server SHOULD answer a higher minor version than
    // it implements as the highest it supports; the scope says HTTP/1.1
    // and so does the response, which keeps the connection alive.
    struct ShowVersion;
    impl rgi::App for ShowVersion {
        async fn call(&self, conn: rgi::Conn<'_>) -> rgi::AppResult {
            let rgi::Conn::Http(mut http) = conn else {
                return conn.unsupported();
            };
            let body = http.read_body(1024).await?;
            let mut out = format!("{:?} {} ", http.scope.version, http.scope.path).into_bytes();
            out.extend_from_slice(&body);
            http.respond(http::StatusCode::OK, http::HeaderMap::new(), out)
                .await?;
            Ok(())
        }
    }
    let server = start(ShowVersion).await;
    let mut client = server.connect().await;
    // Pipelined, one with a body: each is framed as HTTP/1.1 would be.
    client
        .send(
            b"GET /nine HTTP/1.9\r\nHost: t\r\n\r\n\
              POST /two HTTP/1.2\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi\
              GET /chunked HTTP/1.5\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        )
        .await;
    for expected in [
        "HTTP/1.1 /nine ",
        "HTTP/1.1 /two hi",
        "HTTP/1.1 /chunked abc",
    ] {
        // `read_response` checks the status line says `HTTP/1.1`.
        let r = client.read_response().await;
        assert_eq!((r.status, r.text()), (200, expected));
        assert_eq!(r.header("connection"), None, "kept alive");
    }
    // Split across reads right after the version: still served.
    client.send(b"GET /split HTTP/1.9").await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    client.send(b"\r\nHost: t\r\n\r\n").await;
    assert_eq!(client.read_response().await.text(), "HTTP/1.1 /split ");
    // Not a version: still refused.
    for raw in [
        &b"GET / HTTP/1.10\r\nHost: t\r\n\r\n"[..],
        b"GET / HTTP/1.a\r\nHost: t\r\n\r\n",
        b"GET / HTTP/1.9 \r\nHost: t\r\n\r\n",
        b"GET / HTTP/1.9\r\n\r\n",
    ] {
        assert_refused(&server, raw, 400).await;
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn connect_is_not_implemented() {
    // The server offers no tunnels. Letting an app answer 2xx to CONNECT
    // would tell the client that the connection is now a tunnel (RFC 9110
    // §9.3.6, RFC 9112 §6.3 point 2) while the server goes on parsing
    // HTTP on it: 501, before the app runs (RFC 9110 §15.6.2).
    let server = start(Reflect).await;
    assert_refused(
        &server,
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n",
        501,
    )
    .await;
    assert_refused(&server, b"CONNECT / HTTP/1.1\r\nHost: t\r\n\r\n", 501).await;
    assert_still_serving(&server).await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn unusual_but_valid_request_lines_reach_the_app() {
    let server = start(Reflect).await;
    // Methods are case-sensitive tokens (RFC 9110 §9.1, rule HTTP-001):
    // `get` is another method, passed on as sent.
    assert_eq!(
        accepted(&server, b"get / HTTP/1.1\r\nHost: t\r\n\r\n").await,
        "get / host=t body="
    );
    assert_eq!(
        accepted(
            &server,
            b"X-CUSTOM!#$%&'*+.^_`|~ / HTTP/1.1\r\nHost: t\r\n\r\n"
        )
        .await,
        "X-CUSTOM!#$%&'*+.^_`|~ / host=t body="
    );
    assert_eq!(
        accepted(&server, b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n").await,
        "OPTIONS * host=t body="
    );
    // Decoded once, never normalised: `..` and `%2F` are the app's to judge
    // (spec/http.md "Path, raw path, root path").
    assert_eq!(
        accepted(&server, b"GET /a/..%2f..%2fetc HTTP/1.1\r\nHost: t\r\n\r\n").await,
        "GET /a/../../etc host=t body="
    );
    // Raw UTF-8 in the target is not RFC 3986, but `http::Uri` accepts it
    // and so does the server (HTTP-009 defers to `http::Uri`), as hyper and
    // nginx do; it decodes to the same path as its percent-encoded form.
    assert_eq!(
        accepted(
            &server,
            "GET /caf\u{e9} HTTP/1.1\r\nHost: t\r\n\r\n".as_bytes()
        )
        .await,
        "GET /caf\u{e9} host=t body="
    );
    // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before
    // the request line; LF alone may end a line in the head.
    assert_eq!(
        accepted(&server, b"\r\n\r\nGET /a HTTP/1.1\r\nHost: t\r\n\r\n").await,
        "GET /a host=t body="
    );
    assert_eq!(
        accepted(&server, b"GET /lf HTTP/1.1\nHost: t\n\n").await,
        "GET /lf host=t body="
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn absolute_form_takes_the_host_from_the_target() {
    // RFC 9112 §3.2.2: a server MUST accept the absolute form, and MUST
    // ignore the Host field in favour of the target's authority; an app
    // that routes on `host` must see the same host as the request line.
    let server = start(Reflect).await;
    assert_eq!(
        accepted(
            &server,
            b"GET http://example.com:8080/x?q HTTP/1.1\r\nHost: other\r\n\r\n"
        )
        .await,
        "GET /x host=example.com:8080 body="
    );
    // Userinfo in the authority is refused (RFC 9110 §4.2.4).
    assert_refused(
        &server,
        b"GET http://user@example.com/x HTTP/1.1\r\nHost: t\r\n\r\n",
        400,
    )
    .await;
    // HTTP/1.0 needs no Host line: the target's authority is the host.
    let mut client = server.connect().await;
    let r = client
        .request(b"GET http://example.com/y HTTP/1.0\r\n\r\n")
        .await;
    assert_eq!(r.text(), "GET /y host=example.com body=");
    // HTTP/1.1 still requires a Host line (RFC 9112 §3.2).
    assert_refused(&server, b"GET http://example.com/x HTTP/1.1\r\n\r\n", 400).await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn bad_header_fields_get_400() {
    let server = start(Reflect).await;
    let cases: &[&[u8]] = &[
        // obs-fold (RFC 9112 §5.2: reject, or replace with SP; we reject).
        b"GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n\tb\r\n\r\n",
        // A folded first line, which some parsers glue to the request line.
        b"GET / HTTP/1.1\r\n Host: t\r\n\r\n",
        // Whitespace before the colon (RFC 9112 §5.1: MUST 400).
        b"GET / HTTP/1.1\r\nHost : t\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nX\t: v\r\n\r\n",
        // Empty and non-token names.
        b"GET / HTTP/1.1\r\nHost: t\r\n: v\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nX\"Y: v\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nX(Y): v\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\n\x80X: v\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nNoColon\r\n\r\n",
        // CR, LF, NUL, other controls inside a value.
        b"GET / HTTP/1.1\r\nHost: t\r\nX: a\rb\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nX: a\x00b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nX: a\x01b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nX: a\x7fb\r\n\r\n",
        // Host: missing on 1.1, twice, or not a valid `uri-host [":" port]`
        // (RFC 9112 §3.2: MUST 400).
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a:b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a:80:80\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a?b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a#b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: \xc3\xa9\r\n\r\n",
    ];
    for raw in cases {
        assert_refused(&server, raw, 400).await;
    }
    assert_still_serving(&server).await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn valid_host_forms_are_accepted() {
    let server = start(Reflect).await;
    for host in [
        "example.com",
        "example.com:8080",
        "127.0.0.1:1",
        "[::1]:80",
        "[::1]",
        "a-b_c~d.e!$&'()*+;=%41",
        "x:",
    ] {
        let raw = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
        assert_eq!(
            accepted(&server, raw.as_bytes()).await,
            format!("GET / host={host} body=")
        );
    }
    // An empty Host is what a client sends when the target has no
    // authority (RFC 9112 §3.2).
    assert_eq!(
        accepted(&server, b"GET / HTTP/1.1\r\nHost:\r\n\r\n").await,
        "GET / host= body="
    );
    // HTTP/1.0 needs no Host; the scope still gets one, empty, as the
    // scope promises (rule HTTP-008) and RFC 9112 §3.2 spells "unknown".
    let mut client = server.connect().await;
    let r = client
        .request(b"GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .await;
    assert_eq!((r.status, r.text()), (200, "GET /old host= body="));
    let r = client
        .request(b"GET /old HTTP/1.0\r\nHost: h\r\n\r\n")
        .await;
    assert_eq!((r.status, r.text()), (200, "GET /old host=h body="));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn obs_text_in_values_is_kept_as_bytes() {
    // RFC 9110 §5.5: field values may carry obs-text (0x80-0xFF); a
    // recipient treats it as opaque data. It reaches the app untouched.
    struct Header;
    impl rgi::App for Header {
        async fn call(&self, conn: rgi::Conn<'_>) -> rgi::AppResult {
            let rgi::Conn::Http(mut http) = conn else {
                return conn.unsupported();
            };
            let v = http
                .scope
                .headers
                .get("x")
                .map(|v| v.as_bytes().to_vec())
                .unwrap_or_default();
            http.respond(http::StatusCode::OK, http::HeaderMap::new(), v)
                .await?;
            Ok(())
        }
    }
    let server = start(Header).await;
    let mut client = server.connect().await;
    let r = client
        .request(b"GET / HTTP/1.1\r\nHost: t\r\nX: \x80\xff ok\r\n\r\n")
        .await;
    assert_eq!(r.body, b"\x80\xff ok");
    server.stop().await.unwrap();
}
