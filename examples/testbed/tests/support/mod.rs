//! Running the `testbed` binary as a process, and blocking HTTP/1.1 over
//! raw sockets: what the command-line and nginx tests share.
#![allow(dead_code)] // each test file uses its own part

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The bound on every wait.
pub(crate) const WAIT: Duration = Duration::from_secs(30);

/// Lines a child wrote, as they arrive, and whether the stream ended.
#[derive(Clone, Default)]
pub(crate) struct Lines(Arc<(Mutex<Collected>, Condvar)>);

/// The lines so far, and whether the stream ended.
type Collected = (Vec<String>, bool);

impl Lines {
    fn collect(self, from: impl Read + Send + 'static) {
        std::thread::spawn(move || {
            for line in BufReader::new(from).lines() {
                let Ok(line) = line else { break };
                self.0 .0.lock().unwrap().0.push(line);
                self.0 .1.notify_all();
            }
            self.0 .0.lock().unwrap().1 = true;
            self.0 .1.notify_all();
        });
    }

    /// Every line so far.
    pub(crate) fn all(&self) -> Vec<String> {
        self.0 .0.lock().unwrap().0.clone()
    }

    /// Waits (at most [`WAIT`]) for the end of the stream.
    fn wait_closed(&self) {
        let lines = self.0 .0.lock().unwrap();
        let _ = self.0 .1.wait_timeout_while(lines, WAIT, |l| !l.1).unwrap();
    }

    /// Waits (at most `wait`) for a line containing `needle`, from line
    /// `from` on; returns its index and text.
    pub(crate) fn wait_for(
        &self,
        needle: &str,
        from: usize,
        wait: Duration,
    ) -> Option<(usize, String)> {
        let deadline = Instant::now() + wait;
        let mut lines = self.0 .0.lock().unwrap();
        loop {
            if let Some(i) = lines.0.iter().skip(from).position(|l| l.contains(needle)) {
                return Some((from + i, lines.0[from + i].clone()));
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            lines = self.0 .1.wait_timeout(lines, left).unwrap().0;
        }
    }
}

/// A running `testbed` process, killed when dropped.
pub(crate) struct Testbed {
    pub(crate) child: Child,
    pub(crate) stdout: Lines,
    pub(crate) stderr: Lines,
}

impl Testbed {
    /// Starts `testbed ARGS` with `envs`; does not wait for it.
    pub(crate) fn spawn(args: &[&str], envs: &[(&str, &str)]) -> Testbed {
        let mut command = Command::new(env!("CARGO_BIN_EXE_testbed"));
        command
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("start testbed");
        let (stdout, stderr) = (Lines::default(), Lines::default());
        stdout.clone().collect(child.stdout.take().unwrap());
        stderr.clone().collect(child.stderr.take().unwrap());
        Testbed {
            child,
            stdout,
            stderr,
        }
    }

    /// Starts `testbed ARGS` and waits until it listens.
    pub(crate) fn start(args: &[&str]) -> Testbed {
        let testbed = Self::spawn(args, &[]);
        testbed.listening();
        testbed
    }

    /// Waits for the "rgi listening on" line; returns what follows it.
    pub(crate) fn listening(&self) -> String {
        let (_, line) = self
            .stderr
            .wait_for("rgi listening on ", 0, WAIT)
            .unwrap_or_else(|| panic!("testbed did not listen: {:?}", self.stderr.all()));
        line.split("rgi listening on ")
            .nth(1)
            .unwrap()
            .trim()
            .to_owned()
    }

    /// The TCP address from the first "rgi listening on http://" line.
    pub(crate) fn addr(&self) -> SocketAddr {
        let (_, line) = self
            .stderr
            .wait_for("rgi listening on http://", 0, WAIT)
            .unwrap_or_else(|| panic!("testbed did not listen: {:?}", self.stderr.all()));
        line.split("http://")
            .nth(1)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the exit.
    pub(crate) fn terminate(&mut self) -> ExitStatus {
        rgi_fd::terminate(self.child.id()).expect("SIGTERM");
        self.wait()
    }

    /// Waits for the process to exit (at most [`WAIT`]) and its output
    /// to be read to the end.
    pub(crate) fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.stdout.wait_closed();
                self.stderr.wait_closed();
                return status;
            }
            assert!(Instant::now() < deadline, "testbed did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed response.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&self.body)))
    }
}

/// Sends `GET path` with `headers` on `stream` and reads one response
/// framed by `content-length` (every testbed route used here has one).
pub(crate) fn get<S: Read + Write>(
    stream: &mut S,
    path: &str,
    headers: &[(&str, &str)],
) -> Response {
    let mut request = format!("GET {path} HTTP/1.1\r\nhost: testbed\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .expect("send the request");
    read_response(stream)
}

/// Reads one response framed by `content-length`.
pub(crate) fn read_response(stream: &mut impl Read) -> Response {
    try_read_response(stream).unwrap_or_else(|e| panic!("reading a response: {e}"))
}

/// Reads one response framed by `content-length`; an error for a closed
/// connection or a malformed response.
pub(crate) fn try_read_response(stream: &mut impl Read) -> std::io::Result<Response> {
    use std::io::{Error, ErrorKind};
    let bad = |what: &str| Error::new(ErrorKind::InvalidData, what.to_owned());
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(Error::new(
                ErrorKind::UnexpectedEof,
                format!("closed mid-head after {:?}", String::from_utf8_lossy(&buf)),
            ));
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8(buf).map_err(|_| bad("head not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.get(9..12))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("status line"))?;
    let mut headers = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (n, v) = line.split_once(':').ok_or_else(|| bad("header line"))?;
        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    let length: usize = match headers.iter().find(|(n, _)| n == "content-length") {
        Some((_, v)) => v.parse().map_err(|_| bad("content-length"))?,
        None => 0,
    };
    let mut body = vec![0; length];
    stream.read_exact(&mut body)?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// A TCP connection with read and write timeouts.
pub(crate) fn connect(addr: SocketAddr) -> std::net::TcpStream {
    let stream = std::net::TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream.set_write_timeout(Some(WAIT)).unwrap();
    stream
}

/// A fresh temporary directory for one test.
pub(crate) fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rgi-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A connection from 127.0.0.2: this machine, but not the loopback
/// address a trusted proxy is configured with.
pub(crate) fn connect_from_elsewhere(addr: SocketAddr) -> std::net::TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 2], 0)).into())
        .unwrap();
    socket.connect(&addr.into()).unwrap();
    let stream: std::net::TcpStream = socket.into();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream
}

/// A listening socket on 127.0.0.1 left open across `exec`, as a process
/// manager or systemd hands one over: its address, the socket (close it
/// once the child started) and its descriptor number.
pub(crate) fn inheritable_listener() -> (SocketAddr, socket2::Socket, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let socket = socket2::Socket::from(listener);
    socket.set_cloexec(false).unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&socket).to_string();
    (addr, socket, fd)
}
