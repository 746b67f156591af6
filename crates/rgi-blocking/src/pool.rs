//! The bounded pool of threads handlers run on.
//!
//! `size` threads at most, started on demand and kept (a warm thread is
//! what makes the hop cheap), and a semaphore of `size` permits: a call
//! takes a permit before its job is queued, so there is never more work
//! queued or running than there are threads to run it, and a call that
//! cannot get a permit within [`PoolConfig::wait`] is answered `503`
//! without ever touching a thread.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The pool's settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PoolConfig {
    /// How many handlers run at once: the number of threads, at most.
    /// Default 32.
    pub size: usize,
    /// How long a call waits for a free thread before it is answered
    /// `503 Service Unavailable`. Default 5 s.
    pub wait: Duration,
    /// The `retry-after` of that `503`, in seconds. Default 1.
    pub retry_after_secs: u32,
    /// Each thread's stack size in bytes; `None` for the platform's
    /// default (2 MiB on Linux, reserved, not resident).
    pub stack_size: Option<usize>,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            size: 32,
            wait: Duration::from_secs(5),
            retry_after_secs: 1,
            stack_size: None,
        }
    }
}

impl PoolConfig {
    /// `size` threads, the other settings at their defaults.
    pub fn with_size(size: usize) -> Self {
        Self {
            size,
            ..Self::default()
        }
    }

    /// Sets [`wait`](Self::wait) (builder style).
    #[must_use]
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// Sets [`retry_after_secs`](Self::retry_after_secs) (builder style).
    #[must_use]
    pub fn retry_after_secs(mut self, secs: u32) -> Self {
        self.retry_after_secs = secs;
        self
    }
}

/// What the pool is doing right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// The configured maximum.
    pub size: usize,
    /// Threads alive.
    pub threads: usize,
    /// Threads running a handler.
    pub busy: usize,
    /// Threads alive and waiting for work.
    pub idle: usize,
    /// Calls waiting for a free thread.
    pub waiting: usize,
}

pub(crate) type Job = Box<dyn FnOnce() + Send + 'static>;

/// A handle to a pool. Clones share it; the threads end once every handle
/// is dropped and their last job is done.
#[derive(Clone, Debug)]
pub struct Pool {
    inner: Arc<PoolInner>,
}

#[derive(Debug)]
struct PoolInner {
    config: PoolConfig,
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    workers: Arc<Workers>,
}

/// What the threads share: the queue and the counts.
#[derive(Debug, Default)]
struct Workers {
    queue: Mutex<Queue>,
    work: Condvar,
    busy: AtomicUsize,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    threads: usize,
    /// Threads blocked in `work.wait`, not yet given a job.
    idle: usize,
    shutdown: bool,
    spawned: usize,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("jobs", &self.jobs.len())
            .field("threads", &self.threads)
            .field("idle", &self.idle)
            .finish_non_exhaustive()
    }
}

/// The right to run one job: taken before queueing, released when the job
/// is done.
#[derive(Debug)]
pub(crate) struct Permit(#[allow(dead_code)] OwnedSemaphorePermit);

/// Every thread was busy for the whole [`PoolConfig::wait`].
#[derive(Debug)]
pub(crate) struct Saturated;

/// Why [`Pool::run`] returned no value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// Every thread stayed busy for the whole [`PoolConfig::wait`].
    #[error("every thread of the blocking pool stayed busy")]
    Busy,
    /// The function panicked; the panic's message.
    #[error("the blocking function panicked: {0}")]
    Panicked(String),
    /// No thread could be started.
    #[error("no thread for the blocking pool: {0}")]
    NoThread(std::io::Error),
}

impl Default for Pool {
    fn default() -> Self {
        Self::new(PoolConfig::default())
    }
}

impl Pool {
    /// A pool with these settings. No thread starts until the first call.
    /// A `size` of 0 is taken as 1.
    pub fn new(config: PoolConfig) -> Self {
        let config = PoolConfig {
            size: config.size.max(1),
            ..config
        };
        Self {
            inner: Arc::new(PoolInner {
                permits: Arc::new(Semaphore::new(config.size)),
                config,
                waiting: AtomicUsize::new(0),
                workers: Arc::default(),
            }),
        }
    }

