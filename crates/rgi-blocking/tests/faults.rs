//! Faults over TCP: a client that leaves, a handler that panics or never
//! answers, a pool that is full; and the pool back to idle after each.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{eventually, get, serve, Split};
use http::{HeaderMap, StatusCode};
use rgi_blocking::{Blocking, Pool, PoolConfig, Request, Response};

fn idle(pool: &Pool) -> bool {
    let stats = pool.stats();
    stats.busy == 0 && stats.waiting == 0 && stats.idle == stats.threads
}

#[test]
fn a_client_that_disconnects_makes_the_next_write_a_broken_pipe() {
    let (seen, errors) = mpsc::channel();
    let pool = Pool::new(PoolConfig::with_size(2));
    let handler = move |_: Request, response: &mut Response| -> std::io::Result<()> {
        response.start(StatusCode::OK, HeaderMap::new())?;
        let chunk = vec![b'x'; 16 * 1024];
        // Bounded: without the error this stops after 1 GiB.
        for _ in 0..65_536 {
            if let Err(e) = response.write_all(&chunk) {
                seen.send(e.kind()).unwrap();
                return Err(e);
            }
        }
        seen.send(ErrorKind::Other).unwrap();
        Ok(())
    };
    let server = serve(Blocking::with_pool(handler, pool.clone()));
    let mut client = server.connect();
    client.send(&get("/stream"));
    let (status, _) = client.head().unwrap();
    assert_eq!(status, 200);
    drop(client);
    let kind = errors
        .recv_timeout(Duration::from_secs(20))
        .expect("the handler saw the disconnect");
    assert_eq!(kind, ErrorKind::BrokenPipe);
    eventually("the pool idle", || idle(&pool));
}

#[test]
fn a_client_that_disconnects_mid_upload_makes_the_next_read_fail() {
    let (seen, errors) = mpsc::channel();
    let pool = Pool::new(PoolConfig::with_size(2));
    let handler = move |mut request: Request, _: &mut Response| -> std::io::Result<()> {
        let mut buf = [0; 4096];
        let mut total = 0;
        loop {
            match request.body.read(&mut buf) {
                Ok(0) => {
                    seen.send(Ok(total)).unwrap();
                    return Ok(());
                }
                Ok(n) => total += n,
                Err(e) => {
                    seen.send(Err(e.kind())).unwrap();
                    return Err(e);
                }
            }
        }
    };
    let server = serve(Blocking::with_pool(handler, pool.clone()));
    let mut client = server.connect();
    client.send(b"POST /upload HTTP/1.1\r\nhost: t\r\ncontent-length: 100000\r\n\r\n0123456789");
    std::thread::sleep(Duration::from_millis(100));
    drop(client);
    let outcome = errors
        .recv_timeout(Duration::from_secs(20))
        .expect("the handler returned");
    assert_eq!(outcome, Err(ErrorKind::ConnectionAborted));
    eventually("the pool idle", || idle(&pool));
}

#[test]
fn a_panic_before_the_start_is_a_500_and_after_it_an_aborted_response() {
    let pool = Pool::new(PoolConfig::with_size(2));
    let handler = |request: Request, response: &mut Response| -> std::io::Result<()> {
        if request.scope.path == "/after" {
            response.start(StatusCode::OK, HeaderMap::new())?;
            response.write_all(b"partial")?;
            response.flush()?;
        }
        panic!("the handler failed on purpose");
    };
    let server = serve(Blocking::with_pool(handler, pool.clone()));

    let before = server.request(&get("/before"));
    assert_eq!(before.status, 500);
    assert!(before.complete);

    let mut client = server.connect();
    client.send(&get("/after"));
    let after = client.response().unwrap();
    assert_eq!(after.status, 200);
    assert_eq!(after.body, b"partial");
    assert!(
        !after.complete,
        "a clean-looking truncated response: {after:?}"
    );

    // The server keeps serving, and no thread was lost to the panics.
    assert_eq!(server.request(&get("/before")).status, 500);
    eventually("the pool idle", || idle(&pool));
    assert!(pool.stats().threads <= 2);
}

#[test]
fn a_handler_that_never_starts_gets_a_500() {
    let pool = Pool::new(PoolConfig::with_size(1));
    let handler = |_: Request, _: &mut Response| -> std::io::Result<()> { Ok(()) };
    let server = serve(Blocking::with_pool(handler, pool.clone()));
    let response = server.request(&get("/"));
    assert_eq!(response.status, 500);
    eventually("the pool idle", || idle(&pool));
}

#[test]
fn a_full_pool_answers_503_after_the_configured_wait_then_recovers() {
    let wait = Duration::from_millis(300);
    let pool = Pool::new(PoolConfig::with_size(1).wait(wait).retry_after_secs(7));
    let (release, released) = mpsc::channel::<()>();
    let released = std::sync::Mutex::new(released);
    let handler = move |request: Request, response: &mut Response| -> std::io::Result<()> {
        if request.scope.path == "/hold" {
            let _ = released
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(20));
        }
        response.send(StatusCode::OK, HeaderMap::new(), "done")
    };
    let server = serve(Blocking::with_pool(handler, pool.clone()));
    let mut holder = server.connect();
    holder.send(&get("/hold"));
    eventually("the holder running", || pool.stats().busy == 1);

    let started = Instant::now();
    let refused = server.request(&get("/other"));
    let waited = started.elapsed();
    assert_eq!(refused.status, 503);
    assert_eq!(refused.header("retry-after"), Some("7"));
    assert!(
        waited >= wait,
        "answered after {waited:?}, before the {wait:?} wait"
    );
    println!("503 after {waited:?} (configured wait {wait:?})");

    release.send(()).unwrap();
    assert_eq!(holder.response().unwrap().status, 200);
    eventually("the pool idle", || idle(&pool));
    assert_eq!(server.request(&get("/other")).status, 200);
    let stats = pool.stats();
    println!("after: {stats:?}");
    assert_eq!((stats.threads, stats.busy, stats.idle), (1, 0, 1));
}

#[test]
fn a_request_that_waits_for_a_thread_is_served_within_the_wait() {
    let pool = Pool::new(PoolConfig::with_size(1).wait(Duration::from_secs(10)));
    let handler = |_: Request, response: &mut Response| -> std::io::Result<()> {
        std::thread::sleep(Duration::from_millis(200));
        response.send(StatusCode::OK, HeaderMap::new(), "slow")
    };
    let server = serve(Split {
        blocking: Blocking::with_pool(handler, pool.clone()),
    });
    let clients: Vec<_> = (0..3)
        .map(|_| {
            let addr = server.addr;
            std::thread::spawn(move || {
                let mut client = common::Client::connect(addr);
                client.send(&get("/slow"));
                client.response().unwrap().status
            })
        })
        .collect();
    eventually("two calls waiting", || pool.stats().waiting == 2);
    for client in clients {
        assert_eq!(client.join().unwrap(), 200);
    }
    eventually("the pool idle", || idle(&pool));
}
