//! `HttpConn::respond` and `HttpConn::read_body`.

mod common;

use common::{run, Recorder, Script};
use rgi::bytes::Bytes;
use rgi::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use rgi::{Error, HttpConn, HttpReceive, HttpScope, HttpSend};

fn scope(method: Method) -> HttpScope {
    HttpScope::new(method, Uri::from_static("/")).unwrap()
}

fn body(data: impl Into<Bytes>, more: bool) -> HttpReceive {
    HttpReceive::Body {
        data: data.into(),
        more,
    }
}

/// Runs `respond` and returns what reached the server.
fn respond(method: Method, status: StatusCode, text: &'static str) -> Vec<HttpSend> {
    let mut receiver = Script::<HttpReceive>::new([]);
    let mut sender = Recorder::slow(1);
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    let mut scope = scope(method);
    let mut conn = HttpConn::new(&mut scope, &mut receiver, &mut sender);
    run(conn.respond(status, headers, text)).unwrap();
    assert_eq!(receiver.polls, 0, "respond does not read the request");
    sender.events
}

fn split(events: &[HttpSend]) -> (&rgi::ResponseStart, &Bytes, bool) {
    assert_eq!(events.len(), 2, "respond sends exactly Start and one Body");
    let HttpSend::Start(start) = &events[0] else {
        panic!("first event is not Start")
    };
    let HttpSend::Body { data, more } = &events[1] else {
        panic!("second event is not Body")
    };
    (start, data, *more)
}

#[test]
fn respond_sends_start_then_the_whole_body_as_the_final_chunk() {
    let events = respond(Method::GET, StatusCode::UNAUTHORIZED, "nope");
    let (start, data, more) = split(&events);
    assert_eq!(start.status, StatusCode::UNAUTHORIZED);
    assert_eq!(start.headers[header::CONTENT_TYPE], "text/plain");
    // The server frames it (HTTP-034: one final Body, so a length).
    assert!(start.headers.get(header::CONTENT_LENGTH).is_none());
    assert!(!start.trailers);
    assert_eq!(data, &Bytes::from("nope"));
    assert!(!more);
}

#[test]
fn respond_to_head_keeps_the_length_but_sends_no_bytes() {
    let events = respond(Method::HEAD, StatusCode::OK, "hello");
    let (start, data, more) = split(&events);
    assert_eq!(start.headers[header::CONTENT_LENGTH], "5");
    assert!(data.is_empty(), "HTTP-025: no body bytes for HEAD");
    assert!(!more);
}

#[test]
fn respond_to_head_keeps_a_known_length_given_without_the_bytes() {
    let mut receiver = Script::<HttpReceive>::new([]);
    let mut sender = Recorder::new();
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("1234"));
    let mut scope = scope(Method::HEAD);
    let mut conn = HttpConn::new(&mut scope, &mut receiver, &mut sender);
    run(conn.respond(StatusCode::OK, headers, "")).unwrap();
    let (start, data, _) = split(&sender.events);
    assert_eq!(start.headers[header::CONTENT_LENGTH], "1234");
    assert!(data.is_empty());
}

#[test]
fn respond_204_and_304_send_neither_length_nor_bytes() {
    for status in [StatusCode::NO_CONTENT, StatusCode::NOT_MODIFIED] {
        let events = respond(Method::GET, status, "ignored");
        let (start, data, more) = split(&events);
        assert_eq!(start.status, status);
        assert!(
            start.headers.get(header::CONTENT_LENGTH).is_none(),
            "{status}"
        );
        assert!(data.is_empty(), "HTTP-025: no body bytes for {status}");
        assert!(!more);
    }
}

#[test]
fn respond_replaces_a_stale_content_length() {
    let mut receiver = Script::<HttpReceive>::new([]);
    let mut sender = Recorder::new();
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("999"));
    let mut scope = scope(Method::GET);
    let mut conn = HttpConn::new(&mut scope, &mut receiver, &mut sender);
    run(conn.respond(StatusCode::OK, headers, "abc")).unwrap();
    let (start, _, _) = split(&sender.events);
    assert_eq!(
        start.headers.get_all(header::CONTENT_LENGTH).iter().count(),
        1
    );
    assert_eq!(start.headers[header::CONTENT_LENGTH], "3");
}

#[test]
fn respond_stops_at_the_first_send_error() {
    let mut receiver = Script::<HttpReceive>::new([]);
    let mut sender = Recorder::new();
    sender.refuse = Some(|| Error::Disconnected);
    let mut scope = scope(Method::GET);
    let mut conn = HttpConn::new(&mut scope, &mut receiver, &mut sender);
    let err = run(conn.respond(StatusCode::OK, HeaderMap::new(), "x")).unwrap_err();
    assert!(matches!(err, Error::Disconnected));
    assert_eq!(sender.start_sends, 1, "no Body after a refused Start");
}

/// Runs `read_body(limit)` over a script; returns the result and the
/// receiver, to check how far it read.
fn read(limit: usize, events: Vec<HttpReceive>) -> (Result<Bytes, Error>, Script<HttpReceive>) {
    let mut receiver = Script::new(events);
    let mut sender = Recorder::<HttpSend>::new();
    let mut scope = scope(Method::POST);
    let mut conn = HttpConn::new(&mut scope, &mut receiver, &mut sender);
    let result = run(conn.read_body(limit));
    assert!(sender.events.is_empty(), "read_body sends nothing");
    (result, receiver)
}

