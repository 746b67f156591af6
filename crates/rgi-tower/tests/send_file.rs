//! `HttpSend::File` through `RgiService::read_files`: announced only with a
//! reader, handed on as data frames read one at a time as the tower side
//! takes them, and refused as the rules say (`HTTP-025`, `EXT-022`,
//! `EXT-021`, `EXT-001` without a reader).

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use rgi::http::StatusCode;
use rgi::{App, AppResult, Conn, FileBody, HttpSend, ResponseStart};
use rgi_tower::{FileReader, OpenFiles, RgiService};
use tower::ServiceExt;

/// Files in memory: the range of `"0123456789"` asked for, in chunks of
/// three bytes; a path named `/missing` fails to open. Notes each read.
#[derive(Clone, Default)]
struct Memory(Arc<Mutex<Vec<String>>>);

struct MemoryReader {
    file: FileBody,
    left: Option<Bytes>,
    log: Arc<Mutex<Vec<String>>>,
}

impl OpenFiles for Memory {
    fn open(&self, file: FileBody) -> Box<dyn FileReader> {
        Box::new(MemoryReader {
            file,
            left: None,
            log: self.0.clone(),
        })
    }
}

impl FileReader for MemoryReader {
    fn poll_open(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), String>> {
        if self.file.path.ends_with("missing") {
            return Poll::Ready(Err("no such file".into()));
        }
        let all = Bytes::from_static(b"0123456789");
        let range = self.file.range.clone().unwrap_or(0..10);
        self.left = Some(all.slice(range.start as usize..range.end as usize));
        Poll::Ready(Ok(()))
    }

    fn is_open(&self) -> bool {
        self.left.is_some()
    }

    fn remaining(&self) -> u64 {
        self.left.as_ref().map_or(0, |b| b.len() as u64)
    }

    fn poll_read(&mut self, _cx: &mut Context<'_>) -> Poll<Result<Bytes, String>> {
        let left = self.left.as_mut().expect("opened first");
        let chunk = left.split_to(left.len().min(3));
        self.log.lock().unwrap().push(format!("read {chunk:?}"));
        Poll::Ready(Ok(chunk))
    }
}

/// Sends `file` (with `|end` after it when `file.more`), noting what its
/// sends returned.
struct SendsFile {
    file: FileBody,
    status: StatusCode,
    log: Arc<Mutex<Vec<String>>>,
}

impl App for SendsFile {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        self.log
            .lock()
            .unwrap()
            .push(format!("send_file={}", http.scope.capabilities.send_file));
        http.send(HttpSend::Start(ResponseStart::new(self.status)))
            .await?;
        let sent = http.send(HttpSend::File(self.file.clone())).await;
        self.log
            .lock()
            .unwrap()
            .push(format!("file sent: {sent:?}"));
        sent?;
        if self.file.more {
            http.send(HttpSend::Body {
                data: "|end".into(),
                more: false,
            })
            .await?;
        }
        Ok(())
    }
}

fn app(file: FileBody, status: StatusCode, log: &Arc<Mutex<Vec<String>>>) -> SendsFile {
    SendsFile {
        file,
        status,
        log: log.clone(),
    }
}

fn get(method: &str) -> rgi::http::Request<http_body_util::Empty<Bytes>> {
    rgi::http::Request::builder()
        .method(method)
        .uri("/")
        .body(http_body_util::Empty::new())
        .unwrap()
}

#[tokio::test]
async fn a_file_is_read_a_chunk_at_a_time_as_the_frames_are_taken() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let files = Memory(log.clone());
    let mut file = FileBody::new("/data.txt").range(2..9);
    file.more = true;
    let service = RgiService::new(app(file, StatusCode::OK, &log)).read_files(files);
    let response = service.oneshot(get("GET")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let mut frames = Vec::new();
    while let Some(frame) = body.frame().await {
        let data = frame.unwrap().into_data().unwrap();
        // Each chunk is read only once the frame before it was taken.
        let reads = log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with("read"))
            .count();
        frames.push((data, reads));
    }
    let texts: Vec<_> = frames.iter().map(|(d, _)| d.clone()).collect();
    assert_eq!(texts, ["234", "567", "8", "|end"]);
    let reads: Vec<_> = frames.iter().map(|(_, r)| *r).collect();
    assert_eq!(reads, [1, 2, 3, 3], "a chunk read ahead of its frame");
    let log = log.lock().unwrap().clone();
    assert_eq!(log[0], "send_file=true");
    assert!(log.contains(&"file sent: Ok(())".to_owned()), "{log:?}");
}

