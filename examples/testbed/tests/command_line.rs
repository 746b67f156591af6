//! The `testbed` binary's command line (rgi_server::cli), one flag's
//! effect per test, driven as a process over real sockets (issue 13).

mod support;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::time::{Duration, Instant};

use support::*;

#[test]
fn a_unix_socket_is_served_with_its_permissions_and_removed_at_exit() {
    let dir = temp_dir("uds");
    let path = dir.join("testbed.sock");
    let path_str = path.to_str().unwrap();
    let mut testbed = Testbed::start(&["--uds", path_str, "--uds-perms", "600"]);
    assert_eq!(testbed.listening(), format!("unix:{path_str}"));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let mut stream = UnixStream::connect(&path).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let response = get(&mut stream, "/whoami", &[]);
    assert_eq!(response.status, 200);
    let who = response.json();
    assert_eq!(
        who["client"],
        serde_json::Value::Null,
        "a Unix peer has no address"
    );
    // Keep-alive on the same socket.
    assert_eq!(get(&mut stream, "/", &[]).body, b"Hello, world!");
    drop(stream);
    assert!(testbed.terminate().success());
    assert!(!path.exists(), "the socket file is removed at exit");
    // The access log went to stdout, with `-` for the address.
    let log = testbed.stdout.all();
    assert!(
        log.iter()
            .any(|l| l.starts_with("- - - [") && l.contains("\"GET /whoami HTTP/1.1\" 200")),
        "{log:?}"
    );
}

#[test]
fn curl_over_the_unix_socket() {
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("SKIPPED: curl is not installed");
        return;
    }
    let dir = temp_dir("uds-curl");
    let path = dir.join("t.sock");
    let _testbed = Testbed::start(&["--uds", path.to_str().unwrap()]);
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "10",
            "--unix-socket",
            path.to_str().unwrap(),
            "http://localhost/",
        ])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"Hello, world!");
}

#[test]
fn an_inherited_descriptor_is_served() {
    let (addr, socket, fd) = inheritable_listener();
    let mut testbed = Testbed::start(&["--fd", &fd]);
    drop(socket);
    assert_eq!(testbed.addr(), addr);
    let response = get(&mut connect(addr), "/whoami", &[]);
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["pid"], testbed.pid());
    assert!(testbed.terminate().success());
}

#[test]
fn a_descriptor_that_is_not_a_socket_is_refused() {
    let mut testbed = Testbed::spawn(&["--fd", "999"], &[]);
    assert_eq!(testbed.wait().code(), Some(1));
    let err = testbed.stderr.all().join("\n");
    assert!(err.contains("--fd 999"), "{err}");
}

