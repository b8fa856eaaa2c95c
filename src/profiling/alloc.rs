//! A counting global allocator: the system allocator plus two process-wide counters, the
//! bytes allocated (net) since counting began and the highest value that reached since the
//! last [`reset_peak`]. It is the Rust side of Python's `tracemalloc` figures (current and
//! peak traced memory). The binary declares it as `#[global_allocator]`, but it counts only
//! after [`enable`] (the profile command calls it first thing): until then an allocation
//! costs one relaxed load of a flag that never changes, so the product pays nothing for it.
//!
//! The counters are statics of this module, so library code (the profile command)
//! reads them whichever binary installed the allocator. In a binary that did not install it
//! (the integration tests), [`enable`] finds nothing counted and [`is_active`] stays false:
//! the figures are reported as missing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

/// Set once by [`enable`]; read on every allocation.
static COUNTING: AtomicBool = AtomicBool::new(false);
/// Whether [`enable`] saw its probe allocation counted (the allocator is installed).
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Bytes allocated and not yet freed since counting began (requested sizes). Signed: a block
/// allocated before [`enable`] and freed after it counts only its free.
static CURRENT: AtomicIsize = AtomicIsize::new(0);
/// Highest [`CURRENT`] since counting began or the last [`reset_peak`].
static PEAK: AtomicIsize = AtomicIsize::new(0);

/// The system allocator, counted once [`enable`]d. Declare it in a binary:
///
/// ```ignore
/// #[global_allocator]
/// static ALLOC: flare_plus::profiling::alloc::CountingAlloc = CountingAlloc;
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingAlloc;

#[inline]
fn grew(by: usize) {
    if !COUNTING.load(Ordering::Relaxed) {
        return;
    }
    let by = isize::try_from(by).unwrap_or(isize::MAX);
    let now = CURRENT.fetch_add(by, Ordering::Relaxed).wrapping_add(by);
    // Most allocations do not set a new peak: a plain load keeps them off the CAS loop.
    if now > PEAK.load(Ordering::Relaxed) {
        PEAK.fetch_max(now, Ordering::Relaxed);
    }
}

#[inline]
fn shrank(by: usize) {
    if COUNTING.load(Ordering::Relaxed) {
        CURRENT.fetch_sub(isize::try_from(by).unwrap_or(isize::MAX), Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged and returns
// its result; the counters never influence the memory handed out.
unsafe impl GlobalAlloc for CountingAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract (non-zero size layout, guaranteed by the caller).
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was returned by this allocator (hence `System`) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded contract: `ptr` came from this allocator with `layout`.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            let old = layout.size();
            if new_size >= old {
                grew(new_size - old);
            } else {
                shrank(old - new_size);
            }
        }
        new
    }
}

/// Starts counting. Returns whether this process's global allocator is [`CountingAlloc`]
/// (a probe allocation is counted); the answer stays in [`is_active`].
pub fn enable() -> bool {
    COUNTING.store(true, Ordering::Relaxed);
    let before = CURRENT.load(Ordering::Relaxed);
    let probe = std::hint::black_box(vec![0u8; 64]);
    let active = CURRENT.load(Ordering::Relaxed) > before;
    drop(probe);
    ACTIVE.store(active, Ordering::Relaxed);
    active
}

/// Bytes allocated through [`CountingAlloc`] and not freed since counting began (never
/// below zero).
pub fn current() -> usize {
    usize::try_from(CURRENT.load(Ordering::Relaxed)).unwrap_or(0)
}

/// Highest [`current`] since counting began or since the last [`reset_peak`].
pub fn peak() -> usize {
    usize::try_from(PEAK.load(Ordering::Relaxed)).unwrap_or(0)
}

/// Starts a new peak window at the current figure (one per profile scenario). Returns the
/// current bytes, the window's baseline.
pub fn reset_peak() -> usize {
    let now = CURRENT.load(Ordering::Relaxed);
    PEAK.store(now, Ordering::Relaxed);
    usize::try_from(now).unwrap_or(0)
}

/// Whether [`enable`] found [`CountingAlloc`] installed as the global allocator.
pub fn is_active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The unit-test binary does not install the allocator, so the counters are driven
    /// directly through the trait methods.
    #[test]
    fn counts_allocations_frees_and_reallocations_and_keeps_the_peak() {
        // Other tests in this binary never touch the statics (only this one calls
        // CountingAlloc), so exact deltas hold.
        let a = CountingAlloc;
        COUNTING.store(true, Ordering::Relaxed);
        let base = reset_peak();
        let layout = Layout::from_size_align(1 << 20, 8).expect("valid layout");
        // SAFETY: non-zero layout; every pointer is freed below with its current layout.
        unsafe {
            let p = a.alloc(layout);
            assert!(!p.is_null());
            assert_eq!(current() - base, 1 << 20);
            let p = a.realloc(p, layout, 3 << 20);
            assert!(!p.is_null());
            assert_eq!(current() - base, 3 << 20);
            let bigger = Layout::from_size_align(3 << 20, 8).expect("valid layout");
            let p = a.realloc(p, bigger, 1 << 19);
            assert!(!p.is_null());
            assert_eq!(current() - base, 1 << 19);
            assert_eq!(peak() - base, 3 << 20);
            a.dealloc(
                p,
                Layout::from_size_align(1 << 19, 8).expect("valid layout"),
            );
            let z = a.alloc_zeroed(layout);
            assert!(!z.is_null() && *z == 0);
            a.dealloc(z, layout);
        }
        assert_eq!(current(), base);
        assert_eq!(peak() - base, 3 << 20);
        assert_eq!(reset_peak(), base);
        assert_eq!(peak(), base);
    }
}
