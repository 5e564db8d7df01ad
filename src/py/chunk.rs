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

use super::values::scalar;
use crate::providers::openai::schema::{Schema, ANY};
use crate::wire::json::{Doc, Kind};

#[pyclass(frozen, module = "sserpent", name = "Chunk")]
pub struct Chunk {
    pub(super) doc: Arc<Doc>,
    pub(super) node: u32,
    pub(super) schema: &'static Schema,
}

impl Chunk {
    pub fn new(doc: Arc<Doc>, node: u32, schema: &'static Schema) -> Self {
        Chunk { doc, node, schema }
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
            // Filled in place: no intermediate Vec on this hot path (`choices`).
            unsafe {
                let list =
                    Bound::from_owned_ptr_or_err(py, ffi::PyList_New(node.len as ffi::Py_ssize_t))?;
                for (i, e) in doc.elements(idx).enumerate() {
                    let item = to_py(py, doc, e, schema)?;
                    // Both steal the item; the limited API has only the checked call
                    // (which cannot fail here: a list, and an index below its length).
                    #[cfg(not(feature = "abi3"))]
                    ffi::PyList_SET_ITEM(list.as_ptr(), i as ffi::Py_ssize_t, item.into_ptr());
                    #[cfg(feature = "abi3")]
                    ffi::PyList_SetItem(list.as_ptr(), i as ffi::Py_ssize_t, item.into_ptr());
                }
                Ok(list.unbind())
            }
        }
        _ => scalar(py, doc, idx),
    }
}

/// The Python value of a whole parsed document (the root node).
pub fn doc_to_py(py: Python<'_>, doc: Arc<Doc>, schema: &'static Schema) -> PyResult<Py<PyAny>> {
    match doc.node(0).kind {
        Kind::Object => Ok(Py::new(py, Chunk::new(doc, 0, schema))?.into_any()),
        _ => to_py(py, &doc, 0, &ANY),
    }
}
