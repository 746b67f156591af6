//! Socket I/O on a shared `&Stream` (TCP or Unix): reads into the connection's read
//! buffer, and a write queue flushed with vectored writes.
//!
//! Both directions use readiness polling and `try_*` calls, which tokio
//! offers on `&TcpStream` and `&UnixStream` alike: the receiver and the sender of one request can
//! then use the same socket without splitting it or allocating.

use std::cell::Cell;
use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::{pin, Pin};
use std::task::{ready, Context, Poll};

use crate::listen::Stream;
use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, Interest};

/// Bodies up to this size are copied next to the head and framing; larger
/// ones are queued by reference and written with `writev`.
const COPY_MAX: usize = 1024;
/// Most buffers handed to one `writev`.
const MAX_IOVECS: usize = 64;

/// Reads once from `stream` into `buf`, reserving `reserve` bytes first
/// (only once the socket is readable: a buffer without capacity stays so
/// while the connection waits). `Ok(0)` is end of stream.
pub(crate) fn poll_read_buf(
    stream: &Stream,
    buf: &mut BytesMut,
    reserve: usize,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    loop {
        ready!(stream.poll_read_ready(cx))?;
        if buf.capacity() == 0 {
            take_spare(buf);
        }
        buf.reserve(reserve);
        let space = buf.capacity() - buf.len();
        let mut read = None;
        let result = stream.try_io(Interest::READABLE, || {
            let n = stream.try_read_buf(buf)?;
            read = Some(n);
            drained_unless_full(n, space)
        });
        if let Some(n) = read {
            return Poll::Ready(Ok(n));
        }
        match result {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            result => return Poll::Ready(result),
        }
    }
}

/// Reads once from any `AsyncRead` (a stream another server upgraded,
/// such as hyper's) into `buf`, as [`poll_read_buf`] does from a socket:
/// the buffer is the thread's spare when it has none, and an empty one is
/// let go again when nothing was there to read, so that a waiting
/// connection holds no read buffer here either. (An `AsyncRead` cannot be
/// asked for readiness without a buffer, so this one reserves first.)
pub(crate) fn poll_read_io<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut BytesMut,
    reserve: usize,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    if buf.capacity() == 0 {
        take_spare(buf);
    }
    buf.reserve(reserve);
    // `read_buf` keeps no state between polls.
    let read = pin!(io.read_buf(buf)).poll(cx);
    if read.is_pending() {
        release_read_buf(buf);
    }
    read
}

thread_local! {
    /// Read buffers that a connection let go of while it waits (see
    /// [`release_read_buf`]) are kept here, one per thread, for the next
    /// connection that has something to read: a connection that waits holds no
    /// read buffer, and one that wakes up does not ask the allocator for one.
    /// (glibc's malloc and free of 4 KiB, above its per-thread cache's sizes,
    /// cost about 600 instructions: as much again as a small WebSocket
    /// message's whole frame handling.)
    static SPARE_READ_BUF: Cell<Option<BytesMut>> = const { Cell::new(None) };
}

/// Spare read buffers are kept from this size to 16 KiB (the usual read
/// reserve; larger buffers, for large messages, are let go).
const SPARE_MIN: usize = 4 * 1024;
const SPARE_MAX: usize = 16 * 1024;

/// Lets go of `buf` if it is empty, for a connection about to wait for its
/// socket: it becomes the thread's spare if it can be reused.
pub(crate) fn release_read_buf(buf: &mut BytesMut) {
    if !buf.is_empty() || buf.capacity() == 0 {
        return;
    }
    let mut buf = std::mem::take(buf);
    // Reclaiming the room before its start fails while a message still
    // shares the allocation: then it is simply dropped.
    if buf.try_reclaim(SPARE_MIN) && buf.capacity() <= SPARE_MAX {
        SPARE_READ_BUF.with(|spare| spare.set(Some(buf)));
    }
}

/// Gives `buf` (without capacity) the thread's spare, if there is one.
/// The `reserve` that follows reclaims its whole allocation without
/// copying (it is empty and, unless a message still shares it, unique).
fn take_spare(buf: &mut BytesMut) {
    if let Some(spare) = SPARE_READ_BUF.with(Cell::take) {
        *buf = spare;
    }
}

/// With an edge-triggered selector (epoll, kqueue), a read or write that
/// moved fewer bytes than offered has drained the socket (or filled its
/// send buffer). Reporting `WouldBlock` to `try_io` then clears tokio's
/// readiness flag, so the next poll waits for the selector instead of
/// making a system call that only says `WouldBlock`: one syscall saved per
/// request on a keep-alive connection. tokio's own `poll_read` and
/// `poll_write` do the same; `try_io` uses the readiness seen before the
/// call, so an event that arrives meanwhile is not lost.
fn drained_unless_full(n: usize, offered: usize) -> io::Result<usize> {
    if EDGE_TRIGGERED && n > 0 && n < offered {
        Err(io::ErrorKind::WouldBlock.into())
    } else {
        Ok(n)
    }
}

/// Whether tokio's selector on this platform is edge-triggered.
const EDGE_TRIGGERED: bool = cfg!(any(
    target_os = "linux",
    target_os = "android",
    target_os = "illumos",
    target_os = "freebsd",
    target_os = "dragonfly",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "macos",
    target_os = "ios",
));

/// One `write` call of `offered` bytes, through `try_io` so that a short
/// write clears the write readiness (see [`drained_unless_full`]).
#[inline]
fn write_once(
    stream: &Stream,
    offered: usize,
    write: impl FnOnce() -> io::Result<usize>,
) -> io::Result<usize> {
    let mut wrote = None;
    let result = stream.try_io(Interest::WRITABLE, || {
        let written = write()?;
        wrote = Some(written);
        drained_unless_full(written, offered)
    });
    match (wrote, result) {
        (Some(written), _) => Ok(written),
        (None, result) => result,
    }
}