    /// The settings.
    pub fn config(&self) -> &PoolConfig {
        &self.inner.config
    }

    /// The counts right now.
    pub fn stats(&self) -> PoolStats {
        let queue = self.inner.workers.lock();
        let busy = self.inner.workers.busy.load(Ordering::Acquire);
        PoolStats {
            size: self.inner.config.size,
            threads: queue.threads,
            busy,
            idle: queue.threads.saturating_sub(busy),
            waiting: self.inner.waiting.load(Ordering::Acquire),
        }
    }

    /// Waits up to the configured bound for a free thread.
    pub(crate) async fn acquire(&self) -> Result<Permit, Saturated> {
        if let Ok(permit) = self.inner.permits.clone().try_acquire_owned() {
            return Ok(Permit(permit));
        }
        self.inner.waiting.fetch_add(1, Ordering::AcqRel);
        let _waiting = CountDown(&self.inner.waiting);
        let acquire = self.inner.permits.clone().acquire_owned();
        match tokio::time::timeout(self.inner.config.wait, acquire).await {
            Ok(Ok(permit)) => Ok(Permit(permit)),
            // The semaphore is never closed; a timeout is saturation.
            Ok(Err(_)) | Err(_) => Err(Saturated),
        }
    }

    /// Runs `f` on a pool thread and returns its result: blocking code
    /// called from an async app (a query inside an async route) on the
    /// same bounded threads as the handlers, with the same wait.
    pub async fn run<T, F>(&self, f: F) -> Result<T, RunError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let permit = self.acquire().await.map_err(|Saturated| RunError::Busy)?;
        let (done, result) = tokio::sync::oneshot::channel();
        let job = Box::new(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = done.send(outcome);
        });
        self.submit(permit, job).map_err(RunError::NoThread)?;
        match result.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(panic)) => Err(RunError::Panicked(crate::app::panic_message(&*panic))),
            // The job was dropped unrun: only when the pool shut down.
            Err(_) => Err(RunError::Busy),
        }
    }

    /// Runs `job` on a pool thread. The permit is released when it is done.
    /// Errors only when no thread exists and none can be started.
    pub(crate) fn submit(&self, permit: Permit, job: Job) -> std::io::Result<()> {
        let workers = &self.inner.workers;
        let mut queue = workers.lock();
        let job: Job = Box::new(move || {
            job();
            drop(permit);
        });
        queue.jobs.push_back(job);
        // Permits bound the jobs to `size`, so a job without an idle thread
        // to take it means fewer than `size` threads exist.
        if queue.jobs.len() > queue.idle && queue.threads < self.inner.config.size {
            let id = queue.spawned;
            let mut builder = std::thread::Builder::new().name(format!("rgi-blocking-{id}"));
            if let Some(stack) = self.inner.config.stack_size {
                builder = builder.stack_size(stack);
            }
            let shared = workers.clone();
            match builder.spawn(move || shared.work_loop()) {
                Ok(_) => {
                    queue.threads += 1;
                    queue.spawned += 1;
                }
                Err(e) if queue.threads == 0 => {
                    queue.jobs.pop_back();
                    return Err(e);
                }
                // Another thread will take it when its job is done.
                Err(e) => tracing::warn!("rgi-blocking: cannot start a thread: {e}"),
            }
        }
        drop(queue);
        workers.work.notify_one();
        Ok(())
    }
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        self.workers.lock().shutdown = true;
        self.workers.work.notify_all();
    }
}

impl Workers {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn work_loop(&self) {
        let mut queue = self.lock();
        loop {
            if let Some(job) = queue.jobs.pop_front() {
                self.busy.fetch_add(1, Ordering::AcqRel);
                drop(queue);
                // Jobs catch their handler's panics; this one is for a
                // panic in the adapter itself, so the counts stay true.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                queue = self.lock();
                self.busy.fetch_sub(1, Ordering::AcqRel);
                continue;
            }
            if queue.shutdown {
                queue.threads -= 1;
                return;
            }
            queue.idle += 1;
            queue = self
                .work
                .wait(queue)
                .unwrap_or_else(PoisonError::into_inner);
            queue.idle -= 1;
        }
    }
}

struct CountDown<'a>(&'a AtomicUsize);

impl Drop for CountDown<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
