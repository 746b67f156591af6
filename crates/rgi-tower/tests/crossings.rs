//! Each thing that crosses the border, or cannot, checked (spec/tower.md):
//! WebSocket and lifespan calls, per-request extensions both ways, the
//! lifespan state, capabilities a tower body cannot carry, request trailers.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::BodyExt;
use rgi::http::{HeaderMap, Request, Response, StatusCode};
use rgi::{
    Accept, App, AppResult, Conn, Error, HttpSend, LifespanReceive, LifespanSend, Message,
    ResponseStart, StateBuilder, WebSocketReceive, WebSocketSend,
};
use rgi_conformance::{StartupOutcome, TestClient};
use rgi_tower::{RgiService, ScopeParts, TowerApp, TowerLayer};
use tower::ServiceExt;

#[derive(Clone, Debug, PartialEq)]
struct Down(&'static str);
#[derive(Clone, Debug, PartialEq)]
struct Up(&'static str);

/// A tower service that reports what reached it, and sends a value up.
fn reporting_service() -> impl tower::Service<
    Request<rgi_tower::RequestBody>,
    Response = Response<http_body_util::Full<Bytes>>,
    Error = Infallible,
    Future = impl Send,
> + Clone
       + Send
       + Sync
       + 'static {
    tower::service_fn(|request: Request<rgi_tower::RequestBody>| async move {
        let parts = request.extensions().get::<ScopeParts>().cloned();
        let report = format!(
            "down={:?} state={:?} root={:?} caps(early_hints={:?}, send_file={:?})",
            request.extensions().get::<Down>(),
            parts.as_ref().and_then(|p| p.state.get::<u32>().copied()),
            parts.as_ref().map(|p| p.root_path.clone()),
            parts.as_ref().map(|p| p.capabilities.early_hints),
            parts.as_ref().map(|p| p.capabilities.send_file),
        );
        let mut response = Response::new(http_body_util::Full::new(Bytes::from(report)));
        response.extensions_mut().insert(Up("from tower"));
        Ok::<_, Infallible>(response)
    })
}

#[tokio::test]
async fn a_tower_service_refuses_websocket_and_lifespan_as_unsupported() {
    let client = TestClient::new(TowerApp::new(reporting_service()));
    let ws = client
        .connect(rgi_conformance::Request::get("/ws"))
        .await
        .unwrap();
    // WS-010: it returns Unsupported before answering; a server says 403.
    let transcript = ws.finish().await.unwrap();
    assert!(matches!(
        transcript.handshake,
        rgi_conformance::Handshake::NoAnswer
    ));
    let unsupported = transcript
        .exit
        .error()
        .is_some_and(|e| Error::is_unsupported(&**e));
    assert!(unsupported, "{:?}", transcript.exit);
    let mut life = client.lifespan();
    assert!(matches!(
        life.startup().await.unwrap(),
        StartupOutcome::Unsupported
    ));
}

#[tokio::test]
async fn extensions_and_state_cross_into_a_tower_service_and_back() {
    let builder = StateBuilder::new();
    builder.insert(7u32);
    let client = TestClient::new(TowerApp::new(reporting_service()));
    let request = rgi_conformance::Request::get("/x")
        .extension(Down("from rgi"))
        .state(builder.freeze())
        .capabilities(rgi::Capabilities::ALL);
    let response = client.send(request).await.unwrap();
    assert_eq!(
        response.body(),
        r#"down=Some(Down("from rgi")) state=Some(7) root=Some("") caps(early_hints=Some(true), send_file=Some(true))"#
    );
    let start = response.start().unwrap();
    assert_eq!(start.extensions.get::<Up>(), Some(&Up("from tower")));
}

/// An rgi app that reports its scope and sends a value up.
struct Reporting;

impl App for Reporting {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        match conn {
            Conn::Http(mut http) => {
                let scope = &http.scope;
                let report = format!(
                    "down={:?} state={:?} root={:?} early_hints={} send_file={} trailers={}",
                    scope.extensions.get::<Down>(),
                    scope.state.get::<u32>(),
                    scope.root_path,
                    scope.capabilities.early_hints,
                    scope.capabilities.send_file,
                    scope.capabilities.trailers,
                );
                // A file cannot become a tower frame: refused (EXT-001),
                // as the cleared capability said.
                let mut start = ResponseStart::new(StatusCode::OK);
                start.extensions.insert(Up("from rgi"));
                http.send(HttpSend::Start(start)).await?;
                let file = HttpSend::File(rgi::FileBody::new("/etc/hostname"));
                let refused = http.send(file).await.err().and_then(|e| e.rule());
                http.send(HttpSend::body(format!("{report} file={refused:?}")))
                    .await?;
                Ok(())
            }
            Conn::WebSocket(mut ws) => {
                assert_eq!(ws.recv().await, WebSocketReceive::Connect);
                ws.send(WebSocketSend::Accept(Accept::new())).await?;
                if let WebSocketReceive::Message(m) = ws.recv().await {
                    ws.send(WebSocketSend::Message(m)).await?;
                }
                Ok(())
            }
            Conn::Lifespan(mut life) => {
                if life.recv().await == LifespanReceive::Startup {
                    life.scope.state.insert(7u32);
                    life.send(LifespanSend::StartupComplete).await?;
                }
                if life.recv().await == LifespanReceive::Shutdown {
                    life.send(LifespanSend::ShutdownComplete).await?;
                }
                Ok(())
            }
            other => other.unsupported(),
        }
    }
}

