//! The message the anthropic SDK's `messages.stream()` builds from a stream's
//! raw events, and the events it fires along the way (its `accumulate_event`
//! and `build_events`), for `sserpent.Anthropic`.
//!
//! The snapshot keeps each object as its members in arrival order, values as
//! JSON text (so numbers and unknown fields pass through as sent); the strings
//! that grow with every delta (`text`, `thinking`) are kept unescaped and
//! appended to in place.

use std::collections::HashMap;

use crate::wire::json::{Doc, Kind};
use crate::wire::partial_json;

/// A member's value.
#[derive(Clone, Debug)]
enum Value {
    /// JSON text as received (or as built).
    Json(String),
    /// A string being appended to.
    Str(String),
}

impl Value {
    fn write(&self, out: &mut String) {
        match self {
            Value::Json(j) => out.push_str(j),
            Value::Str(s) => push_json_str(out, s),
        }
    }
}

fn push_json_str(out: &mut String, s: &str) {
    out.push_str(&serde_json::to_string(s).expect("a str serializes"));
}

/// An object's members in order; setting a member that exists replaces its value in place.
#[derive(Clone, Debug, Default)]
struct Object(Vec<(String, Value)>);

impl Object {
    fn of(doc: &Doc, node: u32) -> Object {
        Object(
            doc.members(node)
                .map(|(k, v)| {
                    let key = doc.str_value(k).map(|c| c.into_owned()).unwrap_or_default();
                    (key, Value::Json(doc.json_text(v).to_string()))
                })
                .collect(),
        )
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.0
            .iter_mut()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    fn set(&mut self, key: &str, value: Value) {
        match self.get_mut(key) {
            Some(v) => *v = value,
            None => self.0.push((key.to_string(), value)),
        }
    }

    /// The member's string value (a JSON string), if it is one; borrowed unless
    /// it holds escapes (a block's `type` is read on every delta).
    fn str_of(&self, key: &str) -> Option<std::borrow::Cow<'_, str>> {
        match self.get(key)? {
            Value::Str(s) => Some(s.as_str().into()),
            Value::Json(j) => match j.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
                Some(plain) if !plain.contains('\\') => Some(plain.into()),
                _ => serde_json::from_str::<String>(j).ok().map(Into::into),
            },
        }
    }

    /// Appends to a string member (created empty if absent or not a string, as
    /// `content.text += delta` would fail on anything but a string).
    fn append(&mut self, key: &str, tail: &str) -> &str {
        let current = match self.get(key) {
            Some(Value::Str(_)) => None,
            Some(Value::Json(_)) => Some(self.str_of(key).unwrap_or_default().into_owned()),
            None => Some(String::new()),
        };
        if let Some(s) = current {
            self.set(key, Value::Str(s));
        }
        match self.get_mut(key) {
            Some(Value::Str(s)) => {
                s.push_str(tail);
                s
            }
            _ => unreachable!("just set to a string"),
        }
    }

    fn write(&self, out: &mut String, content: Option<&[Object]>) {
        out.push('{');
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_json_str(out, k);
            out.push(':');
            match (k.as_str(), content) {
                ("content", Some(blocks)) => {
                    out.push('[');
                    for (j, b) in blocks.iter().enumerate() {
                        if j > 0 {
                            out.push(',');
                        }
                        b.write(out, None);
                    }
                    out.push(']');
                }
                _ => v.write(out),
            }
        }
        out.push('}');
    }

    fn to_json(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, None);
        out
    }
}

/// Why an event could not be folded in.
#[derive(Debug, PartialEq, Eq)]
pub enum ApplyError {
    /// A tool's streamed input is not JSON (the SDK raises `ValueError`).
    ToolInput(String),
    /// The events do not fit the message (a missing block, say).
    Shape(String),
}

impl std::fmt::Display for ApplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApplyError::ToolInput(m) | ApplyError::Shape(m) => f.write_str(m),
        }
    }
}

