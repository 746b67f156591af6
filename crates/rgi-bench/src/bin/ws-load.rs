//! The WebSocket load client: echo round trips, or idle connections.
//!
//! ```text
//! ws-load --mode echo [--addr 127.0.0.1:8080] [--path /] [--conns 64]
//!         [--size 64] [--binary] [--deflate] [--seconds 5] [--pid PID]
//!         [--messages N] [--random]
//! ws-load --mode idle --pid PID [--addr ..] [--path /] [--conns 2000]
//!         [--parallel 128] [--settle-ms 1000] [--deflate]
//! ```
//!
//! `echo`: `--conns` connections, each a closed loop (send one message of
//! `--size` bytes, wait for its echo, check it byte for byte, repeat) for
//! `--seconds`, all on one thread. Prints
//! `round_trips=N rps=R p50=.. p99=.. deflate=yes|no errors=E`, and with
//! `--pid` of the server `server_cpu_us=C`: the server's CPU time (user +
//! system, from `/proc`) per round trip, the figure that holds when the
//! machine is shared and the server gets only part of its core.
//! `--messages N`: each connection makes exactly N round trips instead of
//! running for `--seconds` (how `load/ws-instructions.sh` counts the
//! server's instructions per round trip under callgrind).
//! Text messages are printable ASCII; binary ones are base64-like bytes
//! (compressible about 4:3, like real payloads rather than noise);
//! `--random` makes them binary bytes of every value, which deflate cannot
//! shrink.
//!
//! `idle`: opens `--conns` WebSockets (at most `--parallel` handshakes at a
//! time), keeps them open and silent, then reads the server's memory.
//! Prints `conns=.. opened=.. still_open=.. failed=.. rss_before_kib=..
//! rss_kib=.. peak_kib=.. per_conn_bytes=..`.
//!
//! Every run is bounded (echo: `--seconds` + 30 s, or 600 s with
//! `--messages`; idle: 120 s).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rgi_bench::stats::{wrk_style, Latencies};
use rgi_bench::ws_client::WsClient;
use rgi_bench::{cli, client, proc_status};
use tokio::task::JoinSet;

fn main() {
    let args = cli::args();
    let mode: String = cli::or_exit(cli::flag(&args, "mode", "echo".to_owned()));
    let addr: SocketAddr = cli::or_exit(cli::flag(&args, "addr", ([127, 0, 0, 1], 8080).into()));
    let path: String = cli::or_exit(cli::flag(&args, "path", "/".to_owned()));
    let deflate = args.iter().any(|a| a == "--deflate");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build the tokio runtime");
    match mode.as_str() {
        "echo" => {
            let conns: usize = cli::or_exit(cli::flag(&args, "conns", 64));
            let size: usize = cli::or_exit(cli::flag(&args, "size", 64));
            let seconds: u64 = cli::or_exit(cli::flag(&args, "seconds", 5));
            let random = args.iter().any(|a| a == "--random");
            let binary = random || args.iter().any(|a| a == "--binary");
            let pid: u32 = cli::or_exit(cli::flag(&args, "pid", 0));
            let messages: u64 = cli::or_exit(cli::flag(&args, "messages", 0));
            let run = Echo {
                messages,
                pid,
                addr,
                path,
                deflate,
                payload: payload(size, binary, random),
                text: !binary,
                duration: Duration::from_secs(seconds),
            };
            // With --messages the run's length is not known: bounded by
            // 10 minutes (under callgrind a round trip takes ~1 ms).
            let bound = if messages > 0 { 600 } else { seconds + 30 };
            let bounded =
                async { tokio::time::timeout(Duration::from_secs(bound), run.run(conns)).await };
            match runtime.block_on(bounded) {
                Ok(line) => println!("{line}"),
                Err(_) => {
                    eprintln!("ws-load: timed out");
                    std::process::exit(1);
                }
            }
        }
        "idle" => {
            let pid: u32 = cli::or_exit(cli::flag(&args, "pid", 0));
            let conns: usize = cli::or_exit(cli::flag(&args, "conns", 2000));
            let parallel: usize = cli::or_exit(cli::flag(&args, "parallel", 128));
            let settle_ms: u64 = cli::or_exit(cli::flag(&args, "settle-ms", 1000));
            if pid == 0 {
                cli::or_exit::<()>(Err("--pid of the server is required".into()));
            }
            let settle = Duration::from_millis(settle_ms);
            let bounded = async {
                let idle = idle(addr, &path, deflate, pid, conns, parallel, settle);
                tokio::time::timeout(Duration::from_secs(120), idle).await
            };
            match runtime.block_on(bounded) {
                Ok(Ok(line)) => println!("{line}"),
                Ok(Err(e)) => {
                    eprintln!("ws-load: {e}");
                    std::process::exit(1);
                }
                Err(_) => {
                    eprintln!("ws-load: timed out");
                    std::process::exit(1);
                }
            }
        }
        other => cli::or_exit(Err(format!("--mode: echo or idle, not {other:?}"))),
    }
}

/// `size` bytes of printable ASCII (text), or of a 64-symbol alphabet
/// picked by a fixed pseudo-random sequence (binary).
/// With `random`, binary bytes of every value (deflate cannot shrink them).
fn payload(size: usize, binary: bool, random: bool) -> Vec<u8> {
    const TEXT: &[u8] = b"The quick brown fox jumps over the lazy dog. 0123456789 ";
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut state: u32 = 0x2545_f491;
    (0..size)
        .map(|i| {
            if binary {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                if random {
                    state as u8
                } else {
                    ALPHABET[(state % 64) as usize]
                }
            } else {
                TEXT[i % TEXT.len()]
            }
        })
        .collect()
}

