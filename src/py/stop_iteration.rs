//! One `StopIteration` object, raised again for each ready chunk of `async for` on
//! CPython 3.12 and 3.13.
//!
//! A `_Ready` step ends by raising `StopIteration(chunk)` on the CPython versions that
//! step an awaitable through `tp_iternext` (`ready.rs`). Up to 3.11 the interpreter
//! keeps that exception unmade (a type and a value) and `_PyGen_FetchStopIterationValue`
//! takes the value from the pair. From 3.12 every exception set is made at once: an
//! exception object and its `args` tuple, both allocated and tracked by the collector,
//! then read for `value`, untracked and freed in the same instruction (`SEND`): the
//! largest cost left in a ready chunk's `async for` step there.
//!
//! So on 3.12 and 3.13 the object is made once and raised again with its `value` and `args[0]`
//! replaced (it reads as `StopIteration(value)` would: `args`, `repr`, copies and pickles
//! carry the value), but only while nothing else can see it: its only reference and its
//! `args` tuple's are this module's (everything that kept either, to read it or add to
//! it, made its own reference) and its fields are the ones it was made with (no
//! traceback, context, cause, notes or `__dict__` added while someone held it).
//! Otherwise a new one is made and the old one left to whoever holds it. Inside an
//! `except` block a new one is made too: the interpreter chains the handled exception
//! as its `__context__` only when it makes the exception itself. `value` and `args` are
//! fields of `PyStopIterationObject`, outside the limited API: their places are found
//! once, on an exception made with a marker value, and the reuse is off unless each is
//! found exactly once (the plain `PyErr_SetObject` then, as before).
//!
//! Only a step of an awaitable nothing else holds reuses it (`await`, `async for`: the
//! awaitable's one reference is then the interpreter's stack, dropped right after the
//! step; also `next(x.__anext__())` on a temporary, let go of at once). A `_Ready` that
//! Python code holds (`aw = ...; next(aw)`), and any `send()`, raise a new one: that
//! exception travels up frames, gets their traceback, and may keep the awaitable with it. Not on 3.14,
//! which borrows a local's reference on the stack (a count of 1 no longer tells the two
//! apart) and caches tuple hashes (`args` changed in place would keep a stale one).
//!
//! The value is held until its `_Ready` is freed ([`forget`]): then the object lets go
//! of it, or, if someone still holds the object (a step raised where Python code caught
//! it), the module lets go of the object, so no chunk outlives its step here.
//!
//! Freeing what a raise replaces (the previous value, an object someone else kept) can
//! run code that steps another `_Ready`: it is freed only once the raise is set, when
//! the thread state holds the object and such a step makes its own.

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicPtr, AtomicUsize};

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

/// At most this many pointer-sized words in the object's header between `PyObject_HEAD`
/// and `value` (3.12 and 3.13 have seven: `dict`, `args`, `notes`, `traceback`,
/// `context`, `cause`, `suppress_context`).
const MAX_WORDS: usize = 16;

struct Layout {
    /// Byte offset of `value`.
    value_at: usize,
    /// Byte offset of `args`.
    args_at: usize,
    /// The header words between `PyObject_HEAD` and `value` of a fresh object (`args`'
    /// word, its own tuple in each, is compared with `ARGS` instead).
    clean: [usize; MAX_WORDS],
    words: usize,
}

/// `None`: not reused (outside 3.12 and 3.13, or a field not found).
static LAYOUT: PyOnceLock<Option<Layout>> = PyOnceLock::new();

/// The object raised again (a reference of this module's) and its `args` tuple (borrowed:
/// the object's own, valid only while the object's `args` field still points at it, which
/// [`untouched`] compares before it reads the tuple); only touched with the GIL held, which
/// orders the loads and stores (atomic only to be `static`s).
static CURRENT: AtomicPtr<ffi::PyObject> = AtomicPtr::new(ptr::null_mut());
static ARGS: AtomicPtr<ffi::PyObject> = AtomicPtr::new(ptr::null_mut());
/// Objects made to be raised again (tests: one for many steps).
static MADE: AtomicUsize = AtomicUsize::new(0);

