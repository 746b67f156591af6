//! This server's WebSocket link: the upgrade request read by `conn/`, the
//! handshake answered with raw HTTP on the same socket, then frames.

use std::io;
use std::net::SocketAddr;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderValue};
use http::StatusCode;
use rgi::{App, Capabilities, HttpScope, WebSocketScope};

use super::codec::handshake::{self, UpgradeRequest};
use super::conn::{self, Link, Start, READ_BYTES};
use crate::ctx::ServerCtx;
use crate::listen::Stream;
use crate::shutdown::ConnWatch;
use crate::wire::encode::{
    encode_head, write_error_response, ConnectionHeader, Identity, LengthHeader,
};
use crate::wire::io::{poll_read_buf, release_read_buf, WriteBuf};

/// How the connection's socket is to be closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// A normal close.
    Close,
    /// A reset: the peer is dead or stopped reading.
    Reset,
}

/// The socket the upgrade request came on.
struct RawLink<'c> {
    stream: &'c Stream,
    ctx: &'c ServerCtx,
}

impl Link for RawLink<'_> {
    fn poll_read(
        &mut self,
        buf: &mut BytesMut,
        reserve: usize,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        let read = poll_read_buf(self.stream, buf, reserve, cx);
        if read.is_pending() {
            // Nothing to read: a waiting connection holds no read buffer
            // (the next read takes one once the socket is readable).
            release_read_buf(buf);
        }
        read
    }

    fn poll_write(
        &mut self,
        out: &mut WriteBuf,
        limit: usize,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        out.poll_flush_to(self.stream, limit, cx)
    }

    /// The client should send nothing before the handshake completes;
    /// reading (a little) is only to notice that it left.
    fn poll_left(&mut self, buf: &mut BytesMut, limit: usize, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if buf.len() >= limit {
                return Poll::Pending;
            }
            match ready!(poll_read_buf(self.stream, buf, READ_BYTES, cx)) {
                Ok(0) | Err(_) => return Poll::Ready(()),
                Ok(_) => {}
            }
        }
    }

    fn accept(&mut self, out: &mut WriteBuf, mut headers: HeaderMap, upgrade: &UpgradeRequest) {
        if let Some(accept) = &upgrade.accept {
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept.clone());
        }
        // A buffer of its own, freed once written: the write buffer's
        // tail, which an idle connection keeps, stays unallocated until a
        // frame.
        let mut head = BytesMut::new();
        encode_head(
            &mut head,
            StatusCode::SWITCHING_PROTOCOLS,
            &headers,
            LengthHeader::None,
            ConnectionHeader::UpgradeWebSocket,
            Identity::of(&self.ctx.config),
        );
        out.queue(head.freeze());
    }

    fn respond(
        &mut self,
        out: &mut WriteBuf,
        status: StatusCode,
        headers: &HeaderMap,
        length: LengthHeader,
    ) {
        let n = encode_head(
            out.tail(),
            status,
            headers,
            length,
            ConnectionHeader::Close,
            Identity::of(&self.ctx.config),
        );
        out.grew(n);
    }

    fn body(&mut self, out: &mut WriteBuf, data: Bytes, _last: bool) {
        out.push(data);
    }

    fn refuse(&mut self, out: &mut WriteBuf, status: StatusCode) {
        write_error_response(out, status, "", Identity::of(&self.ctx.config));
    }

    fn abandon(&mut self, out: &mut WriteBuf) {
        out.clear();
    }
}

/// Serves an upgrade request: checks it, runs the app's call, and carries
/// the connection to its close. `scope` is the request's, filled by the
/// HTTP parser; `has_body`: the request framed a body (refused: a
/// handshake has none).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn serve<A: App>(
    stream: &Stream,
    ctx: &ServerCtx,
    watch: &ConnWatch,
    read_buf: BytesMut,
    out: &mut WriteBuf,
    scope: &mut HttpScope,
    has_body: bool,
    peer: Option<SocketAddr>,
    local: Option<SocketAddr>,
    app: &A,
) -> Ending {
    let config = &ctx.config.websocket;
    scope.client = peer;
    scope.server = local;
    crate::proxy::adjust_scope(&ctx.config, scope);
    let access_log = ctx.config.access_log.as_ref();
    let log = access_log.map(|log| log.start(scope));
    let upgrade = handshake::check_upgrade(
        &scope.method,
        scope.version,
        &scope.headers,
        has_body,
        config.deflate,
    );
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(refusal) => {
            if let (Some(access_log), Some(entry)) = (access_log, log) {
                access_log.finish(entry, refusal.status.as_u16(), 0);
            }
            if refusal.status == StatusCode::UPGRADE_REQUIRED {
                let mut headers = HeaderMap::new();
                headers.insert(
                    header::SEC_WEBSOCKET_VERSION,
                    HeaderValue::from_static("13"),
                );
                let n = encode_head(
                    out.tail(),
                    refusal.status,
                    &headers,
                    LengthHeader::Length(0),
                    ConnectionHeader::Close,
                    Identity::of(&ctx.config),
                );
                out.grew(n);
            } else {
                write_error_response(
                    out,
                    refusal.status,
                    refusal.reason,
                    Identity::of(&ctx.config),
                );
            }
            return Ending::Close;
        }
    };
    let mut capabilities = Capabilities::NONE;
    capabilities.websocket_denial = true;
    scope.state = ctx.state.clone();
    scope.capabilities = capabilities;
    let mut ws_scope = WebSocketScope::new(std::mem::take(scope), upgrade.subprotocols.clone());
    let start = Start {
        link: RawLink { stream, ctx },
        read_buf,
        out: std::mem::take(out),
        upgrade,
    };
    let finished = conn::run(app, &mut ws_scope, start, &ctx.config, watch, peer).await;
    if let (Some(access_log), Some(entry)) = (access_log, log) {
        access_log.finish(entry, finished.status, finished.body_bytes);
    }
    if finished.reset {
        Ending::Reset
    } else {
        Ending::Close
    }
}
