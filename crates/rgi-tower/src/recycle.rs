//! What finished calls leave for the next ones of the same service: their
//! scope, cleared, with its allocations (the box, the path's string, the
//! header map), and the slot their events went through.
//!
//! A bridge that serves many requests at once (an HTTP/2 connection's 100
//! streams, sent and answered in bursts) would otherwise allocate and free
//! each of these per request, mostly past the allocator's per-thread
//! cache: about 1,800 instructions a request under `h2load -c10 -m100`.
//! rgi-server keeps one scope per connection for the same reason; rgi-hyper
//! makes one service per connection, so what is kept is the connection's
//! and goes with it. A cleared scope carries nothing of the request before
//! (rule `CORE-009`).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use http::HeaderMap;
use rgi::HttpScope;

/// Scopes (and slots) kept at most: an HTTP/2 connection's usual stream
/// limits (hyper's default is 200 concurrent streams).
const KEEP: usize = 256;

/// A kept scope's header map is let go past this many fields of room, so
/// that one request with many fields does not pin its room.
const KEEP_HEADERS: usize = 24;

/// A kept scope's path (and root path) is let go past this much room, for
/// the same reason: a target may be 64 KiB.
const KEEP_PATH: usize = 1024;

/// The scopes and slots one service keeps; `S` is the slot.
pub(crate) struct Recycler<S> {
    #[expect(
        clippy::vec_box,
        reason = "the calls hold their scope boxed (it is lent by reference for the whole call); keeping the box keeps a scope from being moved in and out"
    )]
    scopes: Mutex<Vec<Box<HttpScope>>>,
    slots: Mutex<Vec<Arc<Mutex<S>>>>,
}

impl<S> Default for Recycler<S> {
    fn default() -> Self {
        Self {
            scopes: Mutex::default(),
            slots: Mutex::default(),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<S: Default> Recycler<S> {
    /// A cleared scope: one a finished call left, or a new one.
    pub(crate) fn scope(&self) -> Box<HttpScope> {
        lock(&self.scopes).pop().unwrap_or_default()
    }

    /// Keeps `scope` for a later call, cleared now (nothing of this request
    /// stays reachable), unless enough are kept.
    pub(crate) fn keep_scope(&self, mut scope: Box<HttpScope>) {
        // `len` counts every value: a name repeated many times (h2 cookie
        // crumbs) grows the map's extra values, which `capacity` ignores
        // and `clear` keeps.
        let values = scope.headers.len();
        scope.clear();
        if scope.headers.capacity() > KEEP_HEADERS || values > KEEP_HEADERS {
            scope.headers = HeaderMap::new();
        }
        if scope.path.capacity() > KEEP_PATH {
            scope.path = String::from("/");
        }
        if scope.root_path.capacity() > KEEP_PATH {
            scope.root_path = String::new();
        }
        let mut kept = lock(&self.scopes);
        if kept.len() < KEEP {
            kept.push(scope);
        }
    }

    /// A slot at its default: a kept one, or a new one.
    pub(crate) fn slot(&self) -> Arc<Mutex<S>> {
        lock(&self.slots).pop().unwrap_or_default()
    }

    /// Keeps `slot`, reset, if nothing else holds it any more.
    pub(crate) fn keep_slot(&self, slot: &mut Arc<Mutex<S>>) {
        let Some(value) = Arc::get_mut(slot) else {
            return;
        };
        *value.get_mut().unwrap_or_else(PoisonError::into_inner) = S::default();
        let mut kept = lock(&self.slots);
        if kept.len() < KEEP {
            kept.push(slot.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_scope_comes_back_cleared_with_its_room() {
        let recycler = Recycler::<u8>::default();
        let mut scope = recycler.scope();
        scope.path = String::with_capacity(100);
        scope.path.push_str("/secret");
        scope
            .headers
            .insert("authorization", "Bearer s3cret".parse().unwrap());
        scope.extensions.insert(7u32);
        recycler.keep_scope(scope);
        let scope = recycler.scope();
        assert_eq!(scope.path, "/");
        assert!(scope.headers.is_empty() && scope.extensions.get::<u32>().is_none());
        assert!(scope.path.capacity() >= 100, "the path's room is kept");
        assert!(scope.headers.capacity() > 0, "the map's room is kept");
    }

    #[test]
    fn a_slot_still_held_elsewhere_is_not_kept() {
        let recycler = Recycler::<u8>::default();
        let mut slot = recycler.slot();
        *slot.lock().unwrap() = 9;
        let other = slot.clone();
        recycler.keep_slot(&mut slot);
        assert!(lock(&recycler.slots).is_empty());
        drop(other);
        recycler.keep_slot(&mut slot);
        drop(slot);
        assert_eq!(*recycler.slot().lock().unwrap(), 0, "kept, and reset");
    }

    /// `KEEP_HEADERS` lets a large header map go so that one request does
    /// not pin its room in each of `KEEP` kept scopes; a long target (up to
    /// 64 KiB in an `http::Uri`) must not either: 256 of them pin 16 MiB
    /// per connection after the burst that made them.
    #[test]
    fn a_long_paths_room_is_not_kept() {
        let recycler = Recycler::<u8>::default();
        let mut scope = recycler.scope();
        scope.path = "/a".repeat(32 * 1024);
        scope.root_path = "/r".repeat(32 * 1024);
        recycler.keep_scope(scope);
        let scope = recycler.scope();
        assert!(
            scope.path.capacity() + scope.root_path.capacity() <= 4096,
            "kept {} + {} bytes of an old request's paths",
            scope.path.capacity(),
            scope.root_path.capacity()
        );
    }

    #[test]
    fn at_most_keep_are_kept() {
        let recycler = Recycler::<u8>::default();
        let scopes: Vec<_> = (0..KEEP + 10).map(|_| recycler.scope()).collect();
        for scope in scopes {
            recycler.keep_scope(scope);
        }
        assert_eq!(lock(&recycler.scopes).len(), KEEP);
    }
}
