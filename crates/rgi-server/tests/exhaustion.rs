//! Resource exhaustion: the server runs in a child process (this test
//! binary again, running the ignored `child_server` entry) so that its file
//! descriptor limit, memory and CPU time are its own and can be read from
//! `/proc`, while the clients run here.
//!
//! * out of file descriptors: accept backs off without spinning or exiting,
//!   and the clients queued meanwhile are served once descriptors free up;
//! * 10,000 idle keep-alive connections hold bounded memory while new
//!   clients are served promptly;
//! * 1,000 slowloris connections do not stop other clients;
//! * a burst of pipelined requests far larger than the buffers is answered
//!   in order, with bounded memory.
//!
//! A client that never reads a large response is covered elsewhere:
//! `adversarial_slow::a_client_that_never_reads_does_not_grow_the_server`
//! (bounded memory) and `write_timeout::a_client_that_never_reads_is_given_up`
//! (cut off by the write timeout).
//!
//! Linux only (`/proc`, `ulimit`); elsewhere the tests print why and pass.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CHILD_ENV: &str = "RGI_EXHAUSTION_CHILD";

/// One exhaustion test at a time: each needs most of this process's
/// descriptors (and a quiet machine for its CPU and memory readings).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The server process: started by the tests below, never on its own
/// (`#[ignore]`). Serves [`Reflect`] on 127.0.0.1 with the configuration
/// for the mode in `RGI_EXHAUSTION_CHILD`, prints `ADDR <addr>` and serves
/// until its stdin closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the child process of the exhaustion tests"]
async fn child_server() {
    let Ok(mode) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut config = test_config();
    config.keep_alive_timeout = Duration::from_secs(120);
    config.head_timeout = Duration::from_secs(if mode == "slowloris" { 30 } else { 120 });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = rgi_server::Server::from_listener(listener).with_config(config);
    let stdin_closed = tokio::task::spawn_blocking(|| {
        let mut sink = String::new();
        while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {}
    });
    println!("ADDR {addr}");
    std::io::stdout().flush().unwrap();
    server
        .serve_with_shutdown(Reflect, async {
            let _ = stdin_closed.await;
        })
        .await
        .unwrap();
}

/// The child server; killed when dropped.
struct ChildServer {
    child: Child,
    addr: SocketAddr,
}

impl ChildServer {
    /// Starts the child in `mode`, with its descriptor limit set to
    /// `fd_limit`. `None` (with a message) where that cannot run.
    fn start(mode: &str, fd_limit: u64) -> Option<ChildServer> {
        if !cfg!(target_os = "linux") {
            println!("skipped: needs Linux (/proc, ulimit)");
            return None;
        }
        let exe = std::env::current_exe().unwrap();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"ulimit -n "$1" && shift && exec "$@""#)
            .arg("sh")
            .arg(fd_limit.to_string())
            .arg(exe)
            .args([
                "--exact",
                "child_server",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, mode)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("sh runs the child server");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines.next().expect("the child prints its address").unwrap();
            // The harness prints `test child_server ... ` on the same line.
            if let Some(at) = line.find("ADDR ") {
                break line[at + 5..].trim().parse().unwrap();
            }
        };
        // The rest of its output is the test harness's; let it drain.
        std::thread::spawn(move || lines.for_each(drop));
        Some(ChildServer { child, addr })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory, KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    /// CPU time used so far (user + system).
    fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        // Fields after the command name: state is 0, utime 11, stime 12.
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // USER_HZ is 100 on every Linux configuration in use.
        Duration::from_millis(ticks * 10)
    }

    fn assert_alive(&mut self) {
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "the server process exited"
        );
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The soft limit on open files of this process.
fn own_fd_limit() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
        .unwrap_or(1024)
}

/// `n` clients, or as many as this process's descriptor limit allows
/// (printing a note when that is fewer).
fn scaled(n: usize, what: &str) -> usize {
    let room = own_fd_limit().saturating_sub(200) as usize;
    if room < n {
        println!("note: {what}: {room} connections instead of {n} (open-file limit here)");
    }
    n.min(room)
}

