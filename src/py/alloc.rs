//! Making the per-chunk objects (`Chunk`, `_Pending`, `_Waiter`) without pyo3's
//! general constructor (`_Ready` is a type of its own: `ready.rs`).
//!
//! pyo3 0.30 makes every instance through its base type's `tp_new`
//! (`object.__new__(cls, ())`: two slot lookups, an empty-tuple argument check,
//! then `tp_alloc`), and a `freelist` class takes a mutex around each allocation and
//! each free. For the three chunk objects of every `chunk.choices[0].delta.content`
//! that was about 900 instructions a chunk, an eighth of the in-memory path
//! (docs/performance.md, "Issue #18, third pass"). These classes are frozen plain
//! data behind the object header, so they can be made the way CPython makes its own
//! small objects: `PyObject_GC_New` (pymalloc, header set, the type increfed,
//! untracked) and the Rust value written where pyo3 keeps it. pyo3's `tp_dealloc`
//! then drops the value and frees the object as it does any other instance.
//!
//! Where pyo3 keeps the value is not public API, so it is measured once per class:
//! the first instance is made by pyo3, and the fast path is taken for the rest only
//! when that instance is exactly the object header followed by the value
//! (`__basicsize__`): no borrow flag, dict, weakref or thread checker that a zeroed
//! slot would get wrong. Otherwise every instance takes pyo3's path;
//! `sserpent._sserpent._fast_alloc()` lets a test notice that.

use std::mem::{align_of, size_of};

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

/// Where a class's value lives in its instances, when the fast path applies.
#[derive(Clone, Copy)]
pub struct Layout {
    /// Byte offset of the Rust value from the start of the object.
    offset: usize,
    /// The class's type object (pyo3 keeps it alive for the process).
    type_ptr: *mut ffi::PyTypeObject,
}

// SAFETY: the type object pointer is only dereferenced by CPython with the GIL held.
unsafe impl Send for Layout {}
unsafe impl Sync for Layout {}

/// A frozen class whose instances this module may make directly.
///
/// # Safety
/// The class must have no `freelist` (its `tp_alloc` must stay
/// `PyType_GenericAlloc`, whose memory is `PyObject_GC_New`'s, matching the
/// `tp_free` pyo3's `tp_dealloc` calls),
/// no `__traverse__`, `dict` or `weakref`, and must be `frozen`.
pub unsafe trait DirectAlloc:
    pyo3::PyClass<Frozen = pyo3::pyclass::boolean_struct::True> + Sync
{
    /// The class's layout, measured on its first instance.
    fn layout_cell() -> &'static PyOnceLock<Option<Layout>>;
    /// pyo3's own constructor (`Bound::new`).
    fn new_by_pyo3(py: Python<'_>, value: Self) -> PyResult<Bound<'_, Self>>;
    /// The class's type object.
    fn type_ptr(py: Python<'_>) -> *mut ffi::PyTypeObject;
}

/// Where `object`, made by pyo3, keeps its value, if the direct path can make its likes.
fn measure<T: DirectAlloc>(py: Python<'_>, object: &Bound<'_, T>) -> Option<Layout> {
    let object_at = object.as_ptr() as usize;
    let value_at = object.get() as *const T as usize;
    let offset = value_at.checked_sub(object_at)?;
    let basicsize: usize = object
        .as_any()
        .get_type()
        .getattr("__basicsize__")
        .ok()?
        .extract()
        .ok()?;
    let exact = offset == size_of::<ffi::PyObject>()
        && offset % align_of::<T>() == 0
        && offset + size_of::<T>() == basicsize;
    exact.then(|| Layout {
        offset,
        type_ptr: T::type_ptr(py),
    })
}

/// A new instance holding `value`: allocated directly when the probe allowed it,
/// else through pyo3.
#[inline]
pub fn new_object<T: DirectAlloc>(py: Python<'_>, value: T) -> PyResult<Bound<'_, T>> {
    let layout = match T::layout_cell().get(py) {
        Some(Some(layout)) => *layout,
        Some(None) => return T::new_by_pyo3(py, value),
        None => {
            let object = T::new_by_pyo3(py, value)?;
            // Another thread may have measured first: the same answer either way.
            let _ = T::layout_cell().set(py, measure(py, &object));
            return Ok(object);
        }
    };
    // SAFETY: `type_ptr` is `T`'s type object, whose instances are `basicsize` bytes
    // with the value at `offset` and nothing else to initialise (the probe checked
    // both on an instance pyo3 made). `PyObject_GC_New` returns an object of that size
    // with its header set (one reference, the type increfed), which `from_owned_ptr`
    // takes over; the value is moved in, filling the rest, before anything can see it.
    //
    // Every pyo3 class is a GC type, but these have no `__traverse__`: the collector
    // sees no reference they hold, so tracking them would change no collection's
    // outcome. It would cost: freeing a tracked object unlinks it from the collector's
    // list, writing to its neighbours there, objects made around the same time. For a
    // `_Waiter` or `_Pending`, which live for a whole wait, with thousands of streams
    // those neighbours are long cold (5.5% of the Python thread's samples at 5,000
    // streams). `PyObject_GC_New`, unlike `PyType_GenericAlloc`, leaves the object
    // untracked (and unzeroed): it is never linked, and pyo3's `tp_dealloc`
    // (`PyObject_GC_UnTrack`) finds nothing to unlink.
    unsafe {
        let object = ffi::PyObject_GC_New::<ffi::PyObject>(layout.type_ptr);
        if object.is_null() {
            drop(value);
            return Err(PyErr::fetch(py));
        }
        std::ptr::write(object.cast::<u8>().add(layout.offset).cast::<T>(), value);
        Ok(Bound::from_owned_ptr(py, object).cast_into_unchecked())
    }
}

/// Whether `T`'s instances are made directly: `None` before its first instance,
/// `Some(false)` if pyo3's layout did not allow it (every instance slower).
pub fn fast_alloc_active<T: DirectAlloc>(py: Python<'_>) -> Option<bool> {
    T::layout_cell().get(py).map(Option::is_some)
}

/// Implements [`DirectAlloc`] for a pyclass; the caller states the safety conditions
/// (frozen, no `freelist`, `__traverse__`, dict or weakref) in a `// SAFETY:` comment.
macro_rules! direct_alloc {
    ($class:ty) => {
        unsafe impl $crate::py::alloc::DirectAlloc for $class {
            fn layout_cell() -> &'static pyo3::sync::PyOnceLock<Option<$crate::py::alloc::Layout>> {
                static LAYOUT: pyo3::sync::PyOnceLock<Option<$crate::py::alloc::Layout>> =
                    pyo3::sync::PyOnceLock::new();
                &LAYOUT
            }

            fn new_by_pyo3(py: Python<'_>, value: Self) -> PyResult<Bound<'_, Self>> {
                Bound::new(py, value)
            }

            fn type_ptr(py: Python<'_>) -> *mut pyo3::ffi::PyTypeObject {
                <Self as pyo3::type_object::PyTypeInfo>::type_object_raw(py)
            }
        }
    };
}
pub(crate) use direct_alloc;
