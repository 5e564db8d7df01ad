//! `_ChatState`'s data and its read side: the state `chat.completions.stream()`
//! folds its chunks into (crate::items::chat_events) behind its lock, and
//! what both the stream (`chat_stream.rs`) and its events (`chat_event.rs`)
//! read from it: the snapshot (the completion so far, with the JSON parsed so
//! far) and the strings and values of its messages.

use std::sync::{Arc, Mutex, MutexGuard};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use serde_json::Value;

use crate::items::chat_events::{ChatState as State, Parsed};
use crate::providers::openai::schema;
use crate::py::chunk::{doc_to_py, to_py};
use crate::wire::json::Doc;
use crate::wire::partial_json;

#[pyclass(frozen, module = "sserpent._sserpent", name = "_ChatState")]
pub struct ChatState {
    pub(super) inner: Mutex<Inner>,
    pub(super) parse_content: Option<Py<PyAny>>,
    pub(super) parse_arguments: Option<Py<PyAny>>,
    pub(super) finish_error: Py<PyAny>,
}

pub(super) struct Inner {
    pub(super) state: State,
    /// The snapshot made for a version of the state, kept until the next chunk.
    pub(super) snapshot: Option<(u64, Py<PyAny>)>,
}

pub(super) fn lock(m: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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

impl ChatState {
    /// The completion so far as JSON, each message with `parsed` (and each
    /// tool call with `parsed_arguments`) as parsed so far.
    pub(super) fn snapshot_value(&self) -> Option<Value> {
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

    /// The snapshot as a chunk object, made once per version of the state
    /// (``None`` before the first chunk).
    pub(super) fn snapshot_object(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
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
}

pub(super) fn message(state: &State, choice: usize) -> Option<&serde_json::Map<String, Value>> {
    state.choice(choice)?.get("message")?.as_object()
}

pub(super) fn tool_function(state: &State, choice: usize, pos: usize) -> Option<&Value> {
    message(state, choice)?
        .get("tool_calls")?
        .get(pos)?
        .get("function")
}

pub(super) fn str_at<'a>(v: Option<&'a Value>, key: &str) -> &'a str {
    v.and_then(|v| v.get(key))
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub(super) fn prefix(s: &str, len: usize) -> &str {
    s.get(..len).unwrap_or(s)
}

pub(super) fn json_to_py(py: Python<'_>, v: &Value) -> PyResult<Py<PyAny>> {
    let doc = Doc::parse(v.to_string())
        .map_err(|e| PyRuntimeError::new_err(format!("sserpent built invalid JSON: {e}")))?;
    let doc = Arc::new(doc);
    to_py(py, doc, 0, &schema::ANY)
}
