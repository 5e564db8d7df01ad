//! JSON tape nodes as plain Python values, equal to what `json.loads` gives:
//! `to_plain` for a whole value, `scalar` for one node, `new_str` for text.
//! The bottom of the bindings: chunks, dumps, stream errors and streams build
//! their values with these, and these need none of them.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyList, PyString};
use pyo3::{ffi, IntoPyObjectExt};

use crate::wire::json::{unescape, Doc, Kind};

/// A Python str from UTF-8 text; ASCII text (the usual token) is copied
/// straight into a new compact string instead of going through the decoder.
#[inline]
pub fn new_str(py: Python<'_>, s: &str) -> Py<PyAny> {
    if s.is_ascii() {
        unsafe {
            let obj = ffi::PyUnicode_New(s.len() as ffi::Py_ssize_t, 127);
            if !obj.is_null() {
                std::ptr::copy_nonoverlapping(s.as_ptr(), ffi::PyUnicode_1BYTE_DATA(obj), s.len());
                return Bound::from_owned_ptr(py, obj).unbind();
            }
            ffi::PyErr_Clear();
        }
    }
    PyString::new(py, s).into_any().unbind()
}

/// Plain Python data (dicts, lists, scalars) equal to `json.loads` of the node.
pub fn to_plain<'py>(py: Python<'py>, doc: &Doc, idx: u32) -> PyResult<Bound<'py, PyAny>> {
    let node = doc.node(idx);
    match node.kind {
        Kind::Object => {
            let dict = PyDict::new(py);
            for (k, v) in doc.members(idx) {
                dict.set_item(scalar(py, doc, k)?, to_plain(py, doc, v)?)?;
            }
            Ok(dict.into_any())
        }
        Kind::Array => {
            let items = doc
                .elements(idx)
                .map(|e| to_plain(py, doc, e))
                .collect::<PyResult<Vec<_>>>()?;
            Ok(PyList::new(py, items)?.into_any())
        }
        _ => Ok(scalar(py, doc, idx)?.into_bound(py)),
    }
}

pub(crate) fn scalar(py: Python<'_>, doc: &Doc, idx: u32) -> PyResult<Py<PyAny>> {
    let node = doc.node(idx);
    let raw = doc.raw(idx);
    match node.kind {
        Kind::Null => Ok(py.None()),
        Kind::True => Ok(PyBool::new(py, true).to_owned().into_any().unbind()),
        Kind::False => Ok(PyBool::new(py, false).to_owned().into_any().unbind()),
        Kind::Int => match raw.parse::<i64>() {
            Ok(v) => v.into_py_any(py),
            Err(_) => big_int(py, raw),
        },
        Kind::Float => {
            let v: f64 = raw
                .parse()
                .map_err(|_| PyValueError::new_err(format!("invalid number {raw}")))?;
            Ok(PyFloat::new(py, v).into_any().unbind())
        }
        Kind::Str => {
            if !node.escaped {
                return Ok(new_str(py, raw));
            }
            match unescape(raw) {
                Some(s) => Ok(PyString::new(py, &s).into_any().unbind()),
                // Lone surrogates: only Python's own decoder can represent them.
                None => json_loads(py, doc.json_text(idx)),
            }
        }
        Kind::Array | Kind::Object => to_plain(py, doc, idx).map(Bound::unbind),
    }
}

fn big_int(py: Python<'_>, raw: &str) -> PyResult<Py<PyAny>> {
    let c = std::ffi::CString::new(raw).map_err(|e| PyValueError::new_err(e.to_string()))?;
    unsafe {
        let ptr = ffi::PyLong_FromString(c.as_ptr(), std::ptr::null_mut(), 10);
        Bound::from_owned_ptr_or_err(py, ptr).map(Bound::unbind)
    }
}

fn json_loads(py: Python<'_>, text: &str) -> PyResult<Py<PyAny>> {
    static LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let loads = LOADS.get_or_try_init(py, || {
        py.import("json")?.getattr("loads").map(Bound::unbind)
    })?;
    loads.call1(py, (text,))
}
