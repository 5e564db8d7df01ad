//! Chunk objects: JSON objects parsed in Rust and read lazily from Python.
//!
//! A chunk holds its document (source text plus tape) and a node index;
//! attribute or item access turns just the value asked for into a Python
//! object. Objects become `Chunk`s, arrays lists, the rest plain scalars.
//!
//! Here: the type and that conversion. Its Python methods are in
//! `chunk_methods.rs`, above `event.rs`: a chunk pickles as an `Event`,
//! and `Event.json()` makes chunks.

use std::mem::ManuallyDrop;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicPtr, AtomicU32};
use std::sync::Arc;

use pyo3::ffi;
use pyo3::prelude::*;

use super::alloc::{direct_alloc, new_object};
use super::doc_ref::DocRef;
use super::values::scalar;
use crate::providers::openai::schema::{Schema, ANY};
use crate::transport::release;
use crate::wire::json::{Doc, Kind};

// A stream makes and drops a few chunk objects per chunk (the root, `choices[0]`,
// `delta`): they are made by `alloc::new_object`, not pyo3's constructor (why there).
// No `freelist`: that module relies on the default `tp_alloc` and `tp_free`.
#[pyclass(frozen, module = "sserpent", name = "Chunk")]
pub struct Chunk {
    /// Taken in `drop` (see there); always present before.
    pub(super) doc: ManuallyDrop<DocRef>,
    pub(super) node: u32,
    pub(super) schema: &'static Schema,
    /// A stream's chunk, whose document a tokio thread made: it is freed there too
    /// (`transport/release.rs`), and so are the documents of chunks read from this one.
    free_off_thread: bool,
    /// The first nested chunk read from this one by attribute (see [`Kept`]).
    kept: Kept,
}

impl Drop for Chunk {
    fn drop(&mut self) {
        // SAFETY: `doc` is taken only here, and the chunk is not used after `drop`.
        let doc = unsafe { ManuallyDrop::take(&mut self.doc) };
        // The nested chunks kept in `kept` leave after this one (fields drop after
        // `drop`): the last of them releases the document.
        if let Some(doc) = doc.release() {
            if self.free_off_thread {
                release::free_off_thread(doc);
            }
        }
    }
}

/// One member's chunk, made once. Code that reads a path twice, as the openai
/// SDK's own example does (`if chunk.choices[0].delta.content is not None:
/// print(chunk.choices[0].delta.content)`), gets the same `choices[0]` and `delta`
/// again instead of new ones, as a pydantic model would give them.
///
/// Only chunks are kept (a nested object, or the one element of a one-object
/// array such as `choices`: the array read again is a new list holding it), never a
/// list a caller could change. Chunks are immutable and hold only chunks, so what is
/// kept can never form a reference cycle (chunks have no `__traverse__`; none is needed).
///
/// Read and set only with the GIL held (`get` takes its token, `offer` a bound object), which orders
/// them: plain loads and stores (atomic types only to keep the chunk `Sync`), set at
/// most once per chunk on the per-chunk hot path, where a lock, a compare-and-swap or
/// an allocation would cost more than the object it saves. Nothing between `offer`'s
/// test and its stores can call into Python (and so let another thread in).
struct Kept {
    /// The member's value node, or `NONE`.
    node: AtomicU32,
    /// A strong reference to the chunk, or null.
    object: AtomicPtr<ffi::PyObject>,
}

impl Kept {
    const NONE: u32 = u32::MAX;

    fn new() -> Self {
        Kept {
            node: AtomicU32::new(Self::NONE),
            object: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// The object kept for value node `v`, if that is what is kept.
    fn get<'py>(&self, py: Python<'py>, v: u32) -> Option<Bound<'py, PyAny>> {
        if self.node.load(Relaxed) != v {
            return None;
        }
        let ptr = self.object.load(Relaxed);
        // SAFETY: a node is set only with its object, which is non-null and owned by
        // this slot until the chunk is dropped; borrowed here and increfed.
        Some(unsafe { Bound::from_borrowed_ptr(py, ptr) })
    }

    /// Keeps `object` for node `v` unless something is kept already.
    fn offer(&self, v: u32, object: &Bound<'_, PyAny>) {
        if !self.object.load(Relaxed).is_null() {
            return;
        }
        self.object.store(object.clone().into_ptr(), Relaxed);
        self.node.store(v, Relaxed);
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        let ptr = *self.object.get_mut();
        if !ptr.is_null() {
            // SAFETY: chunks are dropped with the GIL held (in their `tp_dealloc`, or
            // made and dropped unshared in a function that holds it); the pointer is
            // this slot's own strong reference.
            unsafe { ffi::Py_DECREF(ptr) };
        }
    }
}

// SAFETY: `Chunk` is frozen, with no free list, `__traverse__`, dict or weakref.
direct_alloc!(Chunk);

impl Chunk {
    fn freed(doc: DocRef, node: u32, schema: &'static Schema, off_thread: bool) -> Self {
        Chunk {
            doc: ManuallyDrop::new(doc),
            node,
            schema,
            free_off_thread: off_thread,
            kept: Kept::new(),
        }
    }

    /// A chunk of node `node` of the same document, freed where this one is.
    fn nested(&self, py: Python<'_>, node: u32, schema: &'static Schema) -> Self {
        Self::freed(self.doc.share(py), node, schema, self.free_off_thread)
    }

