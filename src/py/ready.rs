//! `_Ready`: the awaitable `__anext__` returns when its chunk is already there, as a type
//! object made here (`PyType_FromSpec`) rather than a pyo3 class.
//!
//! `async for` takes each ready chunk in three steps: `__anext__`, the awaitable's
//! `__await__`, then one step of it. A pyo3 class answers the last two through its
//! trampolines, and can end the step only by raising `StopIteration(chunk)`, which the
//! interpreter then fetches, matches and clears. This type answers `__await__` with
//! itself and the step with `am_send` (CPython 3.10 and 3.11 step an awaitable through
//! it): the chunk comes back as the step's return value, with no exception at all. 3.12
//! on step a non-coroutine through `__next__` (`tp_iternext` here, no trampoline) and 3.9
//! has no `am_send`: there the step raises `StopIteration(chunk)`, set straight in the
//! interpreter (on 3.12 and 3.13, where that makes an exception object each time, one
//! object raised again: `stop_iteration.rs`). `send`, `throw` and `close` keep the
//! coroutine protocol that asyncio uses on an awaitable it wraps in a task.

use std::ffi::{c_int, c_void};
use std::ptr;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyTuple, PyType};

use super::awaitable::thrown;
use super::stop_iteration;

/// The object: the header and one strong reference to the value.
#[repr(C)]
struct ReadyObject {
    ob_base: ffi::PyObject,
    value: *mut ffi::PyObject,
}

static TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// The type, made on first use (`am_send` only where the interpreter has it: 3.10 on).
fn type_object(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    TYPE.get_or_try_init(py, || make_type(py))
        .map(|t| t.bind(py))
}

fn make_type(py: Python<'_>) -> PyResult<Py<PyType>> {
    // `PyType_FromSpec` keeps pointers to the methods table (and the name), not to the
    // spec or the slots: the table is leaked once, the rest lives on this stack frame.
    let methods: &'static mut [ffi::PyMethodDef; 4] = Box::leak(Box::new([
        ffi::PyMethodDef {
            ml_name: c"send".as_ptr(),
            ml_meth: ffi::PyMethodDefPointer {
                PyCFunction: send_method,
            },
            ml_flags: ffi::METH_O,
            ml_doc: ptr::null(),
        },
        ffi::PyMethodDef {
            ml_name: c"throw".as_ptr(),
            ml_meth: ffi::PyMethodDefPointer {
                PyCFunction: throw_method,
            },
            ml_flags: ffi::METH_VARARGS,
            ml_doc: ptr::null(),
        },
        ffi::PyMethodDef {
            ml_name: c"close".as_ptr(),
            ml_meth: ffi::PyMethodDefPointer {
                PyCFunction: close_method,
            },
            ml_flags: ffi::METH_NOARGS,
            ml_doc: ptr::null(),
        },
        ffi::PyMethodDef::zeroed(),
    ]));
    let slot = |slot: c_int, pfunc: *mut c_void| ffi::PyType_Slot { slot, pfunc };
    let mut slots = vec![
        slot(ffi::Py_tp_new, no_new as *mut c_void),
        slot(ffi::Py_tp_dealloc, dealloc as *mut c_void),
        slot(ffi::Py_am_await, itself as *mut c_void),
        slot(ffi::Py_tp_iter, itself as *mut c_void),
        slot(ffi::Py_tp_iternext, next as *mut c_void),
        slot(ffi::Py_tp_methods, methods.as_mut_ptr().cast()),
    ];
    let mut flags = ffi::Py_TPFLAGS_DEFAULT;
    if py.version_info() >= (3, 10) {
        slots.push(slot(ffi::Py_am_send, am_send as *mut c_void));
        // Py_TPFLAGS_IMMUTABLETYPE: its attributes cannot be replaced, as a pyo3 class's.
        flags |= 1 << 8;
    }
    slots.push(slot(0, ptr::null_mut()));
    let mut spec = ffi::PyType_Spec {
        name: c"sserpent._sserpent._Ready".as_ptr(),
        basicsize: std::mem::size_of::<ReadyObject>() as c_int,
        itemsize: 0,
        flags: flags as _,
        slots: slots.as_mut_ptr(),
    };
    // SAFETY: a complete spec whose slots have the signatures CPython calls them with.
    unsafe {
        Bound::from_owned_ptr_or_err(py, ffi::PyType_FromSpec(&mut spec))
            .and_then(|t| Ok(t.cast_into::<PyType>()?.unbind()))
    }
}

