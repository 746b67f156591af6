//! Sends large bodies to `POST /echo`, reads every echo back, then reports
//! the server's memory: the "RSS after a run of 8 MiB uploads" scenario.
//!
//! `big-uploads --pid PID [--addr 127.0.0.1:8080] [--count 50] [--size 8388608] [--concurrency 4]`
//!
//! `--concurrency` keep-alive connections share the `--count` uploads.
//! Each connection writes its body while it reads the echo (a streaming
//! echo answers before the upload ends). Prints one line:
//! `uploads=... ok=... failed=... seconds=... rss_before_kib=... rss_kib=... peak_kib=...`.
//! Every upload is bounded by a 30 s timeout.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rgi_bench::{cli, client, proc_status};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn main() {
    let args = cli::args();
    let addr: SocketAddr = cli::or_exit(cli::flag(&args, "addr", ([127, 0, 0, 1], 8080).into()));
    let pid: u32 = cli::or_exit(cli::flag(&args, "pid", 0));
    let count: usize = cli::or_exit(cli::flag(&args, "count", 50));
    let size: usize = cli::or_exit(cli::flag(&args, "size", 8 << 20));
    let concurrency: usize = cli::or_exit(cli::flag(&args, "concurrency", 4));
    if pid == 0 {
        cli::or_exit::<()>(Err("--pid of the server is required".into()));
    }
    let before = proc_status::read(pid).unwrap_or_else(|e| panic!("read /proc/{pid}/status: {e}"));
    let body = Bytes::from(vec![b'u'; size]);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build the tokio runtime");
    let started = Instant::now();
    let ok: usize = runtime.block_on(async {
        let workers = concurrency.clamp(1, count.max(1));
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let uploads = count / workers + usize::from(w < count % workers);
                tokio::spawn(worker(addr, body.clone(), uploads))
            })
            .collect();
        let mut ok = 0;
        for handle in handles {
            ok += handle.await.unwrap_or(0);
        }
        ok
    });
    let seconds = started.elapsed().as_secs_f64();
    let after = proc_status::read(pid).unwrap_or_else(|e| panic!("read /proc/{pid}/status: {e}"));
    println!(
        "uploads={count} ok={ok} failed={} seconds={seconds:.2} rss_before_kib={} rss_kib={} peak_kib={}",
        count - ok,
        before.rss_kib,
        after.rss_kib,
        after.peak_kib
    );
}

/// Runs `uploads` echoes on one connection (reconnecting after a failure);
/// returns how many came back whole.
async fn worker(addr: SocketAddr, body: Bytes, uploads: usize) -> usize {
    let mut ok = 0;
    let mut connection: Option<TcpStream> = None;
    let mut buf = BytesMut::with_capacity(64 * 1024);
    for _ in 0..uploads {
        let attempt = tokio::time::timeout(Duration::from_secs(30), async {
            let stream = match connection.take() {
                Some(stream) => stream,
                None => TcpStream::connect(addr).await?,
            };
            let mut stream = stream;
            let echoed = upload(&mut stream, &body, &mut buf).await?;
            Ok::<_, std::io::Error>((stream, echoed))
        });
        match attempt.await {
            Ok(Ok((stream, echoed))) if echoed == body.len() as u64 => {
                ok += 1;
                connection = Some(stream);
            }
            _ => buf.clear(),
        }
    }
    ok
}

async fn upload(stream: &mut TcpStream, body: &[u8], buf: &mut BytesMut) -> std::io::Result<u64> {
    let head = format!(
        "POST /echo HTTP/1.1\r\nhost: bench\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let (mut reader, mut writer) = stream.split();
    let send = async {
        writer.write_all(head.as_bytes()).await?;
        writer.write_all(body).await
    };
    let (sent, received) = tokio::join!(send, client::read_response(&mut reader, buf));
    sent?;
    let response = received?;
    if response.status != 200 {
        return Err(std::io::Error::other(format!("status {}", response.status)));
    }
    Ok(response.body_len)
}
