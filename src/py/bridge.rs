//! Waking asyncio from tokio threads, once per loop iteration however many
//! streams became ready.
//!
//! Each event loop gets one bridge: a queue of the future slots whose streams
//! became ready, an atomic "signalled" flag, and a *kick* that makes the loop
//! call the bridge's drain. A tokio thread that makes data ready for an
//! awaiting stream queues the stream's slot and kicks the loop only if the
//! bridge is not already signalled; the drain clears the flag, then wakes
//! every queued waiter in one callback. Thousands of streams share one
//! wake-up. There are two kicks:
//!
//! - `socketpair` (unix only): the loop watches the read end of a socket pair
//!   (`add_reader`); the kick writes one byte to the other end, non-blocking.
//!   No GIL is taken off the Python thread.
//! - `threadsafe` (any platform, any loop): the kick is
//!   `loop.call_soon_threadsafe(drain)`. It takes the GIL on the waking
//!   thread, once per batch, not per chunk: wakes that come before the drain
//!   ran only queue their slot. For loops without `add_reader` (asyncio's
//!   `ProactorEventLoop`, the Windows default) and platforms without unix
//!   sockets. A tokio thread keeps the Python thread state of its first kick
//!   (making one per kick cost more than the rest of the path), and an
//!   `atexit` hook stops these kicks before the interpreter finalizes.
//!
//! `SSERPENT_ASYNC_WAKE` chooses, read when a loop gets its bridge (at the
//! first async wait on that loop): `socketpair`, `threadsafe`, or `auto`
//! (the same as unset or empty): socketpair on unix when the loop's
//! `add_reader` works, else threadsafe. Any other value makes that wait raise
//! `ValueError`; `socketpair` where it cannot work raises `RuntimeError`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use crate::transport::channel::AsyncWake;
use crate::transport::prefetch::Prefetch;

use super::waiter::{FutureSlot, Waiter};

/// The environment variable that picks the wake-up path.
pub const WAKE_ENV: &str = "SSERPENT_ASYNC_WAKE";

#[derive(Clone, Copy, PartialEq, Eq)]
enum WakeChoice {
    Auto,
    Socketpair,
    Threadsafe,
}

fn wake_choice() -> PyResult<WakeChoice> {
    let Some(raw) = std::env::var_os(WAKE_ENV) else {
        return Ok(WakeChoice::Auto);
    };
    match raw.to_str().map(str::trim) {
        Some("" | "auto") => Ok(WakeChoice::Auto),
        Some("socketpair") => Ok(WakeChoice::Socketpair),
        Some("threadsafe") => Ok(WakeChoice::Threadsafe),
        _ => Err(PyValueError::new_err(format!(
            "{WAKE_ENV}={:?} is not a wake-up path; allowed values: socketpair, threadsafe, auto (unset or empty: auto)",
            raw.to_string_lossy()
        ))),
    }
}

/// How a bridge makes its loop run the drain.
enum Kick {
    /// One byte on the socket pair the loop watches.
    #[cfg(unix)]
    Socket(std::os::unix::net::UnixStream),
    /// `loop.call_soon_threadsafe(drain)`.
    Threadsafe {
        /// `weakref.ref(loop)`: the registry is keyed weakly by the loop, so
        /// its bridge must not keep it alive.
        event_loop: Py<PyAny>,
        /// The `_Drain` handed to the loop (it holds this bridge weakly).
        drain: Py<Drain>,
    },
}

pub struct BridgeInner {
    /// Streams that became ready, with what their consumers will read first.
    pending: Mutex<Vec<(Arc<FutureSlot>, Prefetch)>>,
    /// The list the last drain emptied, swapped in for `pending` by the next
    /// one: a drain allocates nothing (only the loop's thread touches it).
    spare: Mutex<Vec<(Arc<FutureSlot>, Prefetch)>>,
    signalled: AtomicBool,
    kick: Kick,
}