const HEAD: usize = std::mem::size_of::<ffi::PyObject>();
const WORD: usize = std::mem::size_of::<usize>();

fn layout(py: Python<'_>) -> Option<&'static Layout> {
    LAYOUT
        .get_or_init(py, || {
            // 3.14 borrows a local's reference on the stack (`LOAD_FAST_BORROW`): a count
            // of 1 would no longer tell the interpreter's own step from Python's
            // `next(aw)`; and it caches a tuple's hash, which `args` changing in place
            // would leave stale. Not reused there until measured and checked on it.
            if !((3, 12)..(3, 14)).contains(&(py.version_info().major, py.version_info().minor)) {
                return None;
            }
            find_layout(py).ok().flatten()
        })
        .as_ref()
}

/// Where `value` and `args` are: the one header word holding a marker given as the
/// value, and the one holding the `args` tuple.
fn find_layout(py: Python<'_>) -> PyResult<Option<Layout>> {
    let stop = py.get_type::<pyo3::exceptions::PyStopIteration>();
    let size: usize = stop.getattr("__basicsize__")?.extract()?;
    if size <= HEAD || size > HEAD + MAX_WORDS * WORD + WORD {
        return Ok(None);
    }
    let marker = pyo3::types::PyList::empty(py);
    let with_marker = stop.call1((&marker,))?;
    let args = with_marker.getattr("args")?;
    let fresh = stop.call1((py.None(),))?;
    // SAFETY: both are live `StopIteration` instances of `size` bytes; words are read
    // within that size, at pointer alignment (an object's start is aligned).
    let words = |o: &Bound<'_, PyAny>| -> Vec<(usize, usize)> {
        let base = o.as_ptr().cast::<u8>();
        (HEAD..size - WORD + 1)
            .step_by(WORD)
            .map(|at| (at, unsafe { base.add(at).cast::<usize>().read() }))
            .collect()
    };
    let holding = |o: &Bound<'_, PyAny>, x: &Bound<'_, PyAny>| -> Vec<usize> {
        words(o)
            .into_iter()
            .filter(|&(_, w)| w == x.as_ptr() as usize)
            .map(|(at, _)| at)
            .collect()
    };
    let ([value_at], [args_at]) = (
        &holding(&with_marker, &marker)[..],
        &holding(&with_marker, &args)[..],
    ) else {
        return Ok(None);
    };
    let (value_at, args_at) = (*value_at, *args_at);
    if args_at >= value_at
        || !with_marker.getattr("value")?.is(&marker)
        || !fresh.getattr("value")?.is_none()
    {
        return Ok(None);
    }
    let n = (value_at - HEAD) / WORD;
    let mut clean = [0usize; MAX_WORDS];
    for (i, (at, w)) in words(&fresh).into_iter().take(n).enumerate() {
        clean[i] = if at == args_at { 0 } else { w };
    }
    Ok(Some(Layout {
        value_at,
        args_at,
        clean,
        words: n,
    }))
}

/// A word of `exc` at byte offset `at`.
///
/// # Safety
/// `exc` is a live `StopIteration` of `layout`'s shape; `at` is one of its fields.
unsafe fn field(exc: *mut ffi::PyObject, at: usize) -> *mut *mut ffi::PyObject {
    unsafe { exc.cast::<u8>().add(at).cast() }
}

