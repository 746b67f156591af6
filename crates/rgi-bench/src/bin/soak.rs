//! A soak run of the reference server (issue 15): `rgi-peer` in a child
//! process under mixed load for `--secs` (default 600), its RSS sampled
//! every second.
//!
//! The load, all on 127.0.0.1, each kind in its own tasks until the end:
//! * keep-alive GETs (`GET /`, body checked);
//! * pipelined GETs (16 per write, all answers checked in order);
//! * uploads to `/echo` with pseudo-random bodies up to 256 KiB, half by
//!   `content-length` and half chunked, the echo's checksum and length
//!   compared with what was sent;
//! * clients that abort mid-request (a head promising 1 MiB, 16 KiB of it,
//!   then gone) and mid-response (64 KiB of a 16 MiB stream, then gone);
//! * slow readers (a 1 MiB `/stream` read 4 KiB at a time, 5 ms apart,
//!   every byte checked).
//!
//! WebSocket sessions are not part of it yet: the server does not serve
//! WebSocket on this branch.
//!
//! It holds when every checksum matches, no response is unexpected, and
//! RSS at the end is within 10% of RSS after the warm-up (`--warmup-secs`,
//! default 60); it exits 1 otherwise.
//!
//! `soak [--secs 600] [--warmup-secs 60] [--peer PATH] [--threads 1]`
//! (`--peer` defaults to the `rgi-peer` next to this binary; build both
//! with `cargo build --release -p rgi-bench`).

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rgi_bench::{cli, client, proc_status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What the run counted.
#[derive(Debug, Default)]
struct Counts {
    keep_alive: AtomicU64,
    pipelined: AtomicU64,
    uploads: AtomicU64,
    upload_bytes: AtomicU64,
    aborted_requests: AtomicU64,
    aborted_responses: AtomicU64,
    slow_reads: AtomicU64,
    slow_bytes: AtomicU64,
    unexpected: AtomicU64,
}

impl Counts {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Records something that should not have happened, with what.
    fn unexpected(&self, what: String) {
        if self.unexpected.fetch_add(1, Ordering::Relaxed) < 20 {
            eprintln!("unexpected: {what}");
        }
    }
}

/// FNV-1a, 64 bits: enough to tell an echo from a corrupted one.
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// xorshift64*: reproducible pseudo-random bodies without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

const HELLO: &[u8] = b"Hello, world!";

fn hello_checksum() -> u64 {
    let mut h = Fnv::new();
    h.update(HELLO);
    h.0
}

async fn keep_alive(addr: SocketAddr, done: Arc<AtomicBool>, counts: Arc<Counts>) {
    while !done.load(Ordering::Relaxed) {
        let Ok(mut stream) = TcpStream::connect(addr).await else {
            counts.unexpected("connect failed".into());
            continue;
        };
        let mut buf = BytesMut::new();
        // A few hundred requests per connection, then a new one.
        for _ in 0..500 {
            if done.load(Ordering::Relaxed) {
                return;
            }
            if stream
                .write_all(b"GET / HTTP/1.1\r\nHost: soak\r\n\r\n")
                .await
                .is_err()
            {
                counts.unexpected("keep-alive write failed".into());
                break;
            }
            if !check_hello(&mut stream, &mut buf, &counts).await {
                break;
            }
            Counts::add(&counts.keep_alive, 1);
        }
    }
}

/// Reads one `Hello, world!` answer; `false` (counted) when it is not.
async fn check_hello(stream: &mut TcpStream, buf: &mut BytesMut, counts: &Counts) -> bool {
    let mut sum = Fnv::new();
    match client::read_response_with(stream, buf, &mut |b| sum.update(b)).await {
        Ok(r) if r.status == 200 && sum.0 == hello_checksum() && !r.close => true,
        other => {
            counts.unexpected(format!("GET /: {other:?}"));
            false
        }
    }
}

async fn pipelined(addr: SocketAddr, done: Arc<AtomicBool>, counts: Arc<Counts>) {
    let burst: Vec<u8> = b"GET / HTTP/1.1\r\nHost: soak\r\n\r\n".repeat(16);
    while !done.load(Ordering::Relaxed) {
        let Ok(mut stream) = TcpStream::connect(addr).await else {
            counts.unexpected("connect failed".into());
            continue;
        };
        let mut buf = BytesMut::new();
        'conn: for _ in 0..100 {
            if done.load(Ordering::Relaxed) || stream.write_all(&burst).await.is_err() {
                break;
            }
            for _ in 0..16 {
                if !check_hello(&mut stream, &mut buf, &counts).await {
                    break 'conn;
                }
                Counts::add(&counts.pipelined, 1);
            }
        }
    }
}