#[test]
fn two_workers_answer_and_a_killed_one_is_replaced() {
    let mut testbed = Testbed::spawn(
        &["--bind", "127.0.0.1:0", "--workers", "2", "--no-access-log"],
        &[],
    );
    let addr = testbed.addr();
    let pids = |want: usize, not: &HashSet<u64>| {
        let mut seen = HashSet::new();
        let deadline = Instant::now() + WAIT;
        while seen.len() < want && Instant::now() < deadline {
            // A new connection each time: the kernel picks the worker.
            if let Ok(mut stream) = std::net::TcpStream::connect(addr) {
                stream.set_read_timeout(Some(WAIT)).unwrap();
                let pid = get(&mut stream, "/whoami", &[]).json()["pid"]
                    .as_u64()
                    .unwrap();
                if !not.contains(&pid) {
                    seen.insert(pid);
                }
            }
        }
        seen
    };
    let first = pids(2, &HashSet::new());
    assert_eq!(first.len(), 2, "two worker processes answer");
    assert!(
        !first.contains(&u64::from(testbed.pid())),
        "the supervisor serves nothing"
    );
    // Kill one worker hard; the other keeps serving and a new one starts.
    let victim = *first.iter().next().unwrap();
    let status = std::process::Command::new("kill")
        .args(["-9", &victim.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut gone = HashSet::new();
    gone.insert(victim);
    let after = pids(2, &gone);
    assert_eq!(
        after.len(),
        2,
        "a replacement worker answers alongside the survivor: {after:?}"
    );
    assert!(testbed
        .stderr
        .wait_for("worker died; restarting it", 0, WAIT)
        .is_some());
    // SIGTERM to the supervisor stops every worker gracefully.
    assert!(testbed.terminate().success());
    for pid in after {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "worker {pid} still runs"
        );
    }
}

#[test]
fn beyond_the_concurrency_limit_a_request_gets_503_at_once() {
    let testbed = Testbed::start(&["--bind", "127.0.0.1:0", "--limit-concurrency", "1"]);
    let addr = testbed.addr();
    let mut busy = connect(addr);
    busy.write_all(b"GET /slow?ms=1500 HTTP/1.1\r\nhost: t\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let refused = get(&mut connect(addr), "/", &[]);
    assert_eq!(refused.status, 503);
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(refused.header("connection"), Some("close"));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "answered at once, not queued"
    );
    assert_eq!(read_response(&mut busy).body, b"done");
    // Once the first connection is gone, a new one is served.
    drop(busy);
    let deadline = Instant::now() + WAIT;
    loop {
        let response = get(&mut connect(addr), "/", &[]);
        if response.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "never served again");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn max_requests_per_connection_closes_after_the_last() {
    let testbed = Testbed::start(&[
        "--bind",
        "127.0.0.1:0",
        "--max-requests-per-connection",
        "2",
    ]);
    let mut stream = connect(testbed.addr());
    assert_eq!(get(&mut stream, "/", &[]).header("connection"), None);
    assert_eq!(
        get(&mut stream, "/", &[]).header("connection"),
        Some("close")
    );
    let mut rest = Vec::new();
    assert_eq!(stream.read_to_end(&mut rest).unwrap(), 0, "closed");
}

#[test]
fn identity_headers_can_be_turned_off() {
    let testbed = Testbed::start(&["--bind", "127.0.0.1:0"]);
    let response = get(&mut connect(testbed.addr()), "/", &[]);
    assert_eq!(response.header("server"), Some("rgi"));
    assert!(response.header("date").is_some());
    let testbed = Testbed::start(&[
        "--bind",
        "127.0.0.1:0",
        "--no-server-header",
        "--no-date-header",
    ]);
    let response = get(&mut connect(testbed.addr()), "/", &[]);
    assert_eq!(
        (response.header("server"), response.header("date")),
        (None, None)
    );
}

#[test]
fn access_log_formats_and_switch() {
    let mut testbed = Testbed::start(&["--bind", "127.0.0.1:0", "--access-log-format", "json"]);
    let response = get(
        &mut connect(testbed.addr()),
        "/status/418",
        &[("user-agent", "probe/1")],
    );
    assert_eq!(response.status, 418);
    assert!(testbed.terminate().success());
    let lines = testbed.stdout.all();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let entry: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(entry["path"], "/status/418");
    assert_eq!(entry["status"], 418);
    assert_eq!(entry["user_agent"], "probe/1");

    let mut testbed = Testbed::start(&["--bind", "127.0.0.1:0", "--no-access-log"]);
    get(&mut connect(testbed.addr()), "/", &[]);
    assert!(testbed.terminate().success());
    assert!(testbed.stdout.all().is_empty());
}

#[test]
fn proxy_headers_are_believed_from_trusted_peers_only() {
    let testbed = Testbed::start(&[
        "--bind",
        "127.0.0.1:0",
        "--proxy-headers",
        "--forwarded-allow-ips",
        "127.0.0.1",
        "--root-path",
        "/app",
    ]);
    let addr = testbed.addr();
    let forwarded = [
        ("x-forwarded-for", "203.0.113.5"),
        ("x-forwarded-proto", "https"),
    ];
    let who = get(&mut connect(addr), "/whoami", &forwarded).json();
    assert_eq!(who["client"], "203.0.113.5:0");
    assert_eq!(who["scheme"], "https");
    assert_eq!(
        (who["root_path"].as_str(), who["path"].as_str()),
        (Some("/app"), Some("/app/whoami"))
    );
    // The same headers from 127.0.0.2 (also this machine, not trusted).
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(
            &"127.0.0.2:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    socket.connect(&addr.into()).unwrap();
    let mut direct: std::net::TcpStream = socket.into();
    direct.set_read_timeout(Some(WAIT)).unwrap();
    let who = get(&mut direct, "/whoami", &forwarded).json();
    assert!(
        who["client"].as_str().unwrap().starts_with("127.0.0.2:"),
        "{who}"
    );
    assert_eq!(who["scheme"], "http");
}

#[test]
fn bad_values_exit_2_naming_the_flag_before_listening() {
    for (args, flag) in [
        (&["--bind", "localhost:80"][..], "--bind"),
        (&["--workers", "0"], "--workers"),
        (&["--limit-concurrency", "none"], "--limit-concurrency"),
        (&["--timeout-keep-alive", "soon"], "--timeout-keep-alive"),
        (&["--access-log-format", "apache"], "--access-log-format"),
        (
            &["--forwarded-allow-ips", "10.0.0.0/40"],
            "--forwarded-allow-ips",
        ),
        (&["--uds-perms", "600"], "--uds"),
        (&["--ssl-certfile", "cert.pem"], "--ssl-keyfile"),
        (&["--no-such-flag"], "--no-such-flag"),
    ] {
        let mut testbed = Testbed::spawn(args, &[]);
        let status = testbed.wait();
        let err = testbed.stderr.all().join("\n");
        assert_eq!(status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(flag), "{args:?}: {err}");
        assert!(!err.contains("listening"), "{args:?}: {err}");
    }
}

#[test]
fn an_address_in_use_exits_1_naming_the_flag() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut testbed = Testbed::spawn(&["--bind", &addr], &[]);
    assert_eq!(testbed.wait().code(), Some(1));
    let err = testbed.stderr.all().join("\n");
    assert!(err.contains(&format!("--bind {addr}")), "{err}");
    assert!(
        !err.contains("lifespan startup complete"),
        "refused before the app starts: {err}"
    );
}

#[test]
fn a_failed_startup_exits_3_with_the_apps_message_and_never_listens() {
    let dir = temp_dir("failed-startup");
    let path = dir.join("t.sock");
    let mut testbed = Testbed::spawn(
        &[
            "--uds",
            path.to_str().unwrap(),
            "--fail-startup",
            "database unreachable",
        ],
        &[],
    );
    assert_eq!(testbed.wait().code(), Some(3));
    let err = testbed.stderr.all().join("\n");
    assert!(err.contains("database unreachable"), "{err}");
    assert!(!err.contains("rgi listening"), "{err}");
    assert!(!path.exists());
}

#[test]
fn systemd_hears_ready_only_once_it_listens() {
    let dir = temp_dir("notify");
    let notify = dir.join("notify.sock");
    let receiver = UnixDatagram::bind(&notify).unwrap();
    receiver.set_read_timeout(Some(WAIT)).unwrap();
    let testbed = Testbed::spawn(
        &["--bind", "127.0.0.1:0"],
        &[("NOTIFY_SOCKET", notify.to_str().unwrap())],
    );
    let mut buf = [0u8; 64];
    let n = receiver.recv(&mut buf).expect("READY=1 arrives");
    assert_eq!(&buf[..n], b"READY=1");
    // By then startup completed and the socket listens: a connection is
    // served without retrying.
    let addr = testbed.addr();
    assert_eq!(get(&mut connect(addr), "/", &[]).status, 200);
    let log = testbed.stderr.all().join("\n");
    let startup = log.find("lifespan startup complete").unwrap();
    let listening = log.find("rgi listening on").unwrap();
    assert!(startup < listening, "{log}");
}

#[test]
fn systemd_socket_activation_is_served() {
    // What systemd does for a .socket unit: the listening socket as
    // descriptor 3, LISTEN_FDS=1, LISTEN_PID the service's pid (`$$`
    // before `exec` is the pid testbed will have).
    let (addr, socket, fd) = inheritable_listener();
    let mut child = std::process::Command::new("sh")
        .args([
            "-c",
            r#"LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" --no-access-log 3<&"$1""#,
            env!("CARGO_BIN_EXE_testbed"),
            &fd,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    drop(socket);
    let deadline = Instant::now() + WAIT;
    let who = loop {
        // The socket listens already (systemd's); answers come once
        // startup completed.
        if let Ok(mut stream) = std::net::TcpStream::connect(addr) {
            stream.set_read_timeout(Some(WAIT)).unwrap();
            break get(&mut stream, "/whoami", &[]).json();
        }
        assert!(Instant::now() < deadline, "not served");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(who["pid"], child.id());
    rgi_fd::terminate(child.id()).unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn server_hyper_serves_the_same_flags_over_http2_too() {
    let mut testbed = Testbed::start(&["--server", "hyper", "--bind", "127.0.0.1:0"]);
    let response = get(&mut connect(testbed.addr()), "/echo-scope", &[]);
    assert_eq!(response.status, 200);
    assert!(
        String::from_utf8_lossy(&response.body).contains("\"http_version\":\"1.1\""),
        "{response:?}"
    );
    // HTTP/2 with prior knowledge on the same port.
    let mut stream = connect(testbed.addr());
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .unwrap();
    let mut frame = [0u8; 9];
    stream.read_exact(&mut frame).unwrap();
    assert_eq!(frame[3], 0x04, "the server's first frame is SETTINGS");
    drop(stream);
    assert!(testbed.terminate().success());
    // The access log is the reference server's, line for line.
    let lines = testbed.stdout.all();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"GET /echo-scope HTTP/1.1\" 200")),
        "{lines:?}"
    );

    let mut refused = Testbed::spawn(&["--server", "hyper", "--uds", "/tmp/never.sock"], &[]);
    assert_eq!(refused.wait().code(), Some(2));
    assert!(refused.stderr.all().join("\n").contains("--uds"));
}

#[test]
fn server_hyper_serves_https_from_pem_files() {
    let dir = std::env::temp_dir().join(format!("rgi-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    let (cert_arg, key_arg) = (cert_path.to_str().unwrap(), key_path.to_str().unwrap());
    let mut testbed = Testbed::start(&[
        "--server",
        "hyper",
        "--bind",
        "127.0.0.1:0",
        "--ssl-certfile",
        cert_arg,
        "--ssl-keyfile",
        key_arg,
    ]);
    let listening = testbed.listening();
    let addr = listening
        .strip_prefix("https://")
        .unwrap_or_else(|| panic!("not HTTPS: {listening}"))
        .trim()
        .parse()
        .unwrap();
    // A TLS ClientHello is answered with a TLS record (a handshake).
    let mut stream = connect(addr);
    stream.write_all(&client_hello()).unwrap();
    let mut record = [0u8; 1];
    stream.read_exact(&mut record).unwrap();
    assert_eq!(record[0], 0x16, "a TLS handshake record");
    drop(stream);
    assert!(testbed.terminate().success());

    // The reference server refuses the flag, naming the way to HTTPS.
    let mut refused = Testbed::spawn(&["--ssl-certfile", cert_arg, "--ssl-keyfile", key_arg], &[]);
    assert_eq!(refused.wait().code(), Some(2));
    assert!(refused.stderr.all().join("\n").contains("--server hyper"));
    std::fs::remove_dir_all(dir).ok();
}

/// A minimal TLS 1.3 ClientHello (x25519 key share, SNI-less).
fn client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend([7u8; 32]); // random
    body.push(0); // session id
    body.extend([0x00, 0x02, 0x13, 0x01]); // TLS_AES_128_GCM_SHA256
    body.extend([0x01, 0x00]); // no compression
    let mut ext = Vec::new();
    ext.extend([0x00, 0x2b, 0x00, 0x03, 0x02, 0x03, 0x04]); // supported_versions: 1.3
    ext.extend([0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x1d]); // groups: x25519
    ext.extend([0x00, 0x0d, 0x00, 0x04, 0x00, 0x02, 0x08, 0x04]); // sig algs: rsa_pss_rsae_sha256
    ext.extend([0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20]); // key_share
    ext.extend([9u8; 32]);
    body.extend((ext.len() as u16).to_be_bytes());
    body.extend(ext);
    let mut handshake = vec![0x01];
    handshake.extend(&(body.len() as u32).to_be_bytes()[1..]);
    handshake.extend(body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend((handshake.len() as u16).to_be_bytes());
    record.extend(handshake);
    record
}
