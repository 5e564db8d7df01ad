//! `Stream`: a live SSE response read by a Rust task, consumed from Python
//! with `for` or `async for` at the cost of a buffer pop per item.
//!
//! Here: the type and how it is read (the reader task started on first use,
//! the buffer it fills, the blocking and the async waits). Its Python methods
//! are in `stream_methods.rs`, above the awaitables and `sse()`, which read
//! through these.

use std::collections::VecDeque;
use std::ptr;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use tokio::task::AbortHandle;

use crate::items::accumulate::Accumulator;
use crate::items::pipeline::{Ending, Framing, Item};
use crate::transport::channel::{AsyncWake, Channel, Wait};
use crate::transport::http::{RequestSpec, ResponseHead};
use crate::transport::messages::{Msg, StreamFault, View};
use crate::transport::metrics::Metrics;
use crate::transport::stream::StreamTask;

use super::adapters::item_to_py;
use super::alloc::new_object;
use super::bridge::{bridge_for, BridgeWaker};
use super::chunk::{doc_to_py, stream_doc_to_py};
use super::client_inner::ClientInner;
use super::end_hook::EndHook;
use super::errors::{content_decoding_error, incomplete_stream_error, make_error};
use super::running_loop::{running_loop, LastLoop};
use super::stream_errors::{fault_to_pyerr, http_to_pyerr, target_of};
use super::values::new_str;
use super::waiter::{resolve_future, FutureSlot, Waiter};

/// Items the channel may hold before the reader task stops reading the socket (a read's
/// items go in whole below this: `Channel::push_many`).
const CHANNEL_CAPACITY: usize = 1024;
/// How often a blocked sync consumer checks for Ctrl-C.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

pub(super) struct Consumer {
    started: bool,
    buf: VecDeque<Msg>,
    pub(super) finished: bool,
    pub(super) view: Option<View>,
    head: Option<ResponseHead>,
    /// The loop (kept alive) of the last async wait, and the waker registered
    /// for it: made once per loop, not per wait (an allocation on this thread
    /// freed on a tokio thread, for every chunk).
    bridge: Option<(LastLoop, Arc<dyn AsyncWake>)>,
}

#[pyclass(frozen, module = "sserpent", name = "Stream")]
pub struct Stream {
    client: Arc<ClientInner>,
    pub(super) spec: RequestSpec,
    max_event_size: usize,
    ending: Option<Ending>,
    framing: Option<Framing>,
    require_done: bool,
    pub(super) channel: Arc<Channel<Msg>>,
    pub(super) metrics: Arc<Metrics>,
    task: Mutex<Option<AbortHandle>>,
    pub(super) consumer: Mutex<Consumer>,
    /// This request's read-idle timeout, instead of the client's.
    read_timeout: Option<Duration>,
    pub(super) slot: Arc<FutureSlot>,
    acc: Arc<Mutex<Accumulator>>,
    view_tx: tokio::sync::watch::Sender<Option<View>>,
    /// Called once when the stream ends, fails or is closed (telemetry, logging).
    pub(super) end_hook: EndHook,
}

impl Consumer {
    fn clear(&mut self) {
        self.buf.clear();
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.shutdown();
        if self.end_hook.is_set() {
            self.fire_end_when_freed();
        }
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
            framing: None,
            require_done: true,
            channel: Channel::with_hint(CHANNEL_CAPACITY, Msg::prefetch),
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
            end_hook: EndHook::default(),
        }
    }

    /// The body's framing (`None`: from its `Content-Type`), and whether a
    /// stream owing `data: [DONE]` must end with it.
    pub fn with_wire(mut self, framing: Option<Framing>, require_done: bool) -> Self {
        self.framing = framing;
        self.require_done = require_done;
        self
    }

    /// Overrides the client's read-idle timeout for this request.
    pub fn with_read_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.read_timeout = timeout;
        self
    }

    fn shutdown(&self) {
        {
            // Under the fold's lock, which the reader task folds a delivery under and checks
            // the channel in: once this returns no chunk is folded any more, so `final()`
            // and the end hook's telemetry after a close stay what they are.
            let _fold = self.acc.lock().unwrap_or_else(|e| e.into_inner());
            self.channel.cancel();
        }
        if let Some(task) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
    }

    pub(super) fn consumer(&self) -> PyResult<MutexGuard<'_, Consumer>> {
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
                upstream: client,
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
                framing: self.framing,
                require_done: self.require_done,
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
                    Msg::Item(Item::Chunk(c)) => {
                        return stream_doc_to_py(py, c.doc, c.schema).map(Step::Value)
                    }
                    Msg::Item(item) => return item_to_py(py, item).map(Step::Value),
                    Msg::Text(t) => return Ok(Step::Value(new_str(py, &t))),
                    Msg::Fault(f) => {
                        c.finished = true;
                        c.clear();
                        self.shutdown();
                        let err = self.fault_to_pyerr(py, f);
                        self.fire_end_with(py, c, Some(err.value(py).as_any()));
                        return Err(err);
                    }
                    Msg::End => {
                        c.finished = true;
                        c.clear();
                        self.fire_end_with(py, c, None);
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
                    self.fire_end_with(py, c, None);
                    return Ok(Step::End);
                }
                Wait::Empty => return Ok(Step::Pending),
            }
        }
    }

    /// Sync consumer: waits with the GIL released, checking for Ctrl-C.
    pub(super) fn next_blocking(
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
                        self.fire_end_with(py, &c, Some(e.value(py).as_any()));
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
            let event_loop = running_loop(py, c.bridge.as_ref().map(|(l, _)| l))?;
            if !matches!(&c.bridge, Some((l, _)) if l.event_loop.bind(py).is(&event_loop)) {
                let w: Arc<dyn AsyncWake> = Arc::new(BridgeWaker {
                    bridge: bridge_for(py, &event_loop)?,
                    slot: self.slot.clone(),
                    stream_at: self as *const Stream as usize,
                });
                c.bridge = Some((LastLoop::new(&event_loop), w));
            }
            if self.slot.is_pending() {
                return Err(PyRuntimeError::new_err(
                    "this stream is already being read by another thread or task; a stream has one consumer at a time",
                ));
            }
            let fut = new_object(py, Waiter::new(event_loop.clone().unbind()))?;
            self.slot.set(fut.clone().unbind());
            let Consumer { buf, bridge, .. } = &mut *c;
            let (_, waker) = bridge.as_ref().expect("set above");
            match self.channel.take_or_register(buf, waker) {
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

    pub(super) fn head_value<R>(&self, f: impl FnOnce(&ResponseHead) -> R) -> Option<R> {
        let c = self.consumer.lock().unwrap_or_else(|e| e.into_inner());
        c.head.as_ref().map(f)
    }
}

pub(super) fn view_name(v: View) -> &'static str {
    match v {
        View::Chunks => "chunks",
        View::Events => "events()",
        View::RawEvents => "sse()",
        View::Text => "text()",
        View::Reasoning => "reasoning_text()",
        View::Body => "a JSON body",
    }
}