async fn uploads(addr: SocketAddr, done: Arc<AtomicBool>, counts: Arc<Counts>, seed: u64) {
    let mut rng = Rng(seed | 1);
    while !done.load(Ordering::Relaxed) {
        let Ok(stream) = TcpStream::connect(addr).await else {
            counts.unexpected("connect failed".into());
            continue;
        };
        let (mut reader, mut writer) = stream.into_split();
        let mut buf = BytesMut::new();
        for _ in 0..50 {
            if done.load(Ordering::Relaxed) {
                return;
            }
            let len = (rng.next() % (256 * 1024)) as usize + 1;
            let body = rng.bytes(len);
            let mut sent = Fnv::new();
            sent.update(&body);
            let chunked = rng.next() % 2 == 0;
            let request = async {
                if chunked {
                    writer
                        .write_all(b"POST /echo HTTP/1.1\r\nHost: soak\r\nTransfer-Encoding: chunked\r\n\r\n")
                        .await?;
                    for piece in body.chunks(20_000) {
                        writer
                            .write_all(format!("{:x}\r\n", piece.len()).as_bytes())
                            .await?;
                        writer.write_all(piece).await?;
                        writer.write_all(b"\r\n").await?;
                    }
                    writer.write_all(b"0\r\n\r\n").await
                } else {
                    writer
                        .write_all(format!("POST /echo HTTP/1.1\r\nHost: soak\r\nContent-Length: {len}\r\n\r\n").as_bytes())
                        .await?;
                    writer.write_all(&body).await
                }
            };
            let mut echoed = Fnv::new();
            let mut sink = |b: &[u8]| echoed.update(b);
            let response = client::read_response_with(&mut reader, &mut buf, &mut sink);
            let (written, read) = tokio::join!(request, response);
            match (written, read) {
                (Ok(()), Ok(r))
                    if r.status == 200 && r.body_len == len as u64 && echoed.0 == sent.0 =>
                {
                    Counts::add(&counts.uploads, 1);
                    Counts::add(&counts.upload_bytes, len as u64);
                }
                other => {
                    counts.unexpected(format!(
                        "upload of {len} bytes (chunked {chunked}): {other:?}, checksum match {}",
                        echoed.0 == sent.0
                    ));
                    break;
                }
            }
        }
    }
}