impl BridgeInner {
    fn new(kick: Kick) -> Arc<Self> {
        Arc::new(BridgeInner {
            pending: Mutex::new(Vec::new()),
            spare: Mutex::new(Vec::new()),
            signalled: AtomicBool::new(false),
            kick,
        })
    }

    fn signal(&self, slot: Arc<FutureSlot>, hint: Prefetch) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((slot, hint));
        if !self.signalled.swap(true, Ordering::AcqRel) {
            self.kick();
        }
    }

    fn kick(&self) {
        match &self.kick {
            #[cfg(unix)]
            Kick::Socket(writer) => {
                use std::io::Write;
                // Non-blocking; a full socket buffer already means "signalled".
                let _ = (&*writer).write(&[1]);
            }
            Kick::Threadsafe { event_loop, drain } => {
                if !schedule_drain(event_loop, drain) {
                    // The loop is closed, or the interpreter is exiting: nothing
                    // will drain; let a later wake try again.
                    self.signalled.store(false, Ordering::Release);
                }
            }
        }
    }

    /// Wakes every task whose stream became ready, in this one callback.
    fn drain(&self, py: Python<'_>) -> PyResult<()> {
        self.signalled.store(false, Ordering::Release);
        let mut ready = std::mem::take(&mut *self.spare.lock().unwrap_or_else(|e| e.into_inner()));
        std::mem::swap(
            &mut ready,
            &mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()),
        );
        if let Some((_, hint)) = ready.first() {
            hint.issue();
        }
        let mut woken = ready.drain(..).peekable();
        while let Some((slot, _)) = woken.next() {
            // The next stream's lines come into cache while this one's task step runs.
            if let Some((_, next)) = woken.peek() {
                next.issue();
            }
            if let Some(waiter) = slot.take() {
                if let Err(e) = Waiter::wake(waiter.bind(py)) {
                    // Whatever was not served yet waits for the next round.
                    for (rest, hint) in woken {
                        self.signal(rest, hint);
                    }
                    return Err(e);
                }
            }
        }
        drop(woken);
        *self.spare.lock().unwrap_or_else(|e| e.into_inner()) = ready;
        Ok(())
    }

    fn path(&self) -> &'static str {
        match self.kick {
            #[cfg(unix)]
            Kick::Socket(_) => "socketpair",
            Kick::Threadsafe { .. } => "threadsafe",
        }
    }
}

/// Set when the interpreter starts exiting: threadsafe kicks no longer call
/// into Python.
static EXITING: AtomicBool = AtomicBool::new(false);
/// Threadsafe kicks that may be calling into Python now.
static KICKING: AtomicUsize = AtomicUsize::new(0);

/// The `atexit` hook (registered at import): stops threadsafe kicks before
/// finalization begins, and waits for those under way.
///
/// A tokio thread inside Python while the interpreter finalizes can abort the
/// process ("PyGILState_Release: thread state must be current"): seen when
/// the main thread exits while a loop in a daemon thread awaits streams. The
/// socket pair never enters Python off the loop's thread. `atexit` hooks run
/// after non-daemon threads are joined and before finalization; a hook
/// registered before `import sserpent` runs after this one, and a stream it
/// awaits through the threadsafe path is no longer woken.
#[pyfunction]
fn _stop_async_wake_kicks(py: Python<'_>) {
    EXITING.store(true, Ordering::SeqCst);
    py.detach(|| {
        while KICKING.load(Ordering::SeqCst) != 0 {
            std::thread::yield_now();
        }
    });
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_function(wrap_pyfunction!(_async_wake, m)?)?;
    py.import("atexit")?
        .call_method1("register", (wrap_pyfunction!(_stop_async_wake_kicks, py)?,))?;
    Ok(())
}

