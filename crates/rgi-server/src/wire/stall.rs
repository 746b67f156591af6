//! The write-stall clock: notices a connection whose output has not moved
//! for [`Config::write_timeout`](crate::Config::write_timeout).
//!
//! It costs nothing while writes complete: it is consulted only when a
//! write would block, and it borrows the connection's one timer (the
//! keep-alive and head timer, idle while a response is being written).
//! Progress is noticed on the wake-ups that writes cause anyway and only
//! recorded; the timer is moved only earlier and re-armed lazily when it
//! fires before the real deadline, as the keep-alive timer is.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// When the current stall was last seen making progress.
#[derive(Debug, Default)]
pub(crate) struct StallClock {
    /// The write counter at the last look, and when that look was.
    mark: Option<(u64, Instant)>,
}

impl StallClock {
    /// Called while output is waiting for the socket; `written` is the
    /// connection's running count of bytes written. Ready once no byte has
    /// left for `timeout`; otherwise `sleep` is armed to wake the task.
    pub(crate) fn poll_stalled(
        &mut self,
        mut sleep: Pin<&mut Sleep>,
        written: u64,
        timeout: Duration,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        let since = match self.mark {
            Some((mark, since)) if mark == written => since,
            _ => {
                // A new stall, or bytes left since the last look.
                let now = Instant::now();
                self.mark = Some((written, now));
                now
            }
        };
        let deadline = since + timeout;
        if sleep.deadline() > deadline {
            sleep.as_mut().reset(deadline);
        }
        loop {
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if Instant::now() >= deadline {
                return Poll::Ready(());
            }
            // Armed for an earlier deadline (another timer's, or an older
            // stall's): re-arm for this one.
            sleep.as_mut().reset(deadline);
        }
    }
}
