//! The HTTP route table and its handlers.

use std::collections::BTreeMap;
use std::time::Duration;

use rgi::bytes::Bytes;
use rgi::http::header::{CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use rgi::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};
use rgi::{AppResult, Error, HttpConn, HttpReceive, HttpScope, HttpSend, ResponseStart};

use crate::query::{self, BadParam};

/// The largest body `/echo` reads into memory when the request has no
/// `content-length` (a chunked upload); past it, `/echo` answers 413.
pub const ECHO_BUFFER_LIMIT: usize = 16 * 1024 * 1024;

const MAX_CHUNKS: u64 = 100_000;
const MAX_CHUNK_SIZE: u64 = 1024 * 1024;
const MAX_MILLIS: u64 = 60_000;

const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const JSON: HeaderValue = HeaderValue::from_static("application/json");
const OCTETS: HeaderValue = HeaderValue::from_static("application/octet-stream");
const X_BODY_LENGTH: HeaderName = HeaderName::from_static("x-body-length");

enum Route {
    Hello,
    Echo,
    Stream {
        chunks: u64,
        size: usize,
        delay: Duration,
    },
    Headers,
    Status(StatusCode),
    Slow(Duration),
    Error,
    ErrorAfterStart,
    EchoScope,
    WhoAmI,
    NotFound,
    BadParam(BadParam),
}

fn route(scope: &HttpScope) -> Route {
    let path = scope.route_path();
    let get = scope.method == Method::GET || scope.method == Method::HEAD;
    let query = scope.uri.query().unwrap_or("");
    let parsed = match path {
        "/" => Ok(Route::Hello),
        "/echo" => Ok(Route::Echo),
        "/echo-scope" => Ok(Route::EchoScope),
        _ if path.starts_with("/echo-scope/") => Ok(Route::EchoScope),
        _ if !get => Ok(Route::NotFound),
        "/stream" => stream_params(query),
        "/headers" => Ok(Route::Headers),
        "/whoami" => Ok(Route::WhoAmI),
        "/slow" => query::number(query, "ms", 1000, MAX_MILLIS)
            .map(|ms| Route::Slow(Duration::from_millis(ms))),
        "/error" => Ok(Route::Error),
        "/error-after-start" => Ok(Route::ErrorAfterStart),
        _ => Ok(match path.strip_prefix("/status/").and_then(status) {
            Some(status) => Route::Status(status),
            None => Route::NotFound,
        }),
    };
    parsed.unwrap_or_else(Route::BadParam)
}

fn stream_params(query: &str) -> Result<Route, BadParam> {
    Ok(Route::Stream {
        chunks: query::number(query, "n", 10, MAX_CHUNKS)?,
        // At most 1 MiB, so the cast cannot truncate.
        size: query::number(query, "size", 16, MAX_CHUNK_SIZE)? as usize,
        delay: Duration::from_millis(query::number(query, "delay_ms", 0, MAX_MILLIS)?),
    })
}

/// `NNN` as a final status: exactly three digits, 200..=599.
fn status(digits: &str) -> Option<StatusCode> {
    let code: u16 = digits.parse().ok()?;
    let three_digits = digits.len() == 3 && digits.bytes().all(|b| b.is_ascii_digit());
    (three_digits && (200..=599).contains(&code))
        .then(|| StatusCode::from_u16(code).ok())
        .flatten()
}

pub(crate) async fn handle(mut http: HttpConn<'_>) -> AppResult {
    let http = &mut http;
    match route(http.scope) {
        Route::Hello => Ok(text(http, StatusCode::OK, "Hello, world!").await?),
        Route::Echo => echo(http).await,
        Route::Stream {
            chunks,
            size,
            delay,
        } => stream(http, chunks, size, delay).await,
        Route::Headers => headers(http).await,
        Route::Status(status) => {
            http.send(HttpSend::Start(ResponseStart::new(status)))
                .await?;
            Ok(http.send(HttpSend::body(Bytes::new())).await?)
        }
        Route::Slow(delay) => {
            tokio::time::sleep(delay).await;
            Ok(text(http, StatusCode::OK, "done").await?)
        }
        Route::Error => Err("GET /error fails before the response, on purpose".into()),
        Route::ErrorAfterStart => error_after_start(http).await,
        Route::EchoScope => echo_scope(http).await,
        Route::WhoAmI => whoami(http).await,
        Route::NotFound => Ok(text(http, StatusCode::NOT_FOUND, "Not Found").await?),
        Route::BadParam(BadParam(name)) => {
            let body = format!("bad query parameter `{name}`: expected digits");
            Ok(text(http, StatusCode::BAD_REQUEST, body).await?)
        }
    }
}

