//! One `StopIteration` object, raised again for each ready chunk of `async for` on
//! CPython 3.12 and later.
//!
//! A `_Ready` step ends by raising `StopIteration(chunk)` on the CPython versions that
//! step an awaitable through `tp_iternext` (`ready.rs`). Up to 3.11 the interpreter
//! keeps that exception unmade (a type and a value) and `_PyGen_FetchStopIterationValue`
//! takes the value from the pair. From 3.12 every exception set is made at once: an
//! exception object and its `args` tuple, both allocated and tracked by the collector,
//! then read for `value`, untracked and freed in the same instruction (`SEND`): the
//! largest cost left in a ready chunk's `async for` step there.
//!
//! So on 3.12+ the object is made once and raised again with its `value` replaced, but
//! only while nothing else can see it: its only reference is this module's (everything
//! that kept it, to read it or add to it, made its own reference) and its fields are
//! the ones it was made with (no traceback, context, cause, notes or `__dict__` added
//! while someone held it). Otherwise a new one is made and the old one left to whoever
//! holds it. `value` is a field of `PyStopIterationObject`, outside the limited API:
//! its place is found once, on an exception made with a marker value, and the reuse is
//! off if it is not found exactly once (the plain `PyErr_SetObject` then, as before).
//!
//! The value is a strong reference, given back when its `_Ready` is freed
//! ([`forget`]), so no chunk outlives its step here.

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::AtomicPtr;
use std::sync::atomic::Ordering::Relaxed;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

/// Pointer-sized words of the object's header before `value` (after `PyObject_HEAD`):
/// `dict`, `args`, `notes`, `traceback`, `context`, `cause`, `suppress_context`, as a
/// fresh `StopIteration()` has them; a raised object must still have them to be reused.
const MAX_WORDS: usize = 16;

struct Layout {
    /// Byte offset of `value`.
    value_at: usize,
    /// The header words between `PyObject_HEAD` and `value` of a fresh `StopIteration()`.
    clean: [usize; MAX_WORDS],
    words: usize,
}

/// `None`: not reused (before 3.12, or `value` not found).
static LAYOUT: PyOnceLock<Option<Layout>> = PyOnceLock::new();

/// The object raised again; only touched with the GIL held, which orders the loads and
/// stores (atomic only to be a `static`).
static CURRENT: AtomicPtr<ffi::PyObject> = AtomicPtr::new(ptr::null_mut());

const HEAD: usize = std::mem::size_of::<ffi::PyObject>();
const WORD: usize = std::mem::size_of::<usize>();

fn layout(py: Python<'_>) -> Option<&'static Layout> {
    LAYOUT
        .get_or_init(py, || {
            if py.version_info() < (3, 12) {
                return None;
            }
            find_layout(py).ok().flatten()
        })
        .as_ref()
}

/// Where `value` is: the one header word holding a marker given as the value.
fn find_layout(py: Python<'_>) -> PyResult<Option<Layout>> {
    let stop = py.get_type::<pyo3::exceptions::PyStopIteration>();
    let size: usize = stop.getattr("__basicsize__")?.extract()?;
    if size <= HEAD || size > HEAD + MAX_WORDS * WORD + WORD {
        return Ok(None);
    }
    let marker = pyo3::types::PyList::empty(py);
    let with_marker = stop.call1((&marker,))?;
    let fresh = stop.call0()?;
    // SAFETY: both are live `StopIteration` instances of `size` bytes; words are read
    // within that size, at pointer alignment (an object's start is aligned).
    let (found, clean) = unsafe {
        let words = |o: &Bound<'_, PyAny>| {
            let base = o.as_ptr().cast::<u8>();
            (HEAD..size - WORD + 1)
                .step_by(WORD)
                .map(move |at| (at, base.add(at).cast::<usize>().read()))
        };
        let found: Vec<usize> = words(&with_marker)
            .filter(|&(_, w)| w == marker.as_ptr() as usize)
            .map(|(at, _)| at)
            .collect();
        let clean: Vec<usize> = words(&fresh).map(|(_, w)| w).collect();
        (found, clean)
    };
    let [value_at] = found[..] else {
        return Ok(None);
    };
    if !with_marker.getattr("value")?.is(&marker) || !fresh.getattr("value")?.is_none() {
        return Ok(None);
    }
    let n = (value_at - HEAD) / WORD;
    let mut words = [0usize; MAX_WORDS];
    words[..n].copy_from_slice(&clean[..n]);
    Ok(Some(Layout {
        value_at,
        clean: words,
        words: n,
    }))
}