/// What to yield for one raw event, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Fire {
    /// The raw event itself.
    Raw,
    /// An event built here, as JSON text.
    Built(String),
    /// A `text` or `thinking` event: the delta, and the block's string so far
    /// as a length, read from the snapshot only if asked for ([`MessageState::block_str`]).
    /// Built as JSON, every delta would copy and parse the whole block again.
    Growing {
        kind: &'static str,
        delta: String,
        index: usize,
        len: usize,
    },
}

/// The snapshot message of one `messages.stream()`.
#[derive(Debug, Default)]
pub struct MessageState {
    /// `None` until `message_start`.
    message: Option<Object>,
    content: Vec<Object>,
    /// Each tool-use block's input JSON received so far.
    json_bufs: HashMap<i64, String>,
    /// `message_stop` arrived: the message is whole.
    stopped: bool,
}

/// A member's value as JSON text, `null` when absent.
fn json_or_null(doc: &Doc, obj: u32, key: &str) -> String {
    doc.get(obj, key)
        .map_or_else(|| "null".to_string(), |n| doc.json_text(n).to_string())
}

/// The snapshot's content block an event's `index` names.
fn block_at<'a>(
    content: &'a mut [Object],
    doc: &Doc,
    what: &str,
) -> Result<(i64, &'a mut Object), ApplyError> {
    let index = doc
        .get(0, "index")
        .and_then(|n| doc.raw(n).parse::<i64>().ok())
        .ok_or_else(|| ApplyError::Shape(format!("a {what} event without an integer index")))?;
    let len = content.len();
    usize::try_from(index)
        .ok()
        .and_then(|i| content.get_mut(i))
        .map(|b| (index, b))
        .ok_or_else(|| {
            ApplyError::Shape(format!(
                "a {what} event for content block {index}, but the message has {len}"
            ))
        })
}

fn shape(message: &str) -> ApplyError {
    ApplyError::Shape(message.to_string())
}

fn event(kind: &str, members: &[(&str, String)]) -> Fire {
    let mut out = String::from("{\"type\":");
    push_json_str(&mut out, kind);
    for (k, v) in members {
        out.push(',');
        push_json_str(&mut out, k);
        out.push(':');
        out.push_str(v);
    }
    out.push('}');
    Fire::Built(out)
}

/// The elements of a JSON array's text, each as JSON text (none for anything else).
fn elements_json(text: &str) -> Vec<String> {
    match Doc::parse(text.to_string()) {
        Ok(d) if d.node(0).kind == Kind::Array => {
            d.elements(0).map(|e| d.json_text(e).to_string()).collect()
        }
        _ => Vec::new(),
    }
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("a str serializes")
}

impl MessageState {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `message_start` has arrived.
    pub fn started(&self) -> bool {
        self.message.is_some()
    }

    /// Whether `message_stop` has arrived.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// The first `len` bytes of block `index`'s growing string `key` (`text` or
    /// `thinking`): what it held when a [`Fire::Growing`] event was made.
    pub fn block_str(&self, index: usize, key: &str, len: usize) -> Option<&str> {
        match self.content.get(index)?.get(key)? {
            Value::Str(s) => s.get(..len),
            Value::Json(_) => None,
        }
    }

    /// The snapshot message as JSON text (`None` before `message_start`).
    pub fn message_json(&self) -> Option<String> {
        let m = self.message.as_ref()?;
        let mut out = String::new();
        m.write(&mut out, Some(&self.content));
        Some(out)
    }

