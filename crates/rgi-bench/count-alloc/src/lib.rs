//! A global allocator that forwards to [`System`] and counts, per thread,
//! how many allocations (and reallocations) were made. Tests install it with
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: rgi_count_alloc::Counting = rgi_count_alloc::Counting;
//! ```
//!
//! and read [`allocations`] before and after the code they measure. The
//! count is per thread, so other threads (test harness, runtime workers)
//! do not disturb it: run the measured code on the test's own thread (a
//! current-thread runtime).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    // `const` initialisation: no lazy registration, so reading or bumping
    // the counter never allocates (which would recurse into the allocator).
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// Forwards to [`System`], counting `alloc`, `alloc_zeroed` and `realloc`
/// calls made by the current thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counting;

fn count() {
    // `try_with`: during thread teardown the slot may be gone; such
    // allocations are simply not counted.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees hold; the counting touches only a
// thread-local `Cell` and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged (see above).
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Allocations (including reallocations) made so far by the current thread.
pub fn allocations() -> u64 {
    ALLOCATIONS.try_with(Cell::get).unwrap_or(0)
}
