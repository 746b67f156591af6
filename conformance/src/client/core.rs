//! The protocol-independent part of an exchange: the app's task, the link,
//! the trace, and bounded waits.

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rgi::AppResult;
use tokio::task::JoinHandle;

use super::link::{Link, PushRefused};
use super::trace::{AppExit, Summary, Trace, TraceEntry};
use super::ClientError;

/// What one step of driving an exchange did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// An event went to the app.
    Pushed,
    /// An event came from the app.
    Pulled,
    /// The app is done and everything it sent has been taken.
    AppDone,
}

pub(crate) struct Core<In: Clone + Send + 'static, Out: Send + 'static> {
    pub(crate) link: Arc<Link<In, Out>>,
    task: Option<JoinHandle<AppResult>>,
    pub(crate) trace: Trace<In, Out>,
    /// Events waiting to go to the app, pushed as room appears.
    pending: VecDeque<In>,
    pub(crate) timeout: Duration,
    exit: Option<AppExit>,
    /// How many of the app's events `next_event` has handed out.
    delivered: usize,
    /// Why pending events were dropped, if they were.
    pub(crate) refused: Option<PushRefused>,
}

impl<In: Clone + Send + Summary + 'static, Out: Send + Summary + 'static> Core<In, Out> {
    /// Starts the app's future on the current tokio runtime.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub(crate) fn spawn(
        link: Arc<Link<In, Out>>,
        timeout: Duration,
        app: impl Future<Output = AppResult> + Send + 'static,
    ) -> Self {
        Self {
            link,
            task: Some(tokio::spawn(app)),
            trace: Trace::default(),
            pending: VecDeque::new(),
            timeout,
            exit: None,
            delivered: 0,
            refused: None,
        }
    }

    /// Queues events to push while driving.
    pub(crate) fn queue(&mut self, events: impl IntoIterator<Item = In>) {
        self.pending.extend(events);
    }

    fn poll_step(&mut self, cx: &mut Context<'_>) -> Poll<Step> {
        if let Some(front) = self.pending.pop_front() {
            let mut slot = Some(front.clone());
            match self.link.poll_push(cx, &mut slot) {
                Poll::Ready(Ok(())) => {
                    self.trace.entries.push(TraceEntry::ToApp(front));
                    return Poll::Ready(Step::Pushed);
                }
                Poll::Ready(Err(why)) => {
                    // Nobody will read them: the app returned, or we left.
                    self.pending.clear();
                    self.refused = Some(why);
                }
                Poll::Pending => self.pending.push_front(front),
            }
        }
        match self.link.poll_pull(cx) {
            Poll::Ready(Some(out)) => {
                self.trace.entries.push(TraceEntry::FromApp(out));
                Poll::Ready(Step::Pulled)
            }
            Poll::Ready(None) => Poll::Ready(Step::AppDone),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Drives the exchange until something happens, for at most the
    /// timeout. `waiting_for` names what the caller waits for, for the error.
    pub(crate) async fn step(&mut self, waiting_for: &str) -> Result<Step, ClientError> {
        let timeout = self.timeout;
        match tokio::time::timeout(timeout, poll_fn(|cx| self.poll_step(cx))).await {
            Ok(step) => Ok(step),
            Err(_) => Err(ClientError::Timeout {
                after: timeout,
                waiting_for: format!("{waiting_for}; trace so far: {}", self.trace.summary()),
            }),
        }
    }

    /// The index, in the trace, of the next app event not yet handed out
    /// by [`next_event`](Self::next_event), driving until there is one.
    /// `None` once the app is done.
    pub(crate) async fn next_event_index(
        &mut self,
        waiting_for: &str,
    ) -> Result<Option<usize>, ClientError> {
        loop {
            let next = self
                .trace
                .entries
                .iter()
                .enumerate()
                .filter(|(_, e)| matches!(e, TraceEntry::FromApp(_)))
                .nth(self.delivered)
                .map(|(i, _)| i);
            if let Some(i) = next {
                self.delivered += 1;
                return Ok(Some(i));
            }
            if self.step(waiting_for).await? == Step::AppDone {
                return Ok(None);
            }
        }
    }

    /// The next event the app sent (recorded in the trace too).
    pub(crate) async fn next_event(
        &mut self,
        waiting_for: &str,
    ) -> Result<Option<&Out>, ClientError> {
        match self.next_event_index(waiting_for).await? {
            Some(i) => Ok(self.trace.entries[i].as_from_app()),
            None => Ok(None),
        }
    }

    /// Pushes `event` now, taking the app's events meanwhile so that an app
    /// busy sending cannot deadlock the push.
    pub(crate) async fn push(&mut self, event: In, waiting_for: &str) -> Result<(), ClientError> {
        if self.link.client_gone() {
            return Err(ClientError::Disconnected);
        }
        self.pending.push_back(event);
        while !self.pending.is_empty() {
            // Once the app is done the next step refuses (and clears) the rest.
            self.step(waiting_for).await?;
        }
        match self.refused.take() {
            Some(PushRefused::AppDone) => {
                Err(ClientError::AppReturned(self.exit().await.to_string()))
            }
            Some(PushRefused::ClientGone) => Err(ClientError::Disconnected),
            None => Ok(()),
        }
    }

    /// The client leaves: the app's receiver yields `ended`, its sends fail.
    pub(crate) fn disconnect(&mut self, ended: In) {
        if !self.link.client_gone() {
            self.link.disconnect(ended);
            self.pending.clear();
            self.trace.entries.push(TraceEntry::ClientDisconnected);
        }
    }

    /// Drives until the app is done (taking all it sends), then its exit.
    pub(crate) async fn run_to_end(&mut self, waiting_for: &str) -> Result<(), ClientError> {
        while self.step(waiting_for).await? != Step::AppDone {}
        self.exit().await;
        Ok(())
    }

    /// How the app's future ended. Call only once it is done.
    pub(crate) async fn exit(&mut self) -> &AppExit {
        if self.exit.is_none() {
            let exit = match self.task.take() {
                None => AppExit::Cancelled,
                Some(handle) => join(handle, self.timeout).await,
            };
            self.exit = Some(exit);
        }
        self.exit.get_or_insert(AppExit::Cancelled)
    }

    pub(crate) fn take_exit(&mut self) -> AppExit {
        self.exit.take().unwrap_or(AppExit::Cancelled)
    }

    /// Drops the app's future now (cancellation), and waits until it is
    /// dropped.
    pub(crate) async fn cancel(&mut self) -> &AppExit {
        if let Some(handle) = &self.task {
            handle.abort();
        }
        self.exit().await
    }
}

async fn join(handle: JoinHandle<AppResult>, timeout: Duration) -> AppExit {
    let abort = handle.abort_handle();
    match tokio::time::timeout(timeout, handle).await {
        Ok(Ok(Ok(()))) => AppExit::Ok,
        Ok(Ok(Err(e))) => AppExit::Err(e),
        Ok(Err(join)) if join.is_panic() => {
            let payload = join.into_panic();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(non-string panic payload)".to_owned());
            AppExit::Panicked(message)
        }
        Ok(Err(_)) => AppExit::Cancelled,
        Err(_) => {
            // The app's task is marked done only by its guard being dropped,
            // so this is a task that never got to finish its drop: give up.
            abort.abort();
            AppExit::Cancelled
        }
    }
}

impl<In: Clone + Send + 'static, Out: Send + 'static> Drop for Core<In, Out> {
    fn drop(&mut self) {
        // A test that gives up on an exchange must not leave the app running.
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}