/// Response bytes waiting for the socket, in order: the queued buffers,
/// then `tail`. Small pieces (heads, chunk sizes, small bodies) are copied
/// into `tail`; large bodies are queued as they are.
#[derive(Debug, Default)]
pub(crate) struct WriteBuf {
    queue: VecDeque<Bytes>,
    tail: BytesMut,
    len: usize,
    /// Bytes written to the socket over the connection's life: how the
    /// write-stall clock sees progress.
    written: u64,
}

impl WriteBuf {
    /// Bytes waiting.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes written to the socket so far, in total.
    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    /// Whether nothing is waiting.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The buffer that small writes go to (for encoders that write in
    /// place). Call [`grew`](Self::grew) afterwards.
    pub(crate) fn tail(&mut self) -> &mut BytesMut {
        &mut self.tail
    }

    /// Accounts for `n` bytes written straight into [`tail`](Self::tail).
    pub(crate) fn grew(&mut self, n: usize) {
        self.len += n;
    }

    /// Appends a copy of `bytes`.
    pub(crate) fn extend(&mut self, bytes: &[u8]) {
        self.tail.extend_from_slice(bytes);
        self.len += bytes.len();
    }

    /// Appends `bytes`, copying only when small.
    pub(crate) fn push(&mut self, bytes: Bytes) {
        if bytes.len() <= COPY_MAX {
            self.extend(&bytes);
            return;
        }
        self.queue(bytes);
    }

    /// Appends `bytes` by reference, whatever its size: for a buffer written
    /// once (a WebSocket's `101`), freed once written instead of growing
    /// the tail that a connection keeps.
    pub(crate) fn queue(&mut self, bytes: Bytes) {
        if !self.tail.is_empty() {
            self.queue.push_back(self.tail.split().freeze());
        }
        self.len += bytes.len();
        self.queue.push_back(bytes);
    }

    /// Writes until empty.
    pub(crate) fn poll_flush(
        &mut self,
        stream: &Stream,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        self.poll_flush_to(stream, 0, cx)
    }

    /// Writes until at most `limit` bytes are waiting.
    pub(crate) fn poll_flush_to(
        &mut self,
        stream: &Stream,
        limit: usize,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        while self.len > limit {
            ready!(stream.poll_write_ready(cx))?;
            match self.try_write(stream) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(()))
    }

    fn try_write(&mut self, stream: &Stream) -> io::Result<usize> {
        let written = if self.queue.is_empty() {
            // Everything is in the tail (small responses, small frames):
            // no slice array to build.
            write_once(stream, self.tail.len(), || stream.try_write(&self.tail))?
        } else {
            let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
            let mut n = 0;
            for (slot, bytes) in slices.iter_mut().zip(self.queue.iter()) {
                *slot = IoSlice::new(bytes);
                n += 1;
            }
            if n < MAX_IOVECS && !self.tail.is_empty() {
                slices[n] = IoSlice::new(&self.tail);
                n += 1;
            }
            let slices = &slices[..n];
            let offered = slices.iter().map(|s| s.len()).sum();
            write_once(stream, offered, || match slices {
                [one] => stream.try_write(one),
                _ => stream.try_write_vectored(slices),
            })?
        };
        self.consume(written);
        Ok(written)
    }

    fn consume(&mut self, mut n: usize) {
        self.len -= n;
        self.written += n as u64;
        while n > 0 {
            match self.queue.front_mut() {
                Some(front) if front.len() <= n => {
                    n -= front.len();
                    self.queue.pop_front();
                }
                Some(front) => {
                    front.advance(n);
                    return;
                }
                None if n == self.tail.len() => {
                    // Cleared, not advanced: the next head or frame is
                    // written from the allocation's start (advancing and
                    // then clearing left the room before it to reclaim).
                    self.tail.clear();
                    break;
                }
                None => {
                    self.tail.advance(n);
                    break;
                }
            }
        }
    }

    /// Writes until at most `limit` bytes are waiting, to any writer (a
    /// connection another server upgraded: rgi-hyper's WebSockets). One
    /// buffer per write: the writers this serves (TLS, hyper's upgraded
    /// stream) do not write vectors anyway. The caller flushes.
    pub(crate) fn poll_write_to<W: AsyncWrite + Unpin>(
        &mut self,
        writer: &mut W,
        limit: usize,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        while self.len > limit {
            let front: &[u8] = self.queue.front().map_or(&self.tail, |bytes| bytes);
            match ready!(Pin::new(&mut *writer).poll_write(cx, front))? {
                0 => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                n => self.consume(n),
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Drops everything waiting.
    pub(crate) fn clear(&mut self) {
        self.queue.clear();
        self.tail.clear();
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// An upgraded stream with nothing to read holds no read buffer while
    /// it waits, and reads into one again once bytes come.
    #[tokio::test]
    async fn an_async_read_waiting_holds_no_read_buffer() {
        let (mut client, mut server) = tokio::io::duplex(64);
        let mut buf = BytesMut::new();
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(poll_read_io(&mut server, &mut buf, 4096, &mut cx).is_pending());
        assert_eq!(buf.capacity(), 0, "an empty buffer kept while waiting");

        client.write_all(b"hello").await.unwrap();
        let n = std::future::poll_fn(|cx| poll_read_io(&mut server, &mut buf, 4096, cx))
            .await
            .unwrap();
        assert_eq!((n, &buf[..]), (5, &b"hello"[..]));
    }
}
