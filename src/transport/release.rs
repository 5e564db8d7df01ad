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
//! that work is moved: the last reference to a document waits in one list, and once
//! 256 wait (or 256 KiB of them) the next stream read on a tokio thread takes the
//! whole list and frees it there ([`collect`], as each read's items are handed over).
//! (The chunk objects of one document share one reference, `py/doc_ref.rs`: the last of
//! them to go hands it here. Any other reference is only a count to lower: dropped at once.)
//!
//! No task is spawned for it while reads come: spawning one from the Python thread (as
//! this module first did, every 256 documents) woke the idle worker, which then often
//! took the next socket wake-up too, so one stream's reads moved between the two workers
//! about once every 30 reads, its state and its documents' memory following it (freed
//! cross-thread then). Only when 2,048 documents (or 2 MiB) wait, because no stream
//! has read since, is the list handed to a task of its own.
//!
//! Bounded: at most 2,048 documents or 2 MiB wait (when streams stop, until the next
//! read; fewer than 256 may wait for good), and a document over 64 KiB is freed at
//! once. With no runtime started in this process (a forked child dropping its parent's
//! chunks), the list is freed where it is once it is due (in a child that inherited a
//! due list, at the next 256th document), as are documents of `iter_chunks` and other
//! in-memory reads (`py/chunk.rs` never hands those here).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

use super::runtime::running;
use crate::wire::json::Doc;

/// Documents waiting: the next stream read frees them once this many wait.
const BATCH: usize = 256;
/// Or once they hold this many bytes (text and tape, as `size`).
const BATCH_BYTES: usize = 256 << 10;
/// Documents waiting with no read to free them: a task of their own does, at this many.
const HELD: usize = 2048;
/// Or at this many bytes.
const HELD_BYTES: usize = 2 << 20;
/// A document this large is freed at once: batching saves little, and holds a lot.
const LARGE: usize = 64 << 10;

struct Waiting {
    docs: Vec<Arc<Doc>>,
    bytes: usize,
}

static WAITING: Mutex<Waiting> = Mutex::new(Waiting {
    docs: Vec::new(),
    bytes: 0,
});

/// A batch is due: read by every stream read without taking the lock.
static DUE: AtomicBool = AtomicBool::new(false);

/// What a document holds, roughly: its text and its tape.
fn size(doc: &Doc) -> usize {
    doc.text.len() + std::mem::size_of_val(doc.nodes.as_slice())
}

