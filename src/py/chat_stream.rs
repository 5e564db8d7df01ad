//! `_ChatState`'s methods and its events: the bindings of
//! `chat.completions.stream()` (crate::items::chat_events), fed the chunks of
//! a chat stream. The state itself, and what its events read of it, is in
//! `chat_state.rs`.
//!
//! Each event is one small object made here; what it shows of the snapshot
//! (the string so far, `parsed`, the completion) is read from the state only
//! when asked for. The `*.done` events, a few per stream, call back into
//! Python for the SDK's parsing (a pydantic model, `json.loads`).

use std::collections::VecDeque;
use std::sync::Mutex;

use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;
use serde_json::Value;

use super::chat_event::{ChatEvent, Kind};
use super::chat_state::{json_to_py, lock, str_at, tool_function, ChatState, Inner};
use crate::items::chat_events::{ChatState as State, Fire, HandleError, Options, Parsed};
use crate::py::chunk::Chunk;
use crate::py::stream::{Stream, Want};
use crate::py::values::new_str;

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
        let mut out = Vec::new();
        let fired = lock(&this.inner).state.handle(&c.get().doc);
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
        self.snapshot_object(py)
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
