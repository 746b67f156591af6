//! Event bus: the app publishes events by topic; subscribers handle them
//! on tasks of their own, off the request path. Each subscriber has a
//! bounded queue and one task, so a slow subscriber falls behind (and then
//! misses events) alone, and one that fails or panics is logged and goes
//! on with the next event; the others never notice.
//!
//! ```
//! # use rgi_middleware_examples::{EventBus, Publisher};
//! # fn demo(app: rgi::BoxApp) {
//! let app = EventBus::new(app)
//!     .subscribe("user.created", "welcome-email", |event| async move {
//!         println!("welcome, {}", event.data["email"]);
//!         Ok(())
//!     })
//!     .capacity(1024);
//! // In a request:
//! // if let Some(bus) = scope.state.get::<Publisher>() { bus.publish("user.created", json); }
//! # }
//! ```
//!
//! Ports seed 000's `EventBus` (`subscribe`, `publish`, handlers run as
//! tasks with `return_exceptions=True`). Where the seed's `publish` awaits
//! every handler (so a slow email delays the response) and keeps no bound,
//! here [`Publisher::publish`] only queues: it never waits and never
//! fails the request; a full queue drops that subscriber's copy and counts
//! it.
//!
//! The workers start with the lifespan (the [`Publisher`] is in the
//! lifespan state) and stop at shutdown after handling what is queued,
//! for at most [`drain_timeout`](EventBus::drain_timeout). A server
//! without lifespan has no publisher: `scope.state.get::<Publisher>()` is
//! `None`.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use rgi::{App, AppResult, BoxError, Conn};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::lifespan_resource::{hold, Resource};

/// One published event.
#[derive(Debug, Clone)]
pub struct Event {
    /// Its topic (`user.created`).
    pub topic: Arc<str>,
    /// What happened.
    pub data: serde_json::Value,
    /// When it was published.
    pub at: SystemTime,
}

type Handler = Arc<dyn Fn(Event) -> BoxFuture<'static, Result<(), BoxError>> + Send + Sync>;

struct Subscription {
    topic: String,
    name: String,
    handler: Handler,
}

/// Runs subscribers for the events the inner app publishes.
pub struct EventBus<A> {
    inner: A,
    subscriptions: Vec<Subscription>,
    capacity: usize,
    drain_timeout: Duration,
}

impl<A> EventBus<A> {
    /// No subscriber yet; queues of 256 events; 5 s to drain at shutdown.
    pub fn new(inner: A) -> Self {
        Self {
            inner,
            subscriptions: Vec::new(),
            capacity: 256,
            drain_timeout: Duration::from_secs(5),
        }
    }

    /// Runs `handler` for every event on `topic`. `name` identifies the
    /// subscriber in logs and [`Publisher::stats`].
    #[must_use]
    pub fn subscribe<F, Fut>(mut self, topic: &str, name: &str, handler: F) -> Self
    where
        F: Fn(Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        self.subscriptions.push(Subscription {
            topic: topic.to_owned(),
            name: name.to_owned(),
            handler: Arc::new(move |event| handler(event).boxed()),
        });
        self
    }

    /// How many events each subscriber may have waiting (at least 1).
    #[must_use]
    pub fn capacity(mut self, events: usize) -> Self {
        self.capacity = events.max(1);
        self
    }

    /// How long shutdown waits for the queues to drain.
    #[must_use]
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// Starts one worker per subscription (on the current runtime).
    fn start(&self) -> Publisher {
        let mut routes: HashMap<String, Vec<Queue>> = HashMap::new();
        let mut workers = Vec::with_capacity(self.subscriptions.len());
        let mut counters = Vec::with_capacity(self.subscriptions.len());
        for subscription in &self.subscriptions {
            let (tx, rx) = mpsc::channel(self.capacity);
            let stats = Arc::new(Counters::default());
            let name: Arc<str> = subscription.name.as_str().into();
            workers.push(tokio::spawn(work(
                name.clone(),
                subscription.handler.clone(),
                rx,
                stats.clone(),
            )));
            counters.push((name.clone(), stats.clone()));
            routes
                .entry(subscription.topic.clone())
                .or_default()
                .push(Queue { name, tx, stats });
        }
        Publisher {
            inner: Arc::new(Shared {
                routes: Mutex::new(Some(routes)),
                workers: Mutex::new(workers),
                counters,
                drain_timeout: self.drain_timeout,
            }),
        }
    }
}

impl<A> std::fmt::Debug for EventBus<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self
            .subscriptions
            .iter()
            .map(|s| (&s.topic, &s.name))
            .collect();
        f.debug_struct("EventBus")
            .field("subscriptions", &names)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl<A: App> App for EventBus<A> {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        match conn {
            Conn::Lifespan(lifespan) => {
                let open = async { Ok(self.start()) };
                hold(&self.inner, lifespan, open).await
            }
            other => self.inner.call(other).await,
        }
    }
}

