//! The baseline: the load app's routes on hyper 1.x, set up the way the
//! fast hyper entries of public benchmarks are: HTTP/1 only, `TCP_NODELAY`,
//! one body type without boxing, no logging.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Request, Response, StatusCode};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::routes::{stream_chunk, Route, HELLO, TEXT_PLAIN};

/// Every response body the peer sends, as one enum so that no body is boxed.
#[derive(Debug)]
pub enum PeerBody {
    /// A complete body, sent with its length (`None` once taken).
    Full(Option<Bytes>),
    /// The request body, streamed back as it arrives.
    Echo(Incoming),
    /// `remaining` more copies of `chunk`, without a length.
    Repeat {
        /// The chunk.
        chunk: Bytes,
        /// How many are left to send.
        remaining: usize,
    },
}

impl Body for PeerBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            Self::Full(body) => Poll::Ready(body.take().map(|b| Ok(Frame::data(b)))),
            Self::Echo(incoming) => Pin::new(incoming).poll_frame(cx),
            Self::Repeat { chunk, remaining } => {
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                *remaining -= 1;
                Poll::Ready(Some(Ok(Frame::data(chunk.clone()))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(body) => body.is_none(),
            Self::Echo(incoming) => incoming.is_end_stream(),
            Self::Repeat { remaining, .. } => *remaining == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(body) => SizeHint::with_exact(body.as_ref().map_or(0, |b| b.len() as u64)),
            Self::Echo(incoming) => incoming.size_hint(),
            Self::Repeat { .. } => SizeHint::default(),
        }
    }
}

/// Answers one request.
pub async fn handle(request: Request<Incoming>) -> Result<Response<PeerBody>, Infallible> {
    let route = Route::of(
        request.method(),
        request.uri().path(),
        request.uri().query().unwrap_or(""),
    );
    let response = match route {
        Route::Hello => {
            let mut response = Response::new(PeerBody::Full(Some(Bytes::from_static(HELLO))));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(TEXT_PLAIN));
            response
        }
        Route::Echo => Response::new(PeerBody::Echo(request.into_body())),
        Route::Stream(params) => Response::new(PeerBody::Repeat {
            chunk: stream_chunk(params.size),
            remaining: params.chunks,
        }),
        Route::NotFound => {
            let mut response = Response::new(PeerBody::Full(None));
            *response.status_mut() = StatusCode::NOT_FOUND;
            response
        }
    };
    Ok(response)
}

/// Accepts connections on `listener` forever, serving each on its own task.
/// Accept errors (such as running out of file descriptors under the idle
/// connection test) are skipped after a short pause, as a server should.
pub async fn serve(listener: TcpListener) {
    let mut http = http1::Builder::new();
    // Aggregate responses to pipelined requests into one write, as the
    // TechEmpower hyper entry does; it only matters for pipelining.
    http.pipeline_flush(true);
    accept_forever(listener, move |io| {
        let http = http.clone();
        async move {
            // A connection error (reset, malformed request) ends that
            // connection only.
            let _ = http.serve_connection(io, service_fn(handle)).await;
        }
    })
    .await;
}

/// The accept loop both baselines share: `TCP_NODELAY` on every socket (one
/// whose option cannot be set still works), one task per connection.
async fn accept_forever<F, Fut>(listener: TcpListener, serve_one: F)
where
    F: Fn(TokioIo<tokio::net::TcpStream>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_one(TokioIo::new(stream)));
    }
}

/// How [`serve_auto`] sets up hyper's HTTP/1 side.
#[derive(Debug, Clone, Copy)]
pub struct AutoOptions {
    /// hyper's `header_read_timeout` (with a tokio timer): the slow-head
    /// guard rgi-hyper arms for every request (its `head_timeout`, 10 s by
    /// default); `None` arms no timer.
    pub head_timeout: Option<std::time::Duration>,
    /// hyper's experimental `pipeline_flush` (which also flattens every
    /// response into one buffer instead of a vectored write); rgi-hyper
    /// does not set it.
    pub pipeline_flush: bool,
    /// Serve connections that can be upgraded (`serve_connection_with_upgrades`,
    /// and RFC 8441's extended CONNECT on HTTP/2), as a server that takes
    /// WebSockets must, and as rgi-hyper and `axum::serve` do.
    pub upgrades: bool,
    /// Watch every connection for graceful shutdown (hyper-util's
    /// `GracefulShutdown`), as rgi-hyper and `axum::serve` do.
    pub graceful: bool,
}

impl Default for AutoOptions {
    /// What rgi-hyper sets, so that the two differ only by rgi.
    fn default() -> Self {
        Self {
            head_timeout: Some(std::time::Duration::from_secs(10)),
            pipeline_flush: false,
            upgrades: true,
            graceful: true,
        }
    }
}

/// As [`serve`], with hyper-util's automatic HTTP/1.1 + HTTP/2 (h2c)
/// builder: the bare-hyper baseline for `rgi-hyper`, which serves through
/// the same builder (so both pay its protocol sniffing alike) set up the
/// same way by default (see [`AutoOptions`]).
pub async fn serve_auto(listener: TcpListener, options: AutoOptions) {
    use hyper_util::rt::{TokioExecutor, TokioTimer};
    use hyper_util::server::conn::auto;
    use hyper_util::server::graceful::GracefulShutdown;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().pipeline_flush(options.pipeline_flush);
    if let Some(timeout) = options.head_timeout {
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(timeout);
    }
    if options.upgrades {
        builder.http2().enable_connect_protocol();
    }
    let builder = std::sync::Arc::new(builder);
    // Never triggered: what it costs is the watch on every connection.
    let graceful = GracefulShutdown::new();
    accept_forever(listener, move |io| {
        let builder = builder.clone();
        let watcher = options.graceful.then(|| graceful.watcher());
        async move {
            let service = service_fn(handle);
            let _ = match (options.upgrades, watcher) {
                (true, Some(watcher)) => {
                    watcher
                        .watch(builder.serve_connection_with_upgrades(io, service))
                        .await
                }
                (true, None) => builder.serve_connection_with_upgrades(io, service).await,
                (false, Some(watcher)) => {
                    watcher.watch(builder.serve_connection(io, service)).await
                }
                (false, None) => builder.serve_connection(io, service).await,
            };
        }
    })
    .await;
}
