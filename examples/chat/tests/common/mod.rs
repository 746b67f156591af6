//! What the over-TCP tests share: an app on rgi-server on a free port, and
//! waits that cannot hang a test.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use rgi::App;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The bound on every wait (generous: the machine is shared).
pub const WAIT: Duration = Duration::from_secs(10);

/// `fut`, or a panic naming `what` after [`WAIT`].
pub async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {WAIT:?} waiting for {what}"))
}

/// An app served by rgi-server on 127.0.0.1, stopped (gracefully) on drop.
pub struct Served {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<Result<(), rgi_server::ServeError>>,
}

/// Serves `app` with the server's default configuration (permessage-deflate
/// on, denial responses announced) on a free port.
pub async fn serve(app: impl App) -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = rgi_server::Server::from_listener(listener);
    let addr = server.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(server.serve_with_shutdown(app, async {
        let _ = stopped.await;
    }));
    Served {
        addr,
        stop: Some(stop),
        handle,
    }
}

impl Served {
    /// `ws://ADDR{path}`.
    pub fn ws(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// Shuts the server down and waits for `serve` to return.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let result = bounded("the server to stop", &mut self.handle).await;
        result.unwrap().unwrap();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
