//! The writer thread: takes a batch from the queue every
//! [`FLUSH_INTERVAL`](super::FLUSH_INTERVAL), formats it into one buffer
//! and writes it with one call.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::format::{AccessLogFormat, Formatter};
use super::{Entry, FLUSH_INTERVAL};

/// What the queue carries. Nearly every message is an entry, so it is
/// stored in the queue's slot: boxing it cost an allocation per request.
#[allow(clippy::large_enum_variant)]
pub(super) enum Msg {
    /// A finished request.
    Entry(Entry),
    /// Write everything before this, then confirm.
    Flush(Sender<()>),
}

pub(super) fn spawn(
    format: AccessLogFormat,
    out: Box<dyn Write + Send>,
    queue: Receiver<Msg>,
    dropped: Arc<AtomicU64>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("rgi-access-log".to_owned())
        .spawn(move || run(format, out, queue, &dropped))
        .map(drop)
}

fn run(
    format: AccessLogFormat,
    mut out: Box<dyn Write + Send>,
    queue: Receiver<Msg>,
    dropped: &AtomicU64,
) {
    let mut formatter = Formatter::new(format);
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut reported = 0;
    let mut confirm = Vec::new();
    // `recv` blocks only while the queue is empty; the first entry of a
    // batch wakes the thread, which then lets the batch gather.
    while let Ok(first) = queue.recv() {
        let mut next = Some(first);
        if matches!(next, Some(Msg::Entry(_))) {
            std::thread::sleep(FLUSH_INTERVAL);
        }
        let mut open = true;
        // One wall-clock reading per batch: an entry's time is its start
        // instant placed on it.
        formatter.set_clock(SystemTime::now(), Instant::now());
        loop {
            match next.take() {
                Some(Msg::Entry(entry)) => formatter.write(&entry, &mut buf),
                Some(Msg::Flush(done)) => confirm.push(done),
                None => {}
            }
            if buf.len() >= 256 * 1024 {
                write_out(&mut out, &mut buf);
            }
            match queue.try_recv() {
                Ok(msg) => next = Some(msg),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    open = false;
                    break;
                }
            }
        }
        write_out(&mut out, &mut buf);
        let now = dropped.load(Ordering::Relaxed);
        if now > reported {
            tracing::warn!(
                dropped = now - reported,
                total = now,
                "access log entries dropped: the log's destination could not keep up"
            );
            reported = now;
        }
        for done in confirm.drain(..) {
            let _ = done.send(());
        }
        if !open {
            break;
        }
    }
}

fn write_out(out: &mut Box<dyn Write + Send>, buf: &mut Vec<u8>) {
    if buf.is_empty() {
        return;
    }
    // A failed write (stdout closed) loses the batch; there is nobody to
    // tell but the process's own log.
    if let Err(e) = out.write_all(buf).and_then(|()| out.flush()) {
        tracing::warn!(error = %e, "cannot write the access log");
    }
    buf.clear();
}
