//! `_ChatState` and its events: the bindings of `chat.completions.stream()`
//! (crate::items::chat_events), fed the chunks of a chat stream.
//!
//! Each event is one small object made here; what it shows of the snapshot
//! (the string so far, `parsed`, the completion) is read from the state only
//! when asked for. The `*.done` events, a few per stream, call back into
//! Python for the SDK's parsing (a pydantic model, `json.loads`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use pyo3::exceptions::{PyAttributeError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;
use serde_json::Value;

use crate::items::chat_events::{ChatState as State, Fire, HandleError, Options, Parsed};
use crate::providers::openai::schema;
use crate::py::chunk::{doc_to_py, to_py, Chunk};
use crate::py::stream::{Stream, Want};
use crate::py::values::{new_str, to_plain};
use crate::wire::json::Doc;
use crate::wire::partial_json;

#[pyclass(frozen, module = "sserpent._sserpent", name = "_ChatState")]
pub struct ChatState {
    inner: Mutex<Inner>,
    parse_content: Option<Py<PyAny>>,
    parse_arguments: Option<Py<PyAny>>,
    finish_error: Py<PyAny>,
}

struct Inner {
    state: State,
    snapshot: Option<(u64, Py<PyAny>)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Chunk,
    ContentDelta,
    ContentDone,
    RefusalDelta,
    RefusalDone,
    ToolDelta,
    ToolDone,
    LogprobsContentDelta,
    LogprobsContentDone,
    LogprobsRefusalDelta,
    LogprobsRefusalDone,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Chunk => "chunk",
            Kind::ContentDelta => "content.delta",
            Kind::ContentDone => "content.done",
            Kind::RefusalDelta => "refusal.delta",
            Kind::RefusalDone => "refusal.done",
            Kind::ToolDelta => "tool_calls.function.arguments.delta",
            Kind::ToolDone => "tool_calls.function.arguments.done",
            Kind::LogprobsContentDelta => "logprobs.content.delta",
            Kind::LogprobsContentDone => "logprobs.content.done",
            Kind::LogprobsRefusalDelta => "logprobs.refusal.delta",
            Kind::LogprobsRefusalDone => "logprobs.refusal.done",
        }
    }

    /// The fields of the SDK's event class, in its order.
    fn fields(self) -> &'static [&'static str] {
        match self {
            Kind::Chunk => &["chunk", "snapshot"],
            Kind::ContentDelta => &["delta", "snapshot", "parsed"],
            Kind::ContentDone => &["content", "parsed"],
            Kind::RefusalDelta => &["delta", "snapshot"],
            Kind::RefusalDone => &["refusal"],
            Kind::ToolDelta => &[
                "name",
                "index",
                "arguments",
                "parsed_arguments",
                "arguments_delta",
            ],
            Kind::ToolDone => &["name", "index", "arguments", "parsed_arguments"],
            Kind::LogprobsContentDelta => &["content", "snapshot"],
            Kind::LogprobsContentDone => &["content"],
            Kind::LogprobsRefusalDelta => &["refusal", "snapshot"],
            Kind::LogprobsRefusalDone => &["refusal"],
        }
    }
}

/// One event of `chat.completions.stream()`: `type` and the fields of the
/// openai SDK's event of that type.
#[pyclass(frozen, module = "sserpent", name = "ChatCompletionStreamEvent")]
pub struct ChatEvent {
    kind: Kind,
    state: Py<ChatState>,
    choice: usize,
    /// The tool call's position in the snapshot's `tool_calls`.
    pos: usize,
    index: i64,
    /// Bytes of the string so far (content, refusal, arguments), or entries of a logprobs list.
    len: usize,
    parsed: Parsed,
    /// The delta (`delta`, `arguments_delta`), or a done event's string.
    text: Option<Py<PyAny>>,
    name: Option<Py<PyAny>>,
    /// The chunk (chunk and logprobs delta events).
    chunk: Option<Py<PyAny>>,
    chunk_choice: usize,
    /// A done event's parsed value.
    value: Option<Py<PyAny>>,
}

