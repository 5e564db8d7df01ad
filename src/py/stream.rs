//! `Stream`: a live SSE response read by a Rust task, consumed from Python
//! with `for` or `async for` at the cost of a buffer pop per item.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyRuntimeError, PyStopAsyncIteration, PyStopIteration, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use tokio::task::AbortHandle;

use crate::items::accumulate::Accumulator;
use crate::items::pipeline::Ending;
use crate::transport::channel::{AsyncWake, Channel, Wait};
use crate::transport::http::{HttpError, RequestSpec, ResponseHead};
use crate::transport::metrics::Metrics;
use crate::transport::stream::{Msg, StreamFault, StreamTask, View};

use super::adapters::item_to_py;
use super::bridge::{bridge_for, get_running_loop, BridgeWaker, FutureSlot, Waiter};
use super::client_inner::ClientInner;
use super::errors::{
    api_connection_error, api_timeout_error, content_decoding_error, incomplete_stream_error,
    make_error,
};
use super::stream_errors::fault_to_pyerr;
use super::urls::redact_url;
use super::values::new_str;

/// Items the reader task may hold ready before it stops reading the socket.
const CHANNEL_CAPACITY: usize = 1024;
/// How often a blocked sync consumer checks for Ctrl-C.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

struct Consumer {
    started: bool,
    buf: VecDeque<Msg>,
    finished: bool,
    view: Option<View>,
    head: Option<ResponseHead>,
    /// The loop (kept alive) of the last async wait, and the waker registered
    /// for it: made once per loop, not per wait (an allocation on this thread
    /// freed on a tokio thread, for every chunk).
    bridge: Option<(Py<PyAny>, Arc<dyn AsyncWake>)>,
}

#[pyclass(frozen, module = "sserpent", name = "Stream")]
pub struct Stream {
    client: Arc<ClientInner>,
    spec: RequestSpec,
    max_event_size: usize,
    ending: Option<Ending>,
    channel: Arc<Channel<Msg>>,
    metrics: Arc<Metrics>,
    task: Mutex<Option<AbortHandle>>,
    consumer: Mutex<Consumer>,
    /// This request's read-idle timeout, instead of the client's.
    read_timeout: Option<Duration>,
    slot: Arc<FutureSlot>,
    acc: Arc<Mutex<Accumulator>>,
    view_tx: tokio::sync::watch::Sender<Option<View>>,
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// What a consumer wants next.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    Item,
    Head,
    /// Everything left, discarded (for `final()`).
    Drain,
}

pub(crate) enum Step {
    Value(Py<PyAny>),
    End,
    /// Nothing ready (from `step`), or the deadline passed with nothing (from the waits).
    Pending,
    /// An async consumer must yield this asyncio future and poll again.
    Wait(Py<PyAny>),
}

impl Stream {
    pub fn new(
        client: Arc<ClientInner>,
        spec: RequestSpec,
        max_event_size: usize,
        ending: Option<Ending>,
    ) -> Self {
        Stream {
            client,
            spec,
            max_event_size,
            ending,
            channel: Channel::new(CHANNEL_CAPACITY),
            metrics: Arc::new(Metrics::default()),
            task: Mutex::new(None),
            consumer: Mutex::new(Consumer {
                started: false,
                buf: VecDeque::new(),
                finished: false,
                view: None,
                head: None,
                bridge: None,
            }),
            read_timeout: None,
            slot: Arc::new(FutureSlot::default()),
            acc: Arc::new(Mutex::new(Accumulator::default())),
            view_tx: tokio::sync::watch::channel(None).0,
        }
    }