    /// Folds one raw event into the snapshot and says what to yield for it.
    pub fn apply(&mut self, doc: &Doc) -> Result<Vec<Fire>, ApplyError> {
        if doc.node(0).kind != Kind::Object {
            return Ok(vec![Fire::Raw]);
        }
        let kind = doc.get_str(0, "type").unwrap_or_default();
        if self.message.is_none() {
            if kind == "message_start" {
                let m = doc
                    .get_object(0, "message")
                    .ok_or_else(|| shape("a message_start event without a message object"))?;
                let mut message = Object::of(doc, m);
                self.content = match doc.get(m, "content") {
                    Some(c) if doc.node(c).kind == Kind::Array => doc
                        .elements(c)
                        .filter(|&b| doc.node(b).kind == Kind::Object)
                        .map(|b| Object::of(doc, b))
                        .collect(),
                    _ => Vec::new(),
                };
                if message.get("content").is_none() {
                    message.set("content", Value::Json("[]".into()));
                }
                self.message = Some(message);
            }
            // Events before message_start pass through untouched, as in the SDK.
            return Ok(vec![Fire::Raw]);
        }
        match &*kind {
            "content_block_start" => {
                let b = doc.get_object(0, "content_block").ok_or_else(|| {
                    shape("a content_block_start event without a content_block object")
                })?;
                self.content.push(Object::of(doc, b));
                Ok(vec![Fire::Raw])
            }
            "content_block_delta" => self.delta(doc),
            "content_block_stop" => {
                let (index, block) = block_at(&mut self.content, doc, "content_block_stop")?;
                Ok(vec![event(
                    "content_block_stop",
                    &[
                        ("index", index.to_string()),
                        ("content_block", block.to_json()),
                    ],
                )])
            }
            "message_delta" => {
                self.message_delta(doc);
                Ok(vec![Fire::Raw])
            }
            "message_stop" => {
                self.stopped = true;
                let message = self.message_json().expect("started");
                Ok(vec![event("message_stop", &[("message", message)])])
            }
            _ => Ok(vec![Fire::Raw]),
        }
    }