fn lock(m: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn message(state: &State, choice: usize) -> Option<&serde_json::Map<String, Value>> {
    state.choice(choice)?.get("message")?.as_object()
}

fn tool_function(state: &State, choice: usize, pos: usize) -> Option<&Value> {
    message(state, choice)?
        .get("tool_calls")?
        .get(pos)?
        .get("function")
}

fn str_at<'a>(v: Option<&'a Value>, key: &str) -> &'a str {
    v.and_then(|v| v.get(key))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn prefix(s: &str, len: usize) -> &str {
    s.get(..len).unwrap_or(s)
}

/// jiter's `from_json(text, partial_mode=True)`.
fn partial_value(py: Python<'_>, text: &str) -> PyResult<Py<PyAny>> {
    let json = partial_json::complete(text).map_err(|e| PyValueError::new_err(e.to_string()))?;
    let doc = Doc::parse(json).map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(to_plain(py, &doc, 0)?.unbind())
}

fn partial_json_value(text: &str) -> Value {
    partial_json::complete(text)
        .ok()
        .and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or(Value::Null)
}

fn parsed_json(parsed: Parsed, text: &str) -> Value {
    match parsed {
        Parsed::No => Value::Null,
        Parsed::Prefix(n) => partial_json_value(prefix(text, n)),
        Parsed::Whole => serde_json::from_str(text).unwrap_or(Value::Null),
    }
}

fn json_to_py(py: Python<'_>, v: &Value) -> PyResult<Py<PyAny>> {
    let doc = Doc::parse(v.to_string())
        .map_err(|e| PyRuntimeError::new_err(format!("sserpent built invalid JSON: {e}")))?;
    let doc = Arc::new(doc);
    to_py(py, &doc, 0, &schema::ANY)
}