/// `event_loop().call_soon_threadsafe(drain)`, from any thread; false when
/// it was not done.
fn schedule_drain(event_loop: &Py<PyAny>, drain: &Py<Drain>) -> bool {
    KICKING.fetch_add(1, Ordering::SeqCst);
    let done = !EXITING.load(Ordering::SeqCst) && {
        // SAFETY: reads this thread's GIL-state slot; callable without the
        // GIL. NULL: no thread state was made or kept on this thread.
        let fresh = unsafe { pyo3::ffi::PyGILState_GetThisThreadState().is_null() };
        Python::try_attach(|py| -> PyResult<()> {
            if fresh {
                keep_thread_state(py);
            }
            let event_loop = event_loop.bind(py).call0()?;
            if event_loop.is_none() {
                return Err(PyRuntimeError::new_err("the event loop is gone"));
            }
            event_loop.call_method1(pyo3::intern!(py, "call_soon_threadsafe"), (drain,))?;
            Ok(())
        })
        .is_some_and(|r| r.is_ok())
    };
    KICKING.fetch_sub(1, Ordering::SeqCst);
    done
}

/// Keeps the Python thread state that attaching just made for this thread
/// (a tokio worker) for its later kicks.
///
/// `Python::attach` on a thread Python did not start makes a thread state and
/// frees it again on release; on CPython 3.11 that includes mapping and
/// unmapping its frame stack, a TLB shootdown across cores, every kick. That
/// was most of the threadsafe path's cost per wake-up: a stream paced 1 ms a
/// chunk cost 1.3–2.3× the socket pair's CPU per chunk, and ~1.0× with the
/// state kept (bench_live's paced table). One `PyGILState_Ensure` never
/// released keeps it; later attaches then only take and drop the GIL. Kicks
/// come from the runtime's worker threads, which live as long as the process,
/// so the states kept are a few; a forked child's Python drops its parent's.
fn keep_thread_state(_py: Python<'_>) {
    // SAFETY: attached (the token proves it), so this nests: it increments
    // the thread state's counter and returns without touching the GIL.
    let _ = unsafe { pyo3::ffi::PyGILState_Ensure() };
}

/// What a stream registers with its channel while a task awaits it.
pub struct BridgeWaker {
    pub bridge: Arc<BridgeInner>,
    pub slot: Arc<FutureSlot>,
    /// Where the stream's own fields are (its consumer lock first), as a prefetch hint.
    pub stream_at: usize,
}

impl AsyncWake for BridgeWaker {
    fn wake(&self, hint: Prefetch) {
        let hint = hint
            .with(self.stream_at as *const u8, 512)
            .with(Arc::as_ptr(&self.slot), std::mem::size_of::<FutureSlot>());
        self.bridge.signal(self.slot.clone(), hint);
    }
}

/// A loop's bridge, as the registry keeps it.
#[pyclass(frozen, module = "sserpent._sserpent", name = "_LoopBridge")]
pub struct LoopBridge {
    inner: Arc<BridgeInner>,
    /// The socket pair's read end (socketpair bridges).
    #[cfg(unix)]
    reader: Option<std::os::unix::net::UnixStream>,
}

#[pymethods]
impl LoopBridge {
    /// The loop's reader callback (socketpair bridges).
    fn _on_readable(&self, py: Python<'_>) -> PyResult<()> {
        #[cfg(unix)]
        if let Some(reader) = &self.reader {
            use std::io::Read;
            let mut sink = [0u8; 256];
            while let Ok(n) = (&*reader).read(&mut sink) {
                if n == 0 {
                    break;
                }
            }
        }
        self.inner.drain(py)
    }
}

/// The callable a threadsafe bridge hands to `call_soon_threadsafe`.
#[pyclass(frozen, module = "sserpent._sserpent", name = "_Drain")]
pub struct Drain {
    bridge: OnceLock<Weak<BridgeInner>>,
}

#[pymethods]
impl Drain {
    fn __call__(&self, py: Python<'_>) -> PyResult<()> {
        match self.bridge.get().and_then(Weak::upgrade) {
            Some(bridge) => bridge.drain(py),
            None => Ok(()),
        }
    }
}

