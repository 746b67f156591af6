//! Differential framing: the same byte streams go to rgi-server and to a
//! hyper server in one run, each over a fresh loopback connection that the
//! client half-closes, and the requests each app saw are compared: method,
//! target and body, in order. Where one server reads the bytes as
//! different requests than the other, a proxy in front of one of them
//! could be desynchronised (request smuggling).
//!
//! The streams: the fuzz targets' committed seeds (`crates/rgi-server/fuzz/
//! corpus/{connection,head}`) plus generated smuggling shapes: duplicate and
//! conflicting `Content-Length`, `Transfer-Encoding` variants and
//! obfuscations, bare LF and CR, whitespace before the colon, obs-fold,
//! chunk-size and chunk-extension oddities, requests pipelined behind
//! bodies.
//!
//! The rule: the two lists of requests are equal, or one is a prefix of
//! the other (one server refused where the other went on). A prefix is a
//! known disagreement only if [`KNOWN`] lists it, with the server that
//! stopped first; `RELIABILITY.md` justifies each (RFC 9112 / 9110). Any
//! other difference fails the test, and so does a listed case that now
//! agrees (the table stays true).

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use http::header::HeaderName;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rgi::{App, AppResult, Conn};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BOUND: Duration = Duration::from_secs(10);
const BODY_LIMIT: usize = 1 << 20;
const X_REPORT: HeaderName = HeaderName::from_static("x-report");

/// What an app saw of one request, `METHOD TARGET HEX(BODY)`: sent back
/// in an `x-report` field of an empty 200, so that the response's framing
/// is the same for every method (HEAD included).
fn report(method: &str, target: &str, body: &[u8]) -> HeaderValue {
    let mut out = format!("{method} {target} ");
    for b in body {
        out.push_str(&format!("{b:02x}"));
    }
    HeaderValue::from_str(&out).expect("a method, a URI and hex are visible ASCII")
}

struct RgiReport;

impl App for RgiReport {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        let body = http.read_body(BODY_LIMIT).await?;
        let target = http
            .scope
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let mut headers = HeaderMap::new();
        headers.insert(X_REPORT, report(http.scope.method.as_str(), &target, &body));
        http.respond(StatusCode::OK, headers, Bytes::new()).await?;
        Ok(())
    }
}

async fn hyper_report(request: Request<Incoming>) -> Result<Response<String>, hyper::Error> {
    let (parts, mut incoming) = request.into_parts();
    let mut body = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut incoming).poll_frame(cx)).await
    {
        // A body error ends the exchange without an answer (hyper closes).
        if let Ok(data) = frame?.into_data() {
            body.extend_from_slice(&data);
        }
    }
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut response = Response::new(String::new());
    response
        .headers_mut()
        .insert(X_REPORT, report(parts.method.as_str(), target, &body));
    Ok(response)
}

async fn start_rgi() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = rgi_server::Config::default();
    config.lifespan = rgi_server::LifespanMode::Off;
    config.head_timeout = Duration::from_secs(3);
    tokio::spawn(
        rgi_server::Server::from_listener(listener)
            .with_config(config)
            .serve_with_shutdown(RgiReport, std::future::pending()),
    );
    addr
}

async fn start_hyper() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut http = http1::Builder::new();
                // The client half-closes after its last byte; answer what
                // it sent before (rgi-server does the same).
                http.half_close(true);
                let _ = http
                    .serve_connection(TokioIo::new(stream), service_fn(hyper_report))
                    .await;
            });
        }
    });
    addr
}

/// Sends `input`, half-closes, and returns the app reports among the
/// responses (the bodies of the 200s), in order.
async fn served(addr: SocketAddr, input: &[u8]) -> Vec<String> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(BOUND, async {
        // Either server may refuse and close before reading everything.
        let _ = stream.write_all(input).await;
        let _ = stream.shutdown().await;
        let _ = stream.read_to_end(&mut out).await;
    })
    .await
    .unwrap_or_else(|_| panic!("no close within {BOUND:?} for {:?}", shown(input)));
    reports(&out)
}