async fn text(
    http: &mut HttpConn<'_>,
    status: StatusCode,
    body: impl Into<Bytes>,
) -> Result<(), Error> {
    let mut headers = HeaderMap::with_capacity(2);
    headers.insert(CONTENT_TYPE, TEXT);
    http.respond(status, headers, body).await
}

/// Sends `body`, already serialised, as `application/json`.
async fn json(http: &mut HttpConn<'_>, body: Vec<u8>) -> Result<(), Error> {
    let mut headers = HeaderMap::with_capacity(2);
    headers.insert(CONTENT_TYPE, JSON);
    http.respond(StatusCode::OK, headers, body).await
}

/// The request's `content-length`, when it has exactly one valid one and is
/// not chunked: then the response length is known before the body is read.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    if headers.contains_key(TRANSFER_ENCODING) {
        return None;
    }
    let mut values = headers.get_all(CONTENT_LENGTH).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return None;
    };
    let value = value.to_str().ok()?;
    value
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| value.parse().ok())?
}

async fn echo(http: &mut HttpConn<'_>) -> AppResult {
    match declared_length(&http.scope.headers) {
        Some(length) if http.scope.method != Method::HEAD => echo_streaming(http, length).await,
        _ => echo_buffered(http).await,
    }
}

/// Echoes chunk by chunk. The first `recv` comes before the response starts,
/// so a client waiting on `Expect: 100-continue` gets its `100` (rule
/// `HTTP-013`).
async fn echo_streaming(http: &mut HttpConn<'_>, length: u64) -> AppResult {
    let mut event = http.recv().await;
    if event == HttpReceive::Disconnect {
        return Err(Error::Disconnected.into());
    }
    let mut start = ResponseStart::new(StatusCode::OK);
    start.headers.insert(CONTENT_TYPE, OCTETS);
    start
        .headers
        .insert(CONTENT_LENGTH, HeaderValue::from(length));
    start
        .headers
        .insert(X_BODY_LENGTH, HeaderValue::from(length));
    http.send(HttpSend::Start(start)).await?;
    loop {
        match event {
            HttpReceive::Body { data, more } => {
                // An empty chunk with more to come would be a flush; skip it.
                if !(more && data.is_empty()) {
                    http.send(HttpSend::Body { data, more }).await?;
                }
                if !more {
                    return Ok(());
                }
            }
            HttpReceive::Disconnect => return Err(Error::Disconnected.into()),
            // An event a later spec adds: not body, nothing to echo.
            _ => {}
        }
        event = http.recv().await;
    }
}

async fn echo_buffered(http: &mut HttpConn<'_>) -> AppResult {
    let body = match http.read_body(ECHO_BUFFER_LIMIT).await {
        Ok(body) => body,
        Err(Error::BodyTooLarge { limit }) => {
            let message = format!("the body exceeds /echo's limit of {limit} bytes");
            return Ok(text(http, StatusCode::PAYLOAD_TOO_LARGE, message).await?);
        }
        Err(err) => return Err(err.into()),
    };
    let mut headers = HeaderMap::with_capacity(3);
    headers.insert(CONTENT_TYPE, OCTETS);
    headers.insert(X_BODY_LENGTH, HeaderValue::from(body.len()));
    Ok(http.respond(StatusCode::OK, headers, body).await?)
}

async fn stream(http: &mut HttpConn<'_>, chunks: u64, size: usize, delay: Duration) -> AppResult {
    let head = http.scope.method == Method::HEAD;
    let mut start = ResponseStart::new(StatusCode::OK);
    start.headers.insert(CONTENT_TYPE, OCTETS);
    http.send(HttpSend::Start(start)).await?;
    for k in 0..chunks {
        if k > 0 && !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if !head {
            let byte = b'a' + (k % 26) as u8;
            http.send(HttpSend::chunk(vec![byte; size])).await?;
        }
    }
    Ok(http.send(HttpSend::body(Bytes::new())).await?)
}

