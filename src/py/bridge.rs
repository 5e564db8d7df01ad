//! Waking asyncio from tokio threads without taking the GIL there.
//!
//! Each event loop gets one bridge: a socket pair whose read end the loop
//! watches (`add_reader`). A tokio thread that makes data ready for an
//! awaiting stream queues the stream's future slot and writes one byte if
//! the bridge is not already signalled; the loop then resolves every queued
//! future in one callback. Thousands of streams share one wake-up.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use crate::transport::channel::AsyncWake;

use super::waiter::{FutureSlot, Waiter};

pub struct BridgeInner {
    pending: Mutex<Vec<Arc<FutureSlot>>>,
    signalled: AtomicBool,
    writer: UnixStream,
}

impl BridgeInner {
    fn signal(&self, slot: Arc<FutureSlot>) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(slot);
        if !self.signalled.swap(true, Ordering::AcqRel) {
            // Non-blocking; a full socket buffer already means "signalled".
            let _ = (&self.writer).write(&[1]);
        }
    }
}

/// What a stream registers with its channel while a task awaits it.
pub struct BridgeWaker {
    pub bridge: Arc<BridgeInner>,
    pub slot: Arc<FutureSlot>,
}

impl AsyncWake for BridgeWaker {
    fn wake(&self) {
        self.bridge.signal(self.slot.clone());
    }
}

#[pyclass(frozen, module = "sserpent._sserpent", name = "_LoopBridge")]
pub struct LoopBridge {
    inner: Arc<BridgeInner>,
    reader: UnixStream,
}

#[pymethods]
impl LoopBridge {
    /// The loop's reader callback: wakes every task whose stream became
    /// ready, in this one callback.
    fn _on_readable(&self, py: Python<'_>) -> PyResult<()> {
        let mut sink = [0u8; 256];
        while let Ok(n) = (&self.reader).read(&mut sink) {
            if n == 0 {
                break;
            }
        }
        self.inner.signalled.store(false, Ordering::Release);
        let ready =
            std::mem::take(&mut *self.inner.pending.lock().unwrap_or_else(|e| e.into_inner()));
        let mut ready = ready.into_iter();
        while let Some(slot) = ready.next() {
            if let Some(waiter) = slot.take() {
                if let Err(e) = Waiter::wake(waiter.bind(py)) {
                    // Whatever was not served yet waits for the next round.
                    for rest in ready {
                        self.inner.signal(rest);
                    }
                    return Err(e);
                }
            }
        }
        Ok(())
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

/// The bridge of `event_loop`, created (and its reader added) on first use.
pub fn bridge_for(py: Python<'_>, event_loop: &Bound<'_, PyAny>) -> PyResult<Arc<BridgeInner>> {
    let reg = registry(py)?;
    if let Ok(existing) = reg.get_item(event_loop) {
        if let Ok(b) = existing.cast::<LoopBridge>() {
            return Ok(b.get().inner.clone());
        }
    }
    let (reader, writer) =
        UnixStream::pair().map_err(|e| pyo3::exceptions::PyOSError::new_err(e.to_string()))?;
    reader
        .set_nonblocking(true)
        .map_err(|e| pyo3::exceptions::PyOSError::new_err(e.to_string()))?;
    writer
        .set_nonblocking(true)
        .map_err(|e| pyo3::exceptions::PyOSError::new_err(e.to_string()))?;
    let fd = reader.as_raw_fd();
    let inner = Arc::new(BridgeInner {
        pending: Mutex::new(Vec::new()),
        signalled: AtomicBool::new(false),
        writer,
    });
    let bridge = Bound::new(
        py,
        LoopBridge {
            inner: inner.clone(),
            reader,
        },
    )?;
    event_loop.call_method1("add_reader", (fd, bridge.getattr("_on_readable")?))?;
    reg.set_item(event_loop, &bridge)?;
    Ok(inner)
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
