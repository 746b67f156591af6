//! A deterministic client for counting a peer's instructions per request
//! (`load/instructions.sh` runs a peer under callgrind and this against it).
//!
//! `instr-client --addr 127.0.0.1:8080 --scenario pipelined|plaintext|conn-per-request|echo
//! --requests N [--host <addr>] [--wait 60] [--pause-us 2000]`
//!
//! Sends exactly `N` requests, one step (a request, a batch, a connection)
//! at a time, and checks that every response is a 200 with the expected
//! body length; exits with status 1 otherwise. Between steps it pauses
//! (`--pause-us`) so that the server has gone idle and takes the same path
//! (park, wake) for every step: without it, whether the next request is
//! already waiting when the server finishes one depends on scheduling, and
//! per-request figures varied by up to 1.6 % between runs. `--host` sets the
//! `host` field (default: the address with its port, as wrk sends it).
//! The first connection is retried for up to `--wait` seconds, so it also
//! waits for the server to be ready without a probe connection the server
//! would count. Every connection is closed by the server before this
//! returns, so none of the server's work is left for after the run.
//!
//! * `pipelined`: `GET /` in batches of 16 per write, one connection.
//! * `plaintext`: `GET /`, one at a time, one keep-alive connection.
//! * `conn-per-request`: `GET /` with `connection: close`, a new
//!   connection each.
//! * `echo`: `POST /echo` with a 4 KiB body, one keep-alive connection.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rgi_bench::routes::HELLO;
use rgi_bench::{cli, client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Requests per write when pipelining (as `load/pipeline.lua`).
const PIPELINE_DEPTH: usize = 16;
/// The `POST /echo` body size (as `load/echo.lua`).
const ECHO_BODY: usize = 4096;
/// The bound on every step (a write and its responses, or a close). Generous:
/// the server runs under valgrind, some 50 times slower than native.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

type Outcome = Result<(), String>;

#[derive(Debug, Clone, Copy)]
enum Scenario {
    Pipelined,
    Plaintext,
    ConnPerRequest,
    Echo,
}

impl FromStr for Scenario {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "pipelined" => Ok(Self::Pipelined),
            "plaintext" => Ok(Self::Plaintext),
            "conn-per-request" => Ok(Self::ConnPerRequest),
            "echo" => Ok(Self::Echo),
            _ => Err(()),
        }
    }
}

/// One run: where, what, how many, and how slowly.
struct Plan {
    addr: SocketAddr,
    /// The `host` field's value: `--addr` by default, as wrk sends it.
    host: String,
    scenario: Scenario,
    requests: usize,
    /// The pause between steps.
    pause: Duration,
    /// When to give up waiting for the server to listen.
    ready_by: Instant,
}

