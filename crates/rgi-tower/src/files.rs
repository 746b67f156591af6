//! `HttpSend::File` through a tower body, which carries only data frames:
//! a server that can read files gives [`RgiService`](crate::RgiService)
//! its reader ([`RgiService::read_files`](crate::RgiService::read_files)),
//! the scope announces `send_file`, and the app's sender hands each `File`
//! on as `Body` chunks, read as the client takes them (this crate does no
//! I/O of its own).

use std::task::{ready, Context, Poll};

use bytes::Bytes;
use rgi::{Error, FileBody};

/// Reads the range of one `HttpSend::File`, as the reference server's
/// `FileSend` does (rgi-hyper plugs that one in).
pub trait FileReader: Send {
    /// Opens the file and moves to the range's start; an error (no such
    /// file, a range outside it) fails the response (rule `EXT-021`).
    fn poll_open(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), String>>;
    /// Whether [`poll_open`](Self::poll_open) has succeeded.
    fn is_open(&self) -> bool;
    /// Bytes of the range not yet read (once open).
    fn remaining(&self) -> u64;
    /// The next chunk of the range (at most what remains, never empty
    /// while something remains).
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Result<Bytes, String>>;
}

/// Opens the files of `HttpSend::File` events, for
/// [`RgiService::read_files`](crate::RgiService::read_files).
pub trait OpenFiles: Send + Sync + 'static {
    /// A reader for `file`'s range (opened by its first poll).
    fn open(&self, file: FileBody) -> Box<dyn FileReader>;
}

/// One `File` being handed on.
pub(crate) struct Sending {
    reader: Box<dyn FileReader>,
    /// More body follows the file.
    more: bool,
}

/// What [`Sending::poll_next`] gives: a chunk to hand on, or the end.
pub(crate) enum Next {
    /// A chunk, and whether more body follows it.
    Chunk(Bytes, bool),
    /// The range is read; with `true`, the final (empty) body event is
    /// still to be sent.
    Done(bool),
}

impl Sending {
    /// `file`, checked (rule `EXT-022`), opened by `files`.
    pub(crate) fn start(files: &dyn OpenFiles, file: FileBody) -> Result<Self, Error> {
        file.check()?;
        let more = file.more;
        Ok(Self {
            reader: files.open(file),
            more,
        })
    }

    /// The next chunk of the file, read now.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Result<Next, Error>> {
        let failed = |e: String| {
            tracing::error!(error = %e, "send_file failed; aborting the response");
            Error::protocol("EXT-021", e)
        };
        if !self.reader.is_open() {
            ready!(self.reader.poll_open(cx)).map_err(failed)?;
        }
        if self.reader.remaining() == 0 {
            return Poll::Ready(Ok(Next::Done(!self.more)));
        }
        let chunk = ready!(self.reader.poll_read(cx)).map_err(failed)?;
        let more = self.reader.remaining() > 0 || self.more;
        Poll::Ready(Ok(Next::Chunk(chunk, more)))
    }
}
