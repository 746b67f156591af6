//! A whole connection fed arbitrary bytes: the input is written to a real
//! rgi-server (one per fuzzing process, on 127.0.0.1) over a fresh
//! loopback connection, the client half-closes, and everything the server
//! writes is read until it closes.
//!
//! Loopback TCP, not an in-memory duplex: the connection's I/O is written
//! against `&TcpStream` (`try_write`, `writev` on a shared reference), so a
//! duplex would need a second I/O path the server does not run.
//!
//! The app reads the whole body (up to the server's limit) and answers 200
//! with it: whole (`content-length`) for most paths, streamed in two
//! pieces (chunked) for paths starting with `/s`.
//!
//! Invariants, beyond "no panic" and "no hang" (the server must close
//! within the bound once the client is done):
//! * the server's output is a sequence of well-formed HTTP/1.1 responses
//!   (a status line, valid fields, exactly the bytes their framing says,
//!   close-delimited only as the last), with nothing after the last; 1xx
//!   only as `100 Continue`;
//! * the body bytes echoed back never exceed the bytes sent;
//! * an error status is one the server documents, and ends the connection.
#![no_main]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use rgi::http::{HeaderMap, StatusCode};
use rgi::{App, AppResult, Conn, HttpSend, ResponseStart};

/// How long the server may take to answer and close once the client has
/// sent everything and half-closed.
const HANG: Duration = Duration::from_secs(10);
const BODY_LIMIT: u64 = 64 * 1024;

struct EchoBody;

impl App for EchoBody {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        let body = http.read_body(BODY_LIMIT as usize * 2).await?;
        let mut headers = HeaderMap::new();
        if http.scope.method == rgi::http::Method::HEAD {
            // Tells the checker that no body follows this head.
            headers.insert("x-head", rgi::http::HeaderValue::from_static("1"));
        }
        if http.scope.path.starts_with("/s") {
            let mut start = ResponseStart::new(StatusCode::OK);
            start.headers = headers;
            http.send(HttpSend::Start(start)).await?;
            let half = body.len() / 2;
            http.send(HttpSend::chunk(body.slice(..half))).await?;
            http.send(HttpSend::body(body.slice(half..))).await?;
        } else {
            http.respond(StatusCode::OK, headers, body).await?;
        }
        Ok(())
    }
}

fn server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let mut config = rgi_server::Config::default();
                config.max_head_bytes = 4096;
                config.max_target_bytes = 1024;
                config.max_headers = 32;
                config.max_body_bytes = Some(BODY_LIMIT);
                config.head_timeout = Duration::from_secs(2);
                config.keep_alive_timeout = Duration::from_secs(2);
                config.write_timeout = Duration::from_secs(2);
                config.lifespan = rgi_server::LifespanMode::Off;
                rgi_server::Server::from_listener(listener)
                    .with_config(config)
                    .serve_with_shutdown(EchoBody, std::future::pending())
                    .await
                    .unwrap();
            });
        });
        rx.recv().unwrap()
    })
}

/// Statuses the server answers on its own (bad input, app failure).
const SERVER_STATUSES: [u16; 10] = [400, 408, 413, 414, 431, 500, 501, 503, 505, 417];

/// Checks `out` is a sequence of well-formed responses; returns the body
/// bytes of the 200s. After a reset (`cut`), the last response may be
/// incomplete.
fn check_responses(mut out: &[u8], cut: bool) -> usize {
    let mut echoed = 0;
    let mut ended = false;
    while !out.is_empty() {
        assert!(
            !ended,
            "bytes after a response that ended the connection: {out:?}"
        );
        let mut fields = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut fields);
        let head_len = match response.parse(out) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if cut => return echoed,
            other => panic!(
                "not a response head ({other:?}): {:?}",
                String::from_utf8_lossy(out)
            ),
        };
        assert_eq!(response.version, Some(1), "responses are HTTP/1.1");
        let status = response.code.unwrap();
        let mut length = None;
        let mut chunked = false;
        let mut close = false;
        let mut head = false;
        for field in response.headers.iter() {
            let name = field.name.to_ascii_lowercase();
            assert!(field
                .value
                .iter()
                .all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f)));
            match name.as_str() {
                "content-length" => {
                    assert!(length.is_none(), "two content-length fields");
                    let digits = std::str::from_utf8(field.value).unwrap();
                    length = Some(digits.parse::<usize>().expect("a numeric content-length"));
                }
                "transfer-encoding" => {
                    assert_eq!(field.value, b"chunked");
                    chunked = true;
                }
                "connection" => close = field.value.eq_ignore_ascii_case(b"close"),
                "x-head" => head = true,
                _ => {}
            }
        }
        assert!(!(chunked && length.is_some()), "both framings");
        out = &out[head_len..];
        if (100..200).contains(&status) {
            assert_eq!(status, 100, "only 100 Continue is sent unasked");
            assert!(length.is_none() && !chunked);
            continue;
        }
        if status != 200 {
            assert!(
                SERVER_STATUSES.contains(&status),
                "unexpected status {status}"
            );
            assert!(close, "an error response closes the connection");
        }
        let body_len = if head {
            0
        } else if chunked {
            let Some((body, used)) = dechunk(out) else {
                assert!(cut, "a chunked body cut short");
                return echoed;
            };
            out = &out[used..];
            body
        } else if let Some(n) = length {
            if n > out.len() {
                assert!(cut, "a body shorter than its content-length");
                return echoed + out.len();
            }
            out = &out[n..];
            n
        } else {
            // Close-delimited: a streamed answer to an HTTP/1.0 request.
            assert!(close, "a close-delimited body says connection: close");
            let n = out.len();
            out = &[];
            n
        };
        if status == 200 {
            echoed += body_len;
        }
        ended = close;
    }
    echoed
}

/// Decodes a chunked body strictly; returns its length and the bytes
/// used, `None` when the bytes end before the body does.
fn dechunk(wire: &[u8]) -> Option<(usize, usize)> {
    let mut at = 0;
    let mut total = 0;
    loop {
        let line_end = wire[at..].windows(2).position(|w| w == b"\r\n")? + at;
        let size = usize::from_str_radix(std::str::from_utf8(&wire[at..line_end]).unwrap(), 16)
            .expect("a hex chunk size");
        at = line_end + 2;
        if size == 0 {
            let end = wire.get(at..at + 2)?;
            assert_eq!(end, b"\r\n", "no trailers were asked for");
            return Some((total, at + 2));
        }
        assert!(size > 0);
        let end = wire.get(at + size..at + size + 2)?;
        assert_eq!(end, b"\r\n", "chunk data ends with CRLF");
        at += size + 2;
        total += size;
    }
}

fuzz_target!(|input: &[u8]| {
    let mut stream = TcpStream::connect(server()).unwrap();
    stream.set_read_timeout(Some(HANG)).unwrap();
    stream.set_write_timeout(Some(HANG)).unwrap();
    // The server may refuse and close before it has read everything.
    let _ = stream.write_all(input);
    let _ = stream.shutdown(Shutdown::Write);
    let mut out = Vec::new();
    let cut = match stream.read_to_end(&mut out) {
        Ok(_) => false,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => true,
        Err(e) => panic!("the server did not close within {HANG:?}: {e}"),
    };
    let echoed = check_responses(&out, cut);
    assert!(echoed <= input.len(), "more body echoed than sent");
});
