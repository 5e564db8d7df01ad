//! The awaitables `await` and `async for` get from a stream: `_Ready` when the
//! value is already there (no event-loop round trip), `_Pending` when it has
//! to wait on the loop bridge. Above `stream.rs`, whose async wait they poll;
//! `sse()`'s own awaitable shares `ready` and `thrown`.

use pyo3::exceptions::{PyStopAsyncIteration, PyStopIteration};
use pyo3::prelude::*;

use crate::transport::messages::View;

use super::alloc::{direct_alloc, new_object};
use super::stream::{Step, Stream, Want};
use super::waiter::Waiter;

pub(super) fn anext(
    py: Python<'_>,
    stream: Py<PyAny>,
    this: &Stream,
    view: Option<View>,
) -> PyResult<Py<PyAny>> {
    match this.step_now(py, view)? {
        Some(Step::Value(v)) => Ok(ready(py, v)?.unbind()),
        Some(Step::End) => Err(PyStopAsyncIteration::new_err(())),
        Some(Step::Wait(_)) => unreachable!("step never waits"),
        _ => {
            let stream: Py<Stream> = stream
                .bind(py)
                .clone()
                .cast_into::<Stream>()
                .map_err(PyErr::from)?
                .unbind();
            let pending = Pending {
                stream,
                view,
                want: Want::Item,
                result: None,
            };
            Ok(new_object(py, pending)?.into_any().unbind())
        }
    }
}

/// Ends an awaitable's `__next__` with `StopIteration(value)`, the way an
/// `await` gets its result, set straight in the interpreter (`stop_iteration::raise_new`,
/// which `_Ready` uses too). pyo3's lazy `PyErr` would box the arguments, raise, then
/// fetch and normalise: build the exception object (about 750 instructions a chunk of
/// `async for`). CPython before 3.12 keeps `(StopIteration, value)` unnormalised unless
/// another exception is being handled, and the awaiting coroutine takes `value` from it
/// as it is; 3.12 on builds the object in C. Returns `Ok(None)`: the slot's "stopped",
/// its exception already set.
fn stop_with(_attached: Python<'_>, value: Py<PyAny>) -> PyResult<Option<Py<PyAny>>> {
    // SAFETY: attached (the token); `value` is live for the call.
    unsafe { super::stop_iteration::raise_new(value.as_ptr()) };
    Ok(None)
}

/// `send(None)`: the same step as `__next__`, its stop raised as an exception.
fn as_send(py: Python<'_>, next: PyResult<Option<Py<PyAny>>>) -> PyResult<Py<PyAny>> {
    match next? {
        Some(v) => Ok(v),
        None => Err(PyErr::fetch(py)),
    }
}

pub(crate) use super::ready::ready;

/// The awaitable of an `__anext__` (or `aopen()`) that has to wait: yields
/// an asyncio future resolved through the loop bridge, then tries again.
// One per `__anext__` that has to wait: made by `alloc::new_object`.
#[pyclass(frozen, module = "sserpent._sserpent", name = "_Pending")]
pub struct Pending {
    pub(super) stream: Py<Stream>,
    pub(super) view: Option<View>,
    pub(super) want: Want,
    /// For `aopen()`: the value to return once the headers are in.
    pub(super) result: Option<Py<PyAny>>,
}

// SAFETY: `Pending` is frozen, with no free list, `__traverse__`, dict or weakref.
direct_alloc!(Pending);

#[pymethods]
impl Pending {
    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let stream = self.stream.get();
        match stream.poll_async(py, self.view, self.want, None)? {
            Step::Wait(fut) => Ok(Some(fut)),
            Step::Value(v) => stop_with(py, v),
            Step::End => match (&self.want, &self.result) {
                (Want::Head, Some(r)) => Err(PyStopIteration::new_err(r.clone_ref(py))),
                (Want::Drain, _) => Err(PyStopIteration::new_err(stream.final_value(py)?)),
                _ => Err(PyStopAsyncIteration::new_err(())),
            },
            Step::Pending => unreachable!("no deadline was given"),
        }
    }

    fn send(&self, py: Python<'_>, _value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        as_send(py, self.__next__(py))
    }

    /// The awaiting task was cancelled (or another error thrown in): close
    /// the upstream connection at once, then let the exception propagate.
    #[pyo3(signature = (typ, val = None, _tb = None))]
    fn throw(
        &self,
        py: Python<'_>,
        typ: &Bound<'_, PyAny>,
        val: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let stream = self.stream.get();
        if let Some(waiter) = stream.slot.take() {
            let _ = Waiter::cancel_now(waiter.bind(py), None);
        }
        let err = thrown(typ, val);
        stream.close_with(py, err.value(py).as_any());
        Err(err)
    }

    fn close(&self) {}
}

/// The exception `throw(typ, val, tb)` asked for (an instance or a class).
pub(crate) fn thrown(typ: &Bound<'_, PyAny>, val: Option<&Bound<'_, PyAny>>) -> PyErr {
    match val.filter(|v| !v.is_none()) {
        Some(v) => PyErr::from_value(v.clone()),
        None => PyErr::from_value(typ.clone()),
    }
}
