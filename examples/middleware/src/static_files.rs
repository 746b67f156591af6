//! Static files: `GET` and `HEAD` requests for files under a root
//! directory are answered from disk; everything else (other methods, paths
//! with no file) goes on to the inner app.
//!
//! ```
//! # use rgi_middleware_examples::StaticFiles;
//! # fn demo(app: rgi::BoxApp) -> std::io::Result<()> {
//! let app = StaticFiles::new(app, "public")?; // GET /css/site.css -> public/css/site.css
//! # Ok(()) }
//! ```
//!
//! The seeds have no file server (their "chunked/streamed bodies" are
//! 004's); this is Starlette's `StaticFiles` and tower-http's `ServeDir`:
//!
//! * **The server sends the bytes** when it offers `send_file`
//!   (`HttpSend::File`, an absolute path and a range); otherwise the file
//!   is streamed in 64 KiB chunks, never read whole.
//! * **Caching**: a strong `ETag` (length and modification time) and
//!   `Last-Modified`; `If-None-Match` and `If-Modified-Since` give `304`.
//! * **Ranges**: one `bytes=` range gives `206` with `content-range`
//!   (`If-Range` honoured), an unsatisfiable one `416` with
//!   `content-range: bytes */LEN`; several ranges get the whole file.
//! * `HEAD` gets the headers and no body; `content-type` by extension;
//!   a directory serves its `index.html` (redirected to the path with a
//!   trailing `/` first, so relative links work).
//! * **No escape**: the decoded path is taken one segment at a time, `.`
//!   and `..` resolved as RFC 3986 does (so `%2e%2e` is `..`); a `..` that
//!   would climb above the root, or a segment that is not a plain name (a
//!   NUL, a Windows drive or separator), is refused with `403`; the file
//!   found is canonicalized and must still be under the canonical root,
//!   so a symlink out of the root is refused with `403` too. Empty
//!   segments (`//etc/passwd`) are skipped: the path stays under the root.

use std::io::SeekFrom;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rgi::bytes::BytesMut;
use rgi::http::header::{
    ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE,
    IF_NONE_MATCH, IF_RANGE, LAST_MODIFIED, LOCATION, RANGE,
};
use rgi::http::{HeaderMap, HeaderValue, Method, StatusCode};
use rgi::{App, AppResult, Conn, FileBody, HttpConn, HttpSend, ResponseStart};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::reject::Rejection;

/// How much of a file is read per body chunk when the server cannot send
/// files itself.
const CHUNK: usize = 64 * 1024;

/// Serves the files under a root directory; the inner app gets the rest.
#[derive(Debug, Clone)]
pub struct StaticFiles<A> {
    inner: A,
    root: PathBuf,
}

/// What a request path names.
enum Lookup {
    /// A file: its canonical path and metadata.
    File(PathBuf, std::fs::Metadata),
    /// A directory asked for without the trailing `/`.
    Redirect,
    /// Nothing: the inner app's.
    Missing,
    /// An escape attempt.
    Refused,
}

impl<A> StaticFiles<A> {
    /// Files under `root` (which must exist) in front of `inner`.
    pub fn new(inner: A, root: impl AsRef<Path>) -> std::io::Result<Self> {
        Ok(Self {
            inner,
            root: std::fs::canonicalize(root)?,
        })
    }

    async fn lookup(&self, route_path: &str) -> Lookup {
        // Dot segments are resolved as RFC 3986 §5.2.4 does, without
        // touching the disk: one that climbs above the root is an escape.
        let mut names: Vec<&std::ffi::OsStr> = Vec::new();
        for segment in route_path.split('/').filter(|s| !s.is_empty()) {
            let mut components = Path::new(segment).components();
            match (components.next(), components.next()) {
                (Some(Component::Normal(name)), None) if !segment.contains(['\0', '\\']) => {
                    names.push(name)
                }
                (Some(Component::CurDir), None) => {}
                (Some(Component::ParentDir), None) => {
                    if names.pop().is_none() {
                        return Lookup::Refused;
                    }
                }
                _ => return Lookup::Refused,
            }
        }
        let mut path = self.root.clone();
        path.extend(names);
        // Symlinks resolved: the real file must still be under the root.
        let Ok(real) = tokio::fs::canonicalize(&path).await else {
            return Lookup::Missing;
        };
        if !real.starts_with(&self.root) {
            return Lookup::Refused;
        }
        let Ok(meta) = tokio::fs::metadata(&real).await else {
            return Lookup::Missing;
        };
        if meta.is_file() {
            return Lookup::File(real, meta);
        }
        if !meta.is_dir() {
            return Lookup::Missing;
        }
        if !route_path.ends_with('/') {
            return Lookup::Redirect;
        }
        let index = real.join("index.html");
        match tokio::fs::metadata(&index).await {
            Ok(meta) if meta.is_file() => Lookup::File(index, meta),
            _ => Lookup::Missing,
        }
    }
}

