//! One connection: read a head, run the app for it with the receiver and
//! sender polled inside this task, decide keep-alive, repeat; then close.

pub(crate) mod body;
mod exchange;
pub(crate) mod file;
pub(crate) mod parse;

use std::any::Any;
use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use crate::listen::Stream;
use bytes::BytesMut;
use futures_util::FutureExt;
use http::{Method, StatusCode, Version};
use rgi::{App, Capabilities, Conn, Error, HttpConn, HttpScope};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{Instant, Sleep};

use self::body::{BodyDecoder, Decoded};
use self::exchange::{Core, Framing, RequestState, ResponseState, Rx, Shared, Tx};
use self::parse::{parse_head_into, BodyFraming, FieldRanges, RequestHead};
use crate::access_log::PendingEntry;
use crate::ctx::ServerCtx;
use crate::head_rules::HeadError;
use crate::wire::encode::{write_error_response, Identity};
use crate::wire::io::{poll_read_buf, release_read_buf};

/// Bytes reserved per read while waiting for a head.
const HEAD_READ_BYTES: usize = 8 * 1024;
/// How long, and how much, a closing connection keeps reading (and
/// discarding) so that the client gets our last response instead of a
/// reset caused by its unread bytes.
const LINGER_TIME: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 1024 * 1024;

/// How the connection ends.
#[derive(Debug)]
enum End {
    /// Close normally (after the last response went out). `linger`: the
    /// client may still be sending (unread body, refused head), so keep
    /// reading for a moment to not reset our last response away.
    Close { linger: bool },
    /// Close without completing the response framing (rule CORE-041);
    /// `reset` sends a TCP reset, for bodies that end at close anyway.
    Abort { reset: bool },
    /// An upgrade request: the connection becomes a WebSocket.
    WebSocket {
        scope: Box<HttpScope>,
        has_body: bool,
    },
}

/// What comes after an exchange.
enum Next {
    KeepAlive,
    End(End),
}

/// Serves one accepted connection to its end.
pub(crate) async fn serve_connection<A: App>(
    mut stream: Stream,
    peer: Option<SocketAddr>,
    ctx: Arc<ServerCtx>,
    app: Arc<A>,
) {
    let local = ctx.bound_addr.or_else(|| stream.local_addr());
    let watch = ctx.shutdown.watch();
    let mut shared = Shared {
        stream: &stream,
        ctx: &ctx,
        watch: &watch,
        core: Mutex::new(Core::new()),
    };
    // The HTTP loop and the WebSocket are boxed: each is a few KiB (the
    // app's future is inside), a connection is in one of them at a time,
    // and the HTTP loop's box is freed when a WebSocket takes over, so an
    // idle WebSocket does not carry it. What stays in this future is small
    // (~700 bytes).
    let mut end = Box::pin(run(&mut shared, peer, local, &app)).await;
    if let End::WebSocket { scope, has_body } = end {
        end = Box::pin(serve_websocket(
            &mut shared,
            scope,
            has_body,
            peer,
            local,
            &*app,
        ))
        .await;
    }
    drop(shared);
    match end {
        End::Close { linger: false } => {
            let _ = stream.shutdown().await;
        }
        End::Close { linger: true } => {
            let _ = stream.shutdown().await;
            // Boxed: rare, and its timer and buffer would grow this future.
            Box::pin(linger_read(&mut stream)).await;
        }
        End::Abort { reset: true } => {
            let _ = stream.set_zero_linger();
        }
        End::Abort { reset: false } | End::WebSocket { .. } => {
            let _ = stream.shutdown().await;
        }
    }
}