impl Stream {
    /// Closes the stream (also from `sse()` and the awaitables).
    pub(crate) fn close_now(&self) {
        if let Ok(mut c) = self.consumer.try_lock() {
            c.finished = true;
            c.clear();
        }
        self.shutdown();
        if self.end_hook.is_set() {
            Python::attach(|py| self.fire_end(py, None));
        }
    }

    /// Closes the stream because `error` was raised in its reader (a cancelled
    /// task, an exception leaving a `with` block): the end hook sees the error.
    pub(crate) fn close_with(&self, py: Python<'_>, error: &Bound<'_, PyAny>) {
        if let Ok(mut c) = self.consumer.try_lock() {
            c.finished = true;
            c.clear();
        }
        self.shutdown();
        self.fire_end(py, Some(error));
    }

    /// A task awaiting this stream was cancelled: drop its future, close.
    pub(crate) fn cancel_wait(&self, py: Python<'_>) {
        if let Some(waiter) = self.slot.take() {
            let _ = Waiter::cancel_now(waiter.bind(py), None);
        }
        let cancelled = py
            .import("asyncio")
            .and_then(|m| m.getattr("CancelledError"))
            .and_then(|t| t.call0());
        match cancelled {
            Ok(e) => self.close_with(py, &e),
            Err(_) => self.close_now(),
        }
    }

    /// Fires the end hook (when one is set) with the consumer's head, if the
    /// consumer is free; `fire_end_with` when the caller holds it.
    fn fire_end(&self, py: Python<'_>, error: Option<&Bound<'_, PyAny>>) {
        if !self.end_hook.is_set() {
            return;
        }
        let head = self.consumer.try_lock().ok().and_then(|c| c.head.clone());
        let snap = self.metrics.snapshot();
        self.end_hook
            .fire(py, &snap, head.as_ref(), &self.acc, error);
    }

    /// The end hook of a stream being freed. A stream can be freed while an exception is
    /// on its way (a value on the stack of a frame it unwinds, a value replaced in a raised
    /// `StopIteration`): the hook runs Python code, so that exception is set aside and put
    /// back.
    #[allow(deprecated)] // PyErr_Fetch/PyErr_Restore: the calls every version has.
    fn fire_end_when_freed(&self) {
        Python::attach(|py| {
            let (mut t, mut v, mut tb) = (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
            // SAFETY: attached; the three references move out and back in unchanged (the
            // raw calls: pyo3's `take` would resume a pending panic here).
            unsafe { ffi::PyErr_Fetch(&mut t, &mut v, &mut tb) };
            self.fire_end(py, None);
            unsafe { ffi::PyErr_Restore(t, v, tb) };
        });
    }

    fn fire_end_with(&self, py: Python<'_>, c: &Consumer, error: Option<&Bound<'_, PyAny>>) {
        if !self.end_hook.is_set() {
            return;
        }
        let snap = self.metrics.snapshot();
        self.end_hook
            .fire(py, &snap, c.head.as_ref(), &self.acc, error);
    }

    /// `client.request(...)`: the parsed JSON body of a non-streamed response.
    pub fn body_blocking(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.next_blocking(py, Some(View::Body), Want::Item)? {
            Some(v) => Ok(v),
            None => Err(PyRuntimeError::new_err("the response ended without a body")),
        }
    }

    pub(super) fn final_value(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let value = self
            .acc
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .to_value();
        let doc = crate::wire::json::Doc::parse(value.to_string()).map_err(|e| {
            PyRuntimeError::new_err(format!("internal error building the result: {e}"))
        })?;
        doc_to_py(
            py,
            Arc::new(doc),
            &crate::providers::openai::schema::STREAM_RESULT,
        )
    }

    /// A non-blocking step (None when the consumer is busy elsewhere is an error).
    pub(super) fn step_now(&self, py: Python<'_>, view: Option<View>) -> PyResult<Option<Step>> {
        let mut c = self.consumer()?;
        self.start(&mut c, view, Want::Item)?;
        self.step(py, &mut c, Want::Item).map(Some)
    }
}
