//! Stream chunks' documents freed on a tokio thread rather than the Python one
//! (`py/chunk.rs` hands them here).
//!
//! A stream's document (its `Arc`, text and tape: three allocations) is made on the
//! tokio thread that parsed it and, unless this module steps in, freed on the Python
//! thread when the last chunk object reading it goes. Freeing another thread's block
//! is mimalloc's slow path: an atomic push onto the owning page's or heap's list, on a
//! line the owner also writes, so with thousands of streams each free misses and the
//! line moves between cores (`mi_free_block_delayed_mt`, 5% of the Python thread's
//! samples at 5,000 streams). The Python thread is the one every stream shares, so
//! that work is moved: a released document joins a batch, and each full batch is
//! dropped by a task on the shared runtime, where the frees are mostly the owner's own.
//!
//! At most `BATCH - 1` documents wait at any time (a few hundred KiB at worst), for
//! the next stream chunk to fill the batch; documents of `iter_chunks` and other
//! in-memory reads are freed at once, on the thread that made them.

use std::sync::{Arc, Mutex};

use super::runtime::runtime;
use crate::wire::json::Doc;

/// Documents per batch: one task spawn (an allocation, a wake-up) per this many chunks.
const BATCH: usize = 256;

static WAITING: Mutex<Vec<Arc<Doc>>> = Mutex::new(Vec::new());

/// Releases one reference to `doc`; the document is freed on a tokio thread.
pub fn free_off_thread(doc: Arc<Doc>) {
    let batch = {
        let mut waiting = WAITING.lock().unwrap_or_else(|e| e.into_inner());
        if waiting.capacity() == 0 {
            waiting.reserve_exact(BATCH);
        }
        waiting.push(doc);
        if waiting.len() < BATCH {
            return;
        }
        std::mem::replace(&mut *waiting, Vec::with_capacity(BATCH))
    };
    runtime().spawn(async move { drop(batch) });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_batch_is_freed_by_the_runtime() {
        let doc = Arc::new(Doc::parse("{\"a\":1}".into()).unwrap());
        let probe = Arc::downgrade(&doc);
        free_off_thread(doc);
        // Fill the batch (other tests may add to it too): the probe's document goes with it.
        for _ in 0..BATCH {
            free_off_thread(Arc::new(Doc::parse("{}".into()).unwrap()));
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while probe.upgrade().is_some() {
            assert!(
                std::time::Instant::now() < deadline,
                "the batch was never freed"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}