impl ChatState {
    /// The events of one chunk (see `push`).
    pub(super) fn events_for(
        slf: &Bound<'_, Self>,
        chunk: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<Py<PyAny>>> {
        let py = slf.py();
        let this = slf.get();
        let c = chunk
            .cast::<Chunk>()
            .map_err(|_| PyTypeError::new_err("expected a chunk of a chat completion stream"))?;
        let doc = c.get().doc().clone();
        let mut out = Vec::new();
        let fired = lock(&this.inner).state.handle(&doc);
        let fired = match fired {
            Ok(f) => f,
            Err(HandleError::Finish(reason)) => {
                let snapshot = this.snapshot_value().map(|v| v.to_string());
                let err = this.finish_error.bind(py).call1((reason, snapshot))?;
                return Err(PyErr::from_value(err));
            }
            Err(HandleError::Shape(m)) => return Err(PyRuntimeError::new_err(m)),
            Err(HandleError::Partial(m)) => return Err(PyValueError::new_err(m)),
        };
        for f in fired {
            let e = match f {
                Fire::Chunk => {
                    let mut e = this.event(slf, Kind::Chunk, 0);
                    e.chunk = Some(chunk.clone().unbind());
                    e
                }
                Fire::ContentDelta {
                    choice,
                    delta,
                    len,
                    parsed,
                } => {
                    let mut e = this.event(slf, Kind::ContentDelta, choice);
                    e.text = Some(new_str(py, &delta));
                    e.len = len;
                    e.parsed = parsed;
                    e
                }
                Fire::RefusalDelta { choice, delta, len } => {
                    let mut e = this.event(slf, Kind::RefusalDelta, choice);
                    e.text = Some(new_str(py, &delta));
                    e.len = len;
                    e
                }
                Fire::ToolDelta {
                    choice,
                    pos,
                    index,
                    name,
                    len,
                    delta,
                    parsed,
                } => {
                    let mut e = this.event(slf, Kind::ToolDelta, choice);
                    e.pos = pos;
                    e.index = index;
                    e.name = Some(new_str(py, &name));
                    e.len = len;
                    e.text = Some(new_str(py, &delta));
                    e.parsed = parsed;
                    e
                }
                Fire::LogprobsDelta {
                    choice,
                    refusal,
                    chunk_choice,
                    len,
                } => {
                    let kind = if refusal {
                        Kind::LogprobsRefusalDelta
                    } else {
                        Kind::LogprobsContentDelta
                    };
                    let mut e = this.event(slf, kind, choice);
                    e.chunk = Some(chunk.clone().unbind());
                    e.chunk_choice = chunk_choice;
                    e.len = len;
                    e
                }
                done => this.done_event(py, slf, done)?,
            };
            out.push(Py::new(py, e)?.into_any());
        }
        Ok(out)
    }

    fn snapshot_value(&self) -> Option<Value> {
        let inner = lock(&self.inner);
        let state = &inner.state;
        let mut snap = state.snapshot()?.clone();
        if let Some(Value::Array(choices)) = snap.get_mut("choices") {
            for (pos, choice) in choices.iter_mut().enumerate() {
                let Some(Value::Object(msg)) = choice.get_mut("message") else {
                    continue;
                };
                let content = msg
                    .get("content")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                msg.insert(
                    "parsed".into(),
                    parsed_json(state.content_parsed(pos), &content),
                );
                if let Some(Value::Array(tools)) = msg.get_mut("tool_calls") {
                    for (t, tool) in tools.iter_mut().enumerate() {
                        if let Some(Value::Object(f)) = tool.get_mut("function") {
                            let args = f
                                .get("arguments")
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_string();
                            f.insert(
                                "parsed_arguments".into(),
                                parsed_json(state.tool_parsed(pos, t), &args),
                            );
                        }
                    }
                }
            }
        }
        Some(snap)
    }

    fn event(&self, slf: &Bound<'_, ChatState>, kind: Kind, choice: usize) -> ChatEvent {
        ChatEvent {
            kind,
            state: slf.clone().unbind(),
            choice,
            pos: 0,
            index: 0,
            len: 0,
            parsed: Parsed::No,
            text: None,
            name: None,
            chunk: None,
            chunk_choice: 0,
            value: None,
        }
    }

    fn done_event(
        &self,
        py: Python<'_>,
        slf: &Bound<'_, ChatState>,
        fire: Fire,
    ) -> PyResult<ChatEvent> {
        Ok(match fire {
            Fire::ContentDone { choice } => {
                let (content, refused) = {
                    let inner = lock(&self.inner);
                    let m = inner.state.choice(choice).and_then(|c| c.get("message"));
                    (
                        str_at(m, "content").to_string(),
                        !str_at(m, "refusal").is_empty(),
                    )
                };
                let mut e = self.event(slf, Kind::ContentDone, choice);
                let text = new_str(py, &content);
                e.value = Some(match &self.parse_content {
                    Some(f) if !content.is_empty() && !refused => {
                        let v = f.bind(py).call1((text.bind(py),))?.unbind();
                        lock(&self.inner).state.set_whole(choice, None);
                        v
                    }
                    _ => py.None(),
                });
                e.text = Some(text);
                e
            }
            Fire::RefusalDone { choice } => {
                let refusal = {
                    let inner = lock(&self.inner);
                    str_at(
                        inner.state.choice(choice).and_then(|c| c.get("message")),
                        "refusal",
                    )
                    .to_string()
                };
                let mut e = self.event(slf, Kind::RefusalDone, choice);
                e.text = Some(new_str(py, &refusal));
                e
            }
            Fire::LogprobsDone { choice, refusal } => {
                let key = if refusal { "refusal" } else { "content" };
                let list = {
                    let inner = lock(&self.inner);
                    inner
                        .state
                        .choice(choice)
                        .and_then(|c| c.get("logprobs"))
                        .and_then(|l| l.get(key))
                        .cloned()
                        .unwrap_or(Value::Null)
                };
                let kind = if refusal {
                    Kind::LogprobsRefusalDone
                } else {
                    Kind::LogprobsContentDone
                };
                let mut e = self.event(slf, kind, choice);
                e.value = Some(json_to_py(py, &list)?);
                e
            }
            Fire::ToolDone { choice, pos, index } => {
                let (name, args) = {
                    let inner = lock(&self.inner);
                    let f = tool_function(&inner.state, choice, pos);
                    (
                        str_at(f, "name").to_string(),
                        str_at(f, "arguments").to_string(),
                    )
                };
                let mut e = self.event(slf, Kind::ToolDone, choice);
                e.pos = pos;
                e.index = index;
                e.name = Some(new_str(py, &name));
                let args_py = new_str(py, &args);
                e.value = Some(match &self.parse_arguments {
                    Some(f) => {
                        let v = f
                            .bind(py)
                            .call1((e.name.as_ref().map(|n| n.bind(py)), args_py.bind(py)))?
                            .unbind();
                        if !v.is_none(py) {
                            lock(&self.inner).state.set_whole(choice, Some(pos));
                        }
                        v
                    }
                    None => py.None(),
                });
                e.text = Some(args_py);
                e
            }
            _ => return Err(PyRuntimeError::new_err("not a done event")),
        })
    }
}

#[pymethods]
impl ChatState {
    /// `rich`: parse the content as it grows; `strict_tools`: function names
    /// whose arguments are parsed as they grow; `parseable`: `length` and
    /// `content_filter` finishes are errors, made by
    /// `finish_error(reason, snapshot_json)`;
    /// `parse_content(content)` and `parse_arguments(name, arguments)` give the
    /// done events' parsed values.
    #[new]
    #[pyo3(signature = (*, rich, strict_tools, parseable, finish_error, parse_content = None, parse_arguments = None))]
    fn new(
        rich: bool,
        strict_tools: Vec<String>,
        parseable: bool,
        finish_error: Py<PyAny>,
        parse_content: Option<Py<PyAny>>,
        parse_arguments: Option<Py<PyAny>>,
    ) -> Self {
        let opts = Options {
            rich,
            strict_tools: strict_tools.into_iter().collect(),
            parseable,
        };
        ChatState {
            inner: Mutex::new(Inner {
                state: State::new(opts),
                snapshot: None,
            }),
            parse_content,
            parse_arguments,
            finish_error,
        }
    }