async fn aborts(addr: SocketAddr, done: Arc<AtomicBool>, counts: Arc<Counts>) {
    let mut round = 0u64;
    while !done.load(Ordering::Relaxed) {
        round += 1;
        let Ok(mut stream) = TcpStream::connect(addr).await else {
            counts.unexpected("connect failed".into());
            continue;
        };
        if round % 2 == 0 {
            // Mid-request: a head promising 1 MiB, 16 KiB of it, gone.
            let _ = stream
                .write_all(b"POST /echo HTTP/1.1\r\nHost: soak\r\nContent-Length: 1048576\r\n\r\n")
                .await;
            let _ = stream.write_all(&[b'a'; 16 * 1024]).await;
            if round % 4 == 0 {
                let _ = stream.set_zero_linger();
            }
            drop(stream);
            Counts::add(&counts.aborted_requests, 1);
        } else {
            // Mid-response: 64 KiB of a 16 MiB stream, gone.
            let _ = stream
                .write_all(b"GET /stream?n=1024&size=16384 HTTP/1.1\r\nHost: soak\r\n\r\n")
                .await;
            let mut got = 0;
            let mut piece = [0u8; 8192];
            while got < 64 * 1024 {
                match stream.read(&mut piece).await {
                    Ok(0) | Err(_) => {
                        counts.unexpected("a stream ended before 64 KiB".into());
                        break;
                    }
                    Ok(n) => got += n,
                }
            }
            drop(stream);
            Counts::add(&counts.aborted_responses, 1);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A slow reader: 1 MiB of `/stream` taken 4 KiB at a time.
async fn slow_reader(addr: SocketAddr, done: Arc<AtomicBool>, counts: Arc<Counts>) {
    const CHUNKS: u64 = 64;
    const SIZE: u64 = 16 * 1024;
    while !done.load(Ordering::Relaxed) {
        let Ok(stream) = TcpStream::connect(addr).await else {
            counts.unexpected("connect failed".into());
            continue;
        };
        let mut slow = SlowRead {
            stream,
            pace: Duration::from_millis(5),
            wait: Box::pin(tokio::time::sleep(Duration::ZERO)),
        };
        if slow
            .stream
            .write_all(
                format!("GET /stream?n={CHUNKS}&size={SIZE} HTTP/1.1\r\nHost: soak\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .is_err()
        {
            counts.unexpected("slow reader write failed".into());
            continue;
        }
        let mut buf = BytesMut::new();
        let mut all_x = true;
        match client::read_response_with(&mut slow, &mut buf, &mut |b| {
            all_x &= b.iter().all(|&c| c == b'x')
        })
        .await
        {
            Ok(r) if r.status == 200 && r.body_len == CHUNKS * SIZE && all_x => {
                Counts::add(&counts.slow_reads, 1);
                Counts::add(&counts.slow_bytes, r.body_len);
            }
            other => counts.unexpected(format!("slow read: {other:?}, all x {all_x}")),
        }
    }
}

/// A stream read at most 4 KiB at a time, `pace` apart.
struct SlowRead {
    stream: TcpStream,
    pace: Duration,
    wait: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl tokio::io::AsyncRead for SlowRead {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = &mut *self;
        std::task::ready!(this.wait.as_mut().poll(cx));
        let mut small = [0u8; 4096];
        let take = buf.remaining().min(small.len());
        let mut limited = tokio::io::ReadBuf::new(&mut small[..take]);
        std::task::ready!(std::pin::Pin::new(&mut this.stream).poll_read(cx, &mut limited))?;
        buf.put_slice(limited.filled());
        this.wait
            .as_mut()
            .reset(tokio::time::Instant::now() + this.pace);
        std::task::Poll::Ready(Ok(()))
    }
}

/// Starts `peer` on a free port; returns the child and its address.
fn start_peer(peer: &PathBuf, threads: usize) -> (Child, SocketAddr) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let child = Command::new(peer)
        .args([
            "--bind",
            &addr.to_string(),
            "--threads",
            &threads.to_string(),
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", peer.display()));
    let started = Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the peer does not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, addr)
}

fn main() {
    let args = cli::args();
    let secs: u64 = cli::or_exit(cli::flag(&args, "secs", 600));
    let warmup: u64 = cli::or_exit(cli::flag(&args, "warmup-secs", 60.min(secs / 2)));
    let threads: usize = cli::or_exit(cli::flag(&args, "threads", 1));
    let default_peer = std::env::current_exe().unwrap().with_file_name("rgi-peer");
    let peer: PathBuf = cli::or_exit(cli::flag(&args, "peer", default_peer));
    let (mut child, addr) = start_peer(&peer, threads);
    let pid = child.id();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let counts = Arc::new(Counts::default());
    let done = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut samples: Vec<u64> = Vec::new();
    runtime.block_on(async {
        let mut tasks = Vec::new();
        let spawn = |tasks: &mut Vec<_>, f: tokio::task::JoinHandle<()>| tasks.push(f);
        for _ in 0..4 {
            spawn(
                &mut tasks,
                tokio::spawn(keep_alive(addr, done.clone(), counts.clone())),
            );
        }
        for _ in 0..2 {
            spawn(
                &mut tasks,
                tokio::spawn(pipelined(addr, done.clone(), counts.clone())),
            );
        }
        for seed in 0..4 {
            spawn(
                &mut tasks,
                tokio::spawn(uploads(
                    addr,
                    done.clone(),
                    counts.clone(),
                    0x9e37_79b9 * (seed + 1),
                )),
            );
        }
        spawn(
            &mut tasks,
            tokio::spawn(aborts(addr, done.clone(), counts.clone())),
        );
        for _ in 0..2 {
            spawn(
                &mut tasks,
                tokio::spawn(slow_reader(addr, done.clone(), counts.clone())),
            );
        }
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        while started.elapsed() < Duration::from_secs(secs) {
            tick.tick().await;
            match proc_status::read(pid) {
                Ok(memory) => samples.push(memory.rss_kib),
                Err(e) => {
                    counts.unexpected(format!("the server process is gone: {e}"));
                    break;
                }
            }
            if samples.len() % 60 == 0 {
                eprintln!(
                    "{:>4} s: RSS {} KiB, {} requests, {} unexpected",
                    samples.len(),
                    samples.last().unwrap(),
                    Counts::get(&counts.keep_alive)
                        + Counts::get(&counts.pipelined)
                        + Counts::get(&counts.uploads),
                    Counts::get(&counts.unexpected)
                );
            }
        }
        done.store(true, Ordering::Relaxed);
        for task in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
        }
    });
    let _ = child.kill();
    let _ = child.wait();

    let at_warmup = samples[(warmup as usize).min(samples.len() - 1)];
    let at_end = *samples.last().unwrap();
    let (min, max) = (samples.iter().min().unwrap(), samples.iter().max().unwrap());
    let ratio = at_end as f64 / at_warmup as f64;
    let unexpected = Counts::get(&counts.unexpected);
    println!(
        "soak: {secs} s against {} (pid {pid}, {threads} worker thread(s))",
        peer.display()
    );
    println!(
        "requests: {} keep-alive GETs, {} pipelined GETs, {} uploads ({} bytes echoed and checksummed), {} slow reads ({} bytes checked)",
        Counts::get(&counts.keep_alive),
        Counts::get(&counts.pipelined),
        Counts::get(&counts.uploads),
        Counts::get(&counts.upload_bytes),
        Counts::get(&counts.slow_reads),
        Counts::get(&counts.slow_bytes),
    );
    println!(
        "aborted: {} mid-request, {} mid-response; unexpected: {unexpected}",
        Counts::get(&counts.aborted_requests),
        Counts::get(&counts.aborted_responses),
    );
    let curve: Vec<String> = samples
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 60 == 0 || *i + 1 == samples.len())
        .map(|(i, kib)| format!("{i}s {kib}"))
        .collect();
    println!("RSS KiB per minute: {}", curve.join(", "));
    println!("RSS: {at_warmup} KiB after {warmup} s, {at_end} KiB at the end ({ratio:.3}x); min {min}, max {max}");
    let holds = unexpected == 0 && ratio <= 1.10;
    println!("{}", if holds { "HOLDS" } else { "FAILS" });
    if !holds {
        std::process::exit(1);
    }
}