    /// Overrides the client's read-idle timeout for this request.
    pub fn with_read_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.read_timeout = timeout;
        self
    }

    fn shutdown(&self) {
        self.channel.cancel();
        if let Some(task) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
    }

    fn consumer(&self) -> PyResult<MutexGuard<'_, Consumer>> {
        match self.consumer.try_lock() {
            Ok(c) => Ok(c),
            Err(TryLockError::Poisoned(p)) => Ok(p.into_inner()),
            Err(TryLockError::WouldBlock) => Err(PyRuntimeError::new_err(
                "this stream is already being read by another thread or task; a stream has one consumer at a time",
            )),
        }
    }

    /// Starts the reader task on first use; a read (not `open()`) fixes the view.
    fn start(&self, c: &mut Consumer, view: Option<View>, want: Want) -> PyResult<()> {
        if !c.started && c.finished {
            // closed before it was ever sent: never send it
            c.started = true;
        }
        if !c.started {
            let (client, lease) = self.client.http()?;
            c.started = true;
            let task = StreamTask {
                client,
                lease,
                spec: self.spec.clone(),
                opts: {
                    let mut opts = self.client.opts.clone();
                    if let Some(t) = self.read_timeout {
                        opts.read_timeout = t;
                    }
                    opts
                },
                channel: self.channel.clone(),
                metrics: self.metrics.clone(),
                view: self.view_tx.subscribe(),
                resolved: View::Chunks,
                max_event_size: self.max_event_size,
                ending: self.ending,
                acc: Some(self.acc.clone()),
            };
            let handle = crate::transport::runtime::runtime().spawn(task.run());
            *self.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle.abort_handle());
        }
        if want == Want::Head {
            return Ok(());
        }
        match (c.view, view) {
            (None, v) => {
                let v = v.unwrap_or(View::Chunks);
                c.view = Some(v);
                let _ = self.view_tx.send(Some(v));
                Ok(())
            }
            (Some(cur), Some(v)) if cur != v => Err(PyValueError::new_err(format!(
                "this stream is already being read as {}; choose one of iteration, events() or text() before reading",
                view_name(cur)
            ))),
            (Some(cur), None) if want == Want::Item && cur != View::Chunks => Err(PyValueError::new_err(format!(
                "this stream is already being read as {}; iterate that view instead",
                view_name(cur)
            ))),
            _ => Ok(()),
        }
    }

    /// Serves from the local buffer, refilling it from the channel without
    /// blocking. Faults become the Python exception; the end becomes `End`.
    fn step(&self, py: Python<'_>, c: &mut Consumer, want: Want) -> PyResult<Step> {
        loop {
            if want == Want::Head && c.head.is_some() {
                return Ok(Step::End);
            }
            if let Some(msg) = c.buf.front() {
                if want == Want::Head && !matches!(msg, Msg::Head(_) | Msg::Fault(_)) {
                    return Ok(Step::End);
                }
                let msg = c.buf.pop_front().expect("front exists");
                match msg {
                    Msg::Head(h) => {
                        c.head = Some(h);
                        continue;
                    }
                    Msg::Item(_) | Msg::Text(_) if want == Want::Drain => continue,
                    Msg::Item(item) => return item_to_py(py, item).map(Step::Value),
                    Msg::Text(t) => return Ok(Step::Value(new_str(py, &t))),
                    Msg::Fault(f) => {
                        c.finished = true;
                        c.buf.clear();
                        self.shutdown();
                        return Err(self.fault_to_pyerr(py, f));
                    }
                    Msg::End => {
                        c.finished = true;
                        c.buf.clear();
                        return Ok(Step::End);
                    }
                }
            }
            if c.finished {
                return Ok(Step::End);
            }
            match self.channel.take_ready(&mut c.buf) {
                Wait::Ready => continue,
                Wait::Closed => {
                    c.finished = true;
                    return Ok(Step::End);
                }
                Wait::Empty => return Ok(Step::Pending),
            }
        }
    }

    /// Sync consumer: waits with the GIL released, checking for Ctrl-C.
    fn next_blocking(
        &self,
        py: Python<'_>,
        view: Option<View>,
        want: Want,
    ) -> PyResult<Option<Py<PyAny>>> {
        match self.wait_blocking(py, view, want, None)? {
            Step::Value(v) => Ok(Some(v)),
            _ => Ok(None),
        }
    }

    /// Blocks until a value, the end, or `deadline` (then `Pending`).
    pub(crate) fn wait_blocking(
        &self,
        py: Python<'_>,
        view: Option<View>,
        want: Want,
        deadline: Option<Instant>,
    ) -> PyResult<Step> {
        let mut c = self.consumer()?;
        self.start(&mut c, view, want)?;
        loop {
            match self.step(py, &mut c, want)? {
                Step::Pending => {
                    let mut slice = SIGNAL_POLL;
                    if let Some(d) = deadline {
                        let left = d.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            return Ok(Step::Pending);
                        }
                        slice = slice.min(left);
                    }
                    let channel = &self.channel;
                    let buf = &mut c.buf;
                    py.detach(|| channel.wait_sync(buf, slice));
                    if let Err(e) = py.check_signals() {
                        c.finished = true;
                        self.shutdown();
                        return Err(e);
                    }
                }
                done => return Ok(done),
            }
        }
    }

    /// Async consumer: a ready value, the end, or a registered wait.
    pub(crate) fn poll_async(
        &self,
        py: Python<'_>,
        view: Option<View>,
        want: Want,
        deadline: Option<Instant>,
    ) -> PyResult<Step> {
        let mut c = self.consumer()?;
        self.start(&mut c, view, want)?;
        loop {
            match self.step(py, &mut c, want)? {
                Step::Pending => {}
                done => return Ok(done),
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left.is_some_and(|l| l.is_zero()) {
                return Ok(Step::Pending);
            }
            let event_loop = get_running_loop(py)?;
            let waker = match &c.bridge {
                Some((l, w)) if l.bind(py).is(&event_loop) => w.clone(),
                _ => {
                    let w: Arc<dyn AsyncWake> = Arc::new(BridgeWaker {
                        bridge: bridge_for(py, &event_loop)?,
                        slot: self.slot.clone(),
                    });
                    c.bridge = Some((event_loop.clone().unbind(), w.clone()));
                    w
                }
            };
            if self.slot.is_pending() {
                return Err(PyRuntimeError::new_err(
                    "this stream is already being read by another thread or task; a stream has one consumer at a time",
                ));
            }
            let fut = Bound::new(py, Waiter::new(event_loop.clone().unbind()))?;
            self.slot.set(fut.clone().unbind());
            match self.channel.take_or_register(&mut c.buf, waker) {
                Wait::Empty => {
                    if let Some(l) = left {
                        // Wake up at the deadline even if nothing arrives.
                        let wake = wrap_pyfunction!(resolve_future, py)?;
                        event_loop.call_method1(
                            pyo3::intern!(py, "call_later"),
                            (l.as_secs_f64(), wake, &fut),
                        )?;
                    }
                    return Ok(Step::Wait(fut.into_any().unbind()));
                }
                // Something arrived meanwhile: serve it (a drain may consume it all
                // and have to wait again).
                _ => {
                    self.slot.take();
                }
            }
        }
    }

    fn fault_to_pyerr(&self, py: Python<'_>, fault: StreamFault) -> PyErr {
        match fault {
            StreamFault::Pipeline(f) => fault_to_pyerr(py, f),
            StreamFault::Http(e) => http_to_pyerr(py, e, &self.spec),
            StreamFault::Broken(m) => make_error(
                py,
                incomplete_stream_error(py),
                format!("{m} ({})", target_of(&self.spec)),
                None,
            ),
            StreamFault::Decoding(m) => make_error(
                py,
                content_decoding_error(py),
                format!("{m} ({})", target_of(&self.spec)),
                None,
            ),
        }
    }

    fn head_value<R>(&self, f: impl FnOnce(&ResponseHead) -> R) -> Option<R> {
        let c = self.consumer.lock().unwrap_or_else(|e| e.into_inner());
        c.head.as_ref().map(f)
    }
}