/// Whether `exc` (with `args`) is a `StopIteration` nothing else holds or changed since
/// it was made. The `args` field is compared first: `args` is read only if it is still
/// the object's (Python code can replace it, freeing the old tuple).
///
/// # Safety
/// `exc` is a live `StopIteration` of `layout`'s shape, made by `fresh` with `args`.
unsafe fn untouched(exc: *mut ffi::PyObject, args: *mut ffi::PyObject, layout: &Layout) -> bool {
    unsafe {
        if ffi::Py_REFCNT(exc) != 1
            || *field(exc, layout.args_at) != args
            || ffi::Py_REFCNT(args) != 1
            // `value` and `args[0]` are set together; Python code can set `value` alone.
            || ffi::PyTuple_GetItem(args, 0) != *field(exc, layout.value_at)
        {
            return false;
        }
        let base = exc.cast::<u8>().add(HEAD).cast::<usize>();
        (0..layout.words)
            .all(|i| HEAD + i * WORD == layout.args_at || base.add(i).read() == layout.clean[i])
    }
}

/// Raises `StopIteration(value)` for a step of `ready`: the one object again on 3.12 and 3.13,
/// where it can be.
///
/// Only for a `_Ready` whose one reference is its caller's: the interpreter's own step
/// (`await`, `async for`: the awaitable is on the stack alone, dropped right after the
/// step, so [`forget`] runs at once). A `_Ready` that Python code holds is stepped from
/// Python (`next(aw.__await__())`), where the exception travels up frames, gets their
/// traceback and may be kept; and the awaitable it holds may be kept by that traceback,
/// so [`forget`] would not come: a new object then, as before.
///
/// # Safety
/// The GIL is held; `ready` is a live `_Ready` holding `value`, and calls [`forget`]
/// with it when freed.
pub(crate) unsafe fn raise(ready: *mut ffi::PyObject, value: *mut ffi::PyObject) {
    // SAFETY: the caller holds the GIL.
    let py = unsafe { Python::assume_attached() };
    match layout(py) {
        // SAFETY: as the caller's.
        Some(layout) if unsafe { ffi::Py_REFCNT(ready) == 1 && !handling() } => unsafe {
            raise_again(value, layout)
        },
        // SAFETY: as the caller's.
        _ => unsafe { raise_new(value) },
    }
}