#[tokio::test]
async fn through_a_tower_layer_websocket_and_lifespan_reach_the_inner_app() {
    let app = TowerLayer::new(tower::layer::util::Identity::new()).wrap(Reporting);
    let client = TestClient::new(app);
    let mut life = client.lifespan();
    assert!(matches!(
        life.startup().await.unwrap(),
        StartupOutcome::Complete(_)
    ));

    let mut ws = client
        .connect(rgi_conformance::Request::get("/ws"))
        .await
        .unwrap();
    assert!(ws.handshake_outcome().is_accepted());
    ws.send_text("echo").await.unwrap();
    assert_eq!(
        ws.recv_message().await.unwrap(),
        Message::Text("echo".into())
    );

    // HTTP goes through the layer; the scope comes back whole, minus the
    // capabilities a tower body cannot carry.
    let request = rgi_conformance::Request::get("/api/x")
        .with_scope(|scope| scope.root_path = "/api".into())
        .extension(Down("outer"))
        .capabilities(rgi::Capabilities::ALL);
    let response = client.send(request).await.unwrap();
    assert_eq!(
        response.body(),
        r#"down=Some(Down("outer")) state=Some(7) root="/api" early_hints=false send_file=false trailers=true file=Some("EXT-001")"#
    );
    assert_eq!(
        response.start().unwrap().extensions.get::<Up>(),
        Some(&Up("from rgi"))
    );
    life.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_rgi_service_answers_an_upgrade_as_plain_http_and_drops_request_trailers() {
    // WebSocket cannot cross: the app gets an HTTP call for the handshake
    // request (here `Reporting` answers it with a 200, no upgrade).
    let request = Request::get("/ws")
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let response = RgiService::new(Reporting).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(
        body.starts_with(b"down=None state=None root=\"\""),
        "{body:?}"
    );

    // Request trailers: rgi has no event for them; the body arrives whole.
    let frames = futures_util::stream::iter([
        Ok::<_, Infallible>(http_body::Frame::data(Bytes::from_static(b"abc"))),
        Ok(http_body::Frame::trailers(HeaderMap::new())),
    ]);
    let request = Request::post("/up")
        .body(http_body_util::StreamBody::new(frames))
        .unwrap();
    struct Count;
    impl App for Count {
        async fn call(&self, conn: Conn<'_>) -> AppResult {
            let Conn::Http(mut http) = conn else {
                return conn.unsupported();
            };
            let body = http.read_body(1024).await?;
            Ok(http.respond(StatusCode::OK, HeaderMap::new(), body).await?)
        }
    }
    let response = RgiService::new(Count).oneshot(request).await.unwrap();
    assert_eq!(
        response.into_body().collect().await.unwrap().to_bytes(),
        "abc"
    );
}

#[tokio::test]
async fn an_app_error_crosses_rgi_tower_rgi_as_the_error_itself() {
    struct Fails;
    impl App for Fails {
        async fn call(&self, conn: Conn<'_>) -> AppResult {
            let Conn::Http(_) = conn else {
                return conn.unsupported();
            };
            Err(Error::BodyTooLarge { limit: 3 }.into())
        }
    }
    let client = TestClient::new(TowerApp::new(RgiService::new(Fails)));
    let response = client.get("/").await.unwrap();
    // Not a 500 made up on the way: the inner error, for the outer server.
    let exit = format!("{:?}", response.exit());
    assert!(exit.contains("BodyTooLarge"), "{exit}");
}

/// A service that is not ready at first, counts readiness, and fails its
/// readiness when told to: `TowerApp` must wait for `poll_ready` before
/// `call`, on the clone it calls, and turn a readiness error into an app
/// error before `Start` (a 500 from the server, BRIDGE-007).
#[derive(Clone)]
struct Reluctant {
    polls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    ready: bool,
    fail: bool,
}

impl tower::Service<Request<rgi_tower::RequestBody>> for Reluctant {
    type Response = Response<http_body_util::Full<Bytes>>;
    type Error = Error;
    type Future = std::future::Ready<Result<Self::Response, Error>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Error>> {
        let n = self.polls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if self.fail {
            return std::task::Poll::Ready(Err(Error::protocol("CORE-040", "not today")));
        }
        if n % 2 == 0 {
            // Not ready on the first poll: wake and be ready on the next.
            cx.waker().wake_by_ref();
            return std::task::Poll::Pending;
        }
        self.ready = true;
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<rgi_tower::RequestBody>) -> Self::Future {
        assert!(self.ready, "called before poll_ready said so");
        self.ready = false;
        std::future::ready(Ok(Response::new(http_body_util::Full::new(
            Bytes::from_static(b"ready"),
        ))))
    }
}

#[tokio::test]
async fn poll_ready_is_driven_before_every_call_and_its_error_is_an_app_error() {
    let polls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let service = Reluctant {
        polls: polls.clone(),
        ready: false,
        fail: false,
    };
    let client = TestClient::new(TowerApp::new(service));
    for _ in 0..3 {
        assert_eq!(client.get("/").await.unwrap().body(), "ready");
    }
    assert_eq!(polls.load(std::sync::atomic::Ordering::SeqCst), 6);

    let failing = Reluctant {
        polls,
        ready: false,
        fail: true,
    };
    let response = TestClient::new(TowerApp::new(failing))
        .get("/")
        .await
        .unwrap();
    assert!(response.start().is_none());
    let exit = format!("{:?}", response.exit());
    assert!(exit.contains("not today"), "{exit}");
}
