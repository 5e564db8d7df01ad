//! Parse adapters for byte streams the caller already holds (requests,
//! httpx, aiohttp, files): `iter_events`, `iter_chunks` and the push parser
//! behind the async adapters.

use pyo3::prelude::*;
use pyo3::types::PyIterator;

use pyo3::exceptions::PyValueError;

use crate::items::pipeline::{Framing, Item, Mode, Out, Pipeline};
use crate::wire::sse::DEFAULT_MAX_EVENT_SIZE;

use super::chunk::doc_to_py;
use super::event::{with_bytes, PyEvent};
use super::stream_errors::fault_to_pyerr;

pub fn item_to_py(py: Python<'_>, item: Item) -> PyResult<Py<PyAny>> {
    match item {
        Item::Chunk(c) => doc_to_py(py, c.doc, c.schema),
        Item::Event(e) => Ok(Py::new(py, PyEvent::from(e))?.into_any()),
    }
}

/// A `framing=` argument: `"sse"`, `"ndjson"` or `None`.
pub fn framing_arg(framing: Option<&str>) -> PyResult<Option<Framing>> {
    match framing {
        None => Ok(None),
        Some("sse") => Ok(Some(Framing::Sse)),
        Some("ndjson") => Ok(Some(Framing::Ndjson)),
        Some(f) => Err(PyValueError::new_err(format!(
            "framing must be \"sse\" or \"ndjson\", not {f:?}"
        ))),
    }
}

fn pipeline(chunks: bool, max_event_size: i64, framing: Option<&str>) -> PyResult<Pipeline> {
    let max_event_size = super::args::size("max_event_size", max_event_size)?;
    let framing = framing_arg(framing)?.unwrap_or(Framing::Sse);
    Ok(Pipeline::new(
        if chunks { Mode::Chunks } else { Mode::Events },
        max_event_size,
    )
    .with_framing(framing))
}

/// Iterator over the chunks (or events) of an iterable of bytes.
#[pyclass(module = "sserpent", name = "ChunkIter")]
pub struct ChunkIter {
    source: Option<Py<PyIterator>>,
    pipeline: Pipeline,
    ready: Out,
    what: &'static str,
}

#[pymethods]
impl ChunkIter {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        loop {
            if let Some(item) = self.ready.pop_front() {
                return match item {
                    Ok(item) => item_to_py(py, item).map(Some),
                    Err(fault) => {
                        self.source = None;
                        Err(fault_to_pyerr(py, fault))
                    }
                };
            }
            let Some(source) = &self.source else {
                return Ok(None);
            };
            if self.pipeline.finished() {
                self.source = None;
                continue;
            }
            let next = source.bind(py).clone().next();
            match next {
                Some(data) => {
                    let data = data?;
                    let (pipeline, ready) = (&mut self.pipeline, &mut self.ready);
                    with_bytes(self.what, &data, |b| pipeline.feed(b, ready))?;
                }
                None => {
                    self.pipeline.finish(&mut self.ready);
                    self.source = None;
                }
            }
        }
    }
}

fn make_iter(
    py: Python<'_>,
    source: &Bound<'_, PyAny>,
    chunks: bool,
    max_event_size: i64,
    what: &'static str,
    framing: Option<&str>,
) -> PyResult<ChunkIter> {
    let _ = py;
    let pipeline = pipeline(chunks, max_event_size, framing)?;
    Ok(ChunkIter {
        source: Some(source.try_iter()?.unbind()),
        pipeline,
        ready: Out::new(),
        what,
    })
}

/// Yields the :class:`Event` objects of an iterable of bytes (e.g. requests'
/// ``iter_content()`` or httpx's ``iter_bytes()``).
#[pyfunction]
#[pyo3(signature = (source, *, max_event_size = DEFAULT_MAX_EVENT_SIZE as i64, framing = None))]
pub fn iter_events(
    py: Python<'_>,
    source: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = super::args::named::max_event_size)] max_event_size: i64,
    framing: Option<&str>,
) -> PyResult<ChunkIter> {
    make_iter(py, source, false, max_event_size, "iter_events()", framing)
}

/// Yields the JSON chunks of an iterable of bytes; stops at ``data: [DONE]``.
/// ``framing="ndjson"``: one JSON document a line (Ollama's), up to ``"done": true``.
#[pyfunction]
#[pyo3(signature = (source, *, max_event_size = DEFAULT_MAX_EVENT_SIZE as i64, framing = None))]
pub fn iter_chunks(
    py: Python<'_>,
    source: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = super::args::named::max_event_size)] max_event_size: i64,
    framing: Option<&str>,
) -> PyResult<ChunkIter> {
    make_iter(py, source, true, max_event_size, "iter_chunks()", framing)
}

/// Push parser: bytes in, ready items out. A fault is raised by the call
/// after the one that returned the items preceding it, so no item is lost.
#[pyclass(module = "sserpent", name = "ChunkParser")]
pub struct ChunkParser {
    pipeline: Pipeline,
    ready: Out,
}

impl ChunkParser {
    fn drain(&mut self, py: Python<'_>) -> PyResult<Vec<Py<PyAny>>> {
        let mut out = Vec::new();
        while let Some(front) = self.ready.front() {
            if front.is_err() {
                if out.is_empty() {
                    let Some(Err(fault)) = self.ready.pop_front() else {
                        unreachable!()
                    };
                    return Err(fault_to_pyerr(py, fault));
                }
                break;
            }
            let Some(Ok(item)) = self.ready.pop_front() else {
                unreachable!()
            };
            out.push(item_to_py(py, item)?);
        }
        Ok(out)
    }
}

#[pymethods]
impl ChunkParser {
    #[new]
    #[pyo3(signature = (chunks = true, max_event_size = DEFAULT_MAX_EVENT_SIZE as i64, framing = None))]
    fn new(
        chunks: bool,
        #[pyo3(from_py_with = super::args::named::max_event_size)] max_event_size: i64,
        framing: Option<&str>,
    ) -> PyResult<Self> {
        Ok(ChunkParser {
            pipeline: pipeline(chunks, max_event_size, framing)?,
            ready: Out::new(),
        })
    }

    fn feed(&mut self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Vec<Py<PyAny>>> {
        let (pipeline, ready) = (&mut self.pipeline, &mut self.ready);
        with_bytes("ChunkParser.feed()", data, |b| pipeline.feed(b, ready))?;
        self.drain(py)
    }

    /// The input ended: returns what is left, or raises the pending fault or
    /// :class:`IncompleteStreamError`.
    fn finish(&mut self, py: Python<'_>) -> PyResult<Vec<Py<PyAny>>> {
        self.pipeline.finish(&mut self.ready);
        self.drain(py)
    }

    /// True once a terminator or a fault was reached: stop feeding, call ``finish()``.
    #[getter]
    fn done(&self) -> bool {
        self.pipeline.finished()
    }
}
