//! A load client that opens a new TCP connection for every request: the
//! "connection per request" scenario (wrk reuses connections, and building
//! oha from source costs minutes of the 10-minute budget).
//!
//! `conn-per-request [--addr 127.0.0.1:8080] [--path /] [--concurrency 32] [--seconds 5]`
//!
//! Each worker loops: connect, send `GET <path>` with `connection: close`,
//! read the whole response, wait for the server to close (so the server
//! side holds the TIME_WAIT, not our ephemeral ports). Latency is measured
//! from `connect` to the server's close. Prints one line:
//! `requests=... errors=... seconds=... rps=... p50=... p99=...`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rgi_bench::{cli, client, stats};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn main() {
    let args = cli::args();
    let addr: SocketAddr = cli::or_exit(cli::flag(&args, "addr", ([127, 0, 0, 1], 8080).into()));
    let path: String = cli::or_exit(cli::flag(&args, "path", "/".to_owned()));
    let concurrency: usize = cli::or_exit(cli::flag(&args, "concurrency", 32));
    let seconds: f64 = cli::or_exit(cli::flag(&args, "seconds", 5.0));
    let request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build the tokio runtime");
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let (latencies, errors) = runtime.block_on(async {
        let workers: Vec<_> = (0..concurrency.max(1))
            .map(|_| tokio::spawn(worker(addr, request.clone(), deadline)))
            .collect();
        let mut all = stats::Latencies::default();
        let mut errors = 0;
        for worker in workers {
            let (latencies, worker_errors) = worker.await.expect("worker panicked");
            all.merge(latencies);
            errors += worker_errors;
        }
        (all, errors)
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut latencies = latencies;
    let show = |d: Option<Duration>| d.map_or_else(|| "-".to_owned(), stats::wrk_style);
    println!(
        "requests={} errors={errors} seconds={elapsed:.2} rps={:.0} p50={} p99={}",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        show(latencies.percentile(50.0)),
        show(latencies.percentile(99.0)),
    );
}

async fn worker(addr: SocketAddr, request: String, deadline: Instant) -> (stats::Latencies, u64) {
    let mut latencies = stats::Latencies::default();
    let mut errors = 0;
    let mut buf = BytesMut::with_capacity(4096);
    while Instant::now() < deadline {
        let started = Instant::now();
        // Bound each request so that a stuck server cannot hold the run.
        let attempt = tokio::time::timeout(
            Duration::from_secs(5),
            one_request(addr, &request, &mut buf),
        );
        match attempt.await {
            Ok(Ok(())) => latencies.record(started.elapsed()),
            _ => errors += 1,
        }
        buf.clear();
    }
    (latencies, errors)
}

async fn one_request(addr: SocketAddr, request: &str, buf: &mut BytesMut) -> std::io::Result<()> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    stream.write_all(request.as_bytes()).await?;
    let response = client::read_response(&mut stream, buf).await?;
    if response.status != 200 {
        return Err(std::io::Error::other(format!("status {}", response.status)));
    }
    // Wait for the server's close; anything more it sends is discarded.
    let mut rest = [0u8; 64];
    while stream.read(&mut rest).await? != 0 {}
    Ok(())
}