#[tokio::test]
async fn a_final_file_ends_the_body() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let service = RgiService::new(app(
        FileBody::new("/data.txt").range(0..4),
        StatusCode::OK,
        &log,
    ))
    .read_files(Memory(log.clone()));
    let response = service.oneshot(get("GET")).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "0123");
}

/// The send that fails, and the response the client gets.
async fn refused(file: FileBody, method: &str, status: StatusCode) -> (String, StatusCode) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let service = RgiService::new(app(file, status, &log)).read_files(Memory(log.clone()));
    let response = service.oneshot(get(method)).await.unwrap();
    let code = response.status();
    // The body ends (with an error when the app failed after its start).
    let _ = response.into_body().collect().await;
    let log = log.lock().unwrap().clone();
    let sent = log
        .iter()
        .find(|l| l.starts_with("file sent"))
        .cloned()
        .unwrap_or_default();
    (sent, code)
}

#[tokio::test]
async fn the_rules_refuse_a_file_where_no_body_may_be() {
    let (sent, _) = refused(FileBody::new("/data.txt"), "HEAD", StatusCode::OK).await;
    assert!(sent.contains("HTTP-025"), "{sent}");
    let (sent, _) = refused(FileBody::new("/data.txt"), "GET", StatusCode::NO_CONTENT).await;
    assert!(sent.contains("HTTP-025"), "{sent}");
}

#[tokio::test]
async fn a_relative_path_or_a_reversed_range_is_refused() {
    let (sent, _) = refused(FileBody::new("data.txt"), "GET", StatusCode::OK).await;
    assert!(sent.contains("EXT-022"), "{sent}");
    #[allow(clippy::reversed_empty_ranges)]
    let reversed = FileBody::new("/data.txt").range(5..2);
    let (sent, _) = refused(reversed, "GET", StatusCode::OK).await;
    assert!(sent.contains("EXT-022"), "{sent}");
}

#[tokio::test]
async fn a_file_that_cannot_be_read_fails_the_send() {
    let (sent, code) = refused(FileBody::new("/missing"), "GET", StatusCode::OK).await;
    assert!(
        sent.contains("EXT-021") && sent.contains("no such file"),
        "{sent}"
    );
    assert_eq!(code, StatusCode::OK, "the head was out already");
}

#[tokio::test]
async fn without_a_reader_send_file_is_not_announced_and_a_file_is_refused() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let service = RgiService::new(app(FileBody::new("/data.txt"), StatusCode::OK, &log));
    let response = service.oneshot(get("GET")).await.unwrap();
    let _ = response.into_body().collect().await;
    let log = log.lock().unwrap().clone();
    assert_eq!(log[0], "send_file=false");
    assert!(log[1].contains("EXT-001"), "{log:?}");
}

/// Sends a `File` and, before flushing it, a `Body`; or (`body_first`)
/// the other way round.
struct SendsWithoutFlushing(Arc<Mutex<Vec<String>>>, bool);

impl App for SendsWithoutFlushing {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        http.send(HttpSend::Start(ResponseStart::new(StatusCode::OK)))
            .await?;
        let mut file = FileBody::new("/data.txt");
        file.more = true;
        let body = HttpSend::Body {
            data: Bytes::from_static(b"before"),
            more: true,
        };
        let (first, second) = if self.1 {
            (body, HttpSend::File(file))
        } else {
            (HttpSend::File(file), body)
        };
        http.sender.start_send(first)?;
        let second = http.sender.start_send(second);
        self.0.lock().unwrap().push(format!("{second:?}"));
        Ok(second?)
    }
}

/// A `File` not yet handed on holds the sender like any event: the next
/// `start_send` before the flush is refused (rule `CORE-021`); and a
/// `File` is refused in turn while a body event waits unflushed.
#[tokio::test]
async fn a_send_before_the_last_was_flushed_is_refused_whichever_is_the_file() {
    for body_first in [false, true] {
        let log = Arc::new(Mutex::new(Vec::new()));
        let app = SendsWithoutFlushing(log.clone(), body_first);
        let service = RgiService::new(app).read_files(Memory::default());
        let response = service.oneshot(get("GET")).await.unwrap();
        let _ = response.into_body().collect().await;
        let log = log.lock().unwrap().clone();
        assert!(
            log[0].contains("CORE-021"),
            "body first: {body_first}: {log:?}"
        );
    }
}
