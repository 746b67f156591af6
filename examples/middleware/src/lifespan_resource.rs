//! The one way the catalogue holds a resource for the server's lifetime
//! (a database pool, the event bus's workers): opened when `Startup`
//! arrives, put in the lifespan state, closed after the inner app has
//! answered `Shutdown` and before that answer goes upstream.
//!
//! * If the resource cannot open, the server is told `StartupFailed` with
//!   the reason and the inner app is never called (rule `LIFE-009`).
//! * If the inner app has no lifespan (`Error::Unsupported`), the protocol
//!   is finished here so the resource still opens and closes (rule
//!   `LIFE-014`).
//! * A failure to close turns the inner app's `ShutdownComplete` into
//!   `ShutdownFailed` with the reason.

use std::future::Future;
use std::task::{Context, Poll};

use rgi::{
    App, AppResult, Error, LifespanConn, LifespanReceive, LifespanSend, Prepend, ReceiverExt,
    Sender, SenderExt,
};

/// Something held for the server's lifetime and found by requests in
/// `scope.state` under its own type.
pub(crate) trait Resource: Clone + Send + Sync + 'static {
    /// Releases it; the error is the shutdown failure's message.
    fn close(&self) -> impl Future<Output = Result<(), String>> + Send;
}

/// Runs the lifespan `lifespan` of `inner` with the resource `open` makes.
pub(crate) async fn hold<A: App, R: Resource>(
    inner: &A,
    mut lifespan: LifespanConn<'_>,
    open: impl Future<Output = Result<R, String>>,
) -> AppResult {
    let event = lifespan.recv().await;
    if event != LifespanReceive::Startup {
        // Not the protocol's first event: nothing to open for.
        return Err(Error::protocol("LIFE-001", "the first lifespan event must be Startup").into());
    }
    let resource = match open.await {
        Ok(resource) => resource,
        Err(message) => {
            return Ok(lifespan
                .send(LifespanSend::StartupFailed { message })
                .await?);
        }
    };
    lifespan.scope.state.insert(resource.clone());

    let (scope, receiver, sender) = lifespan.into_parts();
    let mut receiver = Prepend::new(event, receiver);
    let mut held = HoldShutdownAnswer {
        inner: &mut *sender,
        answer: None,
    };
    let result = inner
        .call(LifespanConn::new(scope, &mut receiver, &mut held).into())
        .await;
    let answer = held.answer.take();
    match result {
        // No lifespan inside: run it for the resource's sake (LIFE-014).
        Err(err) if Error::is_unsupported(&*err) => {
            sender.send(LifespanSend::StartupComplete).await?;
            while receiver.recv().await != LifespanReceive::Shutdown {}
            let closed = resource.close().await;
            Ok(sender
                .send(shutdown_answer(LifespanSend::ShutdownComplete, closed))
                .await?)
        }
        result => {
            if let Some(answer) = answer {
                let closed = resource.close().await;
                sender.send(shutdown_answer(answer, closed)).await?;
            } else {
                // The inner app ended without answering shutdown (it
                // failed, or startup failed): the resource closes anyway.
                resource.close().await.ok();
            }
            result
        }
    }
}

/// The inner app's shutdown answer, turned into a failure if closing the
/// resource failed.
fn shutdown_answer(answer: LifespanSend, closed: Result<(), String>) -> LifespanSend {
    match (answer, closed) {
        (LifespanSend::ShutdownComplete, Err(message)) => LifespanSend::ShutdownFailed { message },
        (answer, _) => answer,
    }
}

/// Passes lifespan answers on, except the shutdown answer, which it keeps
/// until the resource is closed.
struct HoldShutdownAnswer<S> {
    inner: S,
    answer: Option<LifespanSend>,
}

impl<S: Sender<LifespanSend>> Sender<LifespanSend> for HoldShutdownAnswer<S> {
    fn start_send(&mut self, event: LifespanSend) -> Result<(), Error> {
        match event {
            LifespanSend::ShutdownComplete | LifespanSend::ShutdownFailed { .. } => {
                if self.answer.is_some() {
                    return Err(Error::protocol("LIFE-005", "shutdown answered twice"));
                }
                self.answer = Some(event);
                Ok(())
            }
            other => self.inner.start_send(other),
        }
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_flush(cx)
    }
}
