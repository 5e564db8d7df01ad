//! `Stream`'s Python methods (iteration, `open`/`read`/`final`, their async
//! forms, `sse()`, the response's status, headers and metrics) and `StreamView`,
//! the same stream read as events or text. The top of the stream files: these
//! build the awaitables and `sse()`'s iterator, which read through `stream.rs`.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::transport::messages::View;

use super::awaitable::{anext, ready, Pending};
use super::headers::Headers;
use super::metrics::StreamMetrics;
use super::sse_out::SseIter;
use super::stream::{view_name, Stream, Want};
use super::urls::redact_url;

#[pymethods]
impl Stream {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.next_blocking(py, None, Want::Item)
    }

    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __anext__(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        anext(slf.py(), slf.clone().into_any().unbind(), slf.get(), None)
    }

    /// Sends the request and waits for the response headers; raises the
    /// HTTP error (APIStatusError, APIConnectionError, ...) before any chunk is read.
    fn open<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, Self>> {
        slf.get().next_blocking(slf.py(), None, Want::Head)?;
        Ok(slf.clone())
    }

    /// The whole body parsed as JSON (chunk objects): for a non-streamed response, as
    /// from :meth:`Client.send`. Sends the request first if needed; HTTP errors raise.
    fn read(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.body_blocking(py)
    }

    /// Async :meth:`read`: ``await stream.aread()``.
    fn aread(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        Stream::body_awaitable(slf)
    }

    /// Async ``open()``: ``await stream.aopen()`` returns the stream.
    fn aopen(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let this = slf.clone().unbind();
        let awaitable = Pending {
            stream: this.clone_ref(py),
            view: None,
            want: Want::Head,
            result: Some(this.into_any()),
        };
        Ok(Py::new(py, awaitable)?.into_any())
    }

    /// Raw :class:`Event` objects (``for`` and ``async for``).
    fn events(slf: &Bound<'_, Self>) -> PyResult<StreamView> {
        StreamView::new(slf, View::Events)
    }

    /// Just the text deltas, as ``str`` (``for`` and ``async for``).
    fn text(slf: &Bound<'_, Self>) -> PyResult<StreamView> {
        StreamView::new(slf, View::Text)
    }

    /// Just the reasoning deltas, as ``str`` (``for`` and ``async for``): what
    /// OpenAI-compatible servers stream in ``delta.reasoning_content`` (DeepSeek,
    /// vLLM) or ``delta.reasoning`` (vLLM, OpenRouter, Ollama's ``/v1``), Ollama's
    /// ``thinking`` and Anthropic's thinking blocks. ``text()`` stays the answer only.
    fn reasoning_text(slf: &Bound<'_, Self>) -> PyResult<StreamView> {
        StreamView::new(slf, View::Reasoning)
    }

    /// Reads what is left and returns the accumulated result (the same names
    /// for every provider): ``text``, ``role``, ``finish_reason``, ``refusal``, ``reasoning``,
    /// ``tool_calls``, ``usage``, ``choices``. Chunks already iterated count too.
    #[pyo3(name = "final")]
    fn final_(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        {
            let c = self.consumer()?;
            if matches!(c.view, Some(View::Events | View::RawEvents)) {
                return Err(PyValueError::new_err(
                    "final() needs a chunk stream, not events()",
                ));
            }
        }
        self.next_blocking(py, None, Want::Drain)?;
        self.final_value(py)
    }

    /// Async ``final()``.
    fn afinal(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let awaitable = Pending {
            stream: slf.clone().unbind(),
            view: None,
            want: Want::Drain,
            result: None,
        };
        Ok(Py::new(py, awaitable)?.into_any())
    }

    /// Stops reading and closes the upstream connection.
    fn close(&self) {
        self.close_now();
    }

    /// Internal (telemetry, logging): ``callback(record)`` once when the stream
    /// ends, fails, is closed or dropped; ``record`` is a dict of its times
    /// (Unix ns, Rust clock), counts, status and what ``final()`` would read.
    #[pyo3(signature = (callback, with_text = false))]
    fn _on_end(&self, callback: Py<PyAny>, with_text: bool) {
        self.end_hook.set(callback, with_text);
    }

    /// Renders the text live in a Jupyter output cell (``sserpent.notebook.display``).
    fn display(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        Ok(py
            .import("sserpent.notebook")?
            .getattr("display")?
            .call1((slf,))?
            .unbind())
    }

    /// SSE bytes for ``StreamingResponse``: the upstream events unchanged, or
    /// ``transform(chunk)`` re-encoded; ``ping`` idle seconds between ``: ping``
    /// comments. Sync and async iterable.
    #[pyo3(signature = (transform = None, *, ping = None, terminator = Some("[DONE]".to_string())))]
    fn sse(
        slf: &Bound<'_, Self>,
        transform: Option<Py<PyAny>>,
        #[pyo3(from_py_with = super::args::named::opt_ping)] ping: Option<f64>,
        terminator: Option<String>,
    ) -> PyResult<SseIter> {
        SseIter::new(slf.clone().unbind(), transform, ping, terminator)
    }

    fn aclose(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.close();
        Ok(ready(py, py.None())?.unbind())
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(
        &self,
        _a: Option<&Bound<'_, PyAny>>,
        b: Option<&Bound<'_, PyAny>>,
        _c: Option<&Bound<'_, PyAny>>,
    ) -> bool {
        match b.filter(|e| !e.is_none()) {
            Some(e) => self.close_with(e.py(), e),
            None => self.close(),
        }
        false
    }

    fn __aenter__(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        Ok(ready(slf.py(), slf.clone().into_any().unbind())?.unbind())
    }

    fn __aexit__(
        &self,
        py: Python<'_>,
        _a: Option<&Bound<'_, PyAny>>,
        b: Option<&Bound<'_, PyAny>>,
        _c: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        match b.filter(|e| !e.is_none()) {
            Some(e) => self.close_with(py, e),
            None => self.close(),
        }
        let value = false.into_pyobject(py)?.to_owned().into_any().unbind();
        Ok(ready(py, value)?.unbind())
    }

    /// HTTP status, once the response headers arrived (``None`` before).
    #[getter]
    fn status(&self) -> Option<u16> {
        self.head_value(|h| h.status)
    }

    /// Response headers (case-insensitive), once they arrived.
    #[getter]
    fn headers(&self) -> Option<Headers> {
        self.head_value(|h| Headers {
            pairs: h.headers.clone(),
        })
    }

    /// The response's HTTP version (``"HTTP/1.1"``, ``"HTTP/2"``), once the headers arrived.
    #[getter]
    fn http_version(&self) -> Option<&'static str> {
        self.head_value(|h| h.http_version)
    }

    /// Whether the stream is done with: read to its end (a body read whole, or every
    /// chunk taken), failed, or closed. ``False`` before the request is sent, and while
    /// chunks are left to read even if the connection already delivered them all.
    #[getter]
    fn is_closed(&self) -> bool {
        if self.channel.is_cancelled() {
            return true;
        }
        let c = self.consumer.lock().unwrap_or_else(|e| e.into_inner());
        c.finished || (c.view == Some(View::Body) && self.metrics.with(|m| m.ended_at.is_some()))
    }

    /// ``x-request-id``, ``apim-request-id`` or ``opc-request-id``.
    #[getter]
    fn request_id(&self) -> Option<String> {
        self.head_value(|h| h.request_id.clone()).flatten()
    }

    #[getter]
    fn metrics(&self) -> StreamMetrics {
        StreamMetrics::from(&self.metrics.snapshot())
    }

    #[getter]
    fn url(&self) -> String {
        redact_url(&self.spec.url)
    }

    fn __repr__(&self) -> String {
        let status = self
            .head_value(|h| h.status)
            .map(|s| format!(" status={s}"))
            .unwrap_or_default();
        format!(
            "<Stream {} {}{status}>",
            self.spec.method,
            redact_url(&self.spec.url)
        )
    }
}

