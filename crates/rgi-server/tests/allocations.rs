//! Allocation counts (issue 5): forwarding an event through pass-through
//! middleware allocates nothing, and serving a keep-alive plaintext request
//! over real TCP allocates a small, fixed number of times.
//!
//! Counts, not times: the global allocator is `rgi_count_alloc::Counting`,
//! which counts per thread. A counting allocator cannot be written without
//! `unsafe` (`GlobalAlloc` is an unsafe trait), and the workspace forbids
//! unsafe code from the command line, so the allocator lives in its own
//! tiny crate (`crates/rgi-bench/count-alloc`) outside the workspace lints.
//! Everything measured runs on the test's own thread (a current-thread
//! runtime serves and is the client), so the per-thread count sees every
//! allocation of the server, the app and the client, and nothing else.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::task::noop_waker_ref;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, StatusCode};
use rgi::{
    App, AppResult, Conn, Error, HttpReceive, HttpSend, InspectSend, MapReceive, MapSend, Receiver,
    Sender,
};
use rgi_count_alloc::{allocations, Counting};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[global_allocator]
static ALLOC: Counting = Counting;

/// The end of the chain: takes every event, keeps nothing.
struct Sink {
    events: usize,
}

impl Sender<HttpSend> for Sink {
    fn start_send(&mut self, event: HttpSend) -> Result<(), Error> {
        drop(event);
        self.events += 1;
        Ok(())
    }
    fn poll_flush(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }
}

/// The start of the chain: a body chunk, over and over.
struct Source {
    chunk: Bytes,
}

impl Receiver<HttpReceive> for Source {
    fn poll_receive(&mut self, _cx: &mut Context<'_>) -> Poll<HttpReceive> {
        Poll::Ready(HttpReceive::Body {
            data: self.chunk.clone(),
            more: true,
        })
    }
}

const EVENTS: u64 = 1000;

#[test]
fn forwarding_an_event_through_pass_through_wrappers_allocates_nothing() {
    let mut cx = Context::from_waker(noop_waker_ref());
    // A shared (refcounted) chunk, as a server's body slices are: cloning
    // and dropping it must not allocate either.
    let chunk = Bytes::from(vec![b'x'; 4096]);

    let mut sink = Sink { events: 0 };
    let mut inspected = 0usize;
    {
        let inspect = InspectSend::new(&mut sink, |_: &HttpSend| inspected += 1);
        let mut send = MapSend::new(inspect, |event: HttpSend| event);
        let mut source = Source { chunk };
        let mut receive = MapReceive::new(&mut source, |event: HttpReceive| event);
        // What an app behind these wrappers sees: `&mut dyn`.
        let sender: &mut dyn Sender<HttpSend> = &mut send;
        let receiver: &mut dyn Receiver<HttpReceive> = &mut receive;

        let mut forward = |n: u64| {
            for _ in 0..n {
                let Poll::Ready(event) = receiver.poll_receive(&mut cx) else {
                    panic!("the source is always ready");
                };
                let HttpReceive::Body { data, more } = event else {
                    panic!("the source yields body events");
                };
                sender
                    .start_send(HttpSend::Body { data, more })
                    .expect("the sink takes everything");
                assert!(sender.poll_flush(&mut cx).is_ready());
            }
        };
        forward(10); // warm-up: nothing lazy is left to initialise
        let before = allocations();
        forward(EVENTS);
        let made = allocations() - before;
        assert_eq!(
            made, 0,
            "{made} allocations for {EVENTS} events through InspectSend + MapSend + MapReceive"
        );
    }
    assert_eq!(
        sink.events as u64,
        EVENTS + 10,
        "every event reached the sink"
    );
    assert_eq!(
        inspected as u64,
        EVENTS + 10,
        "the inspector saw every event"
    );
}

/// The benchmarks' plaintext route, written as a user would.
struct Hello;

impl App for Hello {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        http.respond(
            StatusCode::OK,
            headers,
            Bytes::from_static(b"Hello, world!"),
        )
        .await?;
        Ok(())
    }
}

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nhost: 127.0.0.1\r\nuser-agent: alloc-test\r\n\r\n";
const BODY: &[u8] = b"Hello, world!";
const WARM_UP: u64 = 20;
const MEASURED: u64 = 200;

/// What serving one keep-alive plaintext request allocates, on the server
/// side and in the app, per request (the client allocates nothing): the
/// app's response `HeaderMap`, its index table and its entry vector (the
/// first `insert` into `HeaderMap::new()`). Both are the app's own; hyper's
/// hello world with a `content-type` makes the same two.
///
/// Not allocated per request: the app's future (`App::call` returns
/// `impl Future` and the server, generic over the app, polls it in place),
/// the scope (one per connection, refilled in place: its header map and
/// decoded path keep their storage), the content-length (`respond` leaves
/// it to the server, which writes it into the head), the head's bytes
/// (split from the read buffer), the URI and header values (slices of it),
/// the response head (encoded into the connection's write buffer), the date
/// (a per-thread cache), the receiver and sender (on the connection task's
/// stack). Before the interface change the same request made 5.
const ALLOCATIONS_PER_REQUEST: u64 = 2;

#[test]
fn a_keep_alive_plaintext_request_allocates_a_small_fixed_number_of_times() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let per_request = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(
            rgi_server::Server::from_listener(listener).serve_with_shutdown(Hello, async {
                let _ = stopped.await;
            }),
        );
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        client.set_nodelay(true).unwrap();
        let mut buf = vec![0u8; 4096];
        within(async {
            for _ in 0..WARM_UP {
                exchange(&mut client, &mut buf).await;
            }
        })
        .await;
        let before = allocations();
        within(async {
            for _ in 0..MEASURED {
                exchange(&mut client, &mut buf).await;
            }
        })
        .await;
        let made = allocations() - before;
        drop(client);
        let _ = stop.send(());
        within(server).await.unwrap().unwrap();
        made as f64 / MEASURED as f64
    });
    eprintln!("allocations per keep-alive plaintext request: {per_request:.2}");
    assert!(
        per_request <= ALLOCATIONS_PER_REQUEST as f64,
        "{per_request:.2} allocations per request, expected at most {ALLOCATIONS_PER_REQUEST}"
    );
    // The count is per request, not per byte or per connection lifetime:
    // it must be a whole number (a fractional one means something grows).
    assert_eq!(
        per_request.fract(),
        0.0,
        "{per_request} allocations per request is not a fixed number"
    );
}

/// Sends the plaintext request and reads its response into `buf` (no
/// allocation), checking it.
async fn exchange(client: &mut tokio::net::TcpStream, buf: &mut [u8]) {
    client.write_all(REQUEST).await.unwrap();
    let mut len = 0;
    loop {
        let n = client.read(&mut buf[len..]).await.unwrap();
        assert!(n > 0, "the server closed a keep-alive connection");
        len += n;
        let got = &buf[..len];
        if got.ends_with(BODY) {
            assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"), "not a 200");
            return;
        }
        assert!(len < buf.len(), "response larger than expected");
    }
}

/// Bounds every wait of the test.
async fn within<F: Future>(future: F) -> F::Output {
    let future = pin!(future);
    tokio::time::timeout(Duration::from_secs(20), future)
        .await
        .expect("the exchange did not finish within 20 s")
}
