//! What finished calls leave for the next ones on the same thread: their
//! scope, cleared, with its allocations (the box, the path's string, the
//! header map), and the slot their events went through.
//!
//! A bridge that serves many requests at once (an HTTP/2 connection's 100
//! streams, sent and answered in bursts) would otherwise allocate and free
//! each of these per request, mostly past the allocator's per-thread
//! cache: about 1,800 instructions a request under `h2load -c10 -m100`.
//! rgi-server keeps one scope per connection for the same reason. Kept
//! per thread, like the allocator's own caches, so that what is kept is
//! bounded by the worker threads, not by the connections (each of 10,000
//! idle HTTP/2 connections keeping its last burst's scopes would be
//! gigabytes), and no lock is shared between workers. A cleared scope
//! carries nothing of the request before (rule `CORE-009`).

use std::cell::RefCell;
use std::sync::Arc;

use http::HeaderMap;
use rgi::HttpScope;

use crate::service::Shared;

/// Scopes (and slots) kept at most, per thread: ten HTTP/2 connections'
/// bursts of a hundred streams each, in about a megabyte (the scopes of
/// small requests are 1 KiB or less with their room).
const KEEP: usize = 1024;

/// A kept scope's header map is let go past this many fields of room, so
/// that one request with many fields does not pin its room.
const KEEP_HEADERS: usize = 24;

/// A kept scope's path (and root path) is let go past this much room, for
/// the same reason: a target may be 64 KiB.
const KEEP_PATH: usize = 1024;

thread_local! {
    #[expect(
        clippy::vec_box,
        reason = "the calls hold their scope boxed (it is lent by reference for the whole call); keeping the box keeps a scope from being moved in and out"
    )]
    static SCOPES: RefCell<Vec<Box<HttpScope>>> = const { RefCell::new(Vec::new()) };
    static SLOTS: RefCell<Vec<Arc<Shared>>> = const { RefCell::new(Vec::new()) };
}

/// A cleared scope: one a finished call left on this thread, or a new one.
pub(crate) fn scope() -> Box<HttpScope> {
    SCOPES
        .try_with(|kept| kept.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Keeps `scope` for a later call on this thread, cleared now (nothing of
/// this request stays reachable), unless enough are kept.
pub(crate) fn keep_scope(mut scope: Box<HttpScope>) {
    // `len` counts every value: a name repeated many times (h2 cookie
    // crumbs) grows the map's extra values, which `capacity` ignores and
    // `clear` keeps.
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
    // During the thread's exit the scope is simply dropped.
    let _ = SCOPES.try_with(|kept| {
        let mut kept = kept.borrow_mut();
        if kept.len() < KEEP {
            kept.push(scope);
        }
    });
}

/// An event slot at its default: one a finished call left on this thread,
/// or a new one.
pub(crate) fn slot() -> Arc<Shared> {
    SLOTS
        .try_with(|kept| kept.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Keeps `slot`, reset, if nothing else holds it any more.
pub(crate) fn keep_slot(slot: &mut Arc<Shared>) {
    let Some(value) = Arc::get_mut(slot) else {
        return;
    };
    *value = Shared::default();
    let slot = slot.clone();
    let _ = SLOTS.try_with(|kept| {
        let mut kept = kept.borrow_mut();
        if kept.len() < KEEP {
            kept.push(slot);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    // Each test runs on a thread of its own: what it keeps is its own.

    #[test]
    fn a_kept_scope_comes_back_cleared_with_its_room() {
        let mut kept = scope();
        kept.path = String::with_capacity(100);
        kept.path.push_str("/secret");
        kept.headers
            .insert("authorization", "Bearer s3cret".parse().unwrap());
        kept.extensions.insert(7u32);
        keep_scope(kept);
        let again = scope();
        assert_eq!(again.path, "/");
        assert!(again.headers.is_empty() && again.extensions.get::<u32>().is_none());
        assert!(again.path.capacity() >= 100, "the path's room is kept");
        assert!(again.headers.capacity() > 0, "the map's room is kept");
    }

    #[test]
    fn a_slot_still_held_elsewhere_is_not_kept() {
        let mut held = slot();
        held.events.lock().unwrap().complete = true;
        let other = held.clone();
        keep_slot(&mut held);
        assert!(SLOTS.with(|kept| kept.borrow().is_empty()));
        drop(other);
        keep_slot(&mut held);
        drop(held);
        assert!(!slot().events.lock().unwrap().complete, "kept, and reset");
    }

    /// `KEEP_HEADERS` lets a large header map go so that one request does
    /// not pin its room in each of `KEEP` kept scopes; a long target (up to
    /// 64 KiB in an `http::Uri`) must not either.
    #[test]
    fn a_long_paths_room_is_not_kept() {
        let mut long = scope();
        long.path = "/a".repeat(32 * 1024);
        long.root_path = "/r".repeat(32 * 1024);
        keep_scope(long);
        let again = scope();
        assert!(
            again.path.capacity() + again.root_path.capacity() <= 4096,
            "kept {} + {} bytes of an old request's paths",
            again.path.capacity(),
            again.root_path.capacity()
        );
    }

    #[test]
    fn at_most_keep_are_kept() {
        let scopes: Vec<_> = (0..KEEP + 10).map(|_| scope()).collect();
        for kept in scopes {
            keep_scope(kept);
        }
        assert_eq!(SCOPES.with(|kept| kept.borrow().len()), KEEP);
    }
}