/// Hands the connection to `ws/` for an upgrade request.
async fn serve_websocket<A: App>(
    shared: &mut Shared<'_>,
    mut scope: Box<HttpScope>,
    has_body: bool,
    peer: Option<SocketAddr>,
    local: Option<SocketAddr>,
    app: &A,
) -> End {
    let (stream, ctx, watch) = (shared.stream, shared.ctx, shared.watch);
    // The scope stays boxed: inline it would grow the future of every
    // connection, HTTP ones included, by its 368 bytes.
    detach_from_read_buf(&mut scope);
    let core = shared.core_mut();
    let mut read_buf = std::mem::take(&mut core.read_buf);
    // Nothing came after the head (a client waits for the 101): the
    // WebSocket takes a buffer once there is something to read, and the
    // head's (no longer shared: see above) becomes the thread's spare.
    release_read_buf(&mut read_buf);
    let ending = crate::ws::serve(
        stream,
        ctx,
        watch,
        read_buf,
        &mut core.out,
        &mut scope,
        has_body,
        peer,
        local,
        app,
    )
    .await;
    // A refused upgrade left its answer here.
    let sleep = pin!(tokio::time::sleep(ctx.config.write_timeout));
    flush_before_close(shared, sleep).await;
    match ending {
        crate::ws::Ending::Close => End::Close { linger: false },
        crate::ws::Ending::Reset => End::Abort { reset: true },
    }
}

/// Copies the header values and the target, which the parser left as
/// slices of the read buffer (no copy for a request's short life), into
/// one allocation of their own: a WebSocket keeps its handshake's scope
/// for the connection's life, and with it would keep the whole read
/// buffer the head was read into (8 KiB per idle connection).
fn detach_from_read_buf(scope: &mut HttpScope) {
    let target = scope.uri.to_string();
    let mut copy = BytesMut::with_capacity(
        target.len() + scope.headers.values().map(|v| v.len()).sum::<usize>(),
    );
    copy.extend_from_slice(target.as_bytes());
    for value in scope.headers.values() {
        copy.extend_from_slice(value.as_bytes());
    }
    let copy = copy.freeze();
    let mut at = target.len();
    if let Ok(uri) = http::Uri::from_maybe_shared(copy.slice(..at)) {
        scope.uri = uri;
    }
    for value in scope.headers.values_mut() {
        let len = value.len();
        if let Ok(mut detached) = http::HeaderValue::from_maybe_shared(copy.slice(at..at + len)) {
            detached.set_sensitive(value.is_sensitive());
            *value = detached;
        }
        at += len;
    }
}