fn main() {
    let args = cli::args();
    let addr: SocketAddr = cli::or_exit(cli::flag(&args, "addr", ([127, 0, 0, 1], 8080).into()));
    let plan = Plan {
        addr,
        host: cli::or_exit(cli::flag(&args, "host", addr.to_string())),
        scenario: cli::or_exit(cli::flag(&args, "scenario", Scenario::Plaintext)),
        requests: cli::or_exit(cli::flag(&args, "requests", 1000)),
        pause: Duration::from_micros(cli::or_exit(cli::flag(&args, "pause-us", 2000))),
        ready_by: Instant::now() + Duration::from_secs(cli::or_exit(cli::flag(&args, "wait", 60))),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build the tokio runtime");
    if let Err(message) = runtime.block_on(run(&plan)) {
        eprintln!(
            "instr-client: {:?} against {addr}: {message}",
            plan.scenario
        );
        std::process::exit(1);
    }
}

async fn run(plan: &Plan) -> Outcome {
    let host = &plan.host;
    let hello = format!("GET / HTTP/1.1\r\nhost: {host}\r\n\r\n");
    let mut buf = BytesMut::with_capacity(16 * 1024);
    let mut stream = connect_when_ready(plan.addr, plan.ready_by).await?;
    match plan.scenario {
        Scenario::Pipelined => {
            let batch = hello.repeat(PIPELINE_DEPTH);
            let mut left = plan.requests;
            while left > 0 {
                if left < plan.requests {
                    tokio::time::sleep(plan.pause).await;
                }
                let count = left.min(PIPELINE_DEPTH);
                let step = async {
                    let requests = &batch.as_bytes()[..count * hello.len()];
                    stream.write_all(requests).await?;
                    for _ in 0..count {
                        expect(&mut stream, &mut buf, HELLO.len()).await?;
                    }
                    Ok(())
                };
                bounded(step).await?;
                left -= count;
            }
            close(stream).await
        }
        Scenario::Plaintext => {
            for i in 0..plan.requests {
                if i > 0 {
                    tokio::time::sleep(plan.pause).await;
                }
                bounded(exchange(
                    &mut stream,
                    &mut buf,
                    hello.as_bytes(),
                    HELLO.len(),
                ))
                .await?;
            }
            close(stream).await
        }
        Scenario::Echo => {
            let head = format!(
                "POST /echo HTTP/1.1\r\nhost: {host}\r\ncontent-length: {ECHO_BODY}\r\n\r\n"
            );
            let mut request = head.into_bytes();
            request.resize(request.len() + ECHO_BODY, b'e');
            for i in 0..plan.requests {
                if i > 0 {
                    tokio::time::sleep(plan.pause).await;
                }
                bounded(exchange(&mut stream, &mut buf, &request, ECHO_BODY)).await?;
            }
            close(stream).await
        }
        Scenario::ConnPerRequest => {
            let request = format!("GET / HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n");
            for i in 0..plan.requests {
                if i > 0 {
                    tokio::time::sleep(plan.pause).await;
                    stream = bounded(TcpStream::connect(plan.addr)).await?;
                    stream.set_nodelay(true).map_err(|e| e.to_string())?;
                }
                bounded(exchange(
                    &mut stream,
                    &mut buf,
                    request.as_bytes(),
                    HELLO.len(),
                ))
                .await?;
                // The server closes: wait for it, so TIME_WAIT sits on its side.
                bounded(until_eof(&mut stream)).await?;
                buf.clear();
            }
            Ok(())
        }
    }
}

/// Connects, retrying until `ready_by` while the server is not listening yet.
async fn connect_when_ready(addr: SocketAddr, ready_by: Instant) -> Result<TcpStream, String> {
    loop {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                stream.set_nodelay(true).map_err(|e| e.to_string())?;
                return Ok(stream);
            }
            Err(e) if Instant::now() >= ready_by => {
                return Err(format!("server not ready in time: {e}"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Sends one request and checks its response.
async fn exchange(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    request: &[u8],
    body_len: usize,
) -> std::io::Result<()> {
    stream.write_all(request).await?;
    expect(stream, buf, body_len).await
}

/// Reads one response; an error unless it is a 200 with `body_len` bytes.
async fn expect(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    body_len: usize,
) -> std::io::Result<()> {
    let response = client::read_response(stream, buf).await?;
    if response.status != 200 || response.body_len != body_len as u64 {
        return Err(std::io::Error::other(format!(
            "expected 200 with {body_len} body bytes, got {} with {}",
            response.status, response.body_len
        )));
    }
    Ok(())
}

/// Ends a keep-alive connection and waits for the server to close its side.
async fn close(mut stream: TcpStream) -> Outcome {
    bounded(async {
        stream.shutdown().await?;
        until_eof(&mut stream).await
    })
    .await
}

/// Reads until the server closes; anything more it sends is an error.
async fn until_eof(stream: &mut TcpStream) -> std::io::Result<()> {
    let mut rest = [0u8; 64];
    match stream.read(&mut rest).await? {
        0 => Ok(()),
        n => Err(std::io::Error::other(format!("{n} unexpected bytes"))),
    }
}

/// Runs one step within [`STEP_TIMEOUT`].
async fn bounded<T>(
    step: impl std::future::Future<Output = std::io::Result<T>>,
) -> Result<T, String> {
    match tokio::time::timeout(STEP_TIMEOUT, step).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no progress in {STEP_TIMEOUT:?}")),
    }
}
