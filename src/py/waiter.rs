//! What an awaiting task yields: `Waiter`, a small Rust object that speaks
//! asyncio's future protocol, and the `FutureSlot` through which a stream's
//! loop bridge (`bridge.rs`) finds the waiter to wake.

use std::sync::Mutex;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use super::alloc::direct_alloc;

/// The waiter an awaiting consumer yielded; touched only with the GIL.
#[derive(Default)]
pub struct FutureSlot {
    waiter: Mutex<Option<Py<Waiter>>>,
}

impl FutureSlot {
    pub fn set(&self, waiter: Py<Waiter>) {
        *self.waiter.lock().unwrap_or_else(|e| e.into_inner()) = Some(waiter);
    }

    /// A consumer already awaits through this slot (its waiter is not done).
    pub fn is_pending(&self) -> bool {
        let guard = self.waiter.lock().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().is_some_and(|w| w.get().is_pending())
    }

    pub fn take(&self) -> Option<Py<Waiter>> {
        self.waiter.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// What an awaiting task yields instead of an `asyncio.Future`.
///
/// It speaks the future protocol asyncio's `Task` uses with any
/// `_asyncio_future_blocking` object (`get_loop`, `add_done_callback`,
/// `result`, `cancel`, ...). The difference is the wake-up: when data arrives
/// the loop bridge runs the task's wake-up callback at once, inside the one
/// callback that serves every ready stream, instead of `set_result`
/// scheduling one `Handle` per task through `loop.call_soon` for the next
/// loop iteration. That saves a Python-level `create_future`, `call_soon` and
/// `Handle` per chunk (the bulk of asyncio's cost per await).
// One per wait of an `async for`: made by `alloc::new_object`.
#[pyclass(frozen, module = "sserpent._sserpent", name = "_Waiter")]
pub struct Waiter {
    event_loop: Py<PyAny>,
    inner: Mutex<WaiterInner>,
}

// SAFETY: `Waiter` is frozen, with no free list, `__traverse__`, dict or weakref.
direct_alloc!(Waiter);

struct WaiterInner {
    blocking: bool,
    state: WaiterState,
    callbacks: Callbacks,
}

/// A callback from `add_done_callback`, with its `context`.
type Callback = (Py<PyAny>, Option<Py<PyAny>>);

/// The callbacks of `add_done_callback`, in order. A task adds one per wait:
/// the first is kept inline, so a wait allocates no list.
#[derive(Default)]
struct Callbacks {
    first: Option<Callback>,
    more: Vec<Callback>,
}

impl Callbacks {
    fn push(&mut self, callback: Callback) {
        if self.first.is_none() && self.more.is_empty() {
            self.first = Some(callback);
        } else {
            self.more.push(callback);
        }
    }

    fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.more.len()
    }

    fn retain(&mut self, mut keep: impl FnMut(&Callback) -> bool) {
        if self.first.as_ref().is_some_and(|c| !keep(c)) {
            self.first = None;
        }
        self.more.retain(keep);
    }
}

impl IntoIterator for Callbacks {
    type Item = Callback;
    type IntoIter = std::iter::Chain<std::option::IntoIter<Callback>, std::vec::IntoIter<Callback>>;