async fn run<A: App>(
    shared: &mut Shared<'_>,
    peer: Option<SocketAddr>,
    local: Option<SocketAddr>,
    app: &A,
) -> End {
    let ctx = shared.ctx;
    let mut fields = Vec::new();
    // One scope per connection, filled in place for each request and
    // cleared after it: it is never moved (368 bytes), and its path and
    // header map keep their storage from one request to the next.
    let mut scope = HttpScope::default();
    let first_deadline = Instant::now() + ctx.config.head_timeout;
    let mut sleep = pin!(tokio::time::sleep_until(first_deadline));
    let mut first = Some(first_deadline);
    let mut requests: u64 = 0;
    loop {
        let head = match read_head(
            shared,
            &mut fields,
            &mut scope,
            sleep.as_mut(),
            first.take(),
        )
        .await
        {
            HeadRead::Request(head) => head,
            HeadRead::Closed => return End::Close { linger: false },
            HeadRead::Rejected(err) => {
                if let Some(log) = &ctx.config.access_log {
                    log.finish(log.start_refused(peer), err.status.as_u16(), 0);
                }
                let core = shared.core_mut();
                write_error_response(
                    &mut core.out,
                    err.status,
                    err.reason,
                    Identity::of(&ctx.config),
                );
                flush_before_close(shared, sleep.as_mut()).await;
                return End::Close {
                    linger: !shared.core_mut().read_eof,
                };
            }
        };
        if head.websocket {
            // Served once the HTTP loop is left: its state stays out of
            // this future, which every HTTP connection carries.
            return End::WebSocket {
                scope: Box::new(std::mem::take(&mut scope)),
                has_body: head.body != BodyFraming::Empty,
            };
        }
        requests += 1;
        // `Config::max_requests_per_connection`: the last one is answered
        // with `connection: close`.
        let last = ctx
            .config
            .max_requests_per_connection
            .is_some_and(|max| requests >= max);
        let log = begin_exchange(shared, &head, &mut scope, peer, local, last);
        let outcome = {
            let shared: &Shared<'_> = shared;
            let mut rx = Rx { shared };
            let mut tx = Tx::new(shared);
            // The scope's one move on its way to the app. The app's future
            // is built where it is polled and `drive` borrows it: passed by
            // value it was copied into `drive`'s future and again into its
            // pinned slot.
            let call = pin!(AssertUnwindSafe(app.call(Conn::Http(HttpConn {
                scope: &mut scope,
                receiver: &mut rx,
                sender: &mut tx,
            })))
            .catch_unwind());
            drive(shared, sleep.as_mut(), call)
                .await
                .unwrap_or_else(|| {
                    tracing::warn!(
                        client = ?peer,
                        grace = ?ctx.config.disconnect_grace,
                        "app still running after its client left: dropped (CORE-032)"
                    );
                    Ok(Err(Error::Disconnected.into()))
                })
        };
        let next = end_exchange(shared, outcome, log, peer);
        recycle(&mut scope);
        match next {
            Next::KeepAlive => {
                let core = shared.core_mut();
                if core.out.len() >= ctx.config.write_buffer_bytes {
                    // Held back for pipelining, but enough is enough.
                    if !flush(shared, sleep.as_mut()).await {
                        return End::Close { linger: false };
                    }
                }
            }
            Next::End(end) => {
                flush_before_close(shared, sleep.as_mut()).await;
                return end;
            }
        }
    }
}

/// Header fields and path bytes a connection's scope keeps room for
/// between requests: a request with many fields or a long path does not
/// pin that much memory for the connection's life.
const KEPT_HEADER_FIELDS: usize = 64;
const KEPT_PATH_BYTES: usize = 1024;

/// Readies the connection's scope for the next request (rule CORE-009).
fn recycle(scope: &mut HttpScope) {
    scope.clear();
    if scope.headers.capacity() > KEPT_HEADER_FIELDS {
        scope.headers = http::HeaderMap::new();
    }
    scope.path.shrink_to(KEPT_PATH_BYTES);
}

enum HeadRead {
    Request(RequestHead),
    Closed,
    Rejected(HeadError),
}

enum Wait {
    Data,
    Eof,
    Shutdown,
    Timeout,
}