fn registry(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static REGISTRY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    REGISTRY
        .get_or_try_init(py, || {
            py.import("weakref")?
                .getattr("WeakKeyDictionary")?
                .call0()
                .map(Bound::unbind)
        })
        .map(|r| r.bind(py))
}

/// The bridge of `event_loop`, created on first use (see the module doc for
/// which kind).
pub fn bridge_for(py: Python<'_>, event_loop: &Bound<'_, PyAny>) -> PyResult<Arc<BridgeInner>> {
    let reg = registry(py)?;
    if let Ok(existing) = reg.get_item(event_loop) {
        if let Ok(b) = existing.cast::<LoopBridge>() {
            return Ok(b.get().inner.clone());
        }
    }
    let socket = match wake_choice()? {
        WakeChoice::Threadsafe => None,
        WakeChoice::Auto => socket_bridge(py, event_loop)?,
        WakeChoice::Socketpair => Some(socket_bridge(py, event_loop)?.ok_or_else(|| {
            PyRuntimeError::new_err(format!(
                "{WAKE_ENV}=socketpair, but {}; use {WAKE_ENV}=threadsafe, or leave it unset to choose per loop",
                if cfg!(unix) {
                    "this event loop has no add_reader (as asyncio's ProactorEventLoop)"
                } else {
                    "socket pairs need a unix platform"
                }
            ))
        })?),
    };
    let bridge = match socket {
        Some(b) => b,
        None => threadsafe_bridge(py, event_loop)?,
    };
    reg.set_item(event_loop, &bridge)?;
    Ok(bridge.get().inner.clone())
}

/// A socketpair bridge whose reader `event_loop` watches; `None` when the
/// loop has no working `add_reader`.
#[cfg(unix)]
fn socket_bridge<'py>(
    py: Python<'py>,
    event_loop: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, LoopBridge>>> {
    use pyo3::exceptions::{PyAttributeError, PyNotImplementedError};
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    let (reader, writer) = UnixStream::pair()?;
    reader.set_nonblocking(true)?;
    writer.set_nonblocking(true)?;
    let fd = reader.as_raw_fd();
    let bridge = Bound::new(
        py,
        LoopBridge {
            inner: BridgeInner::new(Kick::Socket(writer)),
            reader: Some(reader),
        },
    )?;
    let callback = bridge.getattr(pyo3::intern!(py, "_on_readable"))?;
    match event_loop.call_method1(pyo3::intern!(py, "add_reader"), (fd, callback)) {
        Ok(_) => Ok(Some(bridge)),
        Err(e)
            if e.is_instance_of::<PyNotImplementedError>(py)
                || e.is_instance_of::<PyAttributeError>(py) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

#[cfg(not(unix))]
fn socket_bridge<'py>(
    _py: Python<'py>,
    _event_loop: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, LoopBridge>>> {
    Ok(None)
}

fn threadsafe_bridge<'py>(
    py: Python<'py>,
    event_loop: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, LoopBridge>> {
    let weak_loop = py.import("weakref")?.getattr("ref")?.call1((event_loop,))?;
    let drain = Bound::new(
        py,
        Drain {
            bridge: OnceLock::new(),
        },
    )?;
    let inner = BridgeInner::new(Kick::Threadsafe {
        event_loop: weak_loop.unbind(),
        drain: drain.clone().unbind(),
    });
    let _ = drain.get().bridge.set(Arc::downgrade(&inner));
    Bound::new(
        py,
        LoopBridge {
            inner,
            #[cfg(unix)]
            reader: None,
        },
    )
}

/// `_async_wake(loop)`: the wake-up path of `loop`'s bridge, `"socketpair"`
/// or `"threadsafe"`; `None` before the first async wait on that loop.
#[pyfunction]
fn _async_wake(py: Python<'_>, event_loop: &Bound<'_, PyAny>) -> PyResult<Option<&'static str>> {
    let found = registry(py)?.call_method1(pyo3::intern!(py, "get"), (event_loop,))?;
    Ok(found
        .cast::<LoopBridge>()
        .ok()
        .map(|b| b.get().inner.path()))
}
