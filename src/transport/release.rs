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
//! that work is moved: the last reference to a document joins a batch, and a full batch
//! is dropped by a task on the shared runtime. (Other references, those of the nested
//! chunks read from the same document, are only a count to lower: dropped at once.)
//! There the frees are the owner's own for the documents that worker parsed (about
//! half, with two workers) and cross-thread for the rest, off the Python thread either
//! way.
//!
//! Bounded: a batch is handed over at 256 documents or 1 MiB of them, whichever comes
//! first, and a document over 64 KiB is freed at once; so at most about 1 MiB waits
//! when streams stop. With no
//! runtime started in this process (a forked child dropping its parent's chunks), a
//! full batch is freed where it is, as are documents of `iter_chunks` and other
//! in-memory reads (`py/chunk.rs` never hands those here).

use std::sync::{Arc, Mutex};

use super::runtime::running;
use crate::wire::json::Doc;

/// Documents per batch: one task spawn (an allocation, a wake-up) per this many.
const BATCH: usize = 256;
/// Bytes of documents per batch, at most (text and tape, as `size`).
const BATCH_BYTES: usize = 1 << 20;
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

/// What a document holds, roughly: its text and its tape.
fn size(doc: &Doc) -> usize {
    doc.text.len() + std::mem::size_of_val(doc.nodes.as_slice())
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
    let batch = {
        let mut waiting = WAITING.lock().unwrap_or_else(|e| e.into_inner());
        if waiting.docs.capacity() == 0 {
            waiting.docs.reserve_exact(BATCH);
        }
        waiting.docs.push(doc);
        waiting.bytes += bytes;
        if waiting.docs.len() < BATCH && waiting.bytes < BATCH_BYTES {
            return;
        }
        waiting.bytes = 0;
        std::mem::replace(&mut waiting.docs, Vec::with_capacity(BATCH))
    };
    match running() {
        Some(rt) => drop(rt.spawn(async move { drop(batch) })),
        None => drop(batch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn freed_within(probe: &std::sync::Weak<Doc>, secs: u64) -> bool {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while probe.upgrade().is_some() {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }

    // One test, so no other test's documents share the batch while it runs.
    #[test]
    fn batches_are_freed_by_count_by_bytes_and_large_documents_at_once() {
        let _rt = super::super::runtime::runtime();
        // A reference that is not the last is dropped at once, not batched.
        let shared = Arc::new(Doc::parse("{\"s\":1}".into()).unwrap());
        free_off_thread(Arc::clone(&shared));
        assert_eq!(Arc::strong_count(&shared), 1);

        // A full batch (by count) goes to the runtime and is freed there.
        let doc = Arc::new(Doc::parse("{\"a\":1}".into()).unwrap());
        let probe = Arc::downgrade(&doc);
        free_off_thread(doc);
        assert!(
            probe.upgrade().is_some(),
            "one reference waits for its batch"
        );
        for _ in 0..BATCH {
            free_off_thread(Arc::new(Doc::parse("{}".into()).unwrap()));
        }
        assert!(freed_within(&probe, 10), "a full batch was never freed");

        // A large document is freed at once.
        let big = Arc::new(Doc::parse(format!("\"{}\"", "x".repeat(LARGE))).unwrap());
        let probe = Arc::downgrade(&big);
        free_off_thread(big);
        assert!(probe.upgrade().is_none());

        // Documents adding up to BATCH_BYTES hand the batch over before BATCH references.
        let text = format!("\"{}\"", "y".repeat(LARGE / 2));
        let first = Arc::new(Doc::parse(text.clone()).unwrap());
        let probe = Arc::downgrade(&first);
        free_off_thread(first);
        for _ in 0..(BATCH_BYTES / (LARGE / 2)) {
            free_off_thread(Arc::new(Doc::parse(text.clone()).unwrap()));
        }
        assert!(
            freed_within(&probe, 10),
            "a batch over its byte bound was kept"
        );
    }
}