    /// The Python value of node `idx` of this chunk's document.
    pub(super) fn value_to_py(
        &self,
        py: Python<'_>,
        idx: u32,
        schema: &'static Schema,
    ) -> PyResult<Py<PyAny>> {
        node_to_py(py, &self.doc, self.free_off_thread, idx, schema)
    }

    /// The Python value of member value node `v`, read as attribute `attr`: a
    /// nested chunk (or `choices`' one chunk) read before is the same object again.
    pub(super) fn member_to_py(&self, py: Python<'_>, v: u32, attr: &str) -> PyResult<Py<PyAny>> {
        let doc = &self.doc;
        let node = doc.node(v);
        // The one object of a one-element array: `choices` in every n=1 stream.
        let (target, in_list) = match node.kind {
            Kind::Object => (v, false),
            Kind::Array if node.len == 1 && doc.node(v + 1).kind == Kind::Object => (v + 1, true),
            // Only containers need their schema: a scalar (`content`) skips the lookup.
            Kind::Array => return self.value_to_py(py, v, self.schema.child(attr)),
            _ => return scalar(py, doc, v),
        };
        let object = match self.kept.get(py, v) {
            Some(o) => o,
            None => {
                let schema = self.schema.child(attr);
                let o = new_object(py, self.nested(py, target, schema))?.into_any();
                self.kept.offer(v, &o);
                o
            }
        };
        if in_list {
            new_list(py, 1, |_| Ok(object.clone().unbind()))
        } else {
            Ok(object.unbind())
        }
    }

    /// How many chunk objects hold this chunk's document, and how many `Arc`
    /// references it has (the holders' one and any other): `_doc_refs`, for tests.
    pub(super) fn doc_refs(&self) -> (u32, usize) {
        let doc = self.doc.to_arc();
        (doc.holders.load(Relaxed), Arc::strong_count(&doc) - 1)
    }

    /// This object's JSON text exactly as received.
    pub fn json_text(&self) -> &str {
        self.doc.json_text(self.node)
    }
}
/// A Python object for one tape node, for attribute and item access.
pub fn to_py(
    py: Python<'_>,
    doc: Arc<Doc>,
    idx: u32,
    schema: &'static Schema,
) -> PyResult<Py<PyAny>> {
    node_to_py(py, &DocRef::adopt(py, doc), false, idx, schema)
}

/// Node `idx` of `doc` as a Python object; chunks made from it are freed off the Python
/// thread if `off_thread` (a stream's document).
fn node_to_py(
    py: Python<'_>,
    doc: &DocRef,
    off_thread: bool,
    idx: u32,
    schema: &'static Schema,
) -> PyResult<Py<PyAny>> {
    let node = doc.node(idx);
    match node.kind {
        Kind::Object => {
            let chunk = Chunk::freed(doc.share(py), idx, schema, off_thread);
            Ok(new_object(py, chunk)?.into_any().unbind())
        }
        Kind::Array => {
            let mut elements = doc.elements(idx);
            new_list(py, node.len as usize, |_| {
                let e = elements.next().expect("an array node's length");
                node_to_py(py, doc, off_thread, e, schema)
            })
        }
        _ => scalar(py, doc, idx),
    }
}

/// A list of `len` items made by `item(i)`, filled in place: no intermediate
/// Vec on this hot path (`choices`).
fn new_list(
    py: Python<'_>,
    len: usize,
    mut item: impl FnMut(usize) -> PyResult<Py<PyAny>>,
) -> PyResult<Py<PyAny>> {
    // SAFETY: the list is new and `len` long; each index below `len` is set exactly
    // once, and a list whose filling fails midway is dropped (its unset slots are NULL,
    // which list deallocation allows).
    unsafe {
        let list = Bound::from_owned_ptr_or_err(py, ffi::PyList_New(len as ffi::Py_ssize_t))?;
        for i in 0..len {
            let value = item(i)?;
            // Both steal the item; the limited API has only the checked call
            // (which cannot fail here: a list, and an index below its length).
            #[cfg(not(feature = "abi3"))]
            ffi::PyList_SET_ITEM(list.as_ptr(), i as ffi::Py_ssize_t, value.into_ptr());
            #[cfg(feature = "abi3")]
            ffi::PyList_SetItem(list.as_ptr(), i as ffi::Py_ssize_t, value.into_ptr());
        }
        Ok(list.unbind())
    }
}

/// The Python value of a whole parsed document (the root node).
pub fn doc_to_py(py: Python<'_>, doc: Arc<Doc>, schema: &'static Schema) -> PyResult<Py<PyAny>> {
    root_to_py(py, Chunk::freed(DocRef::adopt(py, doc), 0, schema, false))
}

/// The same for a stream's chunk, whose document a tokio thread made: freed there too.
pub fn stream_doc_to_py(
    py: Python<'_>,
    doc: Arc<Doc>,
    schema: &'static Schema,
) -> PyResult<Py<PyAny>> {
    root_to_py(py, Chunk::freed(DocRef::adopt(py, doc), 0, schema, true))
}

fn root_to_py(py: Python<'_>, root: Chunk) -> PyResult<Py<PyAny>> {
    match root.doc.node(0).kind {
        Kind::Object => Ok(new_object(py, root)?.into_any().unbind()),
        _ => node_to_py(py, &root.doc, root.free_off_thread, 0, &ANY),
    }
}
