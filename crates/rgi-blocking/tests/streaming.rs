//! Streaming through the handler's `Write` over TCP: chunk by chunk in
//! lock-step with the client, and held back while the client does not read.

mod common;

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use common::{get, serve};
use http::{HeaderMap, StatusCode};
use rgi_blocking::{Blocking, Request, Response};

#[test]
fn each_written_chunk_reaches_the_client_before_the_next_is_written() {
    const CHUNKS: usize = 20;
    let (ack, acks) = mpsc::channel::<usize>();
    let acks = Mutex::new(acks);
    let handler = move |_: Request, response: &mut Response| -> std::io::Result<()> {
        response.start(StatusCode::OK, HeaderMap::new())?;
        let acks = acks.lock().unwrap();
        for k in 0..CHUNKS {
            write!(response, "chunk-{k}")?;
            // Chunk k+1 is not produced before the client has chunk k: a
            // chunk held anywhere between the two ends stalls the test.
            match acks.recv_timeout(Duration::from_secs(10)) {
                Ok(got) if got == k => {}
                other => return Err(std::io::Error::other(format!("ack for {k}: {other:?}"))),
            }
        }
        Ok(())
    };
    let server = serve(Blocking::new(handler));
    let mut client = server.connect();
    client.send(&get("/stream"));
    let (status, headers) = client.head().unwrap();
    assert_eq!(status, 200);
    assert!(headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v == "chunked"));
    for k in 0..CHUNKS {
        let chunk = client.chunk().unwrap().expect("a chunk");
        assert_eq!(String::from_utf8_lossy(&chunk), format!("chunk-{k}"));
        ack.send(k).unwrap();
    }
    assert_eq!(client.chunk().unwrap(), None, "the final chunk");
}

#[test]
fn writes_block_while_the_client_does_not_read() {
    const CHUNK: usize = 64 * 1024;
    const TOTAL: usize = 64 << 20;
    let written = Arc::new(AtomicUsize::new(0));
    let counter = written.clone();
    let handler = move |_: Request, response: &mut Response| -> std::io::Result<()> {
        response.start(StatusCode::OK, HeaderMap::new())?;
        let chunk = vec![b'z'; CHUNK];
        for _ in 0..TOTAL / CHUNK {
            response.write_all(&chunk)?;
            counter.fetch_add(CHUNK, Ordering::SeqCst);
        }
        Ok(())
    };
    let server = serve(Blocking::new(handler));
    let mut client = server.connect();
    client.send(&get("/big"));
    std::thread::sleep(Duration::from_millis(1000));
    let stalled_at = written.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(500));
    let still = written.load(Ordering::SeqCst);
    println!(
        "written while the client did not read: {} KiB",
        still / 1024
    );
    assert_eq!(
        stalled_at, still,
        "the handler kept writing into a client that does not read"
    );
    // The sockets' buffers and the server's write buffer, not the body.
    assert!(still < 16 << 20, "{still} bytes went out unread");

    let response = client.response().unwrap();
    assert!(response.complete);
    assert_eq!(response.body.len(), TOTAL);
    assert_eq!(written.load(Ordering::SeqCst), TOTAL);
}
