//! JSON tape nodes as plain Python values, equal to what `json.loads` gives:
//! `to_plain` for a whole value, `scalar` for one node, `new_str` for text;
//! and `buffer_copy`, the bytes of a buffer-protocol object.
//! The bottom of the bindings: chunks, dumps, stream errors and streams build
//! their values with these, and these need none of them.
//!
//! With the `abi3` feature the extension uses only the stable ABI of CPython 3.9
//! (one wheel for 3.9 and later): what the limited API lacks takes its portable path here.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyList, PyString};
use pyo3::{ffi, IntoPyObjectExt};

use crate::wire::json::{unescape, Doc, Kind};

/// A Python str from UTF-8 text; ASCII text (the usual token) is copied
/// straight into a new compact string instead of going through the decoder.
/// (The limited API has no access to a string's storage: there, the decoder,
/// whose ASCII loop is fast too.)
#[inline]
pub fn new_str(py: Python<'_>, s: &str) -> Py<PyAny> {
    #[cfg(not(feature = "abi3"))]
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

/// Calls `f` with the text of a Python str (a `UnicodeEncodeError` for lone surrogates).
///
/// Borrowed from the str where the API allows. The limited API of 3.9 has no
/// `PyUnicode_AsUTF8AndSize` (it joined the stable ABI in 3.10): `to_cow` there copies
/// through a new `bytes` and a `String`, two allocations on every attribute access (26-36%
/// more per chunk in bench_parse). So an abi3 build looks the function up in the running
/// interpreter: every CPython since 3.3 exports it, with the signature the stable ABI later
/// fixed. Where there is no lookup (Windows, whose abi3 extensions link python3.dll),
/// short ASCII names are copied onto the stack instead, and other text goes through `to_cow`.
#[inline]
pub fn with_text<R>(s: &Bound<'_, PyString>, f: impl FnOnce(&str) -> R) -> PyResult<R> {
    #[cfg(feature = "abi3")]
    {
        if let Some(as_utf8) = abi3_text::as_utf8_and_size() {
            let mut len: ffi::Py_ssize_t = 0;
            // SAFETY: CPython's function (exported since 3.3, in the stable ABI since 3.10),
            // on a str; the text it points to lives as long as `s`.
            let ptr = unsafe { as_utf8(s.as_ptr(), &mut len) };
            if ptr.is_null() {
                return Err(PyErr::fetch(s.py()));
            }
            let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len as usize) };
            // SAFETY: CPython returns UTF-8 (it fails on lone surrogates instead).
            return Ok(f(unsafe { std::str::from_utf8_unchecked(bytes) }));
        }
        if let Some(ascii) = abi3_text::short_ascii(s)? {
            return Ok(f(ascii.as_str()));
        }
        return Ok(f(&s.to_cow()?));
    }
    #[cfg(not(feature = "abi3"))]
    Ok(f(s.to_str()?))
}

#[cfg(feature = "abi3")]
mod abi3_text {
    use super::*;
    use std::sync::OnceLock;

    pub type AsUtf8AndSize =
        unsafe extern "C" fn(*mut ffi::PyObject, *mut ffi::Py_ssize_t) -> *const std::ffi::c_char;

    /// The running interpreter's `PyUnicode_AsUTF8AndSize`, where it can be looked up.
    #[inline]
    pub fn as_utf8_and_size() -> Option<AsUtf8AndSize> {
        static FN: OnceLock<Option<AsUtf8AndSize>> = OnceLock::new();
        *FN.get_or_init(lookup)
    }

    fn lookup() -> Option<AsUtf8AndSize> {
        #[cfg(unix)]
        {
            // SAFETY: a lookup in the symbols the process has loaded (the interpreter's).
            let sym =
                unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"PyUnicode_AsUTF8AndSize".as_ptr()) };
            if !sym.is_null() {
                // SAFETY: the function's signature in the stable ABI.
                return Some(unsafe {
                    std::mem::transmute::<*mut libc::c_void, AsUtf8AndSize>(sym)
                });
            }
        }
        None
    }

    const CAP: usize = 64;

    /// A str of at most `CAP` ASCII characters, on the stack.
    pub struct ShortAscii {
        bytes: [u8; CAP],
        len: usize,
    }

    impl ShortAscii {
        pub fn as_str(&self) -> &str {
            std::str::from_utf8(&self.bytes[..self.len]).expect("ASCII")
        }
    }

    /// The text of a str of at most `CAP` ASCII characters; `None` for any other str.
    #[inline]
    pub fn short_ascii(s: &Bound<'_, PyString>) -> PyResult<Option<ShortAscii>> {
        // SAFETY: `s` is a str; both calls are in the stable ABI (3.7 on) and set an
        // exception when they fail; `AsUCS4` writes at most `CAP` code points.
        let len = unsafe { ffi::PyUnicode_GetLength(s.as_ptr()) };
        if !(0..=CAP as ffi::Py_ssize_t).contains(&len) {
            return Ok(None);
        }
        let len = len as usize;
        let mut wide = [0 as ffi::Py_UCS4; CAP];
        if unsafe { ffi::PyUnicode_AsUCS4(s.as_ptr(), wide.as_mut_ptr(), CAP as _, 0) }.is_null() {
            return Err(PyErr::fetch(s.py()));
        }
        if !wide[..len].iter().all(|&c| c < 0x80) {
            return Ok(None);
        }
        let mut bytes = [0u8; CAP];
        for (b, &c) in bytes.iter_mut().zip(&wide[..len]) {
            *b = c as u8;
        }
        Ok(Some(ShortAscii { bytes, len }))
    }
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

/// A copy, as `bytes`, of an object that exposes a buffer of bytes (a memoryview,
/// contiguous or strided, an `array('B')`, an mmap); `None` for an object that does not,
/// or whose items are not bytes (format `B` or `c`, as `PyBuffer::<u8>` takes).
/// Through `memoryview()`: the limited API has `PyObject_GetBuffer` only from 3.11.
pub fn buffer_copy<'py>(obj: &Bound<'py, PyAny>) -> Option<PyResult<Bound<'py, PyBytes>>> {
    let py = obj.py();
    // SAFETY: both calls return a new reference or NULL with an exception set.
    let view =
        unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyMemoryView_FromObject(obj.as_ptr())) };
    let Ok(view) = view else {
        return None; // not a buffer: the caller's TypeError
    };
    let bytes_items = view.getattr("format").is_ok_and(|f| {
        f.cast::<PyString>().is_ok_and(|f| {
            f.to_cow()
                .is_ok_and(|f| matches!(f.trim_start_matches(['@', '=', '<', '>', '!']), "B" | "c"))
        })
    });
    if !bytes_items {
        return None;
    }
    let copy = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyBytes_FromObject(view.as_ptr())) };
    Some(copy.map(|b| unsafe { b.cast_into_unchecked::<PyBytes>() }))
}

fn json_loads(py: Python<'_>, text: &str) -> PyResult<Py<PyAny>> {
    static LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let loads = LOADS.get_or_try_init(py, || {
        py.import("json")?.getattr("loads").map(Bound::unbind)
    })?;
    loads.call1(py, (text,))
}