/// Whether `exc` is a `StopIteration` nothing else holds or changed since it was made.
///
/// # Safety
/// `exc` is a live `StopIteration` of `layout`'s shape.
unsafe fn untouched(exc: *mut ffi::PyObject, layout: &Layout) -> bool {
    unsafe {
        if ffi::Py_REFCNT(exc) != 1 {
            return false;
        }
        let base = exc.cast::<u8>().add(HEAD).cast::<usize>();
        (0..layout.words).all(|i| base.add(i).read() == layout.clean[i])
    }
}

/// The `value` field of `exc`.
///
/// # Safety
/// `exc` is a live `StopIteration` of `layout`'s shape.
unsafe fn value_slot(exc: *mut ffi::PyObject, layout: &Layout) -> *mut *mut ffi::PyObject {
    unsafe { exc.cast::<u8>().add(layout.value_at).cast() }
}

/// Raises `StopIteration(value)`: the one object again on 3.12+, where it can be.
///
/// # Safety
/// The GIL is held; `value` is a live object that stays alive until [`forget`] is
/// called with it (its `_Ready`'s lifetime), or the call returns on the plain path.
pub(crate) unsafe fn raise(value: *mut ffi::PyObject) {
    // SAFETY: the caller holds the GIL.
    let py = unsafe { Python::assume_attached() };
    match layout(py) {
        // SAFETY: as the caller's.
        Some(layout) => unsafe { raise_again(value, layout) },
        // SAFETY: as the caller's.
        None => unsafe { raise_new(value) },
    }
}

/// `StopIteration(value)` set straight in the interpreter (it takes the value as is; a
/// tuple or an exception would be taken for its arguments, so those are wrapped, as the
/// interpreter's own `_PyGen_SetStopIterationValue` does).
///
/// # Safety
/// The GIL is held; `value` is a live object.
unsafe fn raise_new(value: *mut ffi::PyObject) {
    unsafe {
        if ffi::PyTuple_Check(value) != 0 || ffi::PyExceptionInstance_Check(value) != 0 {
            let args = ffi::PyTuple_Pack(1, value);
            if !args.is_null() {
                ffi::PyErr_SetObject(ffi::PyExc_StopIteration, args);
                ffi::Py_DECREF(args);
            }
        } else {
            ffi::PyErr_SetObject(ffi::PyExc_StopIteration, value);
        }
    }
}

/// # Safety
/// As [`raise`]'s, with `layout` the one found.
unsafe fn raise_again(value: *mut ffi::PyObject, layout: &Layout) {
    unsafe {
        let mut exc = CURRENT.load(Relaxed);
        if exc.is_null() || !untouched(exc, layout) {
            let fresh = ffi::PyObject_CallObject(ffi::PyExc_StopIteration, ptr::null_mut());
            if fresh.is_null() {
                return; // the error of making it is raised instead
            }
            if !untouched(fresh, layout) {
                // Not the shape found at first (cannot happen on one interpreter): plain.
                ffi::Py_DECREF(fresh);
                raise_new(value);
                return;
            }
            CURRENT.store(fresh, Relaxed);
            if !exc.is_null() {
                // Its holders keep it; its value is given back when they let it go.
                ffi::Py_DECREF(exc);
            }
            exc = fresh;
        }
        let slot = value_slot(exc, layout);
        let old = *slot;
        ffi::Py_INCREF(value);
        *slot = value;
        // Raised as already made (`PyErr_Restore` of its own type keeps the object);
        // both references are the interpreter's until it fetches and drops them.
        ffi::Py_INCREF(exc);
        ffi::Py_INCREF(ffi::PyExc_StopIteration);
        ffi::PyErr_Restore(ffi::PyExc_StopIteration, exc, ptr::null_mut());
        // Last: freeing the old value runs no Python code before the raise is set.
        ffi::Py_XDECREF(old);
    }
}

/// `value`'s `_Ready` is being freed: the object gives its reference back if it still
/// holds `value` and nothing else holds the object (a holder reads `value` as raised).
///
/// # Safety
/// The GIL is held; `value` is a live object.
pub(crate) unsafe fn forget(value: *mut ffi::PyObject) {
    let exc = CURRENT.load(Relaxed);
    if exc.is_null() {
        return;
    }
    // SAFETY: the caller holds the GIL; `CURRENT` is set only once `LAYOUT` is.
    unsafe {
        let py = Python::assume_attached();
        let Some(Some(layout)) = LAYOUT.get(py) else {
            return;
        };
        if ffi::Py_REFCNT(exc) != 1 {
            return;
        }
        let slot = value_slot(exc, layout);
        if *slot == value {
            *slot = ptr::null_mut();
            ffi::Py_DECREF(value);
        }
    }
}

/// For tests: whether the object is reused here, and its address (0 when none yet).
pub(crate) fn state(py: Python<'_>) -> (bool, usize) {
    (
        layout(py).is_some(),
        CURRENT.load(Relaxed) as *const c_void as usize,
    )
}