    /// Folds in one chunk of the stream and returns its events (none for a
    /// chunk the SDK skips: `object` not `chat.completion.chunk`).
    fn push<'py>(
        slf: &Bound<'py, Self>,
        chunk: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(slf.py());
        for e in Self::events_for(slf, chunk)? {
            out.append(e)?;
        }
        Ok(out)
    }

    /// The completion so far (``None`` before the first chunk), as the SDK's
    /// ``current_completion_snapshot``; ``parsed`` / ``parsed_arguments`` are
    /// the JSON parsed so far.
    fn snapshot(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let version = lock(&self.inner).state.version;
        if let Some((v, s)) = &lock(&self.inner).snapshot {
            if *v == version {
                return Ok(Some(s.clone_ref(py)));
            }
        }
        let Some(value) = self.snapshot_value() else {
            return Ok(None);
        };
        let doc = Doc::parse(value.to_string())
            .map_err(|e| PyRuntimeError::new_err(format!("sserpent built invalid JSON: {e}")))?;
        let (schema, _) = schema::detect(&doc);
        let obj = doc_to_py(py, Arc::new(doc), schema)?;
        lock(&self.inner).snapshot = Some((version, obj.clone_ref(py)));
        Ok(Some(obj))
    }

    /// The snapshot's JSON text (``None`` before the first chunk).
    fn snapshot_json(&self) -> Option<String> {
        self.snapshot_value().map(|v| v.to_string())
    }
}

/// The events of a sync stream, read in Rust: no Python frame per chunk or event.
#[pyclass(frozen, module = "sserpent._sserpent", name = "_ChatEvents")]
pub struct ChatEvents {
    stream: Py<Stream>,
    state: Py<ChatState>,
    pending: Mutex<VecDeque<Py<PyAny>>>,
}

#[pymethods]
impl ChatEvents {
    #[new]
    fn new(stream: Bound<'_, Stream>, state: Bound<'_, ChatState>) -> Self {
        ChatEvents {
            stream: stream.unbind(),
            state: state.unbind(),
            pending: Mutex::new(VecDeque::new()),
        }
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(e) = pending.pop_front() {
                return Ok(Some(e));
            }
            match self.stream.get().next_blocking(py, None, Want::Item)? {
                None => return Ok(None),
                Some(chunk) => {
                    pending.extend(ChatState::events_for(self.state.bind(py), chunk.bind(py))?)
                }
            }
        }
    }
}