/// One subscriber's worker: its events one at a time; a failure or a
/// panic is counted and logged, and the next event is handled.
async fn work(
    name: Arc<str>,
    handler: Handler,
    mut rx: mpsc::Receiver<Event>,
    stats: Arc<Counters>,
) {
    while let Some(event) = rx.recv().await {
        let topic = event.topic.clone();
        match AssertUnwindSafe(handler(event)).catch_unwind().await {
            Ok(Ok(())) => {
                stats.handled.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Err(error)) => {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(subscriber = %name, %topic, %error, "event subscriber failed");
            }
            Err(_) => {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(subscriber = %name, %topic, "event subscriber panicked");
            }
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    handled: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

/// What a subscriber did with the events for it so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SubscriberStats {
    /// Handled without error.
    pub handled: u64,
    /// Failed or panicked.
    pub failed: u64,
    /// Dropped because its queue was full.
    pub dropped: u64,
}

struct Queue {
    name: Arc<str>,
    tx: mpsc::Sender<Event>,
    stats: Arc<Counters>,
}

struct Shared {
    /// `None` once closed.
    routes: Mutex<Option<HashMap<String, Vec<Queue>>>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    /// Each subscription's counts, kept after close.
    counters: Vec<(Arc<str>, Arc<Counters>)>,
    drain_timeout: Duration,
}

/// The app's handle on the bus, in the lifespan state. Clones share it.
#[derive(Clone)]
pub struct Publisher {
    inner: Arc<Shared>,
}

/// What [`Publisher::publish`] did with one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Published {
    /// Subscribers whose queue took it.
    pub queued: usize,
    /// Subscribers whose queue was full (or that have stopped).
    pub dropped: usize,
}

impl Publisher {
    /// Queues `data` for every subscriber of `topic`. Never waits.
    pub fn publish(&self, topic: &str, data: serde_json::Value) -> Published {
        let routes = self
            .inner
            .routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(queues) = routes.as_ref().and_then(|routes| routes.get(topic)) else {
            return Published::default();
        };
        let event = Event {
            topic: topic.into(),
            data,
            at: SystemTime::now(),
        };
        let mut published = Published::default();
        for queue in queues {
            match queue.tx.try_send(event.clone()) {
                Ok(()) => published.queued += 1,
                Err(_) => {
                    published.dropped += 1;
                    queue.stats.dropped.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(subscriber = %queue.name, topic, "event queue full: event dropped");
                }
            }
        }
        published
    }

    /// The counts of the subscriber named `name` (summed if it is
    /// subscribed to several topics).
    pub fn stats(&self, name: &str) -> SubscriberStats {
        let mut stats = SubscriberStats::default();
        for (_, counters) in self.inner.counters.iter().filter(|(n, _)| &**n == name) {
            stats.handled += counters.handled.load(Ordering::Relaxed);
            stats.failed += counters.failed.load(Ordering::Relaxed);
            stats.dropped += counters.dropped.load(Ordering::Relaxed);
        }
        stats
    }
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher").finish_non_exhaustive()
    }
}