struct Echo {
    /// Round trips per connection; 0: as many as fit in `duration`.
    messages: u64,
    /// The server's pid, to read its CPU time; 0 for none.
    pid: u32,
    addr: SocketAddr,
    path: String,
    deflate: bool,
    payload: Vec<u8>,
    text: bool,
    duration: Duration,
}

/// What one connection did.
#[derive(Default)]
struct Tally {
    round_trips: u64,
    errors: u64,
    deflate: bool,
    latencies: Latencies,
}

impl Echo {
    async fn run(self, conns: usize) -> String {
        let this = std::sync::Arc::new(self);
        // Everyone connects first, then the clock starts for all at once.
        let mut clients = Vec::with_capacity(conns);
        let mut errors = 0;
        for _ in 0..conns {
            match WsClient::connect(this.addr, &this.path, this.deflate).await {
                Ok(client) => clients.push(client),
                Err(e) => {
                    eprintln!("connect: {e}");
                    errors += 1;
                }
            }
        }
        let deadline = Instant::now() + this.duration;
        let started = Instant::now();
        let cpu_before = (this.pid != 0)
            .then(|| proc_status::cpu_ticks(this.pid).ok())
            .flatten();
        let mut tasks = JoinSet::new();
        for client in clients {
            let this = this.clone();
            tasks.spawn(async move { this.one(client, deadline).await });
        }
        let mut total = Tally {
            errors,
            ..Tally::default()
        };
        let mut deflate = true;
        while let Some(done) = tasks.join_next().await {
            let tally = done.unwrap_or_else(|_| Tally {
                errors: 1,
                ..Tally::default()
            });
            total.round_trips += tally.round_trips;
            total.errors += tally.errors;
            deflate &= tally.deflate;
            total.latencies.merge(tally.latencies);
        }
        let elapsed = started.elapsed().as_secs_f64();
        let cpu_after = (this.pid != 0)
            .then(|| proc_status::cpu_ticks(this.pid).ok())
            .flatten();
        let server_cpu = match (cpu_before, cpu_after) {
            (Some(before), Some(after)) if total.round_trips > 0 => {
                let micros = (after - before) as f64 * 1e6 / proc_status::TICKS_PER_SECOND as f64;
                format!(" server_cpu_us={:.2}", micros / total.round_trips as f64)
            }
            _ => String::new(),
        };
        let rps = total.round_trips as f64 / elapsed;
        let p50 = total
            .latencies
            .percentile(50.0)
            .map_or("nan".into(), wrk_style);
        let p99 = total
            .latencies
            .percentile(99.0)
            .map_or("nan".into(), wrk_style);
        format!(
            "round_trips={} rps={rps:.0} p50={p50} p99={p99} deflate={} errors={}{server_cpu}",
            total.round_trips,
            if deflate && total.round_trips > 0 {
                "yes"
            } else {
                "no"
            },
            total.errors
        )
    }

    async fn one(&self, mut client: WsClient, deadline: Instant) -> Tally {
        let frame = client.frame(&self.payload, self.text);
        let mut tally = Tally {
            deflate: client.deflate(),
            ..Tally::default()
        };
        let want = if self.text { 1 } else { 2 };
        while if self.messages > 0 {
            tally.round_trips < self.messages
        } else {
            Instant::now() < deadline
        } {
            let sent = Instant::now();
            if let Err(e) = client.send_frame(&frame).await {
                eprintln!("send: {e}");
                tally.errors += 1;
                break;
            }
            match client.read_message().await {
                Ok(read) if read.opcode == want && read.payload == self.payload.as_slice() => {
                    tally.latencies.record(sent.elapsed());
                    tally.round_trips += 1;
                }
                Ok(read) => {
                    eprintln!(
                        "echo differs: opcode {} with {} bytes",
                        read.opcode,
                        read.payload.len()
                    );
                    tally.errors += 1;
                    break;
                }
                Err(e) => {
                    eprintln!("read: {e}");
                    tally.errors += 1;
                    break;
                }
            }
        }
        tally
    }
}

async fn idle(
    addr: SocketAddr,
    path: &str,
    deflate: bool,
    pid: u32,
    conns: usize,
    parallel: usize,
    settle: Duration,
) -> std::io::Result<String> {
    let before = proc_status::read(pid)?;
    let (open, failed) = client::open_many(conns, parallel, || {
        let path = path.to_owned();
        async move {
            let connecting = WsClient::connect(addr, &path, deflate);
            tokio::time::timeout(Duration::from_secs(10), connecting).await?
        }
    })
    .await;
    tokio::time::sleep(settle).await;
    let after = proc_status::read(pid)?;
    let still_open = open.iter().filter(|c| c.is_open()).count();
    let per_conn =
        (after.rss_kib.saturating_sub(before.rss_kib) * 1024) / (open.len().max(1) as u64);
    Ok(format!(
        "conns={conns} opened={} still_open={still_open} failed={failed} rss_before_kib={} rss_kib={} peak_kib={} per_conn_bytes={per_conn}",
        open.len(),
        before.rss_kib,
        after.rss_kib,
        after.peak_kib
    ))
}