impl<A: App> App for StaticFiles<A> {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return self.inner.call(conn).await;
        };
        if http.scope.method != Method::GET && http.scope.method != Method::HEAD {
            return self.inner.call(http.into()).await;
        }
        match self.lookup(http.scope.route_path()).await {
            Lookup::File(path, meta) => serve(&mut http, &path, &meta).await,
            Lookup::Redirect => {
                let mut target = format!("{}/", http.scope.uri.path());
                if let Some(query) = http.scope.uri.query() {
                    target.push('?');
                    target.push_str(query);
                }
                let mut headers = HeaderMap::new();
                if let Ok(location) = HeaderValue::try_from(target) {
                    headers.insert(LOCATION, location);
                }
                Ok(http
                    .respond(StatusCode::PERMANENT_REDIRECT, headers, "")
                    .await?)
            }
            Lookup::Missing => self.inner.call(http.into()).await,
            Lookup::Refused => {
                Rejection::json(StatusCode::FORBIDDEN, "the path leaves the static root")
                    .send_http(&mut http)
                    .await
            }
        }
    }
}

/// Answers with the file: 304, 206, 416 or 200.
async fn serve(http: &mut HttpConn<'_>, path: &Path, meta: &std::fs::Metadata) -> AppResult {
    let len = meta.len();
    let modified = meta.modified().ok();
    let etag = entity_tag(len, modified);
    let mut headers = HeaderMap::with_capacity(8);
    headers.insert(ETAG, etag.clone());
    if let Some(modified) = modified {
        if let Ok(date) = HeaderValue::try_from(httpdate::fmt_http_date(modified)) {
            headers.insert(LAST_MODIFIED, date);
        }
    }
    headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let request = &http.scope.headers;
    if not_modified(request, &etag, modified) {
        return Ok(http.respond(StatusCode::NOT_MODIFIED, headers, "").await?);
    }
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type(path)));
    let range = match request.get(RANGE) {
        Some(range) if if_range_holds(request, &etag, modified) => parse_range(range, len),
        _ => RangeAsk::Whole,
    };
    let (status, range) = match range {
        RangeAsk::Whole => (StatusCode::OK, 0..len),
        RangeAsk::Part(range) => {
            let content_range = format!("bytes {}-{}/{len}", range.start, range.end - 1);
            if let Ok(value) = HeaderValue::try_from(content_range) {
                headers.insert(CONTENT_RANGE, value);
            }
            (StatusCode::PARTIAL_CONTENT, range)
        }
        RangeAsk::Unsatisfiable => {
            if let Ok(value) = HeaderValue::try_from(format!("bytes */{len}")) {
                headers.insert(CONTENT_RANGE, value);
            }
            headers.remove(CONTENT_TYPE);
            return Ok(http
                .respond(StatusCode::RANGE_NOT_SATISFIABLE, headers, "")
                .await?);
        }
    };
    headers.insert(CONTENT_LENGTH, HeaderValue::from(range.end - range.start));
    if http.scope.method == Method::HEAD || range.is_empty() {
        return Ok(http.respond(status, headers, "").await?);
    }
    let mut start = ResponseStart::new(status);
    start.headers = headers;
    if http.scope.capabilities.send_file {
        http.send(HttpSend::Start(start)).await?;
        let file = FileBody::new(path).range(range);
        return Ok(http.send(HttpSend::File(file)).await?);
    }
    // Opened before the start, so a file gone since the lookup is a plain
    // error (a 500 from the error boundary), not a truncated response.
    let mut file = tokio::fs::File::open(path).await?;
    file.seek(SeekFrom::Start(range.start)).await?;
    http.send(HttpSend::Start(start)).await?;
    let mut left = range.end - range.start;
    while left > 0 {
        let want = usize::try_from(left).map_or(CHUNK, |left| left.min(CHUNK));
        let mut buf = BytesMut::zeroed(want);
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Err("the file shrank while it was being sent".into());
        }
        buf.truncate(n);
        left -= n as u64;
        let chunk = HttpSend::Body {
            data: buf.freeze(),
            more: left > 0,
        };
        http.send(chunk).await?;
    }
    Ok(())
}

