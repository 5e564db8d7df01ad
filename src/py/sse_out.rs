//! Re-streaming: `stream.sse()` turns an upstream stream back into SSE bytes
//! for `StreamingResponse`, and `sse_encode` writes one event.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyStopAsyncIteration, PyStopIteration, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyString};

use crate::transport::messages::View;
use crate::wire::encode::encode_event;

use super::awaitable::{ready, thrown};
use super::event::PyEvent;
use super::stream::{Step, Stream, Want};

const PING: &[u8] = b": ping\n\n";

fn json_dumps(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<String> {
    static DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let dumps = DUMPS.get_or_try_init(py, || {
        py.import("json")?.getattr("dumps").map(Bound::unbind)
    })?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("separators", (",", ":"))?;
    kwargs.set_item("ensure_ascii", false)?;
    // What is sent downstream must be JSON: no NaN or infinities.
    kwargs.set_item("allow_nan", false)?;
    dumps.bind(py).call((value,), Some(&kwargs))?.extract()
}

fn encode(
    data: &str,
    event: Option<&str>,
    id: Option<&str>,
    retry: Option<u64>,
) -> PyResult<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len() + 16);
    encode_event(&mut out, data, event, id, retry).map_err(|e| PyValueError::new_err(e.0))?;
    Ok(out)
}

/// The data text of a value: str as is, bytes decoded, anything else as JSON
/// (chunk objects as their JSON text).
fn data_text(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(s.to_cow()?.into_owned());
    }
    if let Ok(b) = value.cast::<PyBytes>() {
        return Ok(String::from_utf8_lossy(b.as_bytes()).into_owned());
    }
    if let Ok(c) = value.cast::<super::chunk::Chunk>() {
        return Ok(c.get().json_text().to_string());
    }
    json_dumps(py, value)
}

/// Encodes one server-sent event: ``data`` (str, or JSON-encoded when it is
/// not), with optional ``event`` type, ``id`` and ``retry`` (ms). Multi-line
/// data becomes several ``data:`` lines; a line break in ``event`` or ``id``
/// raises ValueError instead of injecting fields.
#[pyfunction]
#[pyo3(signature = (data, event = None, id = None, retry = None))]
pub fn sse_encode<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    event: Option<&str>,
    id: Option<&str>,
    #[pyo3(from_py_with = super::args::named::opt_retry)] retry: Option<i64>,
) -> PyResult<Bound<'py, PyBytes>> {
    let retry = match retry {
        Some(r) if r < 0 => {
            return Err(PyValueError::new_err(format!(
                "retry must be >= 0 ms, got {r}"
            )))
        }
        r => r.map(|r| r as u64),
    };
    if let Ok(ev) = data.cast::<PyEvent>() {
        let ev = &ev.get().inner;
        let event = event.or(ev.event.as_deref());
        let id = id.or((!ev.id.is_empty()).then_some(&*ev.id));
        return Ok(PyBytes::new(py, &encode(&ev.data, event, id, retry)?));
    }
    let text = data_text(py, data)?;
    Ok(PyBytes::new(py, &encode(&text, event, id, retry)?))
}

struct SseState {
    last_activity: Instant,
    last_id: String,
    terminated: bool,
}

/// `stream.sse()`: SSE bytes, sync and async. Without ``transform`` the
/// upstream events pass through byte for byte as they came (line endings,
/// comments, field order, ``id:``/``retry:``; ``[DONE]`` kept), but for
/// comment-only blocks (keep-alives: ``ping`` sends sserpent's own) and a
/// leading BOM; events read before ``sse()`` was called are re-encoded;
/// with it, each chunk becomes ``transform(chunk)`` (a dict or list as JSON,
/// a str as data, an :class:`Event`, raw bytes, or None to drop) and
/// ``terminator`` (``"[DONE]"`` by default, None for none) ends the output.
/// ``ping`` sends a ``: ping`` comment after that many idle seconds.
#[pyclass(frozen, module = "sserpent", name = "SseIterator")]
pub struct SseIter {
    stream: Py<Stream>,
    transform: Option<Py<PyAny>>,
    ping: Option<Duration>,
    terminator: Option<String>,
    state: Mutex<SseState>,
}

impl SseIter {
    pub fn new(
        stream: Py<Stream>,
        transform: Option<Py<PyAny>>,
        ping: Option<f64>,
        terminator: Option<String>,
    ) -> PyResult<Self> {
        let ping = match ping {
            Some(p) => Some(super::args::seconds("ping", p)?),
            None => None,
        };
        Ok(SseIter {
            stream,
            transform,
            ping,
            terminator,
            state: Mutex::new(SseState {
                last_activity: Instant::now(),
                last_id: String::new(),
                terminated: false,
            }),
        })
    }

    fn view(&self) -> View {
        if self.transform.is_some() {
            View::Chunks
        } else {
            View::RawEvents
        }
    }

    fn deadline(&self, st: &SseState) -> Option<Instant> {
        self.ping.map(|p| st.last_activity + p)
    }

