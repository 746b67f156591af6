//! The testbed on the reference server over real TCP: 1,000 sequential and
//! 200 concurrent keep-alive connections, every answer checked byte for
//! byte, the whole run bounded in time (issue 3, "Must show").

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

const BOUND: Duration = Duration::from_secs(90);
const STEP: Duration = Duration::from_secs(10);

/// The testbed served on 127.0.0.1 until the returned sender is dropped.
async fn serve_testbed() -> (SocketAddr, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = rgi_server::Server::from_listener(listener);
    let task = tokio::spawn(async move {
        let signal = async {
            let _ = stopped.await;
        };
        server
            .serve_with_shutdown(testbed::Testbed, signal)
            .await
            .expect("the testbed serves and shuts down cleanly");
    });
    (addr, stop, task)
}

/// One keep-alive HTTP/1.1 connection that reads responses framed by
/// `content-length` (every route used here has one).
struct Conn {
    reader: BufReader<TcpStream>,
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Conn {
    async fn open(addr: SocketAddr) -> Self {
        let stream = tokio::time::timeout(STEP, TcpStream::connect(addr))
            .await
            .expect("connect in time")
            .expect("connect");
        Self {
            reader: BufReader::new(stream),
        }
    }

    async fn exchange(&mut self, request: &[u8]) -> Reply {
        tokio::time::timeout(STEP, async {
            self.reader.get_mut().write_all(request).await.unwrap();
            let mut line = String::new();
            self.reader.read_line(&mut line).await.unwrap();
            let status = line
                .strip_prefix("HTTP/1.1 ")
                .and_then(|rest| rest.get(..3))
                .and_then(|code| code.parse().ok())
                .unwrap_or_else(|| panic!("not a status line: {line:?}"));
            let mut headers = Vec::new();
            loop {
                line.clear();
                self.reader.read_line(&mut line).await.unwrap();
                let field = line.trim_end_matches("\r\n");
                if field.is_empty() {
                    break;
                }
                let (name, value) = field.split_once(':').expect("a header field");
                headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
            }
            let mut reply = Reply {
                status,
                headers,
                body: Vec::new(),
            };
            let length: usize = reply
                .header("content-length")
                .expect("a content-length")
                .parse()
                .unwrap();
            reply.body = vec![0; length];
            self.reader.read_exact(&mut reply.body).await.unwrap();
            reply
        })
        .await
        .expect("the response arrives in time")
    }
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nhost: testbed\r\n\r\n").into_bytes()
}

fn post(path: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nhost: testbed\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

/// Three requests on one connection: hello, an echo, the scope.
async fn check_connection(conn: &mut Conn, tag: &str) {
    let hello = conn.exchange(&get("/")).await;
    assert_eq!(
        (hello.status, hello.body.as_slice()),
        (200, &b"Hello, world!"[..])
    );
    assert_eq!(
        hello.header("content-type"),
        Some("text/plain; charset=utf-8")
    );

    let body = format!("payload of {tag}");
    let echo = conn.exchange(&post("/echo", body.as_bytes())).await;
    assert_eq!((echo.status, echo.body.as_slice()), (200, body.as_bytes()));
    assert_eq!(
        echo.header("x-body-length"),
        Some(body.len().to_string().as_str())
    );

    let scope = conn
        .exchange(&get(&format!("/echo-scope/{tag}?k=%20")))
        .await;
    assert_eq!(scope.status, 200);
    let expected = format!(
        r#"{{"http_version":"1.1","method":"GET","path":"/echo-scope/{tag}","query_string":"k=%20"}}"#
    );
    assert_eq!(String::from_utf8(scope.body).unwrap(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_sequential_keep_alive_connections() {
    let (addr, stop, server) = serve_testbed().await;
    let run = async {
        for i in 0..1000 {
            let mut conn = Conn::open(addr).await;
            check_connection(&mut conn, &format!("s{i}")).await;
        }
    };
    tokio::time::timeout(BOUND, run).await.expect("bounded");
    drop(stop);
    tokio::time::timeout(STEP, server).await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_keep_alive_connections() {
    let (addr, stop, server) = serve_testbed().await;
    let clients: Vec<_> = (0..200)
        .map(|c| {
            tokio::spawn(async move {
                let mut conn = Conn::open(addr).await;
                for round in 0..5 {
                    check_connection(&mut conn, &format!("c{c}r{round}")).await;
                }
            })
        })
        .collect();
    let run = async {
        for client in clients {
            client.await.expect("every client gets every answer right");
        }
    };
    tokio::time::timeout(BOUND, run).await.expect("bounded");
    drop(stop);
    tokio::time::timeout(STEP, server).await.unwrap().unwrap();
}

#[tokio::test]
async fn headers_come_back_byte_for_byte() {
    // RFC 9110 §5.5: a field value may carry obs-text (0x80-0xFF), opaque
    // bytes to a recipient. `/headers` returns the bytes the app received,
    // not a UTF-8 rendering of them (which would turn each into U+FFFD).
    let (addr, stop, server) = serve_testbed().await;
    let mut conn = Conn::open(addr).await;
    let reply = conn
        .exchange(
            b"GET /headers HTTP/1.1\r\nhost: testbed\r\nx-obs: caf\xe9 \x80\xff\r\n\
              x-quote: a\"b\\c\td\r\nx-obs: \xa0\r\n\r\n",
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        b"{\"host\":\"testbed\",\"x-obs\":\"caf\xe9 \x80\xff, \xa0\",\"x-quote\":\"a\\\"b\\\\c\\td\"}"
    );
    drop(stop);
    tokio::time::timeout(STEP, server).await.unwrap().unwrap();
}