/// Whether an exception is being handled (an `except` block up the stack): one raised
/// now gets it as its `__context__`, which only a new one set by the interpreter does.
///
/// # Safety
/// The GIL is held.
unsafe fn handling() -> bool {
    let (mut t, mut v, mut tb) = (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
    // SAFETY: the caller holds the GIL; the three are new references (or null), given
    // back at once (the thread's exception state still holds them).
    unsafe {
        ffi::PyErr_GetExcInfo(&mut t, &mut v, &mut tb);
        let handled = !v.is_null() && v != ffi::Py_None();
        ffi::Py_XDECREF(t);
        ffi::Py_XDECREF(v);
        ffi::Py_XDECREF(tb);
        handled
    }
}

/// `StopIteration(value)` set straight in the interpreter (it takes the value as is; a
/// tuple or an exception would be taken for its arguments, so those are wrapped, as the
/// interpreter's own `_PyGen_SetStopIterationValue` does).
///
/// # Safety
/// The GIL is held; `value` is a live object.
pub(crate) unsafe fn raise_new(value: *mut ffi::PyObject) {
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

/// A new object to raise again (`StopIteration(None)`), with its `args`; `None` if it
/// could not be made as expected (its error, if any, left set).
///
/// # Safety
/// The GIL is held.
unsafe fn fresh(layout: &Layout) -> Option<(*mut ffi::PyObject, *mut ffi::PyObject)> {
    unsafe {
        let args = ffi::PyTuple_Pack(1, ffi::Py_None());
        if args.is_null() {
            return None;
        }
        let exc = ffi::PyObject_CallObject(ffi::PyExc_StopIteration, args);
        ffi::Py_DECREF(args);
        if exc.is_null() {
            return None;
        }
        let args = *field(exc, layout.args_at);
        if args.is_null() || !untouched(exc, args, layout) {
            // Not the shape found at first (cannot happen on one interpreter).
            ffi::Py_DECREF(exc);
            return None;
        }
        Some((exc, args))
    }
}

/// # Safety
/// As [`raise`]'s, with `layout` the one found.
#[allow(deprecated)] // PyErr_Restore: the call every version has (3.12 adds another).
unsafe fn raise_again(value: *mut ffi::PyObject, layout: &Layout) {
    unsafe {
        let mut exc = CURRENT.load(Relaxed);
        let mut args = ARGS.load(Relaxed);
        let mut replaced = ptr::null_mut();
        if exc.is_null() || !untouched(exc, args, layout) {
            let Some((new_exc, new_args)) = fresh(layout) else {
                if !ffi::PyErr_Occurred().is_null() {
                    return; // the error of making it is raised instead
                }
                return raise_new(value);
            };
            // The old one stays with its holders; this module's reference goes below.
            replaced = exc;
            (exc, args) = (new_exc, new_args);
            MADE.fetch_add(1, Relaxed);
            CURRENT.store(exc, Relaxed);
            ARGS.store(args, Relaxed);
        }
        // `value` and `args[0]` always hold the same object: the slot's reference to the
        // old one is kept until the end, so the tuple's release of it frees nothing.
        let slot = field(exc, layout.value_at);
        let old = *slot;
        ffi::Py_INCREF(value);
        *slot = value;
        ffi::Py_INCREF(value);
        ffi::PyTuple_SetItem(args, 0, value);
        // Raised as already made (`PyErr_Restore` of its own type keeps the object);
        // both references are the interpreter's until it fetches and drops them.
        ffi::Py_INCREF(exc);
        ffi::Py_INCREF(ffi::PyExc_StopIteration);
        ffi::PyErr_Restore(ffi::PyExc_StopIteration, exc, ptr::null_mut());
        // Last: these frees may run code, which now finds the object held.
        ffi::Py_XDECREF(replaced);
        ffi::Py_XDECREF(old);
    }
}

/// `value`'s `_Ready` is being freed: if the object, untouched, holds `value`, it lets go
/// of it; if it is held or changed elsewhere, the module lets go of the object.
///
/// # Safety
/// The GIL is held; `value` is a live object (its `_Ready` still holds it).
pub(crate) unsafe fn forget(value: *mut ffi::PyObject) {
    let exc = CURRENT.load(Relaxed);
    if exc.is_null() {
        return;
    }
    // SAFETY: the caller holds the GIL; `CURRENT` is set only once `LAYOUT` is, and holds
    // its object. `value` is still its `_Ready`'s, so its releases free nothing; the
    // object, let go of, may be freed (a traceback added while Python code held it):
    // `CURRENT` is cleared first, so code its frees run finds none.
    unsafe {
        let py = Python::assume_attached();
        let Some(Some(layout)) = LAYOUT.get(py) else {
            return;
        };
        let args = ARGS.load(Relaxed);
        if !untouched(exc, args, layout) {
            // Held or changed by someone: the next raise would make a new one anyway, and
            // whatever it holds (this value, perhaps) is its holders' now.
            CURRENT.store(ptr::null_mut(), Relaxed);
            ARGS.store(ptr::null_mut(), Relaxed);
            ffi::Py_DECREF(exc);
            return;
        }
        // Untouched: `value` and `args[0]` are the same object.
        let slot = field(exc, layout.value_at);
        if *slot == value {
            ffi::Py_INCREF(ffi::Py_None());
            *slot = ffi::Py_None();
            ffi::Py_DECREF(value);
            ffi::Py_INCREF(ffi::Py_None());
            ffi::PyTuple_SetItem(args, 0, ffi::Py_None());
        }
    }
}

/// For tests: whether the object is reused here, its address (0 when none), and how
/// many were made.
pub(crate) fn state(py: Python<'_>) -> (bool, usize, usize) {
    (
        layout(py).is_some(),
        CURRENT.load(Relaxed) as *const c_void as usize,
        MADE.load(Relaxed),
    )
}
