//! A 100 MiB upload read through the handler's `Read`, over TCP, with the
//! process's peak memory growth printed and bounded. Alone in its test
//! binary, so no other test moves the peak.

mod common;

use std::io::{Read, Write};

use common::serve_with;
use http::{HeaderMap, StatusCode};
use rgi_blocking::{Blocking, Request, Response};

const SIZE: usize = 100 << 20;

/// The byte at `offset` of the upload: a pattern the handler can check
/// without holding what came before.
fn byte_at(offset: usize) -> u8 {
    (offset % 251) as u8
}

#[test]
fn a_100_mib_upload_is_read_chunk_by_chunk_in_bounded_memory() {
    let handler = |mut request: Request, response: &mut Response| -> std::io::Result<()> {
        let mut buf = vec![0; 64 * 1024];
        let (mut total, mut wrong) = (0usize, 0usize);
        loop {
            let n = request.body.read(&mut buf)?;
            if n == 0 {
                break;
            }
            wrong += buf[..n]
                .iter()
                .enumerate()
                .filter(|(i, b)| **b != byte_at(total + i))
                .count();
            total += n;
        }
        let body = format!("{total} {wrong}");
        response.send(StatusCode::OK, HeaderMap::new(), body)
    };
    // The server's default body limit is 16 MiB.
    let server = serve_with(Blocking::new(handler), |config| {
        config.max_body_bytes = None
    });
    let before = rgi_bench::proc_status::read(std::process::id()).unwrap();

    let mut client = server.connect();
    client.send(
        format!("POST /upload HTTP/1.1\r\nhost: t\r\ncontent-length: {SIZE}\r\n\r\n").as_bytes(),
    );
    // One pattern 251 bytes longer than a piece: each 1 MiB piece is a
    // window of it starting at the piece's offset modulo 251.
    const PIECE: usize = 1 << 20;
    let pattern: Vec<u8> = (0..PIECE + 251).map(byte_at).collect();
    for sent in (0..SIZE).step_by(PIECE) {
        let start = sent % 251;
        client
            .stream()
            .write_all(&pattern[start..start + PIECE])
            .unwrap();
    }
    let response = client.response().unwrap();
    let after = rgi_bench::proc_status::read(std::process::id()).unwrap();

    assert_eq!(response.status, 200);
    assert_eq!(String::from_utf8_lossy(&response.body), format!("{SIZE} 0"));
    let growth = after.peak_kib.saturating_sub(before.rss_kib);
    println!(
        "100 MiB upload: rss before {} KiB, peak after {} KiB, peak growth {growth} KiB",
        before.rss_kib, after.peak_kib
    );
    // The client's own 2 MiB of pieces and the sockets' buffers are in
    // this process too; a body held whole would be 100 MiB.
    assert!(growth < 24 * 1024, "peak grew by {growth} KiB");
}
