//! The state behind `chat.completions.stream()`: the openai SDK's
//! `ChatCompletionStreamState` (`openai/lib/streaming/chat/_completions.py`),
//! fed the chunks of a chat stream.
//!
//! It keeps the completion snapshot as the SDK does (the first chunk becomes
//! the snapshot; each later delta merges by the SDK's `accumulate_delta`:
//! strings append, numbers add, `index`/`type` replace, indexed lists merge by
//! `index`; logprobs extend; `usage` and `system_fingerprint` are the last
//! chunk's) and says which events each chunk fires, in the SDK's order:
//! `chunk`, then per choice `content.delta`, `refusal.delta`,
//! `tool_calls.function.arguments.delta`, `logprobs.*.delta`, then the
//! `*.done` events (at the choice's `finish_reason`, or when its tool calls
//! move on to another index).
//!
//! What the SDK computes on every chunk and few read, the parsed-so-far
//! `parsed`/`parsed_arguments` (partial JSON) and the strings so far, is kept
//! as a length into the snapshot: the bindings read it when it is asked for.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::items::chat_deltas::{
    accumulate_delta, accumulate_node, py_index, scan_choice, scan_root, value_of, ChoiceNodes,
    RootNodes,
};
use crate::wire::json::{Doc, Kind};
use crate::wire::partial_json;

/// What the request's `response_format` and `tools` make parseable.
#[derive(Default, Debug, Clone)]
pub struct Options {
    /// The content is parsed as it grows (`response_format` a class in the SDK).
    pub rich: bool,
    /// Function names whose input tool is strict: their arguments are parsed as they grow.
    pub strict_tools: HashSet<String>,
    /// `finish_reason` `length` / `content_filter` are errors (the SDK's `has_parseable_input`).
    pub parseable: bool,
}

/// How far the parsed value of a growing string reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// `None` (not parseable, or not computed for this chunk, as the SDK).
    No,
    /// The partial JSON of the first `n` bytes.
    Prefix(usize),
    /// Set by a `done` event: the whole value.
    Whole,
}

/// One event to fire. `choice` is the position in the snapshot's `choices`.
#[derive(Debug, Clone, PartialEq)]
pub enum Fire {
    Chunk,
    ContentDelta {
        choice: usize,
        delta: String,
        len: usize,
        parsed: Parsed,
    },
    RefusalDelta {
        choice: usize,
        delta: String,
        len: usize,
    },
    ToolDelta {
        choice: usize,
        pos: usize,
        index: i64,
        name: String,
        len: usize,
        delta: String,
        parsed: Parsed,
    },
    /// `logprobs.content.delta` (`refusal` false) or `logprobs.refusal.delta`:
    /// the chunk's choice at `chunk_choice` carries the delta.
    LogprobsDelta {
        choice: usize,
        refusal: bool,
        chunk_choice: usize,
        len: usize,
    },
    ContentDone {
        choice: usize,
    },
    RefusalDone {
        choice: usize,
    },
    LogprobsDone {
        choice: usize,
        refusal: bool,
    },
    ToolDone {
        choice: usize,
        pos: usize,
        index: i64,
    },
}

#[derive(Debug)]
pub enum HandleError {
    /// A parseable request finished with `length` or `content_filter`.
    Finish(String),
    /// A delta the SDK's `accumulate_delta` refuses.
    Shape(String),
    /// Text parsed as it grows is not JSON (jiter's `ValueError` in the SDK).
    Partial(String),
}

#[derive(Default, Debug)]
struct ChoiceEvents {
    content_done: bool,
    refusal_done: bool,
    logprobs_content_done: bool,
    logprobs_refusal_done: bool,
    done_tools: HashSet<i64>,
    current_tool: Option<i64>,
}

#[derive(Default, Debug)]
pub struct ChatState {
    opts: Options,
    snapshot: Option<Value>,
    events: Vec<ChoiceEvents>,
    /// Per snapshot choice: its content's parsed value; its tool calls' (by position).
    parsed: Vec<Parsed>,
    tool_parsed: Vec<Vec<Parsed>>,
    /// Bumped by every chunk (snapshot caches).
    pub version: u64,
}