/// The `x-report`s of the 200 responses in `out`, in order (a response of
/// another status ends the list: the server closes after it).
fn reports(mut out: &[u8]) -> Vec<String> {
    let mut reports = Vec::new();
    while !out.is_empty() {
        let mut fields = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut fields);
        let Ok(httparse::Status::Complete(head)) = response.parse(out) else {
            break;
        };
        let field = |name: &str| {
            response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).into_owned())
        };
        match response.code {
            Some(100) => {}
            Some(200) => {
                let report = field("x-report").expect("the apps' answers have a report");
                // Empty bodies: `content-length: 0`, or none (a HEAD
                // answer, an HTTP/1.0 one), or an empty chunked body.
                let length = field("content-length");
                assert!(matches!(length.as_deref(), None | Some("0")), "{length:?}");
                if field("transfer-encoding").is_some() && !report.starts_with("HEAD ") {
                    let last = out[head..].strip_prefix(b"0\r\n\r\n");
                    out = &out[out.len() - last.expect("an empty chunked body").len() - head..];
                }
                reports.push(report);
            }
            _ => break,
        }
        out = &out[head..];
    }
    reports
}

fn shown(input: &[u8]) -> String {
    String::from_utf8_lossy(&input[..input.len().min(200)]).into_owned()
}

/// Who stopped first in a known disagreement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stricter {
    Rgi,
    Hyper,
}

/// Known disagreements: case name, who stopped first. Each has a row in
/// `RELIABILITY.md` saying why.
const KNOWN: &[(&str, Stricter)] = &[
    // RFC 9112 §2.3: a higher minor version is served as HTTP/1.1.
    ("http-1.9", Stricter::Hyper),
    ("connection/seed-versions", Stricter::Hyper),
    ("head/seed-obs-minor", Stricter::Hyper),
    // Both Content-Length and Transfer-Encoding: rgi refuses (RFC 9112
    // §6.1 "MAY reject"), hyper serves by the chunked framing and closes.
    ("cl-and-te", Stricter::Rgi),
    ("te-and-cl", Stricter::Rgi),
    ("connection/seed-smuggle", Stricter::Rgi),
    // A coding other than chunked: 501 (RFC 9112 §6.1 SHOULD).
    ("te-gzip-chunked", Stricter::Rgi),
    ("te-identity-then-chunked", Stricter::Rgi),
    // chunked applied twice (RFC 9112 §6.1 MUST NOT).
    ("te-chunked-chunked", Stricter::Rgi),
    // Host missing or repeated on HTTP/1.1 (RFC 9112 §3.2 MUST 400).
    ("no-host", Stricter::Rgi),
    ("two-hosts", Stricter::Rgi),
    // A Host that is not `uri-host [":" port]` (RFC 9112 §3.2, RFC 9110
    // §4.2.4 userinfo).
    ("host-with-userinfo", Stricter::Rgi),
    // Target forms: CONNECT is 501, `*` only for OPTIONS (RFC 9112 §3.2.4).
    ("connect", Stricter::Rgi),
    ("get-asterisk", Stricter::Rgi),
    // A path that is not UTF-8 once decoded (spec rule HTTP-003).
    ("path-not-utf8", Stricter::Rgi),
];

fn head(lines: &str) -> Vec<u8> {
    lines.replace('|', "\r\n").into_bytes()
}