/// An awaitable that returns `value` at once.
pub(crate) fn ready(py: Python<'_>, value: Py<PyAny>) -> PyResult<Bound<'_, PyAny>> {
    let tp = type_object(py)?;
    // SAFETY: `tp` is this module's type, whose instances are `ReadyObject`s;
    // `PyType_GenericAlloc` returns one zeroed, with a reference and the type increfed,
    // and the value's reference moves into it.
    unsafe {
        let obj = ffi::PyType_GenericAlloc(tp.as_ptr().cast(), 0);
        if obj.is_null() {
            return Err(PyErr::fetch(py));
        }
        (*obj.cast::<ReadyObject>()).value = value.into_ptr();
        Ok(Bound::from_owned_ptr(py, obj))
    }
}

/// The value of a `_Ready`.
///
/// # Safety
/// `obj` is a live `_Ready`.
unsafe fn value_of(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    unsafe { (*obj.cast::<ReadyObject>()).value }
}

/// `_Ready()` from Python: refused (an instance without a value would crash its steps).
unsafe extern "C" fn no_new(
    _tp: *mut ffi::PyTypeObject,
    _args: *mut ffi::PyObject,
    _kwargs: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls `tp_new` with the GIL held.
    unsafe {
        ffi::PyErr_SetString(
            ffi::PyExc_TypeError,
            c"cannot create 'sserpent._sserpent._Ready' instances".as_ptr(),
        )
    };
    ptr::null_mut()
}

unsafe extern "C" fn dealloc(obj: *mut ffi::PyObject) {
    // SAFETY: called once by CPython on a `_Ready` whose count reached zero; a heap
    // type's instance holds a reference to its type, given back last.
    unsafe {
        let tp = ffi::Py_TYPE(obj);
        let value = value_of(obj);
        (*obj.cast::<ReadyObject>()).value = ptr::null_mut();
        if !value.is_null() {
            stop_iteration::forget(value);
        }
        ffi::Py_XDECREF(value);
        ffi::PyObject_Free(obj.cast());
        ffi::Py_DECREF(tp.cast());
    }
}

unsafe extern "C" fn itself(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: a new reference to a live object.
    unsafe { ffi::Py_INCREF(obj) };
    obj
}

/// The step ends with the value returned: no exception raised.
unsafe extern "C" fn am_send(
    obj: *mut ffi::PyObject,
    _arg: *mut ffi::PyObject,
    result: *mut *mut ffi::PyObject,
) -> c_int {
    // SAFETY: `obj` is a live `_Ready`; the result is a new reference (`PYGEN_RETURN`).
    unsafe {
        let value = value_of(obj);
        ffi::Py_INCREF(value);
        *result = value;
    }
    0 // PYGEN_RETURN
}

/// The step ends with `StopIteration(value)` (on 3.12 and 3.13 one object raised again:
/// `stop_iteration.rs`).
unsafe extern "C" fn next(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: `obj` is a live `_Ready`, which holds its value until it is freed (and
    // then calls `forget`); CPython calls the slot with the GIL held.
    unsafe { stop_iteration::raise(obj, value_of(obj)) };
    ptr::null_mut()
}

/// `send(x)`: one step, its end raised as a new `StopIteration(value)` (called from
/// Python, which may keep it: never the object `next` raises again).
unsafe extern "C" fn send_method(
    obj: *mut ffi::PyObject,
    _arg: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: `obj` is a live `_Ready`; CPython calls methods with the GIL held.
    unsafe { stop_iteration::raise_new(value_of(obj)) };
    ptr::null_mut()
}

/// `throw(typ[, val[, tb]])`: raises what is thrown in (nothing to clean up).
unsafe extern "C" fn throw_method(
    _obj: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // `attach`, not `assume_attached`: pyo3 then drops what it holds at once, not
    // through its queue for threads it takes to be detached. CPython calls a method
    // with the GIL held and `args` a tuple.
    Python::attach(|py| {
        // SAFETY: `args` is a live tuple, borrowed for this call.
        let args = unsafe { Bound::from_borrowed_ptr(py, args) };
        let err = match args.cast::<PyTuple>() {
            Ok(t) if !t.is_empty() => {
                let val = if t.len() > 1 {
                    t.get_item(1).ok()
                } else {
                    None
                };
                match t.get_item(0) {
                    Ok(typ) => thrown(&typ, val.as_ref()),
                    Err(e) => e,
                }
            }
            _ => {
                pyo3::exceptions::PyTypeError::new_err("throw expected at least 1 argument, got 0")
            }
        };
        err.restore(py);
    });
    ptr::null_mut()
}

unsafe extern "C" fn close_method(
    _obj: *mut ffi::PyObject,
    _arg: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: a new reference to None.
    unsafe {
        let none = ffi::Py_None();
        ffi::Py_INCREF(none);
        none
    }
}