fn view_name(v: View) -> &'static str {
    match v {
        View::Chunks => "chunks",
        View::Events => "events()",
        View::Text => "text()",
        View::Body => "a JSON body",
    }
}

/// `POST http://host/path`: the request an error names (no query, no credentials).
fn target_of(spec: &RequestSpec) -> String {
    format!("{} {}", spec.method, redact_url(&spec.url))
}

pub fn http_to_pyerr(py: Python<'_>, e: HttpError, spec: &RequestSpec) -> PyErr {
    let target = target_of(spec);
    match e {
        HttpError::Timeout(m) => {
            make_error(py, api_timeout_error(py), format!("{m} ({target})"), None)
        }
        HttpError::Connect(m) | HttpError::Body(m) => make_error(
            py,
            api_connection_error(py),
            format!("{m} ({target})"),
            None,
        ),
        HttpError::Invalid(m) => PyValueError::new_err(m),
        HttpError::Status { head, body } => status_error(py, &head, &body, &target),
    }
}

fn is_html(head: &ResponseHead, text: &str) -> bool {
    let declared = head.headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("content-type") && v.to_ascii_lowercase().contains("html")
    });
    let start = text
        .trim_start()
        .chars()
        .take(14)
        .collect::<String>()
        .to_ascii_lowercase();
    declared || start.starts_with("<!doctype html") || start.starts_with("<html")
}