    fn into_iter(self) -> Self::IntoIter {
        self.first.into_iter().chain(self.more)
    }
}

enum WaiterState {
    Pending,
    Done,
    /// Cancelled, with the message given to `cancel()`.
    Cancelled(Option<Py<PyAny>>),
}

impl Waiter {
    pub fn new(event_loop: Py<PyAny>) -> Self {
        Waiter {
            event_loop,
            inner: Mutex::new(WaiterInner {
                blocking: true,
                state: WaiterState::Pending,
                callbacks: Callbacks::default(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WaiterInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn is_pending(&self) -> bool {
        matches!(self.lock().state, WaiterState::Pending)
    }

    /// Marks it done and runs its callbacks now (the caller runs inside the
    /// event loop, outside any task). Should a callback raise, the rest are
    /// handed to `loop.call_soon` so no task is left asleep.
    pub fn wake(slf: &Bound<'_, Self>) -> PyResult<()> {
        let callbacks = {
            let mut inner = slf.get().lock();
            if !matches!(inner.state, WaiterState::Pending) {
                return Ok(());
            }
            inner.state = WaiterState::Done;
            std::mem::take(&mut inner.callbacks)
        };
        let py = slf.py();
        let mut callbacks = callbacks.into_iter();
        while let Some((callback, context)) = callbacks.next() {
            let ran = match &context {
                Some(ctx) => ctx
                    .bind(py)
                    .call_method1(pyo3::intern!(py, "run"), (&callback, slf))
                    .map(drop),
                None => callback.bind(py).call1((slf,)).map(drop),
            };
            if let Err(e) = ran {
                for (callback, context) in callbacks {
                    let _ = slf.get().call_soon(py, slf, callback, context);
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// Cancels it (as `Task.cancel()` does through `cancel()`).
    pub fn cancel_now(slf: &Bound<'_, Self>, msg: Option<Py<PyAny>>) -> PyResult<bool> {
        let callbacks = {
            let mut inner = slf.get().lock();
            if !matches!(inner.state, WaiterState::Pending) {
                return Ok(false);
            }
            inner.state = WaiterState::Cancelled(msg);
            std::mem::take(&mut inner.callbacks)
        };
        let py = slf.py();
        for (callback, context) in callbacks {
            slf.get().call_soon(py, slf, callback, context)?;
        }
        Ok(true)
    }

    fn call_soon(
        &self,
        py: Python<'_>,
        slf: &Bound<'_, Self>,
        callback: Py<PyAny>,
        context: Option<Py<PyAny>>,
    ) -> PyResult<()> {
        let kwargs = pyo3::types::PyDict::new(py);
        kwargs.set_item(pyo3::intern!(py, "context"), context)?;
        self.event_loop.bind(py).call_method(
            pyo3::intern!(py, "call_soon"),
            (callback, slf),
            Some(&kwargs),
        )?;
        Ok(())
    }
}

/// asyncio's `Task` adds a new built-in method (its `task_wakeup`, bound to
/// the task) for every wait. Left tracked by the collector, it is unlinked
/// from the collector's list when freed after the wake-up, tens of
/// milliseconds later, when its neighbours there have gone cold: at
/// thousands of streams, cache misses on the loop's thread every chunk.
/// Untracked here, while they are still hot. Only that method: a built-in
/// method bound to an `asyncio.Task`, from Python 3.10 (3.9's task adds a
/// wrapper object instead, and before 3.9.7 freeing an untracked built-in
/// method crashed). The collector loses nothing: the method refers to its
/// task only, and the cycle it closes (task, waiter, method) already runs
/// through this untracked waiter.
fn untrack_task_wakeup(py: Python<'_>, callback: &Py<PyAny>) {
    // `asyncio.Task` (the C task where asyncio has one), from 3.10 on.
    static TASK: PyOnceLock<Option<Py<PyAny>>> = PyOnceLock::new();
    let task_type = TASK.get_or_init(py, || {
        (py.version_info() >= (3, 10))
            .then(|| py.import("asyncio").and_then(|m| m.getattr("Task")).ok())
            .flatten()
            .map(Bound::unbind)
    });
    let Some(task_type) = task_type else {
        return;
    };
    let ptr = callback.as_ptr();
    // SAFETY: `ptr` is a live object (held by `callback`); `PyCFunction_GetSelf`
    // is called on a built-in function only and returns a borrowed reference
    // (or null); untracking a tracked built-in method is allowed (3.10 on free
    // it with the checked `PyObject_GC_UnTrack`).
    unsafe {
        if ffi::PyCFunction_Check(ptr) == 0 || ffi::PyObject_GC_IsTracked(ptr) != 1 {
            return;
        }
        let bound_to = ffi::PyCFunction_GetSelf(ptr);
        if bound_to.is_null() || ffi::PyObject_TypeCheck(bound_to, task_type.as_ptr().cast()) == 0 {
            return;
        }
        ffi::PyObject_GC_UnTrack(ptr.cast());
    }
}

fn asyncio_attr<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyAny>>,
    name: &str,
) -> PyResult<&'py Bound<'py, PyAny>> {
    cell.get_or_try_init(py, || {
        py.import("asyncio")?.getattr(name).map(Bound::unbind)
    })
    .map(|v| v.bind(py))
}

fn cancelled_error(py: Python<'_>, msg: &Option<Py<PyAny>>) -> PyErr {
    static CANCELLED: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let made = asyncio_attr(py, &CANCELLED, "CancelledError").and_then(|cls| match msg {
        Some(m) => cls.call1((m,)),
        None => cls.call0(),
    });
    match made {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

fn invalid_state(py: Python<'_>, what: &str) -> PyErr {
    static INVALID: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    match asyncio_attr(py, &INVALID, "InvalidStateError").and_then(|cls| cls.call1((what,))) {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

#[pymethods]
impl Waiter {
    #[getter]
    fn _asyncio_future_blocking(&self) -> bool {
        self.lock().blocking
    }

    #[setter(_asyncio_future_blocking)]
    fn set_asyncio_future_blocking(&self, value: bool) {
        self.lock().blocking = value;
    }

    fn get_loop(&self, py: Python<'_>) -> Py<PyAny> {
        self.event_loop.clone_ref(py)
    }

    #[pyo3(signature = (callback, *, context = None))]
    fn add_done_callback(
        slf: &Bound<'_, Self>,
        callback: Py<PyAny>,
        context: Option<Py<PyAny>>,
    ) -> PyResult<()> {
        {
            let mut inner = slf.get().lock();
            if matches!(inner.state, WaiterState::Pending) {
                untrack_task_wakeup(slf.py(), &callback);
                inner.callbacks.push((callback, context));
                return Ok(());
            }
        }
        slf.get().call_soon(slf.py(), slf, callback, context)
    }

    fn remove_done_callback(&self, py: Python<'_>, callback: &Bound<'_, PyAny>) -> usize {
        let mut inner = self.lock();
        let before = inner.callbacks.len();
        inner
            .callbacks
            .retain(|(cb, _)| !cb.bind(py).eq(callback).unwrap_or(false));
        before - inner.callbacks.len()
    }

    #[pyo3(signature = (msg = None))]
    fn cancel(slf: &Bound<'_, Self>, msg: Option<Py<PyAny>>) -> PyResult<bool> {
        Waiter::cancel_now(slf, msg)
    }

    fn cancelled(&self) -> bool {
        matches!(self.lock().state, WaiterState::Cancelled(_))
    }

    fn done(&self) -> bool {
        !self.is_pending()
    }

    fn result(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match &self.lock().state {
            WaiterState::Pending => Err(invalid_state(py, "Result is not set.")),
            WaiterState::Done => Ok(py.None()),
            WaiterState::Cancelled(msg) => Err(cancelled_error(py, msg)),
        }
    }

    fn exception(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match &self.lock().state {
            WaiterState::Pending => Err(invalid_state(py, "Exception is not set.")),
            WaiterState::Done => Ok(py.None()),
            WaiterState::Cancelled(msg) => Err(cancelled_error(py, msg)),
        }
    }

    fn __repr__(&self) -> &'static str {
        match self.lock().state {
            WaiterState::Pending => "<sserpent waiter pending>",
            WaiterState::Done => "<sserpent waiter finished>",
            WaiterState::Cancelled(_) => "<sserpent waiter cancelled>",
        }
    }
}

/// `loop.call_later` target: ends a deadline wait if nothing woke it first.
#[pyfunction]
pub(super) fn resolve_future(fut: &Bound<'_, Waiter>) -> PyResult<()> {
    Waiter::wake(fut)
}
