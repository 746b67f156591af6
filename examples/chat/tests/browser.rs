//! A real browser: the `chat` binary on a free port, headless Chromium
//! driven through the DevTools protocol. Two pages (each in its own browser
//! context, so each has its own session cookie) log in and join; a message
//! typed in one appears in the other; and the browser's handshake
//! negotiated permessage-deflate with rgi-server (read from the 101's
//! `Sec-WebSocket-Extensions` as the browser's network log reports it).
//!
//! Needs `chromium` (Debian's package; or `RGI_CHROMIUM=/path`). Without
//! it the test prints why and passes, unless `RGI_REQUIRE_EXTERNAL=1`
//! (set by `.ci/run`), where a missing browser fails it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The bound on each wait of the test; the whole test stays under a minute
/// on a loaded machine.
const WAIT: Duration = Duration::from_secs(20);

/// A process this test started, killed (with its process group: Chromium
/// forks helpers) and reaped on drop.
struct Started(Child);

impl Drop for Started {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A fresh directory under the system's temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn find_chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("RGI_CHROMIUM") {
        return Some(PathBuf::from(path)).filter(|path| path.is_file());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find_map(|dir| {
        ["chromium", "chromium-browser", "google-chrome"]
            .iter()
            .map(|name| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// Starts the chat binary on a free port; its address from the startup line
/// (`rgi listening on http://ADDR`).
fn start_chat() -> (Started, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chat"))
        .args(["--bind", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the chat binary");
    let stdout = child.stdout.take().unwrap();
    let started = Started(child);
    let (found, addr) = std::sync::mpsc::channel();
    // The log keeps flowing to this thread (and the test's output) so the
    // server never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut found = Some(found);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("chat: {line}");
            if let Some((_, rest)) = line.split_once("rgi listening on http://") {
                let addr: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                    .collect();
                if let Some(found) = found.take() {
                    let _ = found.send(addr);
                }
            }
        }
    });
    let addr = addr
        .recv_timeout(WAIT)
        .expect("the chat binary did not say where it listens");
    (started, addr.parse().expect("a socket address"))
}

/// Starts headless Chromium; the DevTools browser endpoint's URL.
fn start_chromium(binary: &Path, profile: &Path) -> (Started, String) {
    let mut command = Command::new(binary);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--remote-debugging-port=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let started = Started(command.spawn().expect("start chromium"));
    let port_file = profile.join("DevToolsActivePort");
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(text) = std::fs::read_to_string(&port_file) {
            let mut lines = text.lines();
            if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                return (started, format!("ws://127.0.0.1:{port}{path}"));
            }
        }
        assert!(
            Instant::now() < deadline,
            "chromium wrote no DevToolsActivePort"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A DevTools protocol client: one command at a time; events that arrive
/// meanwhile are kept for [`events`](Cdp::events).
struct Cdp {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    events: Vec<Value>,
}

impl Cdp {
    async fn connect(url: &str) -> Self {
        let (socket, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("DevTools answers")
            .expect("DevTools handshake");
        Self {
            socket,
            next_id: 0,
            events: Vec::new(),
        }
    }

    /// Sends `method` (to the page `session`, or to the browser) and waits
    /// for its result; a protocol error fails the test.
    async fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut command = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            command["sessionId"] = json!(session);
        }
        self.socket
            .send(Message::text(command.to_string()))
            .await
            .expect("send to DevTools");
        let reply = tokio::time::timeout(WAIT, async {
            loop {
                let message = match self.socket.next().await {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(_)) => continue,
                    other => panic!("DevTools connection ended: {other:?}"),
                };
                let value: Value = serde_json::from_str(message.as_str()).unwrap();
                if value["id"] == id {
                    return value;
                }
                if value.get("method").is_some() {
                    self.events.push(value);
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no answer to {method} within {WAIT:?}"));
        if let Some(error) = reply.get("error") {
            panic!("{method} failed: {error}");
        }
        reply["result"].clone()
    }

    /// Evaluates `expression` in the page and returns its value.
    async fn eval(&mut self, session: &str, expression: &str) -> Value {
        let params =
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true });
        let result = self.call(Some(session), "Runtime.evaluate", params).await;
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("{expression} threw: {exception}");
        }
        result["result"]["value"].clone()
    }

    /// Evaluates `expression` until it is `true`; fails with `what` (and
    /// the page's text) after [`WAIT`].
    async fn wait_for(&mut self, session: &str, expression: &str, what: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            if self.eval(session, expression).await == json!(true) {
                return;
            }
            if Instant::now() > deadline {
                let page = self.eval(session, "document.body.innerText").await;
                panic!("timed out waiting for {what}; the page says: {page}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A new page in a browser context of its own (its own cookie jar),
    /// attached, with network events on; its session id.
    async fn open_page(&mut self, url: &str) -> String {
        let context = self
            .call(None, "Target.createBrowserContext", json!({}))
            .await;
        let target = self
            .call(
                None,
                "Target.createTarget",
                json!({ "url": "about:blank", "browserContextId": context["browserContextId"] }),
            )
            .await;
        let attached = self
            .call(
                None,
                "Target.attachToTarget",
                json!({ "targetId": target["targetId"], "flatten": true }),
            )
            .await;
        let session = attached["sessionId"].as_str().unwrap().to_owned();
        self.call(Some(&session), "Network.enable", json!({})).await;
        self.call(Some(&session), "Page.navigate", json!({ "url": url }))
            .await;
        session
    }

    /// Focuses `#id` and types `text` into it as keyboard input.
    async fn type_into(&mut self, session: &str, id: &str, text: &str) {
        self.eval(session, &format!("document.getElementById('{id}').focus()"))
            .await;
        self.call(Some(session), "Input.insertText", json!({ "text": text }))
            .await;
    }
}

fn text_of(id: &str) -> String {
    format!("((document.getElementById('{id}') || {{}}).innerText || '')")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_browser_pages_chat_over_permessage_deflate() {
    let Some(chromium) = find_chromium() else {
        let required = std::env::var("RGI_REQUIRE_EXTERNAL").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "chromium not found and RGI_REQUIRE_EXTERNAL=1: install it (apt-get install chromium)"
        );
        println!("SKIPPED: chromium not found (apt-get install chromium, or set RGI_CHROMIUM)");
        return;
    };
    let (_chat, addr) = start_chat();
    let profile = TempDir::new("rgi-chat-chromium");
    let (_browser, devtools) = start_chromium(&chromium, &profile.0);
    let mut cdp = Cdp::connect(&devtools).await;
    let url = format!("http://{addr}/");

    let mut pages = Vec::new();
    for name in ["alice", "bob"] {
        let page = cdp.open_page(&url).await;
        cdp.wait_for(
            &page,
            "document.readyState === 'complete' && !!document.getElementById('name')",
            "the page to load",
        )
        .await;
        cdp.type_into(&page, "name", name).await;
        cdp.eval(&page, "document.getElementById('join').click()")
            .await;
        let connected = format!("{}.includes('connected as {name}')", text_of("status"));
        cdp.wait_for(&page, &connected, &format!("{name} to join"))
            .await;
        pages.push(page);
    }
    let (alice, bob) = (&pages[0], &pages[1]);
    cdp.wait_for(
        alice,
        &format!("{}.includes('bob joined')", text_of("log")),
        "alice to see bob join",
    )
    .await;

    cdp.type_into(alice, "text", "hello from alice \u{1f600}")
        .await;
    cdp.eval(alice, "document.getElementById('send').click()")
        .await;
    cdp.wait_for(
        bob,
        &format!(
            "{}.includes('alice: hello from alice \u{1f600}')",
            text_of("log")
        ),
        "bob to see alice's message",
    )
    .await;
    cdp.type_into(bob, "text", "hi alice").await;
    cdp.eval(bob, "document.getElementById('send').click()")
        .await;
    cdp.wait_for(
        alice,
        &format!("{}.includes('bob: hi alice')", text_of("log")),
        "alice to see bob's answer",
    )
    .await;

    // Both handshakes: the browser offered permessage-deflate and the
    // server's 101 accepted it.
    let handshakes: Vec<&Value> = cdp
        .events
        .iter()
        .filter(|e| e["method"] == "Network.webSocketHandshakeResponseReceived")
        .collect();
    assert_eq!(handshakes.len(), 2, "one handshake per page");
    for handshake in handshakes {
        let response = &handshake["params"]["response"];
        assert_eq!(response["status"], 101, "{response}");
        let headers = response["headers"].as_object().expect("headers");
        let extensions = headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("sec-websocket-extensions"))
            .map(|(_, value)| value.as_str().unwrap_or_default())
            .unwrap_or_default();
        println!("the browser's 101: sec-websocket-extensions: {extensions}");
        assert!(
            extensions.starts_with("permessage-deflate"),
            "the 101 did not accept permessage-deflate: {headers:?}"
        );
    }
    let _ = cdp.call(None, "Browser.close", json!({})).await;
}