#[pymethods]
impl ChatEvent {
    #[getter]
    fn r#type(&self, py: Python<'_>) -> Py<PyAny> {
        let s = match self.kind {
            Kind::Chunk => pyo3::intern!(py, "chunk"),
            Kind::ContentDelta => pyo3::intern!(py, "content.delta"),
            Kind::ContentDone => pyo3::intern!(py, "content.done"),
            Kind::RefusalDelta => pyo3::intern!(py, "refusal.delta"),
            Kind::RefusalDone => pyo3::intern!(py, "refusal.done"),
            Kind::ToolDelta => pyo3::intern!(py, "tool_calls.function.arguments.delta"),
            Kind::ToolDone => pyo3::intern!(py, "tool_calls.function.arguments.done"),
            Kind::LogprobsContentDelta => pyo3::intern!(py, "logprobs.content.delta"),
            Kind::LogprobsContentDone => pyo3::intern!(py, "logprobs.content.done"),
            Kind::LogprobsRefusalDelta => pyo3::intern!(py, "logprobs.refusal.delta"),
            Kind::LogprobsRefusalDone => pyo3::intern!(py, "logprobs.refusal.done"),
        };
        s.clone().into_any().unbind()
    }

    #[getter]
    fn chunk(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match (self.kind, &self.chunk) {
            (Kind::Chunk, Some(c)) => Ok(c.clone_ref(py)),
            _ => self.get_field(py, "chunk"),
        }
    }

    #[getter]
    fn snapshot(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.get_field(py, "snapshot")
    }

    #[getter]
    fn delta(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match (self.kind, &self.text) {
            // The hot read (`content.delta`): straight to the stored str.
            (Kind::ContentDelta | Kind::RefusalDelta, Some(t)) => Ok(t.clone_ref(py)),
            _ => self.get_field(py, "delta"),
        }
    }

    #[getter]
    fn parsed(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.get_field(py, "parsed")
    }

    #[getter]
    fn content(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.get_field(py, "content")
    }

    #[getter]
    fn refusal(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.get_field(py, "refusal")
    }

    #[getter]
    fn name(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.get_field(py, "name")
    }

    #[getter]
    fn index(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.get_field(py, "index")
    }

    #[getter]
    fn arguments(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.get_field(py, "arguments")
    }

    #[getter]
    fn parsed_arguments(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.get_field(py, "parsed_arguments")
    }

    #[getter]
    fn arguments_delta(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.get_field(py, "arguments_delta")
    }

    /// The SDK's ``model_dump()``: ``type`` and the fields (the values as they read).
    fn to_dict(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let d = pyo3::types::PyDict::new(py);
        d.set_item("type", self.kind.name())?;
        for f in self.kind.fields() {
            d.set_item(*f, self.field(py, f)?)?;
        }
        Ok(d.into_any().unbind())
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let mut parts = vec![format!("type='{}'", self.kind.name())];
        for f in self.kind.fields() {
            if *f == "snapshot" && self.kind == Kind::Chunk {
                parts.push("snapshot=...".into());
                continue;
            }
            parts.push(format!("{f}={}", self.field(py, f)?.bind(py).repr()?));
        }
        Ok(format!("ChatCompletionStreamEvent({})", parts.join(", ")))
    }
}

impl ChatEvent {
    fn get_field(&self, py: Python<'_>, name: &str) -> PyResult<Py<PyAny>> {
        if !self.kind.fields().contains(&name) {
            return Err(PyAttributeError::new_err(format!(
                "'{}' event has no attribute '{name}'",
                self.kind.name()
            )));
        }
        self.field(py, name)
    }

    fn state(&self) -> &ChatState {
        self.state.get()
    }