fn lock() -> MutexGuard<'static, Waiting> {
    WAITING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Takes every waiting document, allocating nothing while the lock is held (the next
/// push reserves the room).
fn take(waiting: &mut Waiting) -> Vec<Arc<Doc>> {
    DUE.store(false, Ordering::Relaxed);
    waiting.bytes = 0;
    std::mem::take(&mut waiting.docs)
}

/// Releases one reference to `doc`; if it is the last, the document is freed on a tokio
/// thread.
pub fn free_off_thread(doc: Arc<Doc>) {
    // Another thread may release a reference at the same moment: then the document is
    // freed here after all, as it would be without this module; nothing is lost.
    if Arc::strong_count(&doc) > 1 {
        return drop(doc);
    }
    let bytes = size(&doc);
    if bytes > LARGE {
        return drop(doc);
    }
    let held = {
        // Not `lock()`: a tokio thread holds this lock for a moment in `collect`, and a
        // child forked then would wait on it forever. A document that finds it held is
        // freed here.
        let mut waiting = match WAITING.try_lock() {
            Ok(waiting) => waiting,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => return drop(doc),
        };
        if waiting.docs.capacity() == 0 {
            waiting.docs.reserve_exact(BATCH);
        }
        waiting.docs.push(doc);
        waiting.bytes += bytes;
        let (count, bytes) = (waiting.docs.len(), waiting.bytes);
        if count < BATCH && bytes < BATCH_BYTES {
            return;
        }
        if count < HELD && bytes < HELD_BYTES {
            // Due already: a read will come. Every BATCH documents the runtime is looked
            // at again (a child forked while a batch was due has none: nothing will read).
            if DUE.load(Ordering::Relaxed) && count % BATCH != 0 {
                return;
            }
            if running().is_some() {
                // Relaxed: the lock orders the list; the flag only says when to look.
                DUE.store(true, Ordering::Relaxed);
                return;
            }
            // No runtime in this process, so no read will come: freed here, below.
        }
        take(&mut waiting)
    };
    match running() {
        Some(rt) => drop(rt.spawn(async move { drop(held) })),
        None => drop(held),
    }
}

/// Frees the waiting documents if a batch is due. Called by stream tasks on tokio
/// threads after each read: one relaxed load when none is.
#[inline]
pub fn collect() {
    if !DUE.load(Ordering::Relaxed) {
        return;
    }
    // Not `lock()`: held, the list is being taken by another thread (or, in a child
    // forked at that moment, never will be released: its reads must not wait on it).
    let docs = match WAITING.try_lock() {
        Ok(mut waiting) => take(&mut waiting),
        Err(TryLockError::Poisoned(e)) => take(&mut e.into_inner()),
        Err(TryLockError::WouldBlock) => return,
    };
    drop(docs);
}

/// Documents waiting to be freed (tests and leak checks).
pub fn waiting() -> usize {
    lock().docs.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Weak;
    use std::time::{Duration, Instant};

    fn freed_within(probe: &Weak<Doc>, secs: u64) -> bool {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while probe.upgrade().is_some() {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }

    /// Releases the last reference to a new document of `text`; a probe of it.
    fn release(text: String) -> Weak<Doc> {
        let doc = Arc::new(Doc::parse(text).unwrap());
        let probe = Arc::downgrade(&doc);
        free_off_thread(doc);
        probe
    }

    // One test, so no other test's documents share the list while it runs. Stream tasks,
    // the only other callers of `collect`, run only in the Python tests: a Rust test that
    // ran one alongside would free these documents early (this test would fail).
    #[test]
    fn documents_wait_for_a_read_then_a_task_and_large_ones_go_at_once() {
        let _rt = super::super::runtime::runtime();
        // A reference that is not the last is dropped at once, not kept.
        let shared = Arc::new(Doc::parse("{\"s\":1}".into()).unwrap());
        free_off_thread(Arc::clone(&shared));
        assert_eq!(Arc::strong_count(&shared), 1);

        // Fewer than a batch wait; a read frees nothing yet.
        let first = release("{\"a\":1}".into());
        for _ in 1..BATCH - 1 {
            release("{}".into());
        }
        collect();
        assert!(first.upgrade().is_some(), "freed before a batch was due");
        // The batch's last document makes it due: the next read frees them all.
        let last = release("{}".into());
        assert!(first.upgrade().is_some() && last.upgrade().is_some());
        collect();
        assert!(first.upgrade().is_none() && last.upgrade().is_none());
        collect(); // nothing due: a no-op

        // With no read, they keep waiting up to HELD, then a task frees them.
        let first = release("{\"a\":1}".into());
        for _ in 1..HELD - 1 {
            release("{}".into());
        }
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            first.upgrade().is_some(),
            "no read came, and fewer than HELD"
        );
        release("{}".into());
        assert!(freed_within(&first, 10), "HELD documents were kept");
        assert_eq!(lock().docs.len(), 0);
        assert!(!DUE.load(Ordering::Relaxed));

        // A large document is freed at once.
        let big = release(format!("\"{}\"", "x".repeat(LARGE)));
        assert!(big.upgrade().is_none());

        // Bytes make a batch due before BATCH documents do, and HELD_BYTES hand it over.
        let text = format!("\"{}\"", "y".repeat(LARGE / 2));
        let first = release(text.clone());
        while !DUE.load(Ordering::Relaxed) {
            release(text.clone());
        }
        assert!(lock().docs.len() < BATCH);
        collect();
        assert!(
            first.upgrade().is_none(),
            "a batch over its byte bound was kept"
        );
        let first = release(text.clone());
        for _ in 0..HELD_BYTES / (LARGE / 2) {
            release(text.clone());
        }
        assert!(
            freed_within(&first, 10),
            "HELD_BYTES of documents were kept"
        );
    }
}
