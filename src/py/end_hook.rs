//! The stream's end hook (`stream._on_end(callback)`): called once, when the
//! consumer sees the end, a fault, a close, a cancelled wait, or the stream is
//! dropped, with one dict of what the stream recorded (times as Unix
//! nanoseconds from the Rust clock). Telemetry and logging hang off it, so the
//! per-chunk path never calls Python for them.

use std::sync::Mutex;
use std::time::Instant;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::items::accumulate::Accumulator;
use crate::transport::http::ResponseHead;
use crate::transport::metrics::{wall_ns, Snapshot};

/// The callback and whether it wants the output text (content capture).
#[derive(Default)]
pub struct EndHook {
    slot: Mutex<Option<(Py<PyAny>, bool)>>,
}

impl EndHook {
    pub fn set(&self, callback: Py<PyAny>, with_text: bool) {
        *self.slot.lock().unwrap_or_else(|e| e.into_inner()) = Some((callback, with_text));
    }

    fn take(&self) -> Option<(Py<PyAny>, bool)> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    pub fn is_set(&self) -> bool {
        self.slot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// Calls the callback, once; `error` is the exception the stream ended with.
    /// A failing callback is reported as unraisable, never raised into the read.
    pub fn fire(
        &self,
        py: Python<'_>,
        snap: &Snapshot,
        head: Option<&ResponseHead>,
        acc: &Mutex<Accumulator>,
        error: Option<&Bound<'_, PyAny>>,
    ) {
        let Some((callback, with_text)) = self.take() else {
            return;
        };
        let outcome = record(py, snap, head, acc, with_text, error)
            .and_then(|r| callback.bind(py).call1((r,)).map(|_| ()));
        if let Err(e) = outcome {
            e.write_unraisable(py, Some(callback.bind(py)));
        }
    }
}

fn record<'py>(
    py: Python<'py>,
    s: &Snapshot,
    head: Option<&ResponseHead>,
    acc: &Mutex<Accumulator>,
    with_text: bool,
    error: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let ns = |t: Option<Instant>| t.map(wall_ns);
    let d = PyDict::new(py);
    d.set_item("start_ns", ns(s.started))?;
    d.set_item("headers_ns", ns(s.headers_at))?;
    d.set_item("first_chunk_ns", ns(s.first_event_at))?;
    d.set_item("first_text_ns", ns(s.first_text_at))?;
    d.set_item("last_chunk_ns", ns(s.last_chunk_at))?;
    // Closed or dropped before the reader task ended: the end is now.
    d.set_item("end_ns", wall_ns(s.ended_at.unwrap_or_else(Instant::now)))?;
    d.set_item("chunks", s.chunks)?;
    d.set_item("attempts", s.attempts)?;
    let retries = PyList::empty(py);
    for (at, n, why) in &s.retries {
        retries.append((wall_ns(*at), *n, why.as_str()))?;
    }
    d.set_item("retries", retries)?;
    d.set_item("gaps", s.arrival_gaps())?;
    d.set_item("status", head.map(|h| h.status))?;
    d.set_item("request_id", head.and_then(|h| h.request_id.clone()))?;
    d.set_item("error", error)?;
    let sum = acc
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .summary(with_text);
    d.set_item("response_id", sum.id)?;
    d.set_item("response_model", sum.model)?;
    d.set_item("finish_reasons", sum.finish_reasons)?;
    d.set_item("input_tokens", sum.input_tokens)?;
    d.set_item("output_tokens", sum.output_tokens)?;
    if with_text {
        d.set_item("outputs", sum.outputs)?;
    }
    Ok(d)
}

/// `_sserpent._clock_ns()`: now, on the clock the stream stamps use.
#[pyfunction]
pub fn _clock_ns() -> u64 {
    wall_ns(Instant::now())
}