impl Resource for Publisher {
    /// Stops taking events, lets every worker finish its queue, and gives
    /// up (aborting the rest) after the drain timeout.
    async fn close(&self) -> Result<(), String> {
        // Dropping the senders ends each worker once its queue is empty.
        drop(
            self.inner
                .routes
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let workers = std::mem::take(
            &mut *self
                .inner
                .workers
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let aborts: Vec<_> = workers.iter().map(JoinHandle::abort_handle).collect();
        let drained = tokio::time::timeout(
            self.inner.drain_timeout,
            futures_util::future::join_all(workers),
        )
        .await;
        if drained.is_err() {
            aborts.iter().for_each(tokio::task::AbortHandle::abort);
            return Err(format!(
                "event subscribers still busy after {:?}: their queued events were dropped",
                self.inner.drain_timeout
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use rgi::http::{HeaderMap, StatusCode};
    use rgi_conformance::{ShutdownOutcome, StartupOutcome, TestClient};
    use tokio::sync::{Notify, Semaphore};

    use super::*;

    /// Publishes `user.created` for every request, then answers.
    struct CreatesUsers;

    impl App for CreatesUsers {
        async fn call(&self, conn: Conn<'_>) -> AppResult {
            let Conn::Http(mut http) = conn else {
                return conn.unsupported();
            };
            let published = match http.scope.state.get::<Publisher>() {
                Some(bus) => bus.publish("user.created", serde_json::json!({ "id": 1 })),
                None => Published::default(),
            };
            let body = format!("queued {}", published.queued);
            Ok(http.respond(StatusCode::OK, HeaderMap::new(), body).await?)
        }
    }

    async fn started(
        bus: EventBus<CreatesUsers>,
    ) -> (TestClient, rgi_conformance::Lifespan, Publisher) {
        let client = TestClient::new(bus);
        let mut lifespan = client.lifespan();
        let StartupOutcome::Complete(state) = lifespan.startup().await.unwrap() else {
            panic!("startup failed")
        };
        let publisher = state.get::<Publisher>().unwrap().clone();
        client.set_state(state);
        (client, lifespan, publisher)
    }

    #[tokio::test]
    async fn subscribers_run_off_the_request_path() {
        let gate = Arc::new(Semaphore::new(0));
        let done = Arc::new(Notify::new());
        let (g, d) = (gate.clone(), done.clone());
        let bus = EventBus::new(CreatesUsers).subscribe("user.created", "slow", move |_| {
            let (gate, done) = (g.clone(), d.clone());
            async move {
                // Blocked until the test lets it go: the response cannot
                // have waited for it.
                gate.acquire().await?.forget();
                done.notify_one();
                Ok(())
            }
        });
        let (client, mut lifespan, publisher) = started(bus).await;
        let response = client.get("/").await.unwrap();
        assert_eq!(response.body(), "queued 1");
        assert_eq!(publisher.stats("slow").handled, 0, "not handled yet");
        gate.add_permits(1);
        tokio::time::timeout(Duration::from_secs(10), done.notified())
            .await
            .unwrap();
        assert_eq!(
            lifespan.shutdown().await.unwrap(),
            ShutdownOutcome::Complete
        );
        assert_eq!(publisher.stats("slow").handled, 1);
    }

    #[tokio::test]
    async fn a_failing_subscriber_does_not_affect_the_others() {
        let seen = Arc::new(AtomicUsize::new(0));
        let counted = seen.clone();
        let bus = EventBus::new(CreatesUsers)
            .subscribe("user.created", "fails", |_| async {
                Err("smtp down".into())
            })
            .subscribe("user.created", "panics", |_| async {
                panic!("bug in a subscriber")
            })
            .subscribe("user.created", "counts", move |_| {
                let seen = counted.clone();
                async move {
                    seen.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                }
            });
        let (client, mut lifespan, publisher) = started(bus).await;
        for _ in 0..3 {
            assert_eq!(client.get("/").await.unwrap().body(), "queued 3");
        }
        // Shutdown drains every queue first.
        assert_eq!(
            lifespan.shutdown().await.unwrap(),
            ShutdownOutcome::Complete
        );
        assert_eq!(seen.load(Ordering::SeqCst), 3);
        assert_eq!(
            publisher.stats("counts"),
            SubscriberStats {
                handled: 3,
                failed: 0,
                dropped: 0
            }
        );
        assert_eq!(publisher.stats("fails").failed, 3);
        assert_eq!(publisher.stats("panics").failed, 3);
        // Closed: nothing more is taken.
        assert_eq!(
            publisher.publish("user.created", serde_json::Value::Null),
            Published::default()
        );
    }

    #[tokio::test]
    async fn queues_are_bounded_per_subscriber() {
        let gate = Arc::new(Semaphore::new(0));
        let g = gate.clone();
        let bus = EventBus::new(CreatesUsers)
            .capacity(2)
            .subscribe("user.created", "stuck", move |_| {
                let gate = g.clone();
                async move {
                    gate.acquire().await?.forget();
                    Ok(())
                }
            })
            .subscribe("user.created", "quick", |_| async { Ok(()) });
        let (_client, mut lifespan, publisher) = started(bus).await;
        // Published back to back, with no await between: no worker runs in
        // between on this single-threaded runtime.
        let results: Vec<_> = (0..5)
            .map(|n| publisher.publish("user.created", serde_json::json!(n)))
            .collect();
        assert_eq!(
            results[0],
            Published {
                queued: 2,
                dropped: 0
            }
        );
        assert_eq!(
            results[1],
            Published {
                queued: 2,
                dropped: 0
            }
        );
        for result in &results[2..] {
            assert_eq!(
                *result,
                Published {
                    queued: 0,
                    dropped: 2
                }
            );
        }
        assert_eq!(publisher.stats("stuck").dropped, 3);
        // Other topics reach nobody.
        assert_eq!(
            publisher.publish("order.placed", serde_json::Value::Null),
            Published::default()
        );
        gate.add_permits(2);
        assert_eq!(
            lifespan.shutdown().await.unwrap(),
            ShutdownOutcome::Complete
        );
        assert_eq!(publisher.stats("stuck").handled, 2);
        assert_eq!(publisher.stats("quick").handled, 2);
    }

    #[tokio::test]
    async fn a_subscriber_that_never_finishes_fails_shutdown_after_the_drain_timeout() {
        let bus = EventBus::new(CreatesUsers)
            .drain_timeout(Duration::from_millis(50))
            .subscribe("user.created", "forever", |_| std::future::pending());
        let (client, mut lifespan, _) = started(bus).await;
        client.get("/").await.unwrap();
        let ShutdownOutcome::Failed(message) = lifespan.shutdown().await.unwrap() else {
            panic!("shutdown should report the stuck subscriber")
        };
        assert!(message.contains("still busy"), "{message}");
    }
}
