//! `HttpSend::File` over raw TCP (spec/extensions.md, EXT-020..022): whole
//! files and ranges, with content-length or chunked framing, mixed with
//! `Body`; bad paths and ranges abort the response (or are refused at
//! `start_send`), and the server keeps serving.

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use http::header::CONTENT_LENGTH;
use http::StatusCode;
use rgi::{App, AppResult, Conn, FileBody, HttpSend, ResponseStart};

use tokio::sync::mpsc;

/// Larger than one 64 KiB read, and not a multiple of it.
const FILE_LEN: usize = 200_000;

fn pattern(i: usize) -> u8 {
    (i * 7 % 251) as u8
}

/// A file under the temp dir, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(len: usize) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "rgi-server-send-file-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, (0..len).map(pattern).collect::<Vec<u8>>()).unwrap();
        Self(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Serves the file in the way the request path names; reports every
/// error its sends return.
struct FileApp {
    path: PathBuf,
    errors: mpsc::UnboundedSender<(String, rgi::Error)>,
}

impl FileApp {
    fn file(&self) -> FileBody {
        FileBody::new(&self.path)
    }
}

fn start_with_length(len: u64) -> HttpSend {
    HttpSend::Start(ResponseStart::new(StatusCode::OK).header(CONTENT_LENGTH, len))
}

fn start_bare() -> HttpSend {
    HttpSend::Start(ResponseStart::new(StatusCode::OK))
}

fn more(file: FileBody) -> FileBody {
    let mut file = file;
    file.more = true;
    file
}

impl App for FileApp {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(http) = conn else {
            return conn.unsupported();
        };
        assert!(http.scope.capabilities.send_file);
        let path = http.scope.path.clone();
        let len = FILE_LEN as u64;
        let events: Vec<HttpSend> = match path.as_str() {
            "/whole" => vec![start_with_length(len), HttpSend::File(self.file())],
            "/whole-no-length" => vec![start_bare(), HttpSend::File(self.file())],
            "/range" => vec![
                start_with_length(100_000),
                HttpSend::File(self.file().range(70_000..170_000)),
            ],
            "/range-chunked" => vec![
                start_bare(),
                HttpSend::File(more(self.file().range(70_000..170_000))),
                HttpSend::body(""),
            ],
            "/mixed" => vec![
                start_with_length(len + 6),
                HttpSend::chunk("<<<"),
                HttpSend::File(more(self.file())),
                HttpSend::body(">>>"),
            ],
            "/missing" => vec![
                start_bare(),
                HttpSend::File(FileBody::new(self.path.with_extension("missing"))),
            ],
            "/missing-after-body" => vec![
                start_bare(),
                HttpSend::chunk("partial"),
                HttpSend::File(FileBody::new(self.path.with_extension("missing"))),
            ],
            "/past-end" => vec![
                start_with_length(10),
                HttpSend::File(self.file().range(len - 5..len + 5)),
            ],
            "/relative" => vec![start_bare(), HttpSend::File(FileBody::new("relative/file"))],
            "/backwards" => vec![
                start_bare(),
                HttpSend::File(self.file().range(std::ops::Range { start: 10, end: 5 })),
            ],
            _ => vec![
                HttpSend::Start(ResponseStart::new(StatusCode::NOT_FOUND)),
                HttpSend::body(""),
            ],
        };
        for event in events {
            let sent = if path == "/relative" || path == "/backwards" {
                // The refusal must come from start_send itself.
                http.sender.start_send(event)
            } else {
                rgi::SenderExt::send(&mut *http.sender, event).await
            };
            if let Err(e) = sent {
                let _ = self.errors.send((path.clone(), e));
                return Err(format!("send failed on {path}").into());
            }
        }
        Ok(())
    }
}

struct Fixture {
    server: TestServer,
    errors: mpsc::UnboundedReceiver<(String, rgi::Error)>,
    _file: TempFile,
}

async fn fixture() -> Fixture {
    let file = TempFile::new(FILE_LEN);
    let (tx, errors) = mpsc::unbounded_channel();
    let server = start(FileApp {
        path: file.0.clone(),
        errors: tx,
    })
    .await;
    Fixture {
        server,
        errors,
        _file: file,
    }
}

fn expected(range: std::ops::Range<usize>) -> Vec<u8> {
    range.map(pattern).collect()
}

#[tokio::test]
async fn whole_file_with_content_length() {
    let f = fixture().await;
    let mut client = f.server.connect().await;
    for path in ["/whole", "/whole-no-length"] {
        let r = client.request(&get(path)).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-length"), Some("200000"), "{path}");
        assert!(r.body == expected(0..FILE_LEN), "{path}: body differs");
    }
    f.server.stop().await.unwrap();
}