    fn with_state<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        let inner = lock(&self.state().inner);
        f(&inner.state)
    }

    fn string_so_far(&self, key: &str) -> String {
        self.with_state(|s| {
            let text = match self.kind {
                Kind::ToolDelta | Kind::ToolDone => {
                    str_at(tool_function(s, self.choice, self.pos), "arguments")
                }
                _ => str_at(s.choice(self.choice).and_then(|c| c.get("message")), key),
            };
            prefix(text, self.len).to_string()
        })
    }

    fn logprobs_so_far(&self, py: Python<'_>, key: &str) -> PyResult<Py<PyAny>> {
        let list = self.with_state(|s| {
            s.choice(self.choice)
                .and_then(|c| c.get("logprobs"))
                .and_then(|l| l.get(key))
                .and_then(Value::as_array)
                .map(|l| Value::Array(l[..self.len.min(l.len())].to_vec()))
                .unwrap_or(Value::Null)
        });
        json_to_py(py, &list)
    }

    fn chunk_logprobs(&self, py: Python<'_>, key: &str) -> PyResult<Py<PyAny>> {
        let chunk = self.chunk.as_ref().expect("chunk").bind(py);
        Ok(chunk
            .getattr("choices")?
            .get_item(self.chunk_choice)?
            .getattr("logprobs")?
            .getattr(key)?
            .unbind())
    }

    fn parsed_so_far(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.parsed {
            Parsed::No => Ok(py.None()),
            Parsed::Prefix(_) | Parsed::Whole => {
                let text = match self.kind {
                    Kind::ToolDelta => self.with_state(|s| {
                        str_at(tool_function(s, self.choice, self.pos), "arguments").to_string()
                    }),
                    _ => self.with_state(|s| {
                        str_at(
                            s.choice(self.choice).and_then(|c| c.get("message")),
                            "content",
                        )
                        .to_string()
                    }),
                };
                let n = match self.parsed {
                    Parsed::Prefix(n) => n,
                    _ => text.len(),
                };
                partial_value(py, prefix(&text, n))
            }
        }
    }

    fn field(&self, py: Python<'_>, name: &str) -> PyResult<Py<PyAny>> {
        let clone =
            |v: &Option<Py<PyAny>>| v.as_ref().map_or_else(|| py.None(), |v| v.clone_ref(py));
        Ok(match (self.kind, name) {
            (Kind::Chunk, "chunk") => clone(&self.chunk),
            (Kind::Chunk, "snapshot") => self.state().snapshot(py)?.unwrap_or_else(|| py.None()),
            (Kind::ContentDelta | Kind::RefusalDelta, "delta")
            | (Kind::ToolDelta, "arguments_delta") => clone(&self.text),
            (Kind::ContentDelta, "snapshot") => new_str(py, &self.string_so_far("content")),
            (Kind::RefusalDelta, "snapshot") => new_str(py, &self.string_so_far("refusal")),
            (Kind::ContentDelta | Kind::ToolDelta, "parsed" | "parsed_arguments") => {
                self.parsed_so_far(py)?
            }
            (Kind::ContentDone, "content")
            | (Kind::RefusalDone, "refusal")
            | (Kind::ToolDone, "arguments") => clone(&self.text),
            (Kind::ContentDone, "parsed") | (Kind::ToolDone, "parsed_arguments") => {
                clone(&self.value)
            }
            (Kind::ToolDelta | Kind::ToolDone, "name") => clone(&self.name),
            (Kind::ToolDelta | Kind::ToolDone, "index") => {
                self.index.into_pyobject(py)?.into_any().unbind()
            }
            (Kind::ToolDelta, "arguments") => new_str(py, &self.string_so_far("arguments")),
            (Kind::LogprobsContentDelta, "content") => self.chunk_logprobs(py, "content")?,
            (Kind::LogprobsRefusalDelta, "refusal") => self.chunk_logprobs(py, "refusal")?,
            (Kind::LogprobsContentDelta, "snapshot") => self.logprobs_so_far(py, "content")?,
            (Kind::LogprobsRefusalDelta, "snapshot") => self.logprobs_so_far(py, "refusal")?,
            (Kind::LogprobsContentDone, "content") | (Kind::LogprobsRefusalDone, "refusal") => {
                clone(&self.value)
            }
            _ => return Err(PyAttributeError::new_err(name.to_string())),
        })
    }
}