/// A strong validator from the length and the modification time.
fn entity_tag(len: u64, modified: Option<SystemTime>) -> HeaderValue {
    let nanos = modified
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |since| since.as_nanos());
    HeaderValue::try_from(format!("\"{len:x}-{nanos:x}\""))
        .unwrap_or(HeaderValue::from_static("\"0\""))
}

/// `If-None-Match` (weak comparison), else `If-Modified-Since` (to the
/// second, as HTTP dates are).
fn not_modified(request: &HeaderMap, etag: &HeaderValue, modified: Option<SystemTime>) -> bool {
    if let Some(tags) = request.get(IF_NONE_MATCH) {
        let Ok(tags) = tags.to_str() else {
            return false;
        };
        let ours = etag.to_str().unwrap_or_default();
        return tags
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == ours);
    }
    let since = request
        .get(IF_MODIFIED_SINCE)
        .and_then(|value| httpdate::parse_http_date(value.to_str().ok()?).ok());
    match (since, modified) {
        (Some(since), Some(modified)) => seconds(modified) <= seconds(since),
        _ => false,
    }
}

fn seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `If-Range`: the range applies only if the file is the one the client
/// has (strong comparison of the tag, or the exact date).
fn if_range_holds(request: &HeaderMap, etag: &HeaderValue, modified: Option<SystemTime>) -> bool {
    let Some(condition) = request.get(IF_RANGE) else {
        return true;
    };
    if condition.as_bytes().starts_with(b"\"") {
        return condition == etag;
    }
    let date = condition
        .to_str()
        .ok()
        .and_then(|value| httpdate::parse_http_date(value).ok());
    matches!((date, modified), (Some(date), Some(modified)) if seconds(date) == seconds(modified))
}

/// What a `Range` header asks for.
#[derive(Debug, PartialEq, Eq)]
enum RangeAsk {
    Whole,
    Part(Range<u64>),
    Unsatisfiable,
}

/// One `bytes=` range of a `len`-byte file (RFC 9110 §14.1.2). Several
/// ranges, another unit, or a header that does not parse: the whole file
/// (a server may ignore `Range`).
fn parse_range(header: &HeaderValue, len: u64) -> RangeAsk {
    let Some(spec) = header
        .to_str()
        .ok()
        .and_then(|h| h.trim().strip_prefix("bytes="))
    else {
        return RangeAsk::Whole;
    };
    if spec.contains(',') {
        return RangeAsk::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAsk::Whole;
    };
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first, last) {
        ("", suffix) => match number(suffix) {
            Some(0) => RangeAsk::Unsatisfiable,
            Some(n) if len > 0 => RangeAsk::Part(len.saturating_sub(n)..len),
            Some(_) => RangeAsk::Unsatisfiable,
            None => RangeAsk::Whole,
        },
        (first, last) => {
            let Some(first) = number(first) else {
                return RangeAsk::Whole;
            };
            let last = match last {
                "" => len.saturating_sub(1),
                last => match number(last) {
                    Some(last) if last >= first => last.min(len.saturating_sub(1)),
                    _ => return RangeAsk::Whole,
                },
            };
            if first >= len {
                RangeAsk::Unsatisfiable
            } else {
                RangeAsk::Part(first..last + 1)
            }
        }
    }
}