/// The readable part of an HTML page: its `<title>`, else its text without tags,
/// whitespace collapsed.
fn html_summary(text: &str) -> Option<String> {
    let collapse = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    // ASCII lower-casing keeps byte offsets, so they index `text` too.
    let lower = text.to_ascii_lowercase();
    if let Some(start) = lower.find("<title") {
        if let Some(open_end) = lower[start..].find('>').map(|i| start + i + 1) {
            if let Some(end) = lower[open_end..].find("</title>").map(|i| open_end + i) {
                let title = collapse(&text[open_end..end]);
                if !title.is_empty() {
                    return Some(title);
                }
            }
        }
    }
    let mut plain = String::with_capacity(text.len());
    let mut in_tag = false;
    for ch in text.chars() {
        match ch {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                plain.push(' ');
            }
            c if !in_tag => plain.push(c),
            _ => {}
        }
    }
    let plain = collapse(&plain);
    (!plain.is_empty()).then_some(plain)
}

fn status_error(py: Python<'_>, head: &ResponseHead, body: &[u8], target: &str) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let text = String::from_utf8_lossy(body).into_owned();
        let parsed = py
            .import("json")?
            .getattr("loads")?
            .call1((text.as_str(),))
            .unwrap_or_else(|_| pyo3::types::PyString::new(py, &text).into_any());
        // The provider's message: {"error": {"message": ...}}, {"message": ...} or the text.
        let mut detail = None;
        if let Ok(d) = parsed.cast::<PyDict>() {
            let err = d.get_item("error")?;
            let holder = match &err {
                Some(e) if e.is_instance_of::<PyDict>() => e.clone(),
                _ => d.clone().into_any(),
            };
            if let Ok(Some(m)) = holder
                .cast::<PyDict>()
                .map(|h| h.get_item("message"))
                .unwrap_or(Ok(None))
            {
                detail = Some(m.str()?.to_string());
            } else if let Some(e) = err.filter(|e| e.is_instance_of::<pyo3::types::PyString>()) {
                detail = Some(e.str()?.to_string());
            }
        } else if !text.trim().is_empty() {
            // A proxy's HTML error page: its title (or its text), not its markup.
            let summary = is_html(head, &text)
                .then(|| html_summary(&text))
                .flatten()
                .unwrap_or_else(|| text.trim().to_string());
            let mut t: String = summary.chars().take(200).collect();
            if summary.chars().count() > 200 {
                t.push_str("...");
            }
            detail = Some(t);
        }
        let message = match detail {
            Some(d) => format!("HTTP {} from {target}: {d}", head.status),
            None => format!("HTTP {} from {target}", head.status),
        };
        let headers = PyDict::new(py);
        for (k, v) in &head.headers {
            headers.set_item(k, v)?;
        }
        let kwargs = PyDict::new(py);
        kwargs.set_item("status_code", head.status)?;
        kwargs.set_item("body", parsed)?;
        kwargs.set_item("request_id", &head.request_id)?;
        kwargs.set_item("headers", headers)?;
        let cls = py
            .import("sserpent._errors")?
            .getattr("status_error_class")?
            .call1((head.status,))?;
        Ok(PyErr::from_value(cls.call((message,), Some(&kwargs))?))
    };
    build().unwrap_or_else(|e| e)
}

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

    /// Reads what is left and returns the accumulated result (the same names
    /// for every provider): ``text``, ``role``, ``finish_reason``, ``refusal``,
    /// ``tool_calls``, ``usage``, ``choices``. Chunks already iterated count too.
    #[pyo3(name = "final")]
    fn final_(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        {
            let c = self.consumer()?;
            if c.view == Some(View::Events) {
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
        ping: Option<f64>,
        terminator: Option<String>,
    ) -> PyResult<super::sse_out::SseIter> {
        super::sse_out::SseIter::new(slf.clone().unbind(), transform, ping, terminator)
    }

    fn aclose(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.close();
        Ok(Py::new(py, Ready { value: py.None() })?.into_any())
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(
        &self,
        _a: Option<&Bound<'_, PyAny>>,
        _b: Option<&Bound<'_, PyAny>>,
        _c: Option<&Bound<'_, PyAny>>,
    ) -> bool {
        self.close();
        false
    }

    fn __aenter__(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        Ok(Py::new(
            slf.py(),
            Ready {
                value: slf.clone().into_any().unbind(),
            },
        )?
        .into_any())
    }

    fn __aexit__(
        &self,
        py: Python<'_>,
        _a: Option<&Bound<'_, PyAny>>,
        _b: Option<&Bound<'_, PyAny>>,
        _c: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        self.close();
        Ok(Py::new(
            py,
            Ready {
                value: false.into_pyobject(py)?.to_owned().into_any().unbind(),
            },
        )?
        .into_any())
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

fn anext(
    py: Python<'_>,
    stream: Py<PyAny>,
    this: &Stream,
    view: Option<View>,
) -> PyResult<Py<PyAny>> {
    match this.step_now(py, view)? {
        Some(Step::Value(v)) => Ok(Py::new(py, Ready { value: v })?.into_any()),
        Some(Step::End) => Err(PyStopAsyncIteration::new_err(())),
        Some(Step::Wait(_)) => unreachable!("step never waits"),
        _ => {
            let stream: Py<Stream> = stream
                .bind(py)
                .clone()
                .cast_into::<Stream>()
                .map_err(PyErr::from)?
                .unbind();
            Ok(Py::new(
                py,
                Pending {
                    stream,
                    view,
                    want: Want::Item,
                    result: None,
                },
            )?
            .into_any())
        }
    }
}

/// An already-resolved awaitable.
pub(crate) fn ready(py: Python<'_>, value: Py<PyAny>) -> PyResult<Bound<'_, PyAny>> {
    Ok(Bound::new(py, Ready { value })?.into_any())
}

impl Stream {
    /// Closes the stream (also from `sse()` and the awaitables).
    pub(crate) fn close_now(&self) {
        if let Ok(mut c) = self.consumer.try_lock() {
            c.finished = true;
            c.buf.clear();
        }
        self.shutdown();
    }

    /// A task awaiting this stream was cancelled: drop its future, close.
    pub(crate) fn cancel_wait(&self, py: Python<'_>) {
        if let Some(waiter) = self.slot.take() {
            let _ = Waiter::cancel_now(waiter.bind(py), None);
        }
        self.close_now();
    }

    /// `client.request(...)`: the parsed JSON body of a non-streamed response.
    pub fn body_blocking(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.next_blocking(py, Some(View::Body), Want::Item)? {
            Some(v) => Ok(v),
            None => Err(PyRuntimeError::new_err("the response ended without a body")),
        }
    }

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

    fn final_value(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let value = self
            .acc
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .to_value();
        let doc = crate::wire::json::Doc::parse(value.to_string()).map_err(|e| {
            PyRuntimeError::new_err(format!("internal error building the result: {e}"))
        })?;
        super::chunk::doc_to_py(
            py,
            Arc::new(doc),
            &crate::providers::openai::schema::STREAM_RESULT,
        )
    }

    /// A non-blocking step (None when the consumer is busy elsewhere is an error).
    fn step_now(&self, py: Python<'_>, view: Option<View>) -> PyResult<Option<Step>> {
        let mut c = self.consumer()?;
        self.start(&mut c, view, Want::Item)?;
        self.step(py, &mut c, Want::Item).map(Some)
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

/// An awaitable whose value is already known (no event-loop round trip).
#[pyclass(frozen, module = "sserpent._sserpent", name = "_Ready")]
pub struct Ready {
    value: Py<PyAny>,
}

#[pymethods]
impl Ready {
    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Err(PyStopIteration::new_err(self.value.clone_ref(py)))
    }

    fn send(&self, py: Python<'_>, _value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.__next__(py)
    }

    #[pyo3(signature = (typ, val = None, _tb = None))]
    fn throw(
        &self,
        typ: &Bound<'_, PyAny>,
        val: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        Err(thrown(typ, val))
    }

    fn close(&self) {}
}

/// The awaitable of an `__anext__` (or `aopen()`) that has to wait: yields
/// an asyncio future resolved through the loop bridge, then tries again.
#[pyclass(module = "sserpent._sserpent", name = "_Pending")]
pub struct Pending {
    stream: Py<Stream>,
    view: Option<View>,
    want: Want,
    /// For `aopen()`: the value to return once the headers are in.
    result: Option<Py<PyAny>>,
}

#[pymethods]
impl Pending {
    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let stream = self.stream.get();
        match stream.poll_async(py, self.view, self.want, None)? {
            Step::Wait(fut) => Ok(fut),
            Step::Value(v) => Err(PyStopIteration::new_err(v)),
            Step::End => match (&self.want, &self.result) {
                (Want::Head, Some(r)) => Err(PyStopIteration::new_err(r.clone_ref(py))),
                (Want::Drain, _) => Err(PyStopIteration::new_err(stream.final_value(py)?)),
                _ => Err(PyStopAsyncIteration::new_err(())),
            },
            Step::Pending => unreachable!("no deadline was given"),
        }
    }

    fn send(&self, py: Python<'_>, _value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.__next__(py)
    }

    /// The awaiting task was cancelled (or another error thrown in): close
    /// the upstream connection at once, then let the exception propagate.
    #[pyo3(signature = (typ, val = None, _tb = None))]
    fn throw(
        &self,
        py: Python<'_>,
        typ: &Bound<'_, PyAny>,
        val: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let stream = self.stream.get();
        if let Some(waiter) = stream.slot.take() {
            let _ = Waiter::cancel_now(waiter.bind(py), None);
        }
        stream.close();
        Err(thrown(typ, val))
    }

    fn close(&self) {}
}

/// The exception `throw(typ, val, tb)` asked for (an instance or a class).
pub(crate) fn thrown(typ: &Bound<'_, PyAny>, val: Option<&Bound<'_, PyAny>>) -> PyErr {
    match val.filter(|v| !v.is_none()) {
        Some(v) => PyErr::from_value(v.clone()),
        None => PyErr::from_value(typ.clone()),
    }
}

/// `loop.call_later` target: ends a deadline wait if nothing woke it first.
#[pyfunction]
fn resolve_future(fut: &Bound<'_, Waiter>) -> PyResult<()> {
    Waiter::wake(fut)
}

/// Response headers with case-insensitive lookup.
#[pyclass(frozen, module = "sserpent", name = "Headers")]
pub struct Headers {
    pairs: Vec<(String, String)>,
}

#[pymethods]
impl Headers {
    fn __getitem__(&self, key: &str) -> PyResult<String> {
        self.get(key, None)
            .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(key.to_string()))
    }

    /// The value of ``key`` (values of a repeated header joined with ", ").
    #[pyo3(signature = (key, default = None))]
    fn get(&self, key: &str, default: Option<String>) -> Option<String> {
        let values: Vec<&str> = self
            .pairs
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
            .collect();
        if values.is_empty() {
            default
        } else {
            Some(values.join(", "))
        }
    }

    fn get_list(&self, key: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn __contains__(&self, key: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k.eq_ignore_ascii_case(key))
    }

    fn keys(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (k, _) in &self.pairs {
            if !out.iter().any(|o| o.eq_ignore_ascii_case(k)) {
                out.push(k.clone());
            }
        }
        out
    }

    fn items(&self) -> Vec<(String, String)> {
        self.keys()
            .into_iter()
            .map(|k| {
                let v = self.get(&k, None).unwrap_or_default();
                (k, v)
            })
            .collect()
    }

    fn __len__(&self) -> usize {
        self.keys().len()
    }

    fn __iter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(PyList::new(py, self.keys())?
            .try_iter()?
            .into_any()
            .unbind())
    }

    fn __repr__(&self) -> String {
        format!("Headers({:?})", self.items())
    }
}

/// Timings and counts of one stream; times in seconds from the request start.
#[pyclass(frozen, module = "sserpent", name = "StreamMetrics", get_all)]
pub struct StreamMetrics {
    time_to_headers: Option<f64>,
    time_to_first_event: Option<f64>,
    time_to_first_token: Option<f64>,
    chunks: u64,
    bytes_received: u64,
    duration: Option<f64>,
    gap_p50: Option<f64>,
    gap_p99: Option<f64>,
    attempts: u32,
}

impl From<&crate::transport::metrics::Snapshot> for StreamMetrics {
    fn from(s: &crate::transport::metrics::Snapshot) -> Self {
        let secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
        StreamMetrics {
            time_to_headers: secs(s.since_start(s.headers_at)),
            time_to_first_event: secs(s.since_start(s.first_event_at)),
            time_to_first_token: secs(s.since_start(s.first_text_at)),
            chunks: s.chunks,
            bytes_received: s.bytes,
            duration: secs(s.since_start(s.ended_at)),
            gap_p50: secs(s.gap_percentile(0.5)),
            gap_p99: secs(s.gap_percentile(0.99)),
            attempts: s.attempts,
        }
    }
}

#[pymethods]
impl StreamMetrics {
    /// Chunks per second over the stream's duration.
    #[getter]
    fn chunks_per_second(&self) -> Option<f64> {
        self.duration
            .filter(|d| *d > 0.0)
            .map(|d| self.chunks as f64 / d)
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("time_to_headers", self.time_to_headers)?;
        d.set_item("time_to_first_event", self.time_to_first_event)?;
        d.set_item("time_to_first_token", self.time_to_first_token)?;
        d.set_item("chunks", self.chunks)?;
        d.set_item("bytes_received", self.bytes_received)?;
        d.set_item("duration", self.duration)?;
        d.set_item("gap_p50", self.gap_p50)?;
        d.set_item("gap_p99", self.gap_p99)?;
        d.set_item("attempts", self.attempts)?;
        d.set_item("chunks_per_second", self.chunks_per_second())?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let ms = |v: Option<f64>| {
            v.map(|s| format!("{:.1}ms", s * 1e3))
                .unwrap_or_else(|| "-".into())
        };
        format!(
            "StreamMetrics(ttfb={}, ttft={}, chunks={}, bytes={}, duration={}, gap_p50={}, gap_p99={})",
            ms(self.time_to_headers),
            ms(self.time_to_first_token),
            self.chunks,
            self.bytes_received,
            ms(self.duration),
            ms(self.gap_p50),
            ms(self.gap_p99)
        )
    }
}
