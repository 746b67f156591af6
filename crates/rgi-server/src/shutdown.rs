//! The graceful-shutdown signal as connections see it: a flag, plus one
//! waker per connection so that idle ones wake up and close at once.
//!
//! Each connection registers once when it starts; waiting then costs one
//! `AtomicWaker::register` and no lock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Waker;

use futures_util::task::AtomicWaker;

/// Server-wide shutdown state: [`start`](Self::start) it once, and every
/// connection's [`ConnWatch`] sees it (a WebSocket then closes with 1001).
#[derive(Debug, Default)]
pub struct Shutdown {
    started: AtomicBool,
    next_id: AtomicU64,
    conns: Mutex<HashMap<u64, Arc<AtomicWaker>>>,
}

impl Shutdown {
    /// Whether graceful shutdown has begun.
    pub fn is_started(&self) -> bool {
        self.started.load(Ordering::SeqCst)
    }

    /// Begins graceful shutdown and wakes every registered connection.
    pub fn start(&self) {
        self.started.store(true, Ordering::SeqCst);
        let conns = self.conns.lock().unwrap_or_else(PoisonError::into_inner);
        for waker in conns.values() {
            waker.wake();
        }
    }

    /// Registers a connection; it is unregistered when the watch drops.
    pub fn watch(self: &Arc<Self>) -> ConnWatch {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let waker = Arc::new(AtomicWaker::new());
        self.conns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, waker.clone());
        ConnWatch {
            id,
            waker,
            shutdown: self.clone(),
        }
    }
}

/// One connection's registration with [`Shutdown`].
#[derive(Debug)]
pub struct ConnWatch {
    id: u64,
    waker: Arc<AtomicWaker>,
    shutdown: Arc<Shutdown>,
}

impl ConnWatch {
    /// Wakes `waker` when shutdown starts. Register, then check
    /// [`Shutdown::is_started`], to not miss the signal.
    pub(crate) fn register(&self, waker: &Waker) {
        self.waker.register(waker);
    }

    /// Whether graceful shutdown has begun.
    pub fn is_started(&self) -> bool {
        self.shutdown.is_started()
    }
}

impl Drop for ConnWatch {
    fn drop(&mut self) {
        self.shutdown
            .conns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
    }
}
