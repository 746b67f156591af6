//! The testbed behind a real nginx (issue 13): TCP and Unix-socket
//! upstreams with keep-alive, `X-Forwarded-For` believed from nginx and not
//! from a direct client, WebSocket through nginx, and a rolling restart of
//! two instances under load with no failed request.
//!
//! nginx runs unprivileged from a temporary prefix (`-p`), on a free
//! high port, in the foreground, with its pid file, logs and temp files in
//! that directory. The site configuration is the text of
//! `deploy/nginx-*.conf`, which DEPLOYMENT.md shows verbatim, with only the
//! addresses replaced. Without nginx the tests say so and pass, unless
//! `RGI_REQUIRE_EXTERNAL=1` (CI), where its absence fails them.

mod support;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::*;

const TCP_CONF: &str = include_str!("../deploy/nginx-tcp.conf");
const UDS_CONF: &str = include_str!("../deploy/nginx-uds.conf");
const ROLLING_CONF: &str = include_str!("../deploy/nginx-rolling.conf");

/// The nginx binary, or `None` (with a printed reason) when the test is to
/// be skipped.
fn nginx_binary() -> Option<PathBuf> {
    let found = ["nginx", "/usr/sbin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| Command::new(p).arg("-v").output().is_ok());
    if found.is_none() {
        if std::env::var("RGI_REQUIRE_EXTERNAL").as_deref() == Ok("1") {
            panic!("nginx is required (RGI_REQUIRE_EXTERNAL=1) but not installed");
        }
        println!("SKIPPED: nginx is not installed (apt-get install nginx-light)");
    }
    found
}

/// A running nginx, stopped when dropped.
struct Nginx {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Nginx {
    /// Starts nginx with `site` (a `deploy/` file with its addresses
    /// already replaced) on a free port of 127.0.0.1.
    fn start(binary: &Path, name: &str, site: &str) -> Nginx {
        let dir = temp_dir(&format!("nginx-{name}"));
        let port = free_port();
        let site = site.replace("listen 80;", &format!("listen 127.0.0.1:{port};"));
        // As root, nginx's workers would run as `nobody`; keep them as the
        // user that owns the temporary files.
        let user = if is_root() { "user root;\n" } else { "" };
        let d = dir.display();
        let conf = format!(
            "{user}daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n    access_log {d}/access.log;\n    client_body_temp_path {d}/body;\n    proxy_temp_path {d}/proxy;\n    \
             fastcgi_temp_path {d}/fastcgi;\n    uwsgi_temp_path {d}/uwsgi;\n    scgi_temp_path {d}/scgi;\n{site}\n}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let child = Command::new(binary)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let nginx = Nginx { child, port, dir };
        let deadline = Instant::now() + WAIT;
        while std::net::TcpStream::connect(nginx.addr()).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not start: {}",
                nginx.errors()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        nginx
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn errors(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = rgi_fd::terminate(self.child.id());
        let _ = self.child.wait();
    }
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn forwarded_for_is_believed_from_nginx_only() {
    let Some(binary) = nginx_binary() else { return };
    let testbed = Testbed::start(&[
        "--bind",
        "127.0.0.1:0",
        "--proxy-headers",
        "--forwarded-allow-ips",
        "127.0.0.1",
    ]);
    let upstream = testbed.addr();
    let site = TCP_CONF.replace("127.0.0.1:8000", &upstream.to_string());
    let nginx = Nginx::start(&binary, "tcp", &site);

    // Through nginx, from 127.0.0.2: nginx (trusted) says who the client
    // is; the client's own spoofed entry, left of it, is not believed.
    let mut client = connect_from_elsewhere(nginx.addr());
    for _ in 0..20 {
        let who = get(&mut client, "/whoami", &[("x-forwarded-for", "6.6.6.6")]).json();
        assert_eq!(who["client"], "127.0.0.2:0", "{who}");
        assert_eq!(who["scheme"], "http");
        assert_eq!(who["pid"], testbed.pid());
    }
    assert_eq!(get(&mut client, "/", &[]).body, b"Hello, world!");
    // Direct to the testbed from 127.0.0.2: the same header is ignored.
    let direct = get(
        &mut connect_from_elsewhere(upstream),
        "/whoami",
        &[("x-forwarded-for", "6.6.6.6")],
    );
    let who = direct.json();
    assert!(
        who["client"].as_str().unwrap().starts_with("127.0.0.2:"),
        "{who}"
    );
}

#[test]
fn tcp_upstream_connections_are_kept_alive() {
    let Some(binary) = nginx_binary() else { return };
    // Without --proxy-headers the app sees nginx's own address and port:
    // one upstream connection per request would show a new port each time.
    let testbed = Testbed::start(&["--bind", "127.0.0.1:0"]);
    let site = TCP_CONF.replace("127.0.0.1:8000", &testbed.addr().to_string());
    let nginx = Nginx::start(&binary, "keepalive", &site);
    let mut ports = std::collections::HashSet::new();
    for _ in 0..3 {
        let mut client = connect(nginx.addr());
        for _ in 0..10 {
            let who = get(&mut client, "/whoami", &[]).json();
            let nginx_side: SocketAddr = who["client"].as_str().unwrap().parse().unwrap();
            ports.insert(nginx_side.port());
        }
    }
    assert_eq!(
        ports.len(),
        1,
        "30 requests from 3 client connections over one upstream connection: {ports:?}"
    );
    // And the header nginx adds reaches the app untouched.
    let mut client = connect(nginx.addr());
    let headers = get(&mut client, "/headers", &[("x-forwarded-for", "6.6.6.6")]).json();
    assert_eq!(headers["x-forwarded-for"], "6.6.6.6, 127.0.0.1");
}

#[test]
fn unix_socket_upstream() {
    let Some(binary) = nginx_binary() else { return };
    let dir = temp_dir("nginx-uds-upstream");
    let sock = dir.join("rgi.sock");
    let testbed = Testbed::start(&[
        "--uds",
        sock.to_str().unwrap(),
        "--uds-perms",
        "666",
        "--proxy-headers",
    ]);
    let site = UDS_CONF.replace("/run/rgi/rgi.sock", sock.to_str().unwrap());
    let nginx = Nginx::start(&binary, "uds", &site);
    let mut client = connect_from_elsewhere(nginx.addr());
    for _ in 0..10 {
        let who = get(&mut client, "/whoami", &[]).json();
        // A Unix-socket peer is trusted: the client address is nginx's word.
        assert_eq!(who["client"], "127.0.0.2:0", "{who}");
        assert_eq!(who["pid"], testbed.pid());
    }
    assert_eq!(get(&mut client, "/", &[]).body, b"Hello, world!");
    assert!(!nginx.errors().contains("upstream"), "{}", nginx.errors());
}

#[test]
fn websocket_through_nginx() {
    let Some(binary) = nginx_binary() else { return };
    let testbed = Testbed::start(&["--bind", "127.0.0.1:0"]);
    let site = TCP_CONF.replace("127.0.0.1:8000", &testbed.addr().to_string());
    let nginx = Nginx::start(&binary, "ws", &site);
    let mut stream = connect(nginx.addr());
    stream
        .write_all(
            b"GET /ws/echo HTTP/1.1\r\nhost: t\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
              sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n",
        )
        .unwrap();
    let response = read_response(&mut stream);
    assert_eq!(response.status, 101, "{response:?}");
    assert_eq!(
        response.header("sec-websocket-accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
    // A masked text frame "hello through nginx", echoed unmasked.
    let payload = b"hello through nginx";
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x81, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    stream.write_all(&frame).unwrap();
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).unwrap();
    assert_eq!(head, [0x81, payload.len() as u8]);
    let mut echoed = vec![0; payload.len()];
    stream.read_exact(&mut echoed).unwrap();
    assert_eq!(echoed, payload);
}

#[test]
fn rolling_restart_under_load_fails_no_request() {
    let Some(binary) = nginx_binary() else { return };
    let args = |addr: &str| -> Vec<String> {
        ["--bind", addr, "--no-access-log", "--drain-timeout", "10"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let start = |addr: &str| {
        let args = args(addr);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Testbed::start(&args)
    };
    let mut a = start("127.0.0.1:0");
    let mut b = start("127.0.0.1:0");
    let (addr_a, addr_b) = (a.addr(), b.addr());
    let site = ROLLING_CONF
        .replace("127.0.0.1:8001", &addr_a.to_string())
        .replace("127.0.0.1:8002", &addr_b.to_string());
    let nginx = Nginx::start(&binary, "rolling", &site);

    // The load: 4 keep-alive clients through nginx, every answer checked.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let pids = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, ok, failed, pids) = (stop.clone(), ok.clone(), failed.clone(), pids.clone());
            let addr = nginx.addr();
            std::thread::spawn(move || {
                let mut stream = connect(addr);
                while !stop.load(Ordering::Relaxed) {
                    let request = b"GET /whoami HTTP/1.1\r\nhost: t\r\n\r\n";
                    let answer = stream
                        .write_all(request)
                        .and_then(|()| try_read_response(&mut stream));
                    match answer {
                        Ok(r) if r.status == 200 => {
                            ok.fetch_add(1, Ordering::Relaxed);
                            pids.lock()
                                .unwrap()
                                .insert(r.json()["pid"].as_u64().unwrap());
                            // nginx closes a client connection after
                            // `keepalive_requests` (1,000) and says so.
                            if r.header("connection") == Some("close") {
                                stream = connect(addr);
                            }
                        }
                        other => {
                            let brief = other.map(|r| r.status);
                            eprintln!(
                                "failed request at {:?}: {brief:?}",
                                std::time::SystemTime::now()
                            );
                            failed.fetch_add(1, Ordering::Relaxed);
                            stream = connect(addr);
                        }
                    }
                }
            })
        })
        .collect();
    let served = || ok.load(Ordering::Relaxed);
    let wait_for_more = |n: u64| {
        let target = served() + n;
        let deadline = Instant::now() + WAIT;
        while served() < target {
            assert!(Instant::now() < deadline, "the load stalled");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    wait_for_more(200);
    // Restart A, then B, each with a graceful shutdown while load runs.
    for (old, addr) in [(&mut a, addr_a), (&mut b, addr_b)] {
        eprintln!("stopping {addr} at {:?}", std::time::SystemTime::now());
        assert!(old.terminate().success(), "graceful exit");
        eprintln!("stopped {addr} at {:?}", std::time::SystemTime::now());
        wait_for_more(100);
        *old = start(&addr.to_string());
        eprintln!("restarted {addr} at {:?}", std::time::SystemTime::now());
        std::thread::sleep(Duration::from_millis(500));
        wait_for_more(100);
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    let pids = pids.lock().unwrap();
    println!(
        "rolling restart: {} requests, {} failed, {} processes answered",
        served(),
        failed.load(Ordering::Relaxed),
        pids.len()
    );
    assert_eq!(failed.load(Ordering::Relaxed), 0, "{}", nginx.errors());
    assert!(
        pids.len() >= 4,
        "both old and both new instances answered: {pids:?}"
    );
    assert!(pids.contains(&u64::from(a.pid())) && pids.contains(&u64::from(b.pid())));
}