fn truthy_str(v: Option<&Value>) -> bool {
    v.and_then(Value::as_str).is_some_and(|s| !s.is_empty())
}

fn message(choice: &Value) -> Option<&Map<String, Value>> {
    choice.get("message").and_then(Value::as_object)
}

fn str_len(v: Option<&Value>) -> Option<usize> {
    v.and_then(Value::as_str).map(str::len)
}

impl ChatState {
    pub fn new(opts: Options) -> Self {
        ChatState {
            opts,
            ..Default::default()
        }
    }

    pub fn snapshot(&self) -> Option<&Value> {
        self.snapshot.as_ref()
    }

    pub fn choice(&self, pos: usize) -> Option<&Value> {
        self.snapshot.as_ref()?.get("choices")?.get(pos)
    }

    pub fn content_parsed(&self, pos: usize) -> Parsed {
        self.parsed.get(pos).copied().unwrap_or(Parsed::No)
    }

    pub fn tool_parsed(&self, pos: usize, tool: usize) -> Parsed {
        self.tool_parsed
            .get(pos)
            .and_then(|t| t.get(tool))
            .copied()
            .unwrap_or(Parsed::No)
    }

    /// A `done` event made the parsed value whole.
    pub fn set_whole(&mut self, pos: usize, tool: Option<usize>) {
        match tool {
            None => {
                if let Some(p) = self.parsed.get_mut(pos) {
                    *p = Parsed::Whole;
                }
            }
            Some(t) => {
                if let Some(p) = self.tool_parsed.get_mut(pos).and_then(|v| v.get_mut(t)) {
                    *p = Parsed::Whole;
                }
            }
        }
    }

    /// Whether a chunk is one the SDK's stream handles (`object` is
    /// `chat.completion.chunk`; Azure's filter-only events are not).
    pub fn is_chunk(doc: &Doc) -> bool {
        doc.node(0).kind == Kind::Object && Self::is_chunk_at(doc, &scan_root(doc))
    }

    fn is_chunk_at(doc: &Doc, root: &RootNodes) -> bool {
        root.object
            .and_then(|o| doc.str_value(o))
            .is_some_and(|o| o == "chat.completion.chunk")
    }

    /// Folds in one chunk and returns the events it fires: none for a chunk
    /// the SDK skips (see [`ChatState::is_chunk`]).
    pub fn handle(&mut self, doc: &Doc) -> Result<Vec<Fire>, HandleError> {
        if doc.node(0).kind != Kind::Object {
            return Ok(Vec::new());
        }
        let root = scan_root(doc);
        if !Self::is_chunk_at(doc, &root) {
            return Ok(Vec::new());
        }
        self.version += 1;
        let choices: Vec<ChoiceNodes> = root
            .choices
            .map(|a| {
                doc.elements(a)
                    .filter(|&c| doc.node(c).kind == Kind::Object)
                    .map(|c| scan_choice(doc, c))
                    .collect()
            })
            .unwrap_or_default();
        if self.snapshot.is_none() {
            self.first(doc, &choices)?;
        } else {
            self.accumulate(doc, &choices, &root)?;
        }
        let mut fire = vec![Fire::Chunk];
        for (k, n) in choices.iter().enumerate() {
            self.build_events(doc, n, k, &mut fire);
        }
        Ok(fire)
    }