/// Reads until a whole head is buffered. Responses held back for
/// pipelining are written first whenever the socket must be waited on.
async fn read_head(
    shared: &mut Shared<'_>,
    fields: &mut Vec<FieldRanges>,
    scope: &mut HttpScope,
    mut sleep: Pin<&mut Sleep>,
    first_deadline: Option<Instant>,
) -> HeadRead {
    let ctx = shared.ctx;
    let (stream, watch) = (shared.stream, shared.watch);
    let mut idle_deadline = first_deadline;
    let mut head_deadline = first_deadline;
    loop {
        let core = shared.core_mut();
        if !core.read_buf.is_empty() {
            match parse_head_into(&mut core.read_buf, &ctx.config, fields, scope) {
                Ok(Some(head)) => return HeadRead::Request(head),
                Ok(None) => {}
                Err(err) => return HeadRead::Rejected(err),
            }
        }
        if core.read_eof || core.peer_gone {
            return HeadRead::Closed;
        }
        if !core.out.is_empty() && !flush(shared, sleep.as_mut()).await {
            return HeadRead::Closed;
        }
        let core = shared.core_mut();
        let idle = core.read_buf.is_empty();
        let deadline = if idle {
            *idle_deadline.get_or_insert_with(|| Instant::now() + ctx.config.keep_alive_timeout)
        } else {
            *head_deadline.get_or_insert_with(|| Instant::now() + ctx.config.head_timeout)
        };
        // The timer is only moved earlier. A later deadline (the usual
        // case: every keep-alive request pushes the idle deadline) leaves
        // it armed where it is, and when it fires too early it is re-armed
        // below: resetting it per request cost a timer-wheel removal and
        // insertion for every request.
        if sleep.deadline() > deadline {
            sleep.as_mut().reset(deadline);
        }
        let wait = poll_fn(|cx| {
            if idle {
                watch.register(cx.waker());
                if ctx.shutdown.is_started() {
                    return Poll::Ready(Wait::Shutdown);
                }
            }
            match poll_read_buf(stream, &mut core.read_buf, HEAD_READ_BYTES, cx) {
                Poll::Ready(Ok(0) | Err(_)) => return Poll::Ready(Wait::Eof),
                Poll::Ready(Ok(_)) => return Poll::Ready(Wait::Data),
                // An idle keep-alive connection holds no read buffer.
                Poll::Pending => release_read_buf(&mut core.read_buf),
            }
            sleep.as_mut().poll(cx).map(|()| Wait::Timeout)
        })
        .await;
        match wait {
            Wait::Data => {}
            Wait::Eof => {
                core.read_eof = true;
                return HeadRead::Closed;
            }
            Wait::Shutdown => return HeadRead::Closed,
            Wait::Timeout if Instant::now() < deadline => {
                // Armed for an earlier deadline that has since moved.
                sleep.as_mut().reset(deadline);
            }
            Wait::Timeout if core.read_buf.is_empty() => return HeadRead::Closed,
            Wait::Timeout => {
                return HeadRead::Rejected(HeadError {
                    status: StatusCode::REQUEST_TIMEOUT,
                    reason: "request head not received in time",
                })
            }
        }
    }
}

/// Writes everything buffered; `false` if the client is gone, or no byte
/// could be written for `write_timeout` (then `sleep` was borrowed as the
/// stall timer; its owner re-arms it).
async fn flush(shared: &mut Shared<'_>, mut sleep: Pin<&mut Sleep>) -> bool {
    let stream = shared.stream;
    let timeout = shared.ctx.config.write_timeout;
    let core = shared.core_mut();
    let ok = poll_fn(|cx| match core.out.poll_flush(stream, cx) {
        Poll::Ready(result) => Poll::Ready(result.is_ok()),
        Poll::Pending => {
            let written = core.out.written();
            core.stall
                .poll_stalled(sleep.as_mut(), written, timeout, cx)
                .map(|()| false)
        }
    })
    .await;
    if !ok {
        core.peer_gone = true;
        core.out.clear();
    }
    ok
}

async fn flush_before_close(shared: &mut Shared<'_>, sleep: Pin<&mut Sleep>) {
    if !shared.core_mut().peer_gone {
        flush(shared, sleep).await;
    }
}

/// Fills in the rest of the scope, in place, and readies the connection
/// state for the exchange; returns the access-log entry.
///
/// The exchange is three steps, not one `async fn`: an async fn's
/// arguments are moved into its future and the future into its caller's,
/// and the fewer large values travel, the fewer copies.
fn begin_exchange(
    shared: &mut Shared<'_>,
    head: &RequestHead,
    scope: &mut HttpScope,
    peer: Option<SocketAddr>,
    local: Option<SocketAddr>,
    last: bool,
) -> Option<PendingEntry> {
    let ctx = shared.ctx;
    let http11 = scope.version == Version::HTTP_11;
    let mut capabilities = Capabilities::NONE;
    capabilities.trailers = head.te_trailers && http11;
    capabilities.early_hints = http11;
    capabilities.send_file = true;
    scope.client = peer;
    scope.server = local;
    crate::proxy::adjust_scope(&ctx.config, scope);
    scope.state = ctx.state.clone();
    scope.capabilities = capabilities;
    let log = ctx.config.access_log.as_ref().map(|log| log.start(scope));
    let method_is_head = scope.method == Method::HEAD;
    let version = scope.version;
    let core = shared.core_mut();
    core.req = RequestState {
        decoder: BodyDecoder::new(head.body, ctx.config.max_body_bytes),
        method_is_head,
        version,
        keep_alive: head.keep_alive && !last,
        capabilities,
        expect_continue: head.expect_continue,
        final_delivered: false,
        disconnect_reported: false,
        body_error: None,
    };
    core.resp = ResponseState::new();
    core.tx_waiting = false;
    log
}

