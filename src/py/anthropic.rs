//! `_MessageState`: the snapshot behind `Anthropic.messages.stream()`
//! (crate::providers::anthropic), fed the raw event chunks of a stream.

use std::sync::{Arc, Mutex};

use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::IntoPyObject;

use crate::providers::anthropic::{ApplyError, Fire, MessageState as State};
use crate::providers::openai::schema;
use crate::py::chunk::{doc_to_py, Chunk};
use crate::wire::json::Doc;

#[pyclass(frozen, module = "sserpent._sserpent", name = "_MessageState")]
pub struct MessageState {
    inner: Mutex<Inner>,
}

struct Inner {
    state: State,
    /// The snapshot as a chunk, until the next event changes it.
    snapshot: Option<Py<PyAny>>,
}

fn built(py: Python<'_>, json: String) -> PyResult<Py<PyAny>> {
    let doc = Doc::parse(json)
        .map_err(|e| PyRuntimeError::new_err(format!("sserpent built invalid JSON: {e}")))?;
    let (schema, _) = schema::detect(&doc);
    doc_to_py(py, Arc::new(doc), schema)
}

impl MessageState {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn apply(&self, event: &Bound<'_, PyAny>) -> PyResult<Vec<Fire>> {
        let chunk = event.cast::<Chunk>().map_err(|_| {
            PyTypeError::new_err("expected an event chunk of an Anthropic messages stream")
        })?;
        let mut inner = self.lock();
        inner.snapshot = None;
        inner.state.apply(&chunk.get().doc).map_err(|e| match e {
            ApplyError::ToolInput(m) => PyValueError::new_err(m),
            ApplyError::Shape(m) => PyRuntimeError::new_err(m),
        })
    }
}

#[pymethods]
impl MessageState {
    #[new]
    fn new() -> Self {
        MessageState {
            inner: Mutex::new(Inner {
                state: State::new(),
                snapshot: None,
            }),
        }
    }

    /// Folds in one raw event and returns the events to yield for it, as the SDK
    /// does: the raw event itself, events built from the snapshot (chunks), and
    /// for a ``text`` or ``thinking`` event a ``(kind, delta, index, length)``
    /// tuple whose snapshot :meth:`block_str` reads on demand.
    fn push(&self, py: Python<'_>, event: &Bound<'_, PyAny>) -> PyResult<Vec<Py<PyAny>>> {
        self.apply(event)?
            .into_iter()
            .map(|f| match f {
                Fire::Raw => Ok(event.clone().unbind()),
                Fire::Built(json) => built(py, json),
                Fire::Growing {
                    kind,
                    delta,
                    index,
                    len,
                } => Ok((kind, delta, index, len)
                    .into_pyobject(py)?
                    .into_any()
                    .unbind()),
            })
            .collect()
    }

    /// The first ``length`` bytes of content block ``index``'s ``kind`` string.
    fn block_str(&self, index: usize, kind: &str, length: usize) -> PyResult<String> {
        self.lock()
            .state
            .block_str(index, kind, length)
            .map(str::to_string)
            .ok_or_else(|| {
                PyRuntimeError::new_err(format!("no {kind} text in content block {index}"))
            })
    }

    /// Whether ``message_start`` has arrived.
    #[getter]
    fn started(&self) -> bool {
        self.lock().state.started()
    }

    /// Whether ``message_stop`` has arrived: the message is whole.
    #[getter]
    fn stopped(&self) -> bool {
        self.lock().state.stopped()
    }

    /// The message so far (``None`` before ``message_start``).
    fn snapshot(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let mut inner = self.lock();
        if let Some(s) = &inner.snapshot {
            return Ok(Some(s.clone_ref(py)));
        }
        let Some(json) = inner.state.message_json() else {
            return Ok(None);
        };
        let chunk = built(py, json)?;
        inner.snapshot = Some(chunk.clone_ref(py));
        Ok(Some(chunk))
    }
}
