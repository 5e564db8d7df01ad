//! `ChatCompletionStreamEvent`: one event of `chat.completions.stream()`, its
//! type and the fields of the openai SDK's event of that type, read from the
//! state (`chat_state.rs`) when asked for.

use pyo3::exceptions::{PyAttributeError, PyValueError};
use pyo3::prelude::*;
use serde_json::Value;

use super::chat_state::{json_to_py, lock, prefix, str_at, tool_function, ChatState};
use crate::items::chat_events::{ChatState as State, Parsed};
use crate::py::values::{new_str, to_plain};
use crate::wire::json::Doc;
use crate::wire::partial_json;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
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
    pub(super) fn name(self) -> &'static str {
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
    pub(super) fn fields(self) -> &'static [&'static str] {
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
    pub(super) kind: Kind,
    pub(super) state: Py<ChatState>,
    pub(super) choice: usize,
    /// The tool call's position in the snapshot's `tool_calls`.
    pub(super) pos: usize,
    pub(super) index: i64,
    /// Bytes of the string so far (content, refusal, arguments), or entries of a logprobs list.
    pub(super) len: usize,
    pub(super) parsed: Parsed,
    /// The delta (`delta`, `arguments_delta`), or a done event's string.
    pub(super) text: Option<Py<PyAny>>,
    pub(super) name: Option<Py<PyAny>>,
    /// The chunk (chunk and logprobs delta events).
    pub(super) chunk: Option<Py<PyAny>>,
    pub(super) chunk_choice: usize,
    /// A done event's parsed value.
    pub(super) value: Option<Py<PyAny>>,
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
            (Kind::Chunk, "snapshot") => self
                .state()
                .snapshot_object(py)?
                .unwrap_or_else(|| py.None()),
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

/// jiter's `from_json(text, partial_mode=True)`.
pub(super) fn partial_value(py: Python<'_>, text: &str) -> PyResult<Py<PyAny>> {
    let json = partial_json::complete(text).map_err(|e| PyValueError::new_err(e.to_string()))?;
    let doc = Doc::parse(json).map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(to_plain(py, &doc, 0)?.unbind())
}