    fn delta(&mut self, doc: &Doc) -> Result<Vec<Fire>, ApplyError> {
        let Some(delta) = doc.get_object(0, "delta") else {
            return Ok(vec![Fire::Raw]);
        };
        let delta_type = doc.get_str(delta, "type").unwrap_or_default();
        let (index, block) = block_at(&mut self.content, doc, "content_block_delta")?;
        let position = usize::try_from(index).expect("block_at checked it");
        let block_type = block.str_of("type").unwrap_or_default();
        let text_of = |key: &str| doc.get_str(delta, key).unwrap_or_default().into_owned();
        let growing = |kind: &'static str, block: &mut Object| {
            let delta = text_of(kind);
            let len = block.append(kind, &delta).len();
            Fire::Growing {
                kind,
                delta,
                index: position,
                len,
            }
        };
        let fire = match (&*delta_type, &*block_type) {
            ("text_delta", "text") => Some(growing("text", block)),
            ("thinking_delta", "thinking") => Some(growing("thinking", block)),
            ("signature_delta", "thinking") => {
                block.set(
                    "signature",
                    Value::Json(json_or_null(doc, delta, "signature")),
                );
                let signature = json_or_null(doc, delta, "signature");
                Some(event("signature", &[("signature", signature)]))
            }
            ("citations_delta", "text") => {
                let citation = json_or_null(doc, delta, "citation");
                let mut list: Vec<String> = match block.get("citations") {
                    Some(Value::Json(j)) => elements_json(j),
                    _ => Vec::new(),
                };
                list.push(citation.clone());
                let snapshot = format!("[{}]", list.join(","));
                block.set("citations", Value::Json(snapshot.clone()));
                Some(event(
                    "citation",
                    &[("citation", citation), ("snapshot", snapshot)],
                ))
            }
            ("input_json_delta", "tool_use" | "server_tool_use") => {
                let buf = self.json_bufs.entry(index).or_default();
                buf.push_str(&text_of("partial_json"));
                if !buf.is_empty() {
                    let input = partial_json::complete(buf).map_err(|e| {
                        ApplyError::ToolInput(format!(
                            "Unable to parse tool parameter JSON from model. Please retry your request or adjust your prompt. Error: {e}. JSON: {buf}"
                        ))
                    })?;
                    block.set("input", Value::Json(input));
                }
                let snapshot = match block.get("input") {
                    Some(v) => {
                        let mut s = String::new();
                        v.write(&mut s);
                        s
                    }
                    None => "null".to_string(),
                };
                Some(event(
                    "input_json",
                    &[
                        ("partial_json", json_str(&text_of("partial_json"))),
                        ("snapshot", snapshot),
                    ],
                ))
            }
            _ => None,
        };
        let mut out = vec![Fire::Raw];
        out.extend(fire);
        Ok(out)
    }

    fn message_delta(&mut self, doc: &Doc) {
        let message = self.message.as_mut().expect("started");
        if let Some(d) = doc.get_object(0, "delta") {
            for key in ["stop_reason", "stop_sequence", "stop_details"] {
                message.set(key, Value::Json(json_or_null(doc, d, key)));
            }
            if let Some(c) = doc.get(d, "container") {
                if doc.node(c).kind != Kind::Null {
                    message.set("container", Value::Json(doc.json_text(c).to_string()));
                }
            }
        }
        let Some(u) = doc.get_object(0, "usage") else {
            return;
        };
        let mut usage = match message.get("usage") {
            Some(Value::Json(j)) => {
                let parsed = Doc::parse(j.clone()).ok();
                parsed
                    .filter(|p| p.node(0).kind == Kind::Object)
                    .map(|p| Object::of(&p, 0))
                    .unwrap_or_default()
            }
            _ => Object::default(),
        };
        // Cumulative totals overwrite; the optional ones only when given.
        usage.set(
            "output_tokens",
            Value::Json(json_or_null(doc, u, "output_tokens")),
        );
        for key in [
            "input_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
            "server_tool_use",
            "output_tokens_details",
        ] {
            if let Some(v) = doc.get(u, key) {
                if doc.node(v).kind != Kind::Null {
                    usage.set(key, Value::Json(doc.json_text(v).to_string()));
                }
            }
        }
        message.set("usage", Value::Json(usage.to_json()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(s: &str) -> Doc {
        Doc::parse(s.to_string()).unwrap()
    }

    fn built(f: &Fire) -> serde_json::Value {
        match f {
            Fire::Built(j) => serde_json::from_str(j).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn text_and_tool_use_as_the_sdk_builds_them() {
        let mut st = MessageState::new();
        assert!(!st.stopped());
        let events = [
            r#"{"type":"message_start","message":{"id":"m","type":"message","role":"assistant","model":"c","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":1}}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi \"you\""}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\": [1, \"b"}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"]}"}}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":9}}"#,
            r#"{"type":"message_stop"}"#,
        ];
        let fired: Vec<Vec<Fire>> = events.iter().map(|e| st.apply(&doc(e)).unwrap()).collect();
        assert_eq!(fired[0], vec![Fire::Raw]);
        assert_eq!(fired[2][0], Fire::Raw);
        let Fire::Growing {
            kind,
            delta,
            index,
            len,
        } = &fired[2][1]
        else {
            panic!("{:?}", fired[2]);
        };
        assert_eq!((*kind, delta.as_str(), *index), ("text", "Hi \"you\"", 0));
        assert_eq!(st.block_str(0, "text", *len), Some("Hi \"you\""));
        assert_eq!(
            built(&fired[3][0]),
            serde_json::json!({"type": "content_block_stop", "index": 0,
                               "content_block": {"type": "text", "text": "Hi \"you\""}})
        );
        assert_eq!(
            built(&fired[5][1])["snapshot"],
            serde_json::json!({"a": [1]})
        );
        assert_eq!(
            built(&fired[6][1])["snapshot"],
            serde_json::json!({"a": [1, "b"]})
        );
        assert!(st.stopped());
        let stop = built(&fired[8][0]);
        assert_eq!(
            stop["message"],
            serde_json::json!({"id": "m", "type": "message", "role": "assistant", "model": "c",
                "content": [{"type": "text", "text": "Hi \"you\""},
                            {"type": "tool_use", "id": "t", "name": "f", "input": {"a": [1, "b"]}}],
                "stop_reason": "tool_use", "stop_sequence": null, "stop_details": null,
                "usage": {"input_tokens": 3, "output_tokens": 9}})
        );
    }

    #[test]
    fn events_before_message_start_pass_through_and_bad_indices_are_errors() {
        let mut st = MessageState::new();
        let d = doc(
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}}"#,
        );
        assert_eq!(st.apply(&d).unwrap(), vec![Fire::Raw]);
        assert!(!st.started());
        st.apply(&doc(
            r#"{"type":"message_start","message":{"content":[],"usage":{}}}"#,
        ))
        .unwrap();
        let err = st.apply(&d).unwrap_err().to_string();
        assert!(
            err.contains("content block 0, but the message has 0"),
            "{err}"
        );
    }
}