#[test]
fn read_body_concatenates_chunks() {
    let (got, _) = read(
        100,
        vec![
            body("ab", true),
            body("", true),
            body("cd", true),
            body("e", false),
        ],
    );
    assert_eq!(got.unwrap(), Bytes::from("abcde"));
}

#[test]
fn read_body_of_an_empty_request_is_empty() {
    let (got, _) = read(0, vec![body("", false)]);
    assert!(got.unwrap().is_empty());
}

#[test]
fn read_body_returns_a_single_chunk_without_copying() {
    let data = Bytes::from(vec![1u8; 4096]);
    let (got, _) = read(4096, vec![body(data.clone(), false)]);
    assert_eq!(got.unwrap().as_ptr(), data.as_ptr());
}

#[test]
fn read_body_single_chunk_with_empty_ones_is_not_copied() {
    let data = Bytes::from(vec![2u8; 512]);
    let (got, _) = read(
        1024,
        vec![
            body("", true),
            body(data.clone(), true),
            body("", true),
            body("", false),
        ],
    );
    let got = got.unwrap();
    assert_eq!(got, data);
    assert_eq!(got.as_ptr(), data.as_ptr());
}

#[test]
fn read_body_accepts_exactly_the_limit() {
    let (got, _) = read(6, vec![body("abc", true), body("def", false)]);
    assert_eq!(got.unwrap(), Bytes::from("abcdef"));
}

#[test]
fn read_body_fails_past_the_limit_and_stops_reading() {
    let (got, receiver) = read(
        5,
        vec![
            body("abc", true),
            body("def", true),
            body("never read", false),
        ],
    );
    assert!(matches!(got, Err(Error::BodyTooLarge { limit: 5 })));
    assert_eq!(
        receiver.remaining(),
        1,
        "no read past the chunk that broke the limit"
    );
}

#[test]
fn read_body_fails_on_a_single_oversized_chunk() {
    let (got, _) = read(3, vec![body("abcd", false)]);
    assert!(matches!(got, Err(Error::BodyTooLarge { limit: 3 })));
}

#[test]
fn read_body_reports_a_disconnect() {
    let (got, _) = read(100, vec![body("partial", true), HttpReceive::Disconnect]);
    assert!(matches!(got, Err(Error::Disconnected)));
}

/// `respond`'s future is in every request's future that answers with it
/// (boxed once per request by a tower bridge): it holds the sender, the
/// start event and the body, not the headers and body a second time as an
/// `async fn`'s arguments would (520 bytes on x86-64).
#[test]
fn the_respond_future_holds_each_part_once() {
    let mut receiver = Script::<HttpReceive>::new([]);
    let mut sender = Recorder::slow(1);
    let mut scope = scope(Method::GET);
    let mut conn = HttpConn::new(&mut scope, &mut receiver, &mut sender);
    let respond = conn.respond(StatusCode::OK, HeaderMap::new(), "hello");
    let parts = std::mem::size_of::<HttpSend>()
        + std::mem::size_of::<Bytes>()
        + std::mem::size_of::<&mut dyn rgi::Sender<HttpSend>>();
    assert!(
        std::mem::size_of_val(&respond) <= parts + 16,
        "respond's future is {} bytes for {parts} bytes of parts",
        std::mem::size_of_val(&respond)
    );
}

/// A sender that refuses its first event (the client left), then takes
/// whatever it is given.
struct RefusesFirst {
    refused: bool,
    taken: Vec<HttpSend>,
}

impl rgi::Sender<HttpSend> for RefusesFirst {
    fn start_send(&mut self, event: HttpSend) -> Result<(), Error> {
        if !self.refused {
            self.refused = true;
            return Err(Error::Disconnected);
        }
        self.taken.push(event);
        Ok(())
    }

    fn poll_flush(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Error>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// A `respond` that failed sends nothing more, however often it is polled:
/// its body must not follow a `Start` that never went out (HTTP-020). The
/// `async fn` it replaced could not be resumed at all.
#[test]
fn respond_polled_after_its_error_sends_no_body() {
    use std::future::Future;
    let mut receiver = Script::<HttpReceive>::new([]);
    let mut sender = RefusesFirst {
        refused: false,
        taken: Vec::new(),
    };
    let mut scope = scope(Method::GET);
    {
        let mut conn = HttpConn::new(&mut scope, &mut receiver, &mut sender);
        let mut respond = conn.respond(StatusCode::OK, HeaderMap::new(), "secret");
        let waker = futures::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        let first = std::pin::Pin::new(&mut respond).poll(&mut cx);
        assert!(matches!(
            first,
            std::task::Poll::Ready(Err(Error::Disconnected))
        ));
        let _ = std::pin::Pin::new(&mut respond).poll(&mut cx);
    }
    assert!(
        sender.taken.is_empty(),
        "sent after the failed Start: {:?}",
        sender.taken
    );
}

/// `FileBody::check`, the one `EXT-022` check the servers, the bridge and
/// the validator share.
#[test]
fn a_file_body_needs_an_absolute_path_and_a_forward_range() {
    use rgi::FileBody;
    let rule = |file: FileBody| file.check().err().and_then(|e| e.rule());
    assert_eq!(rule(FileBody::new("/srv/a.txt")), None);
    assert_eq!(rule(FileBody::new("/srv/a.txt").range(3..3)), None);
    assert_eq!(rule(FileBody::new("a.txt")), Some("EXT-022"));
    #[allow(clippy::reversed_empty_ranges)]
    let backwards = FileBody::new("/srv/a.txt").range(5..2);
    assert_eq!(rule(backwards), Some("EXT-022"));
}
