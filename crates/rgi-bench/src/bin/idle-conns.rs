//! Opens many keep-alive connections, sends one `GET /` on each, keeps them
//! all open and idle, then reports the server's memory and closes them.
//!
//! `idle-conns --pid PID [--addr 127.0.0.1:8080] [--conns 10000] [--parallel 128] [--settle-ms 1000]`
//!
//! Prints one line:
//! `conns=... opened=... still_open=... failed=... rss_before_kib=... rss_kib=... peak_kib=...`.
//! The file-descriptor limit must allow `--conns` sockets (the script
//! raises it); connections that fail are counted, not fatal. The whole run
//! is bounded by a 120 s timeout.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use rgi_bench::{cli, client, proc_status};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn main() {
    let args = cli::args();
    let addr: SocketAddr = cli::or_exit(cli::flag(&args, "addr", ([127, 0, 0, 1], 8080).into()));
    let pid: u32 = cli::or_exit(cli::flag(&args, "pid", 0));
    let conns: usize = cli::or_exit(cli::flag(&args, "conns", 10_000));
    let parallel: usize = cli::or_exit(cli::flag(&args, "parallel", 128));
    let settle_ms: u64 = cli::or_exit(cli::flag(&args, "settle-ms", 1000));
    if pid == 0 {
        cli::or_exit::<()>(Err("--pid of the server is required".into()));
    }
    let before = proc_status::read(pid).unwrap_or_else(|e| panic!("read /proc/{pid}/status: {e}"));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build the tokio runtime");
    let opening = async {
        let (open, failed) = client::open_many(conns, parallel, || open_one(addr)).await;
        tokio::time::sleep(Duration::from_millis(settle_ms)).await;
        let after = proc_status::read(pid);
        let still_open = open
            .iter()
            .filter(|s| client::is_open_and_silent(s))
            .count();
        (open, still_open, failed, after)
    };
    // The timer is created inside the runtime, hence the `async` wrapper.
    let outcome =
        runtime.block_on(async { tokio::time::timeout(Duration::from_secs(120), opening).await });
    let Ok((open, still_open, failed, after)) = outcome else {
        eprintln!("idle-conns: timed out");
        std::process::exit(1);
    };
    let after = after.unwrap_or_else(|e| panic!("read /proc/{pid}/status: {e}"));
    println!(
        "conns={conns} opened={} still_open={still_open} failed={failed} rss_before_kib={} rss_kib={} peak_kib={}",
        open.len(),
        before.rss_kib,
        after.rss_kib,
        after.peak_kib
    );
    drop(open);
}

async fn open_one(addr: SocketAddr) -> std::io::Result<TcpStream> {
    tokio::time::timeout(Duration::from_secs(10), async {
        let mut stream = TcpStream::connect(addr).await?;
        stream
            .write_all(b"GET / HTTP/1.1\r\nhost: bench\r\n\r\n")
            .await?;
        let mut buf = BytesMut::with_capacity(512);
        let response = client::read_response(&mut stream, &mut buf).await?;
        if response.status != 200 || response.close {
            return Err(std::io::Error::other("not a keep-alive 200"));
        }
        Ok(stream)
    })
    .await?
}