/// The app's outcome: its result, or the panic it raised.
type Outcome = std::thread::Result<rgi::AppResult>;

/// Settles the exchange once the app returned.
fn end_exchange(
    shared: &mut Shared<'_>,
    outcome: Outcome,
    log: Option<PendingEntry>,
    peer: Option<SocketAddr>,
) -> Next {
    let ctx = shared.ctx;
    let core = shared.core_mut();
    let failure = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(e))
            if Error::is_disconnect(&*e) && (core.peer_gone || core.req.disconnect_reported) =>
        {
            tracing::debug!(client = ?peer, "app stopped: client disconnected");
            None
        }
        Ok(Err(e)) => Some(e.to_string()),
        Err(panic) => Some(format!("panic: {}", panic_message(&*panic))),
    };
    if let Some(error) = &failure {
        tracing::error!(client = ?peer, %error, "app failed");
    }
    let resp_status = core.resp.status.as_u16();
    let finish_log = |status: u16, bytes: u64| {
        if let (Some(access_log), Some(entry)) = (&ctx.config.access_log, log) {
            access_log.finish(entry, status, bytes);
        }
    };

    // Whether the client may still be sending bytes we will not read.
    let unread = !core.read_eof && (!core.req.decoder.is_done() || !core.read_buf.is_empty());
    if !core.resp.started() {
        if core.peer_gone {
            finish_log(499, 0);
            return Next::End(End::Close { linger: false });
        }
        let status = match core.req.body_error {
            Some(status) => status,
            None if core.req.disconnect_reported && ctx.shutdown.is_started() => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            None => {
                if failure.is_none() {
                    tracing::error!(client = ?peer, "app returned without starting a response (CORE-042)");
                }
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        write_error_response(&mut core.out, status, "", Identity::of(&ctx.config));
        finish_log(status.as_u16(), 0);
        return Next::End(End::Close { linger: unread });
    }
    let bytes = core.resp.body_bytes;
    if !core.resp.complete() {
        if failure.is_none() && !core.peer_gone {
            tracing::error!(client = ?peer, "app ended before completing its response (CORE-042)");
        }
        finish_log(resp_status, bytes);
        // The head may still be waiting for a body: nothing of it has
        // reached the client, and nothing will.
        if matches!(core.resp.phase, exchange::Phase::HeadPending(_)) {
            core.out.clear();
        }
        return Next::End(End::Abort {
            // A stalled client also gets a reset: a plain close would
            // leave the unread bytes queued in the kernel for it.
            reset: core.resp.framing == Framing::CloseDelimited || core.write_stalled,
        });
    }
    finish_log(resp_status, bytes);
    if core.peer_gone
        || core.resp.close
        || core.read_eof
        || core.req.body_error.is_some()
        || ctx.shutdown.is_started()
    {
        return Next::End(End::Close {
            linger: unread && !core.peer_gone,
        });
    }
    if !body_consumed(core, ctx.config.read_chunk_bytes) {
        return Next::End(End::Close {
            linger: !core.read_eof,
        });
    }
    Next::KeepAlive
}

/// Whether the request body has been read to its end, discarding what the
/// app left unread if it is already buffered.
fn body_consumed(core: &mut Core, chunk: usize) -> bool {
    loop {
        match core.req.decoder.decode(&mut core.read_buf, chunk) {
            Ok(Decoded::Done) => return true,
            Ok(Decoded::Data(_)) => {}
            Ok(Decoded::NeedMore) | Err(_) => return false,
        }
    }
}

/// Polls the app's future. Whenever it waits, response bytes it buffered
/// are pushed to the socket, so nothing the app sent lingers in memory
/// while it works (unless its sender already waits on the socket). While
/// output cannot be written, `sleep` serves as the write-stall timer; when
/// it runs out the connection is given up and the app polled once more to
/// see its send fail.
async fn drive<F: Future>(
    shared: &Shared<'_>,
    mut sleep: Pin<&mut Sleep>,
    mut fut: Pin<&mut F>,
) -> Option<F::Output> {
    let timeout = shared.ctx.config.write_timeout;
    let mut grace_armed = false;
    poll_fn(|cx| loop {
        if let Poll::Ready(output) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        let mut guard = shared.lock();
        let core = &mut *guard;
        if core.peer_gone {
            // The client is gone: the app is polled on so it can clean
            // up, for at most `disconnect_grace`, then dropped (CORE-032).
            // `None` drops it: it is pinned in this future.
            if !grace_armed {
                grace_armed = true;
                sleep
                    .as_mut()
                    .reset(Instant::now() + shared.ctx.config.disconnect_grace);
            }
            return sleep.as_mut().poll(cx).map(|()| None);
        }
        if core.out.is_empty() {
            return Poll::Pending;
        }
        // The sender waiting on the socket has already tried to write.
        let blocked = core.tx_waiting
            || match core.out.poll_flush(shared.stream, cx) {
                Poll::Ready(Ok(())) => false,
                Poll::Ready(Err(_)) => {
                    core.set_peer_gone();
                    false
                }
                Poll::Pending => true,
            };
        if !blocked {
            return Poll::Pending;
        }
        let written = core.out.written();
        match core
            .stall
            .poll_stalled(sleep.as_mut(), written, timeout, cx)
        {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(()) => {
                tracing::debug!("no byte written for write_timeout: connection given up");
                core.give_up_stalled_write();
            }
        }
    })
    .await
}

/// Reads and discards until the client closes, bounded in time and bytes.
async fn linger_read(stream: &mut Stream) {
    // On the heap, and only here: a buffer on the stack of an async fn is
    // part of the connection's future, so 4 KiB held by every connection
    // for its whole life (it made the future 5 KiB; lingering is rare).
    let mut sink = vec![0u8; 4096];
    let mut total = 0;
    let _ = tokio::time::timeout(LINGER_TIME, async {
        while total < LINGER_BYTES {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    })
    .await;
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(non-string panic payload)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recycling_keeps_small_storage_and_lets_large_go() {
        let mut scope = HttpScope::default();
        for i in 0..8 {
            scope.headers.append(
                http::header::HeaderName::from_bytes(format!("x-{i}").as_bytes()).unwrap(),
                http::HeaderValue::from_static("v"),
            );
        }
        scope.path.push_str("/short");
        let (fields, path) = (scope.headers.capacity(), scope.path.capacity());
        recycle(&mut scope);
        assert_eq!(scope.headers.capacity(), fields, "a small map is kept");
        assert_eq!(
            scope.path.capacity(),
            path,
            "a short path's storage is kept"
        );

        for i in 0..100 {
            scope.headers.append(
                http::header::HeaderName::from_bytes(format!("x-{i}").as_bytes()).unwrap(),
                http::HeaderValue::from_static("v"),
            );
        }
        scope.path.push_str(&"a".repeat(8 * 1024));
        recycle(&mut scope);
        assert!(scope.headers.capacity() <= KEPT_HEADER_FIELDS);
        assert!(scope.path.capacity() <= KEPT_PATH_BYTES);
        assert!(scope.headers.is_empty() && scope.path == "/");
    }
}
