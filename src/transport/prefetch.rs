//! Cache-line hints handed from a stream's reader task to the Python thread.
//!
//! With thousands of paced streams, each chunk is made on a tokio thread and read on
//! the Python thread, on the other core: its document (text and tape) and the channel
//! holding it are cold there, and every first touch is a miss. The loop bridge wakes
//! the ready streams one after another, each wake running that stream's task step; a
//! `Prefetch` recorded with each wake lets the bridge ask for the next stream's lines
//! while the current one runs, so they are in cache when its step begins. A hint is
//! only ever prefetched, never read: an address stale by then costs a wasted prefetch,
//! nothing else (a prefetch does not fault).

/// Up to eight address ranges worth pulling into cache.
#[derive(Clone, Copy, Default)]
pub struct Prefetch {
    ranges: [(usize, u32); 8],
}

/// Bytes a range may cover: the head of a document and its tape, not a whole large one.
const MAX_RANGE: usize = 512;
const LINE: usize = 64;

impl Prefetch {
    pub const NONE: Prefetch = Prefetch {
        ranges: [(0, 0); 8],
    };

    /// Adds the first `len` bytes (at most 512) at `at`; a ninth range is dropped.
    pub fn with<T: ?Sized>(mut self, at: *const T, len: usize) -> Prefetch {
        if let Some(slot) = self.ranges.iter_mut().find(|r| r.1 == 0) {
            *slot = (at.cast::<u8>() as usize, len.min(MAX_RANGE) as u32);
        }
        self
    }

    /// Asks the CPU to bring the ranges' lines into cache (a no-op off x86_64).
    #[inline]
    pub fn issue(&self) {
        for &(at, len) in &self.ranges {
            let mut line = at & !(LINE - 1);
            while line < at + len as usize {
                prefetch_line(line);
                line += LINE;
            }
        }
    }
}

#[inline(always)]
fn prefetch_line(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch only hints the cache; it reads nothing the program sees and does
    // not fault on any address, mapped or not (SSE is part of x86_64).
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(addr as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_capped_and_kept_up_to_eight() {
        let data = vec![0u8; 4096];
        let p = (0..10).fold(Prefetch::NONE, |p, i| p.with(data[i * 10..].as_ptr(), 4096));
        assert!(p.ranges.iter().all(|&(_, len)| len as usize == MAX_RANGE));
        assert_eq!(p.ranges[7].0, data[70..].as_ptr() as usize);
        // Issuing touches nothing the program can see; stale or null addresses are fine.
        p.issue();
        Prefetch::NONE.with(std::ptr::null::<u8>(), 100).issue();
    }
}