// Here rather than in stream.rs, which the awaitables are built on.
impl Stream {
    /// `await client.arequest(...)`.
    pub fn body_awaitable(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        let awaitable = Pending {
            stream: slf.clone().unbind(),
            view: Some(View::Body),
            want: Want::Item,
            result: None,
        };
        Ok(Py::new(slf.py(), awaitable)?.into_any())
    }
}

/// `stream.events()` / `stream.text()`: the same stream read another way.
#[pyclass(frozen, module = "sserpent", name = "StreamView")]
pub struct StreamView {
    stream: Py<Stream>,
    view: View,
}

impl StreamView {
    fn new(stream: &Bound<'_, Stream>, view: View) -> PyResult<Self> {
        let this = stream.get();
        let c = this.consumer()?;
        if let Some(cur) = c.view {
            if cur != view {
                return Err(PyValueError::new_err(format!(
                    "this stream is already being read as {}; choose one of iteration, events() or text() before reading",
                    view_name(cur)
                )));
            }
        }
        Ok(StreamView {
            stream: stream.clone().unbind(),
            view,
        })
    }
}

#[pymethods]
impl StreamView {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.stream
            .get()
            .next_blocking(py, Some(self.view), Want::Item)
    }

    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __anext__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        anext(
            py,
            self.stream.clone_ref(py).into_any(),
            self.stream.get(),
            Some(self.view),
        )
    }

    fn __repr__(&self) -> String {
        format!(
            "<StreamView {} of {}>",
            view_name(self.view),
            self.stream.get().__repr__()
        )
    }
}