/// The generated smuggling shapes. `|` stands for CRLF, so that the
/// shapes read as they are sent; other line endings are spelled out.
fn shapes() -> Vec<(&'static str, Vec<u8>)> {
    let next = "GET /next HTTP/1.1|Host: a||";
    let mut cases: Vec<(&'static str, Vec<u8>)> = vec![
        ("plain", head("GET / HTTP/1.1|Host: a||")),
        ("pipelined-three", head(&format!("GET /1 HTTP/1.1|Host: a||GET /2 HTTP/1.1|Host: a||{next}"))),
        ("cl-body-then-next", head(&format!("POST / HTTP/1.1|Host: a|Content-Length: 5||hello{next}"))),
        ("cl-zero-then-next", head(&format!("POST / HTTP/1.1|Host: a|Content-Length: 0||{next}"))),
        ("cl-leading-zeros", head(&format!("POST / HTTP/1.1|Host: a|Content-Length: 005||hello{next}"))),
        ("cl-duplicate-equal", head(&format!("POST / HTTP/1.1|Host: a|Content-Length: 5|Content-Length: 5||hello{next}"))),
        ("cl-duplicate-conflict", head(&format!("POST / HTTP/1.1|Host: a|Content-Length: 5|Content-Length: 6||hello{next}"))),
        ("cl-list-equal", head(&format!("POST / HTTP/1.1|Host: a|Content-Length: 5, 5||hello{next}"))),
        ("cl-list-conflict", head(&format!("POST / HTTP/1.1|Host: a|Content-Length: 5, 6||hello{next}"))),
        ("cl-plus", head(&format!("POST / HTTP/1.1|Host: a|Content-Length: +5||hello{next}"))),
        ("cl-negative", head(&format!("POST / HTTP/1.1|Host: a|Content-Length: -1||{next}"))),
        ("cl-hex", head(&format!("POST / HTTP/1.1|Host: a|Content-Length: 0x5||hello{next}"))),
        ("cl-space-inside", head(&format!("POST / HTTP/1.1|Host: a|Content-Length: 1 2||hello world!{next}"))),
        ("cl-overflow", head(&format!("POST / HTTP/1.1|Host: a|Content-Length: 99999999999999999999999||{next}"))),
        ("cl-empty", head(&format!("POST / HTTP/1.1|Host: a|Content-Length: ||{next}"))),
        ("cl-trailing-space", head(&format!("POST / HTTP/1.1|Host: a|Content-Length: 5 ||hello{next}"))),
        ("cl-space-before-colon", head(&format!("POST / HTTP/1.1|Host: a|Content-Length : 5||hello{next}"))),
        ("cl-tab-before-colon", head(&format!("POST / HTTP/1.1|Host: a|Content-Length\t: 5||hello{next}"))),
        ("cl-and-te", head(&format!("POST / HTTP/1.1|Host: a|Content-Length: 3|Transfer-Encoding: chunked||0||{next}"))),
        ("te-and-cl", head(&format!("POST / HTTP/1.1|Host: a|Transfer-Encoding: chunked|Content-Length: 3||0||{next}"))),
        ("te-chunked", head(&format!("POST / HTTP/1.1|Host: a|Transfer-Encoding: chunked||5|hello|0||{next}"))),
        ("te-case", head(&format!("POST / HTTP/1.1|Host: a|Transfer-Encoding: ChUnKeD||5|hello|0||{next}"))),
        ("te-gzip-chunked", head(&format!("POST / HTTP/1.1|Host: a|Transfer-Encoding: gzip, chunked||5|hello|0||{next}"))),
        ("te-chunked-gzip", head(&format!("POST / HTTP/1.1|Host: a|Transfer-Encoding: chunked, gzip||5|hello|0||{next}"))),
        ("te-chunked-chunked", head(&format!("POST / HTTP/1.1|Host: a|Transfer-Encoding: chunked|Transfer-Encoding: chunked||5|hello|0||{next}"))),
        ("te-identity", head(&format!("POST / HTTP/1.1|Host: a|Transfer-Encoding: identity||{next}"))),
        ("te-xchunked", head(&format!("POST / HTTP/1.1|Host: a|Transfer-Encoding: xchunked||5|hello|0||{next}"))),
        ("te-chunked-suffix", head(&format!("POST / HTTP/1.1|Host: a|Transfer-Encoding: chunked-false||5|hello|0||{next}"))),
        ("te-quoted", head(&format!("POST / HTTP/1.1|Host: a|Transfer-Encoding: \"chunked\"||5|hello|0||{next}"))),
        ("te-space-before-colon", head(&format!("POST / HTTP/1.1|Host: a|Transfer-Encoding : chunked||5|hello|0||{next}"))),
        ("te-leading-tab", head(&format!("POST / HTTP/1.1|Host: a|Transfer-Encoding:\tchunked||5|hello|0||{next}"))),
        ("te-empty", head(&format!("POST / HTTP/1.1|Host: a|Transfer-Encoding: ||{next}"))),
        ("te-comma-only", head(&format!("POST / HTTP/1.1|Host: a|Transfer-Encoding: ,||{next}"))),
        ("te-obs-fold", head(&format!("POST / HTTP/1.1|Host: a|Transfer-Encoding:| chunked||5|hello|0||{next}"))),
        ("te-http10", head("POST / HTTP/1.0|Host: a|Transfer-Encoding: chunked||5|hello|0||")),
        ("te-vertical-tab", head(&format!("POST / HTTP/1.1|Host: a|Transfer-Encoding:\x0bchunked||5|hello|0||{next}"))),
        ("obs-fold", head(&format!("GET / HTTP/1.1|Host: a|X: a| b||{next}"))),
        ("space-before-colon", head(&format!("GET / HTTP/1.1|Host: a|X : b||{next}"))),
        ("leading-space-field", head(&format!("GET / HTTP/1.1| Host: a||{next}"))),
        ("bare-lf-head", b"GET / HTTP/1.1\nHost: a\n\nGET /next HTTP/1.1\nHost: a\n\n".to_vec()),
        ("bare-lf-mixed", b"POST / HTTP/1.1\r\nHost: a\nContent-Length: 5\r\n\nhelloGET /next HTTP/1.1\r\nHost: a\r\n\r\n".to_vec()),
        ("bare-cr-head", b"GET / HTTP/1.1\rHost: a\r\n\r\n".to_vec()),
        ("bare-cr-value", head(&format!("GET / HTTP/1.1|Host: a|X: a\rb||{next}"))),
        ("nul-in-value", head(&format!("GET / HTTP/1.1|Host: a|X: a\0b||{next}"))),
        ("leading-empty-lines", head(&format!("||GET / HTTP/1.1|Host: a||{next}"))),
        ("chunk-ext", head(&format!("POST / HTTP/1.1|Host: a|Transfer-Encoding: chunked||5;a=b;c=\"d\"|hello|0;z||{next}"))),
        ("chunk-ext-bare-lf", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a\nhello\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n".to_vec()),
        ("chunk-size-leading-zeros", head(&format!("POST / HTTP/1.1|Host: a|Transfer-Encoding: chunked||0005|hello|000||{next}"))),
        ("chunk-size-upper-hex", head(&format!("POST / HTTP/1.1|Host: a|Transfer-Encoding: chunked||A|0123456789|0||{next}"))),
        ("chunk-size-space", head(&format!("POST / HTTP/1.1|Host: a|Transfer-Encoding: chunked||5 |hello|0||{next}"))),
        ("chunk-size-plus", head(&format!("POST / HTTP/1.1|Host: a|Transfer-Encoding: chunked||+5|hello|0||{next}"))),
        ("chunk-size-0x", head(&format!("POST / HTTP/1.1|Host: a|Transfer-Encoding: chunked||0x5|hello|0||{next}"))),
        ("chunk-size-overflow", head(&format!("POST / HTTP/1.1|Host: a|Transfer-Encoding: chunked||10000000000000005|hello|0||{next}"))),
        ("chunk-size-empty", head(&format!("POST / HTTP/1.1|Host: a|Transfer-Encoding: chunked|||hello|0||{next}"))),
        ("chunk-data-too-long", head(&format!("POST / HTTP/1.1|Host: a|Transfer-Encoding: chunked||3|hello|0||{next}"))),
        ("chunk-data-no-crlf", head(&format!("POST / HTTP/1.1|Host: a|Transfer-Encoding: chunked||5|hello0||{next}"))),
        ("chunk-data-bare-lf", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n".to_vec()),
        ("chunk-trailers", head(&format!("POST / HTTP/1.1|Host: a|Transfer-Encoding: chunked||5|hello|0|T: v|U: w||{next}"))),
        ("chunk-trailer-bad", head(&format!("POST / HTTP/1.1|Host: a|Transfer-Encoding: chunked||5|hello|0|T v||{next}"))),
        ("chunk-last-without-crlf", head(&format!("POST / HTTP/1.1|Host: a|Transfer-Encoding: chunked||5|hello|0|{next}"))),
        ("get-with-body", head(&format!("GET / HTTP/1.1|Host: a|Content-Length: 5||hello{next}"))),
        ("http-1.9", head(&format!("GET / HTTP/1.9|Host: a||{next}"))),
        ("http-2.0", head("GET / HTTP/2.0|Host: a||")),
        ("http-1.0-keep-alive", head("GET / HTTP/1.0|Connection: keep-alive||GET /next HTTP/1.0||")),
        ("connection-close-then-more", head(&format!("GET / HTTP/1.1|Host: a|Connection: close||{next}"))),
        ("no-host", head(&format!("GET / HTTP/1.1||{next}"))),
        ("two-hosts", head(&format!("GET / HTTP/1.1|Host: a|Host: b||{next}"))),
        ("host-with-userinfo", head(&format!("GET / HTTP/1.1|Host: u@a||{next}"))),
        ("connect", head("CONNECT a:443 HTTP/1.1|Host: a:443||")),
        ("get-asterisk", head(&format!("GET * HTTP/1.1|Host: a||{next}"))),
        ("path-not-utf8", head(&format!("GET /%ff HTTP/1.1|Host: a||{next}"))),
        ("absolute-form", head(&format!("GET http://b/p?q HTTP/1.1|Host: a||{next}"))),
        ("expect-continue", head(&format!("POST / HTTP/1.1|Host: a|Expect: 100-continue|Content-Length: 5||hello{next}"))),
        ("body-shorter-than-cl", head("POST / HTTP/1.1|Host: a|Content-Length: 50||short")),
        ("te-chunked-then-identity", head(&format!("POST / HTTP/1.1|Host: a|Transfer-Encoding: chunked|Transfer-Encoding: identity||5|hello|0||{next}"))),
        ("te-identity-then-chunked", head(&format!("POST / HTTP/1.1|Host: a|Transfer-Encoding: identity|Transfer-Encoding: chunked||5|hello|0||{next}"))),
        ("cl-in-trailer", head(&format!("POST / HTTP/1.1|Host: a|Transfer-Encoding: chunked||5|hello|0|Content-Length: 20||{next}"))),
        ("cl-extra-space-value", head(&format!("POST / HTTP/1.1|Host: a|Content-Length:    5||hello{next}"))),
        ("chunk-body-then-garbage", head("POST / HTTP/1.1|Host: a|Transfer-Encoding: chunked||5|hello|0||XYZ|")),
        ("get-cl-then-smuggled", head("GET / HTTP/1.1|Host: a|Content-Length: 32||GET /admin HTTP/1.1|Host: a||")),
    ];
    cases.sort_by_key(|(name, _)| *name);
    cases
}

/// The fuzz targets' committed seeds, each fed whole.
fn corpus() -> Vec<(String, Vec<u8>)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rgi-server/fuzz/corpus");
    let mut cases = Vec::new();
    for target in ["connection", "head"] {
        let dir = root.join(target);
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("the fuzz corpus at {}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            let name = format!("{target}/{}", path.file_name().unwrap().to_string_lossy());
            cases.push((name, std::fs::read(path).unwrap()));
        }
    }
    assert!(cases.len() >= 10, "the corpus is there");
    cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rgi_and_hyper_frame_the_same_bytes_the_same_way() {
    let (rgi, hyper) = (start_rgi().await, start_hyper().await);
    let mut cases: Vec<(String, Vec<u8>)> = shapes()
        .into_iter()
        .map(|(name, bytes)| (name.to_owned(), bytes))
        .collect();
    cases.extend(corpus());
    let mut failures = Vec::new();
    let mut seen_known = Vec::new();
    let mut table = String::new();
    for (name, input) in &cases {
        let (a, b) = tokio::join!(served(rgi, input), served(hyper, input));
        let known = KNOWN.iter().find(|(n, _)| n == name).map(|(_, s)| *s);
        let verdict = if a == b {
            None
        } else if b.starts_with(&a) {
            Some(Stricter::Rgi)
        } else if a.starts_with(&b) {
            Some(Stricter::Hyper)
        } else {
            failures.push(format!(
                "{name}: FRAMING DIVERGES\n  input {:?}\n  rgi   {a:?}\n  hyper {b:?}",
                shown(input)
            ));
            continue;
        };
        table.push_str(&format!(
            "{name}: rgi {} / hyper {} requests\n",
            a.len(),
            b.len()
        ));
        if verdict.is_some() {
            seen_known.push(name.clone());
        }
        if verdict != known {
            failures.push(format!(
                "{name}: expected {known:?} stricter, got {verdict:?}\n  input {:?}\n  rgi   {a:?}\n  hyper {b:?}",
                shown(input)
            ));
        }
    }
    println!("{table}");
    assert!(
        failures.is_empty(),
        "{} case(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(seen_known.len(), KNOWN.len());
    // Every case was served by at least one server in most shapes: the
    // harness itself works (a broken client would make both lists empty).
    let served_somewhere = cases.len() - table.matches("rgi 0 / hyper 0").count();
    assert!(
        served_somewhere * 2 > cases.len(),
        "most cases reach an app:\n{table}"
    );
}