    fn first(&mut self, doc: &Doc, choices: &[ChoiceNodes]) -> Result<(), HandleError> {
        let mut data = match value_of(doc, 0) {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        data.remove("obfuscation");
        let mut list = match data.remove("choices") {
            Some(Value::Array(l)) => l,
            _ => Vec::new(),
        };
        for n in choices {
            let (c, index) = (n.node, n.index);
            let mut choice = match value_of(doc, c) {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            let delta = match choice.remove("delta") {
                Some(Value::Object(d)) => d,
                _ => Map::new(),
            };
            let mut msg = Map::new();
            accumulate_delta(&mut msg, delta).map_err(HandleError::Shape)?;
            choice.insert("message".into(), Value::Object(msg));
            match py_index(list.len(), index) {
                Some(at) => list[at] = Value::Object(choice),
                None => {
                    return Err(HandleError::Shape(format!(
                        "list assignment index out of range ({index})"
                    )))
                }
            }
        }
        let n = list.len();
        data.insert("choices".into(), Value::Array(list));
        data.entry("system_fingerprint").or_insert(Value::Null);
        data.insert("object".into(), Value::String("chat.completion".into()));
        self.snapshot = Some(Value::Object(data));
        self.parsed = vec![Parsed::No; n];
        self.tool_parsed = (0..n)
            .map(|p| vec![Parsed::No; self.tool_count(p)])
            .collect();
        Ok(())
    }

    fn tool_count(&self, pos: usize) -> usize {
        self.choice(pos)
            .and_then(message)
            .and_then(|m| m.get("tool_calls"))
            .and_then(Value::as_array)
            .map_or(0, Vec::len)
    }

    fn accumulate(
        &mut self,
        doc: &Doc,
        choices: &[ChoiceNodes],
        root: &RootNodes,
    ) -> Result<(), HandleError> {
        for n in choices {
            let (c, index) = (n.node, n.index);
            let snap = self.snapshot.as_mut().expect("snapshot");
            let list = match snap.get_mut("choices") {
                Some(Value::Array(l)) => l,
                _ => return Err(HandleError::Shape("the snapshot has no choices".into())),
            };
            let delta_node = n.delta;
            let pos = match py_index(list.len(), index) {
                Some(at) => {
                    let msg = match list[at].get_mut("message") {
                        Some(Value::Object(m)) => m,
                        _ => return Err(HandleError::Shape("a choice without a message".into())),
                    };
                    if let Some(d) = delta_node {
                        accumulate_node(msg, doc, d).map_err(HandleError::Shape)?;
                    }
                    at
                }
                None => {
                    let delta = match delta_node.map(|d| value_of(doc, d)) {
                        Some(Value::Object(d)) => d,
                        _ => Map::new(),
                    };
                    let mut choice = match value_of(doc, c) {
                        Value::Object(m) => m,
                        _ => Map::new(),
                    };
                    choice.remove("delta");
                    let mut msg = Map::new();
                    accumulate_delta(&mut msg, delta).map_err(HandleError::Shape)?;
                    choice.insert("message".into(), Value::Object(msg));
                    list.push(Value::Object(choice));
                    self.parsed.push(Parsed::No);
                    self.tool_parsed.push(Vec::new());
                    list.len() - 1
                }
            };
            let choice = &mut list[pos];
            if let Some(f) = n
                .finish_reason
                .and_then(|f| doc.str_value(f))
                .filter(|f| !f.is_empty())
            {
                choice["finish_reason"] = Value::String(f.to_string());
                if self.opts.parseable && (f == "length" || f == "content_filter") {
                    return Err(HandleError::Finish(f.into_owned()));
                }
            }
            // The content's parsed value is recomputed on every chunk of its choice.
            let msg = message(choice).expect("message");
            let content = msg.get("content").and_then(Value::as_str).unwrap_or("");
            self.parsed[pos] = if !content.is_empty()
                && !truthy_str(msg.get("refusal"))
                && self.opts.rich
                && !content.trim_start().is_empty()
            {
                // The SDK parses on every chunk, so a bad prefix raises here, not when read.
                partial_json::complete(content).map_err(|e| HandleError::Partial(e.to_string()))?;
                Parsed::Prefix(content.len())
            } else {
                Parsed::No
            };
            let tools = msg.get("tool_calls").and_then(Value::as_array);
            let n_tools = tools.map_or(0, Vec::len);
            let slots = &mut self.tool_parsed[pos];
            slots.resize(n_tools, Parsed::No);
            if let Some(calls) = n.tool_calls {
                for call in doc.elements(calls) {
                    let Some(i) = doc.get_int(call, "index") else {
                        continue;
                    };
                    let Some(at) = py_index(n_tools, i) else {
                        continue;
                    };
                    let tool = &tools.expect("tools")[at];
                    if tool.get("type").and_then(Value::as_str) != Some("function") {
                        continue;
                    }
                    let f = tool.get("function");
                    let name = f
                        .and_then(|f| f.get("name"))
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    let args = f
                        .and_then(|f| f.get("arguments"))
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    if self.opts.strict_tools.contains(name) && !args.is_empty() {
                        partial_json::complete(args)
                            .map_err(|e| HandleError::Partial(e.to_string()))?;
                        slots[at] = Parsed::Prefix(args.len());
                    }
                }
            }
            if let Some(lp) = n.logprobs {
                let content = doc
                    .get(lp, "content")
                    .map(|n| value_of(doc, n))
                    .unwrap_or(Value::Null);
                let refusal = doc
                    .get(lp, "refusal")
                    .map(|n| value_of(doc, n))
                    .unwrap_or(Value::Null);
                let slot = choice
                    .as_object_mut()
                    .expect("choice")
                    .entry("logprobs")
                    .or_insert(Value::Null);
                if slot.is_null() {
                    *slot = serde_json::json!({"content": content, "refusal": refusal});
                } else {
                    for (key, more) in [("content", content), ("refusal", refusal)] {
                        if let Value::Array(more) = more {
                            if more.is_empty() {
                                continue;
                            }
                            let list = slot
                                .as_object_mut()
                                .map(|o| o.entry(key).or_insert(Value::Null));
                            if let Some(list) = list {
                                if !list.is_array() {
                                    *list = Value::Array(Vec::new());
                                }
                                if let Value::Array(l) = list {
                                    l.extend(more);
                                }
                            }
                        }
                    }
                }
            }
        }
        let snap = self.snapshot.as_mut().expect("snapshot");
        snap["usage"] = root.usage.map_or(Value::Null, |n| value_of(doc, n));
        // Usually the same on every chunk: left alone then (no string made and dropped).
        let fingerprint = root
            .system_fingerprint
            .filter(|&n| doc.node(n).kind != Kind::Null);
        let same = match (
            fingerprint.and_then(|n| doc.str_value(n)),
            snap.get("system_fingerprint"),
        ) {
            (Some(new), Some(Value::String(old))) => *old == new,
            _ => false,
        };
        if !same {
            snap["system_fingerprint"] = fingerprint.map_or(Value::Null, |n| value_of(doc, n));
        }
        if let Some(m) = root.moderation.filter(|&n| doc.node(n).kind != Kind::Null) {
            snap["moderation"] = value_of(doc, m);
        }
        Ok(())
    }

    fn build_events(&mut self, doc: &Doc, n: &ChoiceNodes, k: usize, fire: &mut Vec<Fire>) {
        let index = n.index;
        let Some(pos) = self
            .snapshot
            .as_ref()
            .and_then(|s| s.get("choices"))
            .and_then(Value::as_array)
            .and_then(|l| py_index(l.len(), index))
        else {
            return;
        };
        // The SDK's `_get_choice_state`: by `index`, else a new one appended.
        let st_at = match py_index(self.events.len(), index) {
            Some(at) => at,
            None => {
                self.events.push(ChoiceEvents::default());
                self.events.len() - 1
            }
        };
        let choice = self.choice(pos).expect("choice");
        let msg = message(choice).expect("message");
        let dstr = |node: Option<u32>| node.and_then(|v| doc.str_value(v)).map(|s| s.into_owned());
        if let (Some(d), Some(len)) = (dstr(n.content), str_len(msg.get("content"))) {
            fire.push(Fire::ContentDelta {
                choice: pos,
                delta: d,
                len,
                parsed: self.content_parsed(pos),
            });
        }
        if let (Some(d), Some(len)) = (dstr(n.refusal), str_len(msg.get("refusal"))) {
            fire.push(Fire::RefusalDelta {
                choice: pos,
                delta: d,
                len,
            });
        }
        let calls: Vec<u32> = n
            .tool_calls
            .map(|a| {
                doc.elements(a)
                    .filter(|&t| doc.node(t).kind == Kind::Object)
                    .collect()
            })
            .unwrap_or_default();
        let tools = msg.get("tool_calls").and_then(Value::as_array);
        for &call in &calls {
            let i = doc.get_int(call, "index").unwrap_or(0);
            let Some(at) = tools.and_then(|t| py_index(t.len(), i)) else {
                continue;
            };
            let tool = &tools.expect("tools")[at];
            if tool.get("type").and_then(Value::as_str) != Some("function") {
                continue;
            }
            let f = tool.get("function");
            let arguments_delta = doc
                .get_object(call, "function")
                .and_then(|f| doc.get_str(f, "arguments"))
                .map(|s| s.into_owned())
                .unwrap_or_default();
            fire.push(Fire::ToolDelta {
                choice: pos,
                pos: at,
                index: i,
                name: f
                    .and_then(|f| f.get("name"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                len: str_len(f.and_then(|f| f.get("arguments"))).unwrap_or(0),
                delta: arguments_delta,
                parsed: self.tool_parsed(pos, at),
            });
        }
        let lp_chunk = n.logprobs;
        if let (Some(lp), Some(slp)) = (lp_chunk, choice.get("logprobs").filter(|v| v.is_object()))
        {
            for (key, refusal) in [("content", false), ("refusal", true)] {
                let nonempty = doc.get_array(lp, key).is_some_and(|a| doc.node(a).len > 0);
                let snap_len = slp.get(key).and_then(Value::as_array).map_or(0, Vec::len);
                if nonempty && snap_len > 0 {
                    fire.push(Fire::LogprobsDelta {
                        choice: pos,
                        refusal,
                        chunk_choice: k,
                        len: snap_len,
                    });
                }
            }
        }
        // get_done_events
        let finished = truthy_str(choice.get("finish_reason"));
        let mut done = Vec::new();
        if finished {
            self.content_done(pos, st_at, &mut done);
            let st = &self.events[st_at];
            if let Some(cur) = st.current_tool {
                if !st.done_tools.contains(&cur) {
                    self.tool_done(pos, st_at, cur, &mut done);
                }
            }
        }
        for &call in &calls {
            let i = doc.get_int(call, "index").unwrap_or(0);
            let cur = self.events[st_at].current_tool;
            if cur != Some(i) {
                self.content_done(pos, st_at, &mut done);
                if let Some(cur) = cur {
                    self.tool_done(pos, st_at, cur, &mut done);
                }
            }
            self.events[st_at].current_tool = Some(i);
        }
        fire.extend(done);
    }

    fn content_done(&mut self, pos: usize, st_at: usize, out: &mut Vec<Fire>) {
        let choice = self.choice(pos).expect("choice");
        let msg = message(choice).expect("message");
        let has_content = truthy_str(msg.get("content"));
        let has_refusal = msg.get("refusal").is_some_and(|r| !r.is_null());
        let lp = choice.get("logprobs").filter(|v| !v.is_null());
        let lp_content = lp
            .and_then(|l| l.get("content"))
            .is_some_and(|v| !v.is_null());
        let lp_refusal = lp
            .and_then(|l| l.get("refusal"))
            .is_some_and(|v| !v.is_null());
        let st = &mut self.events[st_at];
        if has_content && !st.content_done {
            st.content_done = true;
            out.push(Fire::ContentDone { choice: pos });
        }
        if has_refusal && !st.refusal_done {
            st.refusal_done = true;
            out.push(Fire::RefusalDone { choice: pos });
        }
        if lp_content && !st.logprobs_content_done {
            st.logprobs_content_done = true;
            out.push(Fire::LogprobsDone {
                choice: pos,
                refusal: false,
            });
        }
        if lp_refusal && !st.logprobs_refusal_done {
            st.logprobs_refusal_done = true;
            out.push(Fire::LogprobsDone {
                choice: pos,
                refusal: true,
            });
        }
    }

    fn tool_done(&mut self, pos: usize, st_at: usize, index: i64, out: &mut Vec<Fire>) {
        if !self.events[st_at].done_tools.insert(index) {
            return;
        }
        let tools = self
            .choice(pos)
            .and_then(message)
            .and_then(|m| m.get("tool_calls"))
            .and_then(Value::as_array);
        let Some(at) = tools.and_then(|t| py_index(t.len(), index)) else {
            return;
        };
        if tools.expect("tools")[at]
            .get("type")
            .and_then(Value::as_str)
            == Some("function")
        {
            out.push(Fire::ToolDone {
                choice: pos,
                pos: at,
                index,
            });
        }
    }
}

#[cfg(test)]
#[path = "chat_events_tests.rs"]
mod tests;
