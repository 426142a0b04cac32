//! The binary's allocator: mimalloc, configured before its first allocation.
#![allow(unsafe_code)] // Reason: a global allocator is an unsafe trait.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, Ordering};

/// mimalloc, configured before its first allocation.
///
/// The compiler allocates many small nodes; mimalloc is markedly faster than the system
/// allocator for that (see ARCHITECTURE.md). By default it commits its arena up front, which
/// inflates peak memory; `arena_eager_commit = 0` commits on use. Options must be set before
/// the first allocation, which happens before `main`, hence this wrapper.
struct Allocator;

static CONFIGURED: AtomicBool = AtomicBool::new(false);

/// `mi_option_arena_eager_commit` in mimalloc v2's option enum.
const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

fn configure() {
    // A load first: a swap on every allocation writes the flag's cache line, which the
    // parse threads and the checker would pass back and forth.
    if !CONFIGURED.load(Ordering::Relaxed) && !CONFIGURED.swap(true, Ordering::Relaxed) {
        // SAFETY: sets a plain integer option; it allocates nothing.
        unsafe { libmimalloc_sys::mi_option_set(ARENA_EAGER_COMMIT, 0) };
    }
}

// SAFETY: every method forwards to mimalloc, a correct global allocator.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        configure();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { mimalloc::MiMalloc.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        configure();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Allocator = Allocator;
