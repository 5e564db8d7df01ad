//! Chunk objects: JSON objects parsed in Rust and read lazily from Python.
//!
//! A chunk holds its document (source text plus tape) and a node index;
//! attribute or item access turns just the value asked for into a Python
//! object. Objects become `Chunk`s, arrays lists, the rest plain scalars.
//!
//! Here: the type and that conversion. Its Python methods are in
//! `chunk_methods.rs`, above `event.rs`: a chunk pickles as an `Event`,
//! and `Event.json()` makes chunks.

use std::sync::Arc;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use super::values::scalar;
use crate::providers::openai::schema::{Schema, ANY};
use crate::wire::json::{Doc, Kind};

// A stream makes and drops a few chunk objects per chunk (the root, `choices[0]`,
// `delta`): a free list skips the allocator's round trip for each (measured in
// docs/performance.md, "Issue #18").
#[pyclass(frozen, freelist = 64, module = "sserpent", name = "Chunk")]
pub struct Chunk {
    pub(super) doc: Arc<Doc>,
    pub(super) node: u32,
    pub(super) schema: &'static Schema,
    /// The first nested object (or array of objects) read from this one by attribute.
    kept: PyOnceLock<Kept>,
}

/// A member's Python objects, made once. Code that reads a path twice, as the
/// openai SDK's own example does (`if chunk.choices[0].delta.content is not None:
/// print(chunk.choices[0].delta.content)`), gets the same `choices[0]` and `delta`
/// again instead of new ones, as a pydantic model would give them. Only chunks are
/// kept, never a list a caller could change: chunks are immutable and hold only
/// chunks, so what is kept can never form a reference cycle.
struct Kept {
    /// The member's value node.
    node: u32,
    /// The object itself, or an array's elements (the array read again is a new
    /// list of the same chunks).
    objects: KeptObjects,
}

enum KeptObjects {
    Object(Py<PyAny>),
    Elements(Box<[Py<PyAny>]>),
}

impl Chunk {
    pub fn new(doc: Arc<Doc>, node: u32, schema: &'static Schema) -> Self {
        Chunk {
            doc,
            node,
            schema,
            kept: PyOnceLock::new(),
        }
    }

    /// The Python value of member value node `v` for attribute access: a nested
    /// chunk, or a list of chunks, read before is the same object(s) again.
    pub(super) fn member_to_py(
        &self,
        py: Python<'_>,
        v: u32,
        schema: &'static Schema,
    ) -> PyResult<Py<PyAny>> {
        let node = self.doc.node(v);
        if !matches!(node.kind, Kind::Object | Kind::Array) {
            return scalar(py, &self.doc, v);
        }
        if let Some(kept) = self.kept.get(py) {
            if kept.node != v {
                return to_py(py, &self.doc, v, schema);
            }
            return match &kept.objects {
                KeptObjects::Object(o) => Ok(o.clone_ref(py)),
                KeptObjects::Elements(items) => {
                    new_list(py, items.len(), |i| Ok(items[i].clone_ref(py)))
                }
            };
        }
        if node.kind == Kind::Object {
            let o: Py<PyAny> = Py::new(py, Chunk::new(self.doc.clone(), v, schema))?.into_any();
            let _ = self.kept.set(
                py,
                Kept {
                    node: v,
                    objects: KeptObjects::Object(o.clone_ref(py)),
                },
            );
            return Ok(o);
        }
        if !self
            .doc
            .elements(v)
            .all(|e| self.doc.node(e).kind == Kind::Object)
        {
            return to_py(py, &self.doc, v, schema);
        }
        let items = self
            .doc
            .elements(v)
            .map(|e| Ok(Py::new(py, Chunk::new(self.doc.clone(), e, schema))?.into_any()))
            .collect::<PyResult<Box<[Py<PyAny>]>>>()?;
        let list = new_list(py, items.len(), |i| Ok(items[i].clone_ref(py)))?;
        let _ = self.kept.set(
            py,
            Kept {
                node: v,
                objects: KeptObjects::Elements(items),
            },
        );
        Ok(list)
    }

    pub fn doc(&self) -> &Arc<Doc> {
        &self.doc
    }

    /// This object's JSON text exactly as received.
    pub fn json_text(&self) -> &str {
        self.doc.json_text(self.node)
    }
}

/// A Python object for one tape node, for attribute and item access.
pub fn to_py(
    py: Python<'_>,
    doc: &Arc<Doc>,
    idx: u32,
    schema: &'static Schema,
) -> PyResult<Py<PyAny>> {
    let node = doc.node(idx);
    match node.kind {
        Kind::Object => Ok(Py::new(py, Chunk::new(doc.clone(), idx, schema))?.into_any()),
        Kind::Array => {
            let mut elements = doc.elements(idx);
            new_list(py, node.len as usize, |_| {
                let e = elements.next().expect("an array node's length");
                to_py(py, doc, e, schema)
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
    match doc.node(0).kind {
        Kind::Object => Ok(Py::new(py, Chunk::new(doc, 0, schema))?.into_any()),
        _ => to_py(py, &doc, 0, &ANY),
    }
}
