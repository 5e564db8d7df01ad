//! The event loop running on this thread, found once per async wait of a
//! stream (its waiter is that loop's future, woken through that loop's bridge).
//!
//! `asyncio.get_running_loop()` before Python 3.12 makes a `getpid()` system
//! call every time (its check for a fork): at thousands of streams, about 3%
//! of the loop thread's time. A stream's waits almost always run on the loop
//! of its previous wait, so that loop is kept with what shows it is still the
//! one running here: the object asyncio's C module keeps in the thread's state
//! dictionary while a loop runs (3.7–3.11: a holder made anew each time a loop
//! starts running on the thread; 3.12–3.13: the loop itself), held so that its
//! address cannot be reused, and the process's fork count. When either
//! differs, or that object is not there (another asyncio implementation,
//! another version), asyncio is asked.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

/// The loop of a consumer's last wait, and what showed it running.
pub struct LastLoop {
    pub event_loop: Py<PyAny>,
    /// The thread-state entry seen with it (`None`: not checkable, ask asyncio).
    marker: Option<Py<PyAny>>,
    forks: u64,
}

impl LastLoop {
    /// `event_loop`, just returned by `asyncio.get_running_loop()` on this thread.
    pub fn new(event_loop: &Bound<'_, PyAny>) -> Self {
        let py = event_loop.py();
        // The entry is understood in its two known forms only: asyncio's holder
        // (made for each start of a loop, before 3.12), or the loop itself.
        let marker = running_marker(py).filter(|m| {
            m.is(event_loop)
                || m.get_type()
                    .name()
                    .is_ok_and(|n| n.to_cow().is_ok_and(|n| n == "_RunningLoopHolder"))
        });
        LastLoop {
            event_loop: event_loop.clone().unbind(),
            marker: marker.map(Bound::unbind),
            forks: forks(),
        }
    }
}

/// The loop running on this thread: `last`'s while its marker is still the
/// thread's entry and the process has not forked since, else asyncio's answer
/// (which raises `RuntimeError` when no loop runs here).
pub fn running_loop<'py>(py: Python<'py>, last: Option<&LastLoop>) -> PyResult<Bound<'py, PyAny>> {
    if let Some(last) = last {
        if let Some(marker) = &last.marker {
            let same = running_marker(py).is_some_and(|now| now.is(marker.bind(py)));
            if same && last.forks == forks() {
                return Ok(last.event_loop.bind(py).clone());
            }
        }
    }
    get_running_loop(py)
}

/// The entry asyncio's C module keeps for the loop running on this thread, if any.
fn running_marker(py: Python<'_>) -> Option<Bound<'_, PyAny>> {
    let key = pyo3::intern!(py, "__asyncio_running_event_loop__");
    // SAFETY: attached. `PyThreadState_GetDict` returns a borrowed dict or null
    // (raising nothing); `PyDict_GetItem` a borrowed value or null, suppressing
    // errors; the value is increfed before anything else runs.
    unsafe {
        let dict = ffi::PyThreadState_GetDict();
        if dict.is_null() {
            return None;
        }
        let value = ffi::PyDict_GetItem(dict, key.as_ptr());
        if value.is_null() || value == ffi::Py_None() {
            return None;
        }
        Some(Bound::from_borrowed_ptr(py, value))
    }
}

/// Forks of this process so far, counted in the child (the holder asyncio
/// leaves in a forked child's thread state is stale; asyncio checks the pid).
static FORKS: AtomicU64 = AtomicU64::new(0);

fn forks() -> u64 {
    #[cfg(unix)]
    {
        static REGISTER: Once = Once::new();
        REGISTER.call_once(|| {
            extern "C" fn in_child() {
                FORKS.fetch_add(1, Ordering::Relaxed);
            }
            // SAFETY: registers a handler that only increments an atomic.
            unsafe { libc::pthread_atfork(None, None, Some(in_child)) };
        });
    }
    FORKS.load(Ordering::Relaxed)
}

pub fn get_running_loop(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    static GET: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    GET.get_or_try_init(py, || {
        py.import("asyncio")?
            .getattr("get_running_loop")
            .map(Bound::unbind)
    })?
    .bind(py)
    .call0()
}
