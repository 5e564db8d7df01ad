//! One reference to a parsed document, shared by every chunk object read from it.
//!
//! `chunk.choices[0].delta.content` makes three chunk objects of one document (the
//! root, `choices[0]`, `delta`). Each holding an `Arc<Doc>` of its own cost an atomic
//! increment when made and an atomic decrement when dropped, on a counter whose cache
//! line the tokio thread that built the document wrote last. Instead the chunks of a
//! document hold **one** `Arc` between them and count themselves in
//! [`Doc::holders`](crate::wire::json::Doc) with plain loads and stores: every chunk is
//! made and dropped by a thread holding the GIL (a `Python<'_>` token to make one, and
//! `tp_dealloc` to drop one), and nothing between a load and its store can call into
//! Python, so the GIL orders them. The module asks for the GIL (`gil_used = true` in
//! `lib.rs`): a free-threaded interpreter enables it to import sserpent, and one told to
//! keep it off (`PYTHON_GIL=0`) gets an `ImportError` (`py::require_gil`).
//!
//! The last holder to go gives the shared reference back (freed off the Python thread
//! for a stream's documents: `transport/release.rs`). Other `Arc`s of the same document
//! (a stream's accumulator, an `Event`, a tokio thread) stay what they are.

use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use pyo3::Python;

use crate::wire::json::Doc;

/// A holder of the one reference the chunks of a document share. Made and dropped only
/// with the GIL held (see the module comment): kept inside chunk objects, or made and
/// dropped within one function that holds it.
pub(super) struct DocRef(NonNull<Doc>);

// SAFETY: the document is `Send + Sync`; the holder count is only touched with the GIL
// held (module comment), which makes its plain loads and stores exclusive.
unsafe impl Send for DocRef {}
unsafe impl Sync for DocRef {}

impl DocRef {
    /// Becomes a holder of `doc`, whose reference is either kept as the holders'
    /// shared one (no holder yet) or given back (the holders have one already).
    pub fn adopt(_py: Python<'_>, doc: Arc<Doc>) -> DocRef {
        let holders = doc.holders.load(Relaxed);
        let ptr = if holders == 0 {
            Arc::into_raw(doc)
        } else {
            // The holders' reference keeps the document alive past this drop.
            let ptr = Arc::as_ptr(&doc);
            drop(doc);
            ptr
        };
        // SAFETY: from a live `Arc`, so non-null and pointing at a `Doc`.
        let doc = unsafe { NonNull::new_unchecked(ptr.cast_mut()) };
        // SAFETY: the shared reference (kept above, or the holders') keeps it alive.
        unsafe { doc.as_ref() }.holders.store(holders + 1, Relaxed);
        DocRef(doc)
    }

    /// Another holder of the same document: one plain increment.
    pub fn share(&self, _py: Python<'_>) -> DocRef {
        let holders = &self.holders;
        holders.store(holders.load(Relaxed) + 1, Relaxed);
        DocRef(self.0)
    }

    /// A reference of its own, for code that keeps the document past its chunks.
    pub fn to_arc(&self) -> Arc<Doc> {
        let ptr = self.0.as_ptr().cast_const();
        // SAFETY: `ptr` came from `Arc::into_raw`, and the holders' reference is alive
        // while `self` is; the new count is the returned `Arc`'s.
        unsafe {
            Arc::increment_strong_count(ptr);
            Arc::from_raw(ptr)
        }
    }

    /// Stops holding: the last holder gets the shared reference back, for the caller to
    /// release where it likes (a stream's chunk: off the Python thread).
    pub fn release(self) -> Option<Arc<Doc>> {
        let this = ManuallyDrop::new(self);
        // SAFETY: `this` is not used again, nor dropped.
        unsafe { this.leave() }
    }

    /// # Safety
    /// Called once per holder, which is not used afterwards.
    unsafe fn leave(&self) -> Option<Arc<Doc>> {
        let holders = self.holders.load(Relaxed) - 1;
        self.holders.store(holders, Relaxed);
        // SAFETY: the last holder owns the reference `adopt` kept (`Arc::into_raw`).
        (holders == 0).then(|| unsafe { Arc::from_raw(self.0.as_ptr().cast_const()) })
    }
}

impl Drop for DocRef {
    fn drop(&mut self) {
        // SAFETY: dropped once, and not used after.
        drop(unsafe { self.leave() });
    }
}

impl Deref for DocRef {
    type Target = Doc;

    #[inline]
    fn deref(&self) -> &Doc {
        // SAFETY: the holders' shared reference keeps the document alive while `self`
        // holds it (`leave` is its last use).
        unsafe { self.0.as_ref() }
    }
}
