//! `Event` and `Decoder`: the spec-level SSE API.

use std::collections::VecDeque;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::pyclass::CompareOp;
use pyo3::types::{PyByteArray, PyBytes};
use pyo3::IntoPyObjectExt;

use crate::items::pipeline::invalid_json_message;
use crate::providers::openai::schema;
use crate::wire::json::Doc;
use crate::wire::sse::{self, Decoder, SseError};

use super::chunk::doc_to_py;
use super::errors::{chunk_decode_error, make_error, not_bytes, sse_to_pyerr};
use super::values::buffer_copy;

/// One server-sent event.
#[pyclass(frozen, module = "sserpent", name = "Event")]
pub struct PyEvent {
    pub inner: sse::Event,
}

impl From<sse::Event> for PyEvent {
    fn from(inner: sse::Event) -> Self {
        PyEvent { inner }
    }
}

#[pymethods]
impl PyEvent {
    #[new]
    #[pyo3(signature = (data = String::new(), event = String::from("message"), id = String::new()))]
    fn new(data: String, event: String, id: String) -> Self {
        let event = if event.is_empty() || event == "message" {
            None
        } else {
            Some(event)
        };
        PyEvent {
            inner: sse::Event {
                event,
                data,
                id: Arc::from(id),
                raw: None,
            },
        }
    }

    #[getter]
    fn event(&self) -> &str {
        self.inner.event_type()
    }

    #[getter]
    fn data(&self) -> &str {
        &self.inner.data
    }

    #[getter]
    fn id(&self) -> &str {
        &self.inner.id
    }

    /// Parses ``data`` as JSON: objects become :class:`Chunk`, arrays lists.
    fn json(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        parse_event_json(py, &self.inner)
    }

    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, (String, String, String))> {
        let cls = py.get_type::<PyEvent>().into_any();
        let args = (
            self.inner.data.clone(),
            self.inner.event_type().to_string(),
            self.inner.id.to_string(),
        );
        Ok((cls, args))
    }

    fn __copy__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __deepcopy__<'py>(slf: PyRef<'py, Self>, _memo: &Bound<'py, PyAny>) -> PyRef<'py, Self> {
        slf
    }

    fn __repr__(&self) -> String {
        format!(
            "Event(event={:?}, data={:?}, id={:?})",
            self.inner.event_type(),
            self.inner.data,
            &*self.inner.id
        )
    }

    fn __richcmp__(
        &self,
        py: Python<'_>,
        other: &Bound<'_, PyAny>,
        op: CompareOp,
    ) -> PyResult<Py<PyAny>> {
        let Ok(other) = other.cast::<PyEvent>() else {
            return Ok(py.NotImplemented());
        };
        let a = &self.inner;
        let b = &other.get().inner;
        let equal = a.event_type() == b.event_type() && a.data == b.data && a.id == b.id;
        match op {
            CompareOp::Eq => equal.into_py_any(py),
            CompareOp::Ne => (!equal).into_py_any(py),
            _ => Ok(py.NotImplemented()),
        }
    }
}

pub fn parse_event_json(py: Python<'_>, ev: &sse::Event) -> PyResult<Py<PyAny>> {
    match Doc::parse(ev.data.clone()) {
        Ok(doc) => {
            let (schema, _) = schema::detect(&doc);
            doc_to_py(py, Arc::new(doc), schema)
        }
        Err(error) => {
            let message = invalid_json_message(&error, &ev.data);
            let kwargs = pyo3::types::PyDict::new(py);
            kwargs.set_item("data", &ev.data)?;
            kwargs.set_item("position", error.position)?;
            kwargs.set_item("event", Py::new(py, PyEvent::from(ev.clone()))?)?;
            Err(make_error(
                py,
                chunk_decode_error(py),
                message,
                Some(&kwargs),
            ))
        }
    }
}

/// Calls `f` with the bytes of a bytes-like object, copying only when the
/// object is not `bytes`.
pub fn with_bytes<R>(
    what: &str,
    obj: &Bound<'_, PyAny>,
    f: impl FnOnce(&[u8]) -> R,
) -> PyResult<R> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(f(b.as_bytes()));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(f(&b.to_vec()));
    }
    if let Some(copy) = buffer_copy(obj) {
        return Ok(f(copy?.as_bytes()));
    }
    Err(not_bytes(what, obj))
}

/// Incremental server-sent events decoder (WHATWG "Interpreting an event stream").
///
/// ``feed`` returns the events completed by the bytes given. If an event or a
/// line grows past ``max_event_size`` the events before it are returned and
/// :class:`SSEError` is raised by the next call; decoding then resumes at the
/// next event, so nothing after the oversized event is lost.
#[pyclass(module = "sserpent", name = "Decoder")]
pub struct PyDecoder {
    decoder: Decoder,
    pending: VecDeque<Result<sse::Event, SseError>>,
    scratch: sse::Output,
}

impl PyDecoder {
    fn drain(&mut self, py: Python<'_>) -> PyResult<Vec<PyEvent>> {
        self.pending.extend(self.scratch.drain(..));
        if let Some(Err(_)) = self.pending.front() {
            let Some(Err(e)) = self.pending.pop_front() else {
                unreachable!()
            };
            return Err(sse_to_pyerr(py, &e));
        }
        let mut out = Vec::new();
        while let Some(Ok(_)) = self.pending.front() {
            let Some(Ok(ev)) = self.pending.pop_front() else {
                unreachable!()
            };
            out.push(PyEvent::from(ev));
        }
        Ok(out)
    }
}

#[pymethods]
impl PyDecoder {
    #[new]
    #[pyo3(signature = (max_event_size = sse::DEFAULT_MAX_EVENT_SIZE as i64))]
    fn new(
        #[pyo3(from_py_with = super::args::named::max_event_size)] max_event_size: i64,
    ) -> PyResult<Self> {
        let max_event_size = super::args::size("max_event_size", max_event_size)?;
        Ok(PyDecoder {
            decoder: Decoder::new(max_event_size),
            pending: VecDeque::new(),
            scratch: Vec::new(),
        })
    }

    /// Decodes ``data`` and returns the events it completed.
    fn feed(&mut self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Vec<PyEvent>> {
        let (decoder, scratch) = (&mut self.decoder, &mut self.scratch);
        with_bytes("Decoder.feed()", data, |b| decoder.feed(b, scratch))?;
        self.drain(py)
    }

    /// Ends the stream: an event without its blank line is discarded, as the
    /// spec says. Returns events still held back behind an error, if any.
    fn close(&mut self, py: Python<'_>) -> PyResult<Vec<PyEvent>> {
        self.decoder.close();
        self.drain(py)
    }

    #[getter]
    fn last_event_id(&self) -> &str {
        self.decoder.last_event_id()
    }

    #[getter]
    fn retry(&self) -> Option<u64> {
        self.decoder.retry()
    }

    #[getter]
    fn max_event_size(&self) -> usize {
        self.decoder.max_event_size()
    }

    fn __repr__(&self) -> String {
        format!(
            "Decoder(max_event_size={}, last_event_id={:?}, retry={:?})",
            self.decoder.max_event_size(),
            &**self.decoder.last_event_id(),
            self.decoder.retry()
        )
    }
}
