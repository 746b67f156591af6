//! `HttpSend::File` (spec: `spec/extensions.md`, rules EXT-020..022): the
//! server opens the file, checks the range and reads it in bounded chunks
//! into one buffer per send, which the sender frames like body bytes.

use std::fmt;
use std::future::Future;
use std::io::SeekFrom;
use std::ops::Range;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::fs::File;
use tokio::io::{AsyncRead, AsyncSeekExt, ReadBuf};

/// Most bytes read from the file at once: with the write buffer limit, the
/// bound on memory per file send.
const READ_BYTES: usize = 64 * 1024;

type Opening = Pin<Box<dyn Future<Output = Result<(File, u64), String>> + Send>>;

/// One `File` event being sent.
pub struct FileSend {
    step: Step,
    /// More body follows the file (`FileBody::more`).
    pub more: bool,
    path: PathBuf,
}

enum Step {
    /// Opening, checking the range, seeking to its start.
    Opening(Opening),
    /// Positioned at the next byte to send; `remaining` bytes to go.
    Reading {
        file: File,
        remaining: u64,
        buf: Box<[u8]>,
    },
}

impl fmt::Debug for FileSend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let remaining = match &self.step {
            Step::Opening(_) => None,
            Step::Reading { remaining, .. } => Some(*remaining),
        };
        f.debug_struct("FileSend")
            .field("path", &self.path)
            .field("remaining", &remaining)
            .field("more", &self.more)
            .finish()
    }
}

impl FileSend {
    /// Starts sending `range` of `path` (the whole file when `None`). The
    /// path must be absolute and the range ordered (checked by the caller).
    pub fn new(path: PathBuf, range: Option<Range<u64>>, more: bool) -> Self {
        let shown = path.clone();
        let open = async move {
            let fail = |what: &str, e: std::io::Error| format!("{what} {}: {e}", path.display());
            let mut file = File::open(&path)
                .await
                .map_err(|e| fail("cannot open", e))?;
            let meta = file.metadata().await.map_err(|e| fail("cannot stat", e))?;
            if !meta.is_file() {
                return Err(format!("{} is not a regular file", path.display()));
            }
            let len = meta.len();
            let range = range.unwrap_or(0..len);
            if range.end > len {
                return Err(format!(
                    "range {}..{} lies outside {} ({len} bytes)",
                    range.start,
                    range.end,
                    path.display()
                ));
            }
            if range.start > 0 {
                file.seek(SeekFrom::Start(range.start))
                    .await
                    .map_err(|e| fail("cannot seek in", e))?;
            }
            Ok((file, range.end - range.start))
        };
        Self {
            step: Step::Opening(Box::pin(open)),
            more,
            path: shown,
        }
    }

    /// Whether the file is open and positioned.
    pub fn is_open(&self) -> bool {
        matches!(self.step, Step::Reading { .. })
    }

    /// Opens the file; ready with the number of bytes to send.
    pub fn poll_open(&mut self, cx: &mut Context<'_>) -> Poll<Result<u64, String>> {
        let Step::Opening(open) = &mut self.step else {
            return Poll::Ready(Ok(self.remaining()));
        };
        let (file, len) = ready!(open.as_mut().poll(cx))?;
        let buf = vec![0; READ_BYTES.min(len as usize)].into_boxed_slice();
        self.step = Step::Reading {
            file,
            remaining: len,
            buf,
        };
        Poll::Ready(Ok(len))
    }

    /// Bytes still to send.
    pub fn remaining(&self) -> u64 {
        match &self.step {
            Step::Opening(_) => 0,
            Step::Reading { remaining, .. } => *remaining,
        }
    }

    /// Sends nothing more (HEAD, 204, 304: the body is not written).
    pub fn skip(&mut self) {
        if let Step::Reading { remaining, .. } = &mut self.step {
            *remaining = 0;
        }
    }

    /// Reads the next chunk (never empty). A file that ends before the
    /// range does (it shrank since it was opened) is an error (EXT-021).
    pub fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Result<&[u8], String>> {
        let Step::Reading {
            file,
            remaining,
            buf,
        } = &mut self.step
        else {
            return Poll::Ready(Err("file read before it was opened".into()));
        };
        let want = buf
            .len()
            .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
        let mut read = ReadBuf::new(&mut buf[..want]);
        if let Err(e) = ready!(Pin::new(file).poll_read(cx, &mut read)) {
            return Poll::Ready(Err(format!("cannot read {}: {e}", self.path.display())));
        }
        let n = read.filled().len();
        if n == 0 {
            return Poll::Ready(Err(format!(
                "{} ended {remaining} bytes before the range did",
                self.path.display()
            )));
        }
        *remaining -= n as u64;
        Poll::Ready(Ok(&buf[..n]))
    }
}