#[tokio::test]
async fn byte_range_with_content_length_and_chunked() {
    let f = fixture().await;
    let mut client = f.server.connect().await;
    let r = client.request(&get("/range")).await;
    assert_eq!(r.header("content-length"), Some("100000"));
    assert!(r.body == expected(70_000..170_000), "range body differs");
    let r = client.request(&get("/range-chunked")).await;
    assert!(r.chunked, "{:?}", r.headers);
    assert!(
        r.body == expected(70_000..170_000),
        "chunked range body differs"
    );
    f.server.stop().await.unwrap();
}

#[tokio::test]
async fn body_file_body_mixed() {
    let f = fixture().await;
    let mut client = f.server.connect().await;
    let r = client.request(&get("/mixed")).await;
    assert_eq!(r.header("content-length"), Some("200006"));
    let mut want = b"<<<".to_vec();
    want.extend(expected(0..FILE_LEN));
    want.extend(b">>>");
    assert!(r.body == want, "mixed body differs");
    // Still keep-alive after it.
    let r = client.request(&get("/whole")).await;
    assert_eq!(r.body.len(), FILE_LEN);
    f.server.stop().await.unwrap();
}

#[tokio::test]
async fn file_for_head_is_refused_citing_http_025() {
    // A response to HEAD carries no body bytes (HTTP-025): `File` is
    // refused by `start_send` (CORE-012), nothing of the file is read.
    let mut f = fixture().await;
    let mut client = f.server.connect().await;
    client
        .send(b"HEAD /whole HTTP/1.1\r\nHost: t\r\n\r\n")
        .await;
    // The app fails on the refusal after Start: the connection is aborted
    // before the head went out.
    assert!(client.read_to_eof().await.is_empty());
    let (seen, err) = bounded("the app's error", f.errors.recv()).await.unwrap();
    assert_eq!(seen, "/whole");
    assert!(
        matches!(
            &err,
            rgi::Error::Protocol {
                rule: "HTTP-025",
                ..
            }
        ),
        "{err:?}"
    );
    assert_still_serves_the_file(&f).await;
    f.server.stop().await.unwrap();
}

/// The request's response is aborted: the connection closes without a
/// complete response; the app's send failed with `rule`.
async fn assert_aborted(f: &mut Fixture, path: &str, rule: &str) {
    let mut client = f.server.connect().await;
    client.send(&get(path)).await;
    let raw = client.read_to_eof().await;
    let text = String::from_utf8_lossy(&raw);
    assert!(
        !text.ends_with("0\r\n\r\n") && !text.contains("content-length"),
        "{path}: a response that looks complete: {text:?}"
    );
    let (seen, err) = bounded("the app's error", f.errors.recv()).await.unwrap();
    assert_eq!(seen, path);
    assert!(
        matches!(&err, rgi::Error::Protocol { rule: r, .. } if *r == rule),
        "{path}: {err:?}"
    );
    assert_still_serves_the_file(f).await;
}

async fn assert_still_serves_the_file(f: &Fixture) {
    let mut client = f.server.connect().await;
    let r = client.request(&get("/whole")).await;
    assert!(r.body == expected(0..FILE_LEN));
}

#[tokio::test]
async fn missing_file_aborts() {
    let mut f = fixture().await;
    assert_aborted(&mut f, "/missing", "EXT-021").await;
    assert_aborted(&mut f, "/missing-after-body", "EXT-021").await;
    f.server.stop().await.unwrap();
}

#[tokio::test]
async fn range_past_the_end_aborts() {
    let mut f = fixture().await;
    assert_aborted(&mut f, "/past-end", "EXT-021").await;
    f.server.stop().await.unwrap();
}

#[tokio::test]
async fn relative_path_and_backwards_range_are_refused_at_start_send() {
    let mut f = fixture().await;
    for path in ["/relative", "/backwards"] {
        let mut client = f.server.connect().await;
        client.send(&get(path)).await;
        let raw = client.read_to_eof().await;
        assert!(!String::from_utf8_lossy(&raw).contains("200 OK"), "{path}");
        let (seen, err) = bounded("the app's error", f.errors.recv()).await.unwrap();
        assert_eq!(seen, path);
        assert!(
            matches!(
                &err,
                rgi::Error::Protocol {
                    rule: "EXT-022",
                    ..
                }
            ),
            "{path}: {err:?}"
        );
    }
    assert_still_serves_the_file(&f).await;
    f.server.stop().await.unwrap();
}
