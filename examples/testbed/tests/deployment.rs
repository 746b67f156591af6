//! DEPLOYMENT.md's files are the ones the tests run: the page shows every
//! file of `deploy/` verbatim, and the command lines of the systemd unit,
//! the Dockerfile and the Kubernetes manifest start a server that answers
//! (the nginx sites are run by `behind_nginx.rs`).

mod support;

use std::time::{Duration, Instant};

use support::*;

const DEPLOY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy");

#[test]
fn the_page_shows_every_deploy_file_verbatim() {
    let page = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../DEPLOYMENT.md"))
        .unwrap();
    let mut files = 0;
    for entry in std::fs::read_dir(DEPLOY).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            page.contains(&text),
            "DEPLOYMENT.md does not show {} as it is",
            path.display()
        );
        files += 1;
    }
    assert_eq!(files, 7);
}

fn deploy_file(name: &str) -> String {
    std::fs::read_to_string(format!("{DEPLOY}/{name}")).unwrap()
}

/// The strings of a one-line JSON-style list: `["a", "b"]`.
fn string_list(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('[').trim_end_matches(']');
    inner
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_owned())
        .collect()
}

/// Runs `testbed ARGS` (its TCP address made a free local one) and
/// returns it once it answers `path` with 200.
fn serves(args: &[String], path: &str) -> Testbed {
    let args: Vec<&str> = args
        .iter()
        .map(|a| {
            if a == "0.0.0.0:8000" {
                "127.0.0.1:0"
            } else {
                a.as_str()
            }
        })
        .collect();
    let testbed = Testbed::start(&args);
    let response = get(&mut connect(testbed.addr()), path, &[]);
    assert_eq!(response.status, 200, "{args:?}");
    testbed
}

#[test]
fn the_dockerfile_command_serves() {
    let dockerfile = deploy_file("Dockerfile");
    let cmd = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("CMD "))
        .unwrap();
    let mut testbed = serves(&string_list(cmd), "/");
    assert!(testbed.terminate().success());
}

#[test]
fn the_kubernetes_args_serve_and_the_readiness_probe_answers() {
    let manifest = deploy_file("kubernetes.yaml");
    let args = manifest
        .lines()
        .find_map(|l| l.trim().strip_prefix("args: "))
        .unwrap();
    let probe = manifest
        .lines()
        .find_map(|l| l.trim().strip_prefix("httpGet: {path: "))
        .unwrap();
    let path = probe.split(',').next().unwrap();
    let mut testbed = serves(&string_list(args), path);
    assert!(testbed.terminate().success());
}

#[test]
fn the_systemd_service_serves_its_socket() {
    let unit = deploy_file("rgi.service");
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap();
    let mut words = exec.split_whitespace();
    assert_eq!(words.next(), Some("/usr/local/bin/testbed"));
    let args: Vec<&str> = words.collect();
    // The socket of rgi.socket, as systemd passes it: descriptor 3,
    // LISTEN_FDS=1, LISTEN_PID the service's pid.
    let (addr, socket, fd) = inheritable_listener();
    let mut command = std::process::Command::new("sh");
    command
        .arg("-c")
        .arg(r#"LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@" 3<&"$RGI_TEST_FD""#)
        .arg(env!("CARGO_BIN_EXE_testbed"))
        .args(&args)
        .env("RGI_TEST_FD", &fd)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = command.spawn().unwrap();
    drop(socket);
    let deadline = Instant::now() + WAIT;
    let mut pids = std::collections::HashSet::new();
    // `--workers 2`: two processes answer on systemd's one socket.
    while pids.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "not served by two workers: {pids:?}"
        );
        match std::net::TcpStream::connect(addr) {
            Ok(mut stream) => {
                stream.set_read_timeout(Some(WAIT)).unwrap();
                let who = get(&mut stream, "/whoami", &[]).json();
                pids.insert(who["pid"].as_u64().unwrap());
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    assert!(
        !pids.contains(&u64::from(child.id())),
        "the supervisor serves nothing"
    );
    rgi_fd::terminate(child.id()).unwrap();
    assert!(child.wait().unwrap().success());
}
