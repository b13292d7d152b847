//! Helpers shared by the fuzz targets in `fuzz_targets/`.
//!
//! - [`Counting`]: a global allocator wrapper that tracks live and peak heap bytes, so a target can
//!   assert that one input never makes the code under test allocate without bound.
//! - [`Splitter`]: chunk sizes derived from the input itself, so the fuzzer controls where a byte
//!   stream is cut into socket reads and a crash reproduces from its input file alone.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, counting. Install it with `#[global_allocator]` in a target.
pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` unchanged; the counters are only bookkeeping.
#[allow(unsafe_code)] // reason: a GlobalAlloc impl is unsafe by definition.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grow(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grow(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            grow(new_size);
        }
        p
    }
}

fn grow(size: usize) {
    let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

/// Starts measuring: the peak is reset to what is live now. Returns the baseline.
pub fn start_measuring() -> usize {
    let live = LIVE.load(Ordering::Relaxed);
    PEAK.store(live, Ordering::Relaxed);
    live
}

/// Heap bytes allocated above `baseline` at the highest point since [`start_measuring`].
pub fn peak_above(baseline: usize) -> usize {
    PEAK.load(Ordering::Relaxed).saturating_sub(baseline)
}

/// Cuts a byte stream into chunks whose sizes come from a seed taken from the input.
///
/// A xorshift generator (deterministic, no state outside the struct): the same input always gives
/// the same reads, which is what makes a crash file a reproducer.
#[derive(Debug, Clone)]
pub struct Splitter {
    state: u64,
    max: usize,
}

impl Splitter {
    /// `seed` picks both the sequence and the largest chunk: 1 byte (every split point), 7,
    /// 64 or 4096 (a typical socket read).
    pub fn new(seed: u8) -> Self {
        let max = [1, 7, 64, 4096][usize::from(seed & 3)];
        Self {
            state: u64::from(seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            max,
        }
    }

    /// The next chunk of `rest`, and what remains after it.
    pub fn next<'a>(&mut self, rest: &'a [u8]) -> (&'a [u8], &'a [u8]) {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        let len = usize::try_from(self.state % self.max as u64).unwrap_or(0) + 1;
        rest.split_at(len.min(rest.len()))
    }
}