async fn headers(http: &mut HttpConn<'_>) -> AppResult {
    let mut joined: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
    for (name, value) in &http.scope.headers {
        joined
            .entry(name.as_str())
            .and_modify(|all| {
                all.extend_from_slice(b", ");
                all.extend_from_slice(value.as_bytes());
            })
            .or_insert_with(|| value.as_bytes().to_vec());
    }
    let mut body = Vec::with_capacity(2 + joined.len() * 32);
    body.push(b'{');
    for (i, (name, value)) in joined.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        json_string_of_bytes(&mut body, name.as_bytes());
        body.push(b':');
        json_string_of_bytes(&mut body, value);
    }
    body.push(b'}');
    Ok(json(http, body).await?)
}

/// Writes `bytes` as a JSON string whose content is those very bytes: only
/// what JSON must escape is escaped (`"`, `\`, and HTAB, the one control a
/// field value can hold). A value with obs-text (0x80-0xFF, RFC 9110 §5.5)
/// thus comes back byte for byte, where a UTF-8 rendering would replace it
/// with U+FFFD; for UTF-8 values it is exactly what `serde_json` writes.
fn json_string_of_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    for &b in bytes {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x00..=0x1f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

async fn error_after_start(http: &mut HttpConn<'_>) -> AppResult {
    let mut start = ResponseStart::new(StatusCode::OK);
    start.headers.insert(CONTENT_TYPE, TEXT);
    http.send(HttpSend::Start(start)).await?;
    if http.scope.method != Method::HEAD {
        http.send(HttpSend::chunk(Bytes::from_static(b"partial")))
            .await?;
    }
    Err("GET /error-after-start fails after the response started, on purpose".into())
}

async fn echo_scope(http: &mut HttpConn<'_>) -> AppResult {
    let scope = &http.scope;
    let value = serde_json::json!({
        "http_version": asgi_version(scope.version),
        "method": scope.method.as_str(),
        "path": scope.path,
        // The query comes from `Uri`, which only holds visible ASCII.
        "query_string": String::from_utf8_lossy(scope.query_string()),
    });
    Ok(json(http, serde_json::to_vec(&value)?).await?)
}

/// What the server says about the connection: who the client is (after
/// proxy headers), the scheme and host, the mount point, and which process
/// answered.
async fn whoami(http: &mut HttpConn<'_>) -> AppResult {
    let scope = &http.scope;
    let host = scope.headers.get(rgi::http::header::HOST);
    let value = serde_json::json!({
        "client": scope.client.map(|c| c.to_string()),
        "server": scope.server.map(|s| s.to_string()),
        "scheme": scope.scheme.as_str(),
        "host": host.map(|h| String::from_utf8_lossy(h.as_bytes())),
        "root_path": scope.root_path,
        "path": scope.path,
        "pid": std::process::id(),
    });
    Ok(json(http, serde_json::to_vec(&value)?).await?)
}

/// The version as ASGI's `http_version` spells it.
fn asgi_version(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_11 => "1.1",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_accepts_final_codes_only() {
        assert_eq!(status("200"), Some(StatusCode::OK));
        assert_eq!(status("599").map(|s| s.as_u16()), Some(599));
        for bad in ["199", "600", "20", "2000", "+20", "abc", "", "0200"] {
            assert_eq!(status(bad), None, "{bad}");
        }
    }

    #[test]
    fn declared_length_wants_one_plain_number() {
        let mut headers = HeaderMap::new();
        assert_eq!(declared_length(&headers), None);
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("12"));
        assert_eq!(declared_length(&headers), Some(12));
        headers.append(CONTENT_LENGTH, HeaderValue::from_static("12"));
        assert_eq!(declared_length(&headers), None);
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("+12"));
        assert_eq!(declared_length(&headers), None);
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("12"));
        headers.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        assert_eq!(declared_length(&headers), None);
    }
}