/// The media type of a file by its extension.
fn content_type(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("json") => "application/json",
        Some("txt") => "text/plain; charset=utf-8",
        Some("md") => "text/markdown; charset=utf-8",
        Some("csv") => "text/csv; charset=utf-8",
        Some("xml") => "application/xml",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("avif") => "image/avif",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("woff") => "font/woff",
        Some("wasm") => "application/wasm",
        Some("pdf") => "application/pdf",
        Some("mp4") => "video/mp4",
        Some("webm") => "video/webm",
        Some("mp3") => "audio/mpeg",
        Some("zip") => "application/zip",
        Some("gz") => "application/gzip",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use rgi::http::HeaderMap;
    use rgi::Capabilities;
    use rgi_conformance::{Request, Response, TestClient};

    use super::*;

    const HELLO: &str = "hello, static world";

    /// Answers what the files do not: `fallback`.
    struct Fallback;

    impl App for Fallback {
        async fn call(&self, conn: Conn<'_>) -> AppResult {
            let Conn::Http(mut http) = conn else {
                return conn.unsupported();
            };
            Ok(http
                .respond(StatusCode::NOT_FOUND, HeaderMap::new(), "fallback")
                .await?)
        }
    }

    /// `top/secret.txt` beside `top/root/` with files, a directory, a big
    /// file and two symlinks (one staying inside, one leaving).
    struct Site {
        dir: tempfile::TempDir,
    }

    impl Site {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().join("root");
            std::fs::create_dir_all(root.join("sub")).unwrap();
            std::fs::write(dir.path().join("secret.txt"), "TOP SECRET").unwrap();
            std::fs::write(root.join("index.html"), "<h1>home</h1>").unwrap();
            std::fs::write(root.join("hello.txt"), HELLO).unwrap();
            std::fs::write(root.join("sub/index.html"), "sub home").unwrap();
            let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
            std::fs::write(root.join("big.bin"), big).unwrap();
            #[cfg(unix)]
            {
                std::os::unix::fs::symlink(root.join("hello.txt"), root.join("inner-link"))
                    .unwrap();
                std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("out-link"))
                    .unwrap();
            }
            Self { dir }
        }

        fn client(&self) -> TestClient {
            let root = self.dir.path().join("root");
            TestClient::new(StaticFiles::new(Fallback, root).unwrap())
        }
    }

    async fn get(client: &TestClient, request: Request) -> Response {
        client.send(request).await.unwrap()
    }

    #[tokio::test]
    async fn serves_a_file_with_its_validators_in_chunks() {
        let site = Site::new();
        let client = site.client();
        let response = get(&client, Request::get("/hello.txt")).await;
        assert_eq!(response.status(), Some(StatusCode::OK));
        assert_eq!(response.body(), HELLO);
        assert_eq!(
            response.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(response.header("content-length"), Some("19"));
        assert_eq!(response.header("accept-ranges"), Some("bytes"));
        assert!(response.header("etag").unwrap().starts_with("\"13-"));
        assert!(response.header("last-modified").unwrap().ends_with(" GMT"));

        let big = get(&client, Request::get("/big.bin")).await;
        assert_eq!(big.header("content-type"), Some("application/octet-stream"));
        assert_eq!(
            big.body(),
            std::fs::read(site.dir.path().join("root/big.bin")).unwrap()
        );
        let chunks = big.chunks();
        assert!(
            chunks.len() >= 4,
            "streamed, not read whole: {} chunks",
            chunks.len()
        );
        assert!(chunks.iter().all(|c| c.len() <= CHUNK));
    }

    #[tokio::test]
    async fn hands_the_file_to_a_server_that_sends_files() {
        let site = Site::new();
        let request = Request::get("/hello.txt")
            .header("range", "bytes=7-12")
            .capabilities(Capabilities::ALL);
        let response = get(&site.client(), request).await;
        assert_eq!(response.status(), Some(StatusCode::PARTIAL_CONTENT));
        let files = response.files();
        assert_eq!(files.len(), 1);
        assert!(files[0].path.is_absolute());
        assert!(files[0].path.ends_with("hello.txt"));
        assert_eq!(files[0].range, Some(7..13));
        assert!(response.body().is_empty(), "no bytes of its own");
    }

    #[tokio::test]
    async fn conditional_requests_get_304() {
        let site = Site::new();
        let client = site.client();
        let first = get(&client, Request::get("/hello.txt")).await;
        let etag = first.header("etag").unwrap().to_owned();
        let modified = first.header("last-modified").unwrap().to_owned();
        for (name, value) in [
            ("if-none-match", etag.clone()),
            ("if-none-match", format!("\"nope\", W/{etag}")),
            ("if-none-match", "*".to_owned()),
            ("if-modified-since", modified.clone()),
        ] {
            let response = get(&client, Request::get("/hello.txt").header(name, &value)).await;
            assert_eq!(
                response.status(),
                Some(StatusCode::NOT_MODIFIED),
                "{name}: {value}"
            );
            assert!(response.body().is_empty());
            assert_eq!(response.header("etag"), Some(etag.as_str()));
        }
        let changed = Request::get("/hello.txt").header("if-none-match", "\"other\"");
        assert_eq!(get(&client, changed).await.status(), Some(StatusCode::OK));
        let old =
            Request::get("/hello.txt").header("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(get(&client, old).await.status(), Some(StatusCode::OK));
    }

    #[tokio::test]
    async fn ranges_get_206_or_416() {
        let site = Site::new();
        let client = site.client();
        for (range, body, content_range) in [
            ("bytes=0-4", "hello", "bytes 0-4/19"),
            ("bytes=-5", "world", "bytes 14-18/19"),
            ("bytes=14-", "world", "bytes 14-18/19"),
            ("bytes=14-1000", "world", "bytes 14-18/19"),
        ] {
            let response = get(&client, Request::get("/hello.txt").header("range", range)).await;
            assert_eq!(
                response.status(),
                Some(StatusCode::PARTIAL_CONTENT),
                "{range}"
            );
            assert_eq!(response.body(), body, "{range}");
            assert_eq!(response.header("content-range"), Some(content_range));
            assert_eq!(response.header("content-length"), Some("5"));
        }
        for range in ["bytes=19-", "bytes=100-200", "bytes=-0"] {
            let response = get(&client, Request::get("/hello.txt").header("range", range)).await;
            assert_eq!(
                response.status(),
                Some(StatusCode::RANGE_NOT_SATISFIABLE),
                "{range}"
            );
            assert_eq!(response.header("content-range"), Some("bytes */19"));
        }
        // Ignored: several ranges, another unit, nonsense, a stale If-Range.
        for request in [
            Request::get("/hello.txt").header("range", "bytes=0-1,4-5"),
            Request::get("/hello.txt").header("range", "items=0-1"),
            Request::get("/hello.txt").header("range", "bytes=5-2"),
            Request::get("/hello.txt")
                .header("range", "bytes=0-4")
                .header("if-range", "\"stale\""),
        ] {
            let response = get(&client, request).await;
            assert_eq!(response.status(), Some(StatusCode::OK));
            assert_eq!(response.body(), HELLO);
        }
    }

    #[tokio::test]
    async fn head_gets_the_headers_only() {
        let site = Site::new();
        let response = get(&site.client(), Request::head("/hello.txt")).await;
        assert_eq!(response.status(), Some(StatusCode::OK));
        assert_eq!(response.header("content-length"), Some("19"));
        assert!(response.body().is_empty());
    }

    #[tokio::test]
    async fn directories_serve_their_index() {
        let site = Site::new();
        let client = site.client();
        let home = get(&client, Request::get("/")).await;
        assert_eq!(home.body(), "<h1>home</h1>");
        assert_eq!(
            home.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        let redirect = get(&client, Request::get("/sub?x=1")).await;
        assert_eq!(redirect.status(), Some(StatusCode::PERMANENT_REDIRECT));
        assert_eq!(redirect.header("location"), Some("/sub/?x=1"));
        assert_eq!(get(&client, Request::get("/sub/")).await.body(), "sub home");
    }

    #[tokio::test]
    async fn every_escape_is_refused() {
        let site = Site::new();
        let client = site.client();
        let mut refused = vec![
            "/../secret.txt",
            "/%2e%2e/secret.txt",
            "/%2E%2E/secret.txt",
            "/sub/%2e%2e/%2e%2e/secret.txt",
            "/sub/../../secret.txt",
            "/a%00b",
        ];
        if cfg!(unix) {
            refused.push("/out-link");
        }
        for path in refused {
            let response = get(&client, Request::get(path)).await;
            assert_eq!(response.status(), Some(StatusCode::FORBIDDEN), "{path}");
            assert!(!String::from_utf8_lossy(&response.body()).contains("SECRET"));
        }
        // Absolute paths stay under the root: nothing there, the fallback.
        let secret = site.dir.path().join("secret.txt");
        for path in [
            format!("/{}", secret.display()),
            "//etc/passwd".into(),
            "/%2Fetc%2Fpasswd".into(),
        ] {
            let response = get(&client, Request::get(&path)).await;
            assert_eq!(response.body(), "fallback", "{path}");
        }
        #[cfg(unix)]
        {
            // A symlink that stays inside is fine.
            let inside = get(&client, Request::get("/inner-link")).await;
            assert_eq!(inside.body(), HELLO);
        }
        // Dot segments that stay inside the root resolve, as a browser
        // would have resolved them before sending.
        for path in ["/./hello.txt", "/sub/../hello.txt", "/sub/%2e%2e/hello.txt"] {
            assert_eq!(
                get(&client, Request::get(path)).await.body(),
                HELLO,
                "{path}"
            );
        }
    }

    #[tokio::test]
    async fn other_methods_and_missing_files_go_to_the_inner_app() {
        let site = Site::new();
        let client = site.client();
        assert_eq!(
            get(&client, Request::get("/nope.txt")).await.body(),
            "fallback"
        );
        assert_eq!(
            get(&client, Request::post("/hello.txt")).await.body(),
            "fallback"
        );
    }
}