    /// Bytes for one upstream item, or None when the transform dropped it. Built as the
    /// Python object at once: a raw event is copied once, from its capture into the bytes
    /// object, and a transform's own `bytes` go out as they are.
    fn encode_item<'py>(
        &self,
        py: Python<'py>,
        st: &mut SseState,
        item: Py<PyAny>,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let new = |v: Vec<u8>| Some(PyBytes::new(py, &v));
        let Some(transform) = &self.transform else {
            let ev = item.bind(py).cast::<PyEvent>()?.get();
            let ev = &ev.inner;
            if let Some(raw) = &ev.raw {
                // As it came in; its own `id:` lines set the id downstream too.
                st.last_id = ev.id.to_string();
                return Ok(Some(PyBytes::new(py, raw)));
            }
            let id = if *ev.id != *st.last_id {
                st.last_id = ev.id.to_string();
                Some(&*ev.id)
            } else {
                None
            };
            return encode(&ev.data, ev.event.as_deref(), id, None).map(new);
        };
        let out = transform.bind(py).call1((item,))?;
        if out.is_none() {
            return Ok(None);
        }
        if out.is_exact_instance_of::<PyBytes>() {
            return Ok(Some(out.cast_into::<PyBytes>()?));
        }
        if let Ok(b) = out.cast::<PyBytes>() {
            // A bytes subclass: plain bytes downstream, as before.
            return Ok(Some(PyBytes::new(py, b.as_bytes())));
        }
        if let Ok(ev) = out.cast::<PyEvent>() {
            let ev = &ev.get().inner;
            let id = (!ev.id.is_empty()).then_some(&*ev.id);
            return encode(&ev.data, ev.event.as_deref(), id, None).map(new);
        }
        encode(&data_text(py, &out)?, None, None, None).map(new)
    }

    /// What to send once upstream ended: the terminator (transform mode), then nothing.
    fn end<'py>(
        &self,
        py: Python<'py>,
        st: &mut SseState,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        if st.terminated {
            return Ok(None);
        }
        st.terminated = true;
        match (&self.transform, &self.terminator) {
            (Some(_), Some(t)) => encode(t, None, None, None).map(|v| Some(PyBytes::new(py, &v))),
            _ => Ok(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SseState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[pymethods]
impl SseIter {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyBytes>>> {
        let stream = self.stream.get();
        loop {
            let deadline = self.deadline(&self.lock());
            let step = stream.wait_blocking(py, Some(self.view()), Want::Item, deadline)?;
            let mut st = self.lock();
            let bytes = match step {
                Step::Value(v) => {
                    st.last_activity = Instant::now();
                    match self.encode_item(py, &mut st, v)? {
                        Some(b) => b,
                        None => continue,
                    }
                }
                Step::Pending => {
                    st.last_activity = Instant::now();
                    PyBytes::new(py, PING)
                }
                Step::End | Step::Wait(_) => match self.end(py, &mut st)? {
                    Some(b) => b,
                    None => return Ok(None),
                },
            };
            return Ok(Some(bytes.unbind()));
        }
    }

    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __anext__(slf: &Bound<'_, Self>) -> PyResult<SsePending> {
        Ok(SsePending {
            iter: slf.clone().unbind(),
        })
    }

    /// Closes the upstream stream.
    fn close(&self) {
        self.stream.get().close_now();
    }

    fn aclose<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.close();
        ready(py, py.None())
    }
}

/// The awaitable of `SseIterator.__anext__`.
#[pyclass(frozen, module = "sserpent._sserpent", name = "_SsePending")]
pub struct SsePending {
    iter: Py<SseIter>,
}

#[pymethods]
impl SsePending {
    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let it = self.iter.get();
        let stream = it.stream.get();
        loop {
            let deadline = it.deadline(&it.lock());
            let step = stream.poll_async(py, Some(it.view()), Want::Item, deadline)?;
            let mut st = it.lock();
            let bytes = match step {
                Step::Wait(fut) => return Ok(fut),
                Step::Value(v) => {
                    st.last_activity = Instant::now();
                    match it.encode_item(py, &mut st, v)? {
                        Some(b) => b,
                        None => continue,
                    }
                }
                Step::Pending => {
                    st.last_activity = Instant::now();
                    PyBytes::new(py, PING)
                }
                Step::End => match it.end(py, &mut st)? {
                    Some(b) => b,
                    None => return Err(PyStopAsyncIteration::new_err(())),
                },
            };
            return Err(PyStopIteration::new_err(bytes.unbind()));
        }
    }

    fn send(&self, py: Python<'_>, _value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.__next__(py)
    }

    /// The awaiting task was cancelled (the downstream client went away):
    /// close the upstream connection at once, then let the exception propagate.
    #[pyo3(signature = (typ, val = None, _tb = None))]
    fn throw(
        &self,
        py: Python<'_>,
        typ: &Bound<'_, PyAny>,
        val: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        self.iter.get().stream.get().cancel_wait(py);
        Err(thrown(typ, val))
    }

    fn close(&self) {}
}