/// One GET, its answer read, on a fresh connection; the connection stays
/// open (keep-alive) in the returned client.
async fn get_kept(addr: SocketAddr, path: &str) -> Client {
    let mut client = Client::connect(addr).await;
    let r = client.request(&get(path)).await;
    assert_eq!(
        (r.status, r.text()),
        (200, format!("GET {path} host=test body=").as_str())
    );
    client
}

/// How long a fresh client waits for its answer, worst of `n` in a row.
async fn worst_latency(addr: SocketAddr, n: usize) -> Duration {
    let mut worst = Duration::ZERO;
    for i in 0..n {
        let started = Instant::now();
        drop(get_kept(addr, &format!("/fresh{i}")).await);
        worst = worst.max(started.elapsed());
    }
    worst
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_file_descriptors_accept_backs_off_and_recovers() {
    let _serial = ONE_AT_A_TIME.lock().await;
    // 64 descriptors: about 50 connections after the runtime's own.
    let Some(mut server) = ChildServer::start("fd", 64) else {
        return;
    };
    let addr = server.addr;
    const CLIENTS: usize = 150;
    let answered = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(tokio::sync::Notify::new());
    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        let (answered, release) = (answered.clone(), release.clone());
        clients.push(tokio::spawn(async move {
            // Queued connections complete their handshake in the backlog;
            // the answer comes once the server can accept them.
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream
                .write_all(format!("GET /c{i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let mut got = Vec::new();
            let expected = format!("GET /c{i} host=t body=");
            let deadline = Duration::from_secs(60);
            tokio::time::timeout(deadline, async {
                let mut buf = [0u8; 512];
                while !got.ends_with(expected.as_bytes()) {
                    let n = stream.read(&mut buf).await.unwrap();
                    assert!(n > 0, "closed before answering /c{i}");
                    got.extend_from_slice(&buf[..n]);
                }
            })
            .await
            .unwrap_or_else(|_| panic!("/c{i} not answered within {deadline:?}"));
            assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"));
            answered.fetch_add(1, Ordering::SeqCst);
            // Hold the descriptor until told to let go.
            release.notified().await;
        }));
    }
    // Let the server run out of descriptors and stay there a while.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = answered.load(Ordering::SeqCst);
    let cpu_before = server.cpu_time();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu_used = server.cpu_time() - cpu_before;
    let stuck = answered.load(Ordering::SeqCst);
    println!("answered with 64 fds: {before} then {stuck} of {CLIENTS}; CPU while out of fds: {cpu_used:?} in 2 s");
    assert!(stuck > 0, "nothing served at all");
    assert!(
        stuck < CLIENTS,
        "the limit was never reached: the test proves nothing"
    );
    // A spinning accept loop would burn a whole core (2 s here).
    assert!(
        cpu_used < Duration::from_millis(500),
        "accept spins: {cpu_used:?} CPU in 2 s"
    );
    server.assert_alive();

    // Free descriptors: one by one the waiting clients get in.
    let started = Instant::now();
    while answered.load(Ordering::SeqCst) < CLIENTS {
        release.notify_waiters();
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "only {} of {CLIENTS} served after descriptors were freed",
            answered.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    release.notify_waiters();
    for client in clients {
        bounded("a client task", async {
            loop {
                release.notify_waiters();
                if client.is_finished() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        client.await.unwrap();
    }
    println!(
        "all {CLIENTS} served {:?} after the first release",
        started.elapsed()
    );
    // And it still serves newcomers.
    drop(get_kept(addr, "/after").await);
    server.assert_alive();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_idle_connections_hold_bounded_memory() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let idle = scaled(10_000, "idle keep-alive");
    let Some(mut server) = ChildServer::start("idle", idle as u64 + 200) else {
        return;
    };
    let addr = server.addr;
    // Warm up (runtime threads, buffers of a first connection).
    drop(get_kept(addr, "/warm").await);
    let base = server.rss_kib();
    let mut clients = Vec::with_capacity(idle);
    let started = Instant::now();
    for batch in 0..idle.div_ceil(100) {
        let opened = futures_util::future::join_all(
            (batch * 100..((batch + 1) * 100).min(idle))
                .map(|i| get_kept(addr, if i % 2 == 0 { "/e" } else { "/o" })),
        )
        .await;
        clients.extend(opened);
    }
    let rss = server.rss_kib();
    let per_conn = (rss.saturating_sub(base) * 1024) / idle as u64;
    let worst = worst_latency(addr, 50).await;
    println!(
        "{idle} idle keep-alive connections opened in {:?}: server RSS {base} -> {rss} KiB ({per_conn} bytes each); worst of 50 fresh requests {worst:?}",
        started.elapsed()
    );
    // Measured about 8 KiB per idle connection (RELIABILITY.md); 32 KiB
    // would mean a buffer per idle connection that should have gone.
    assert!(per_conn < 32 * 1024, "{per_conn} bytes per idle connection");
    assert!(
        worst < Duration::from_secs(1),
        "a fresh client waited {worst:?}"
    );
    // The idle ones are still served too.
    for client in clients.iter_mut().step_by(997) {
        let r = client.request(&get("/again")).await;
        assert_eq!(r.status, 200);
    }
    server.assert_alive();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_slowloris_connections_do_not_stop_other_clients() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let n = scaled(1_000, "slowloris");
    let Some(mut server) = ChildServer::start("slowloris", n as u64 + 200) else {
        return;
    };
    let addr = server.addr;
    let mut lorises = Vec::with_capacity(n);
    for _ in 0..n {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ")
            .await
            .unwrap();
        lorises.push(stream);
    }
    // Trickle one byte per connection every 200 ms for 3 s, while fresh
    // clients come and go.
    let trickle = tokio::spawn(async move {
        for _ in 0..15 {
            for stream in &mut lorises {
                // The server may have given up on one already: fine.
                let _ = stream.write_all(b"a").await;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        lorises
    });
    let worst = worst_latency(addr, 50).await;
    let lorises = bounded("the trickle", trickle).await.unwrap();
    println!("{n} slowloris connections: worst of 50 fresh requests {worst:?}");
    assert!(
        worst < Duration::from_secs(1),
        "a fresh client waited {worst:?}"
    );
    assert_eq!(lorises.len(), n);
    server.assert_alive();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipelined_burst_larger_than_the_buffers_is_answered_in_order() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let Some(mut server) = ChildServer::start("pipelined", 1024) else {
        return;
    };
    let addr = server.addr;
    drop(get_kept(addr, "/warm").await);
    let base = server.rss_kib();
    // 20,000 requests with 512-byte bodies: 11 MiB one way, 12 MiB back,
    // far more than the server's read and write buffers (64 KiB each).
    const REQUESTS: usize = 20_000;
    let body = vec![b'b'; 512];
    let (mut client, mut writer) = Client::connect_with_writer(addr).await;
    let burst = {
        let body = body.clone();
        tokio::spawn(async move {
            let mut all = Vec::new();
            for i in 0..REQUESTS {
                all.extend_from_slice(
                    format!(
                        "POST /{i} HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    )
                    .as_bytes(),
                );
                all.extend_from_slice(&body);
            }
            writer.write_all(&all).await.unwrap();
            all.len()
        })
    };
    let mut peak = base;
    for i in 0..REQUESTS {
        let r = client.read_response().await;
        let mut expected = format!("POST /{i} host=t body=").into_bytes();
        expected.extend_from_slice(&body);
        assert_eq!(r.status, 200);
        assert!(r.body == expected, "response {i} out of order or wrong");
        if i % 1000 == 0 {
            peak = peak.max(server.rss_kib());
        }
    }
    let sent = bounded("the burst", burst).await.unwrap();
    println!("{REQUESTS} pipelined requests ({sent} bytes) answered in order; server RSS {base} KiB, peak {peak} KiB");
    // The burst is 11 MiB: memory that grew with it would show here.
    assert!(
        peak - base < 8 * 1024,
        "server RSS grew {} KiB",
        peak - base
    );
    server.assert_alive();
}
