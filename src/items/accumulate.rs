//! Folds a stream's chunks into one result with the same names for every
//! provider: text, role, finish_reason, refusal, tool_calls, usage, choices.
//!
//! OpenAI-style deltas merge the way the openai SDK's
//! `ChatCompletionStreamState` does (strings append, `index`/`type` replace,
//! tool calls merge by `index`), so `final()` equals the SDK's accumulated
//! completion.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::items::pipeline::Parsed;
use crate::items::text::text_delta;
use crate::providers::gemini;
use crate::wire::json::{Doc, Kind};

#[derive(Default, Debug, Clone)]
struct ToolCall {
    id: Option<String>,
    name: String,
    arguments: String,
}

#[derive(Default, Debug, Clone)]
struct Choice {
    text: String,
    role: Option<String>,
    finish_reason: Option<String>,
    refusal: Option<String>,
    /// Reasoning apart from the answer (`reasoning_content` / `reasoning`,
    /// Ollama's `thinking`, Anthropic's thinking blocks).
    reasoning: Option<String>,
    /// Keyed by the provider's index (OpenAI `index`, Anthropic block index).
    tool_calls: BTreeMap<i64, ToolCall>,
}

#[derive(Default, Debug, Clone, Copy)]
struct Usage {
    prompt: Option<i64>,
    completion: Option<i64>,
    total: Option<i64>,
}

#[derive(Default, Debug)]
pub struct Accumulator {
    choices: BTreeMap<i64, Choice>,
    usage: Option<Usage>,
    id: Option<String>,
    model: Option<String>,
    /// Gemini: `usageMetadata.thoughtsTokenCount` (within `completion_tokens`).
    reasoning_tokens: Option<i64>,
    /// Gemini: `promptFeedback.blockReason`, when the prompt was blocked.
    block_reason: Option<String>,
}

fn s(doc: &Doc, obj: u32, key: &str) -> Option<String> {
    doc.get_str(obj, key).map(|c| c.into_owned())
}

/// The string value of an optional node (`None` unless it is a string).
fn str_of(doc: &Doc, node: Option<u32>) -> Option<std::borrow::Cow<'_, str>> {
    node.and_then(|n| doc.str_value(n))
}

fn owned(doc: &Doc, node: Option<u32>) -> Option<String> {
    str_of(doc, node).map(|c| c.into_owned())
}

fn append(slot: &mut Option<String>, more: &str) {
    match slot {
        Some(s) => s.push_str(more),
        None => *slot = Some(more.to_string()),
    }
}

/// What telemetry reads off a finished stream (OpenTelemetry's response attributes).
#[derive(Debug, Default, PartialEq)]
pub struct Summary {
    pub id: Option<String>,
    pub model: Option<String>,
    /// One per choice that has one, in choice order.
    pub finish_reasons: Vec<String>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    /// (role, text, finish_reason) per choice; only when asked for (content capture).
    pub outputs: Vec<(Option<String>, String, Option<String>)>,
}

impl Accumulator {
    pub fn summary(&self, with_text: bool) -> Summary {
        Summary {
            id: self.id.clone(),
            model: self.model.clone(),
            finish_reasons: self
                .choices
                .values()
                .filter_map(|c| c.finish_reason.clone())
                .collect(),
            input_tokens: self.usage.and_then(|u| u.prompt),
            output_tokens: self.usage.and_then(|u| u.completion),
            outputs: if with_text {
                self.choices
                    .values()
                    .map(|c| (c.role.clone(), c.text.clone(), c.finish_reason.clone()))
                    .collect()
            } else {
                Vec::new()
            },
        }
    }

    fn choice(&mut self, index: i64) -> &mut Choice {
        self.choices.entry(index).or_default()
    }

    pub fn add(&mut self, p: &Parsed) {
        let doc = &*p.doc;
        if doc.node(0).kind != Kind::Object {
            return;
        }
        match p.event.as_deref() {
            Some("message_start") => return self.anthropic_start(doc),
            Some("content_block_start") => return self.anthropic_block_start(doc),
            Some("content_block_delta") => return self.anthropic_block_delta(doc),
            Some("message_delta") => return self.anthropic_message_delta(doc),
            Some(t) if t.starts_with("response.") => return self.responses(doc, t),
            Some(t) if t.starts_with("message") || t.starts_with("content_block") => return,
            _ => {}
        }
        if std::ptr::eq(p.schema, &gemini::GENERATE_CONTENT_RESPONSE) {
            return self.gemini(doc);
        }
        // One pass over the root's members (this runs for every chunk).
        let [id, model, choices, usage, done, created_at] =
            doc.get_many(0, ["id", "model", "choices", "usage", "done", "created_at"]);
        // Azure's first chunk (prompt_filter_results) has empty id and model.
        if self.id.is_none() {
            self.id = owned(doc, id).filter(|v| !v.is_empty());
        }
        if self.model.is_none() {
            self.model = owned(doc, model).filter(|v| !v.is_empty());
        }
        if let Some(choices) = choices.and_then(|n| doc.as_array(n)) {
            for c in doc.elements(choices) {
                if doc.node(c).kind == Kind::Object {
                    self.openai_choice(doc, c);
                }
            }
            if let Some(u) = usage.and_then(|n| doc.as_object(n)) {
                let [prompt, completion, total] =
                    doc.get_many(u, ["prompt_tokens", "completion_tokens", "total_tokens"]);
                let int = |n: Option<u32>| n.and_then(|n| doc.int_value(n));
                self.usage = Some(Usage {
                    prompt: int(prompt),
                    completion: int(completion),
                    total: int(total),
                });
            }
            return;
        }
        if done.is_some() && created_at.is_some() {
            return self.ollama(doc, p);
        }
        self.oci(doc, p);
    }

    /// Ollama's `/api/chat` and `/api/generate` lines: text, `thinking`, tool
    /// calls (whole in one line each, arguments an object), `done_reason`, and
    /// the eval counts of the last line as usage.
    fn ollama(&mut self, doc: &Doc, p: &Parsed) {
        if let Some(t) = text_delta(p) {
            self.choice(0).text.push_str(&t);
        }
        if let Some(t) = crate::items::text::reasoning_delta(p) {
            append(&mut self.choice(0).reasoning, &t);
        }
        if let Some(r) = s(doc, 0, "done_reason") {
            self.choice(0).finish_reason = Some(r);
        }
        if let Some(m) = doc.get_object(0, "message") {
            if let Some(role) = s(doc, m, "role") {
                self.choice(0).role = Some(role);
            }
            if let Some(calls) = doc.get_array(m, "tool_calls") {
                for call in doc.elements(calls) {
                    let Some(f) = (doc.node(call).kind == Kind::Object)
                        .then(|| doc.get_object(call, "function"))
                        .flatten()
                    else {
                        continue;
                    };
                    let ch = self.choice(0);
                    let key = ch.tool_calls.len() as i64;
                    let tc = ch.tool_calls.entry(key).or_default();
                    tc.id = s(doc, call, "id");
                    tc.name = s(doc, f, "name").unwrap_or_default();
                    tc.arguments = match doc.get(f, "arguments") {
                        Some(a) if doc.node(a).kind == Kind::Str => {
                            doc.str_value(a).map(|a| a.into_owned()).unwrap_or_default()
                        }
                        Some(a) => doc.json_text(a).to_string(),
                        None => String::new(),
                    };
                }
            }
        } else if doc.get(0, "response").is_some() {
            self.choice(0)
                .role
                .get_or_insert_with(|| "assistant".into());
        }
        if self.model.is_none() {
            self.model = s(doc, 0, "model").filter(|v| !v.is_empty());
        }
        let (prompt, completion) = (
            doc.get_int(0, "prompt_eval_count"),
            doc.get_int(0, "eval_count"),
        );
        if prompt.is_some() || completion.is_some() {
            self.usage = Some(Usage {
                prompt,
                completion,
                total: None,
            });
        }
    }

    /// Gemini: each response carries the parts it adds (thoughts apart), `finishReason` on a
    /// candidate's last one, and the usage so far (thoughts count as output, as OpenAI counts
    /// reasoning tokens in completion_tokens).
    fn gemini(&mut self, doc: &Doc) {
        let r = gemini::fold::read(doc);
        self.id = self.id.take().or(r.id);
        self.model = self.model.take().or(r.model);
        for c in r.candidates {
            let ch = self.choice(c.index);
            ch.text.push_str(&c.text);
            if let Some(t) = c.reasoning {
                append(&mut ch.reasoning, &t);
            }
            ch.finish_reason = c.finish_reason.or(ch.finish_reason.take());
            ch.role = c.role.or(ch.role.take());
            for call in c.calls {
                let key = ch.tool_calls.len() as i64;
                ch.tool_calls.insert(
                    key,
                    ToolCall {
                        id: call.id,
                        name: call.name,
                        arguments: call.arguments,
                    },
                );
            }
        }
        if let Some(reason) = r.block_reason {
            self.choice(0).finish_reason = Some(reason.clone());
            self.block_reason = Some(reason);
        }
        if let Some(u) = r.usage {
            let completion = match (u.candidates, u.thoughts) {
                (Some(c), Some(t)) => c.checked_add(t),
                (c, t) => c.or(t),
            };
            self.usage = Some(Usage {
                prompt: u.prompt,
                completion,
                total: u.total,
            });
            self.reasoning_tokens = u.thoughts;
        }
    }

    fn openai_choice(&mut self, doc: &Doc, c: u32) {
        // Each object's members in one pass, read as `Doc::get` would (last key wins).
        let [index, finish, delta, text, message] =
            doc.get_many(c, ["index", "finish_reason", "delta", "text", "message"]);
        let index = index.and_then(|n| doc.int_value(n)).unwrap_or(0);
        let finish = owned(doc, finish);
        let ch = self.choice(index);
        if finish.is_some() {
            ch.finish_reason = finish;
        }
        if let Some(delta) = delta.and_then(|n| doc.as_object(n)) {
            let [role, content, refusal, reasoning_content, reasoning, tool_calls] = doc.get_many(
                delta,
                [
                    "role",
                    "content",
                    "refusal",
                    "reasoning_content",
                    "reasoning",
                    "tool_calls",
                ],
            );
            if let Some(role) = owned(doc, role) {
                ch.role = Some(role);
            }
            if let Some(t) = str_of(doc, content) {
                ch.text.push_str(&t);
            }
            if let Some(r) = str_of(doc, refusal) {
                append(&mut ch.refusal, &r);
            }
            // `text::chat_reasoning`'s order: `reasoning_content` first, then `reasoning`.
            if let Some(r) = str_of(doc, reasoning_content).or_else(|| str_of(doc, reasoning)) {
                append(&mut ch.reasoning, &r);
            }
            if let Some(calls) = tool_calls.and_then(|n| doc.as_array(n)) {
                for call in doc.elements(calls) {
                    if doc.node(call).kind != Kind::Object {
                        continue;
                    }
                    let [i, id, function] = doc.get_many(call, ["index", "id", "function"]);
                    let i = i
                        .and_then(|n| doc.int_value(n))
                        .unwrap_or(ch.tool_calls.len() as i64);
                    let tc = ch.tool_calls.entry(i).or_default();
                    if let Some(id) = str_of(doc, id) {
                        append(&mut tc.id, &id);
                    }
                    if let Some(f) = function.and_then(|n| doc.as_object(n)) {
                        let [name, arguments] = doc.get_many(f, ["name", "arguments"]);
                        if let Some(n) = str_of(doc, name) {
                            tc.name.push_str(&n);
                        }
                        if let Some(a) = str_of(doc, arguments) {
                            tc.arguments.push_str(&a);
                        }
                    }
                }
            }
        } else if let Some(t) = str_of(doc, text) {
            ch.text.push_str(&t); // legacy completions
        } else if let Some(m) = message.and_then(|n| doc.as_object(n)) {
            // a non-streamed chat.completion
            let [content, role] = doc.get_many(m, ["content", "role"]);
            if let Some(t) = str_of(doc, content) {
                ch.text.push_str(&t);
            }
            ch.role = owned(doc, role).or(ch.role.take());
        }
    }

    fn anthropic_start(&mut self, doc: &Doc) {
        let Some(m) = doc.get_object(0, "message") else {
            return;
        };
        self.id = s(doc, m, "id");
        self.model = s(doc, m, "model");
        self.choice(0).role = s(doc, m, "role");
        if let Some(u) = doc.get_object(m, "usage") {
            self.usage = Some(Usage {
                prompt: doc.get_int(u, "input_tokens"),
                completion: doc.get_int(u, "output_tokens"),
                total: None,
            });
        }
    }

    fn anthropic_block_start(&mut self, doc: &Doc) {
        let index = doc.get_int(0, "index").unwrap_or(0);
        let Some(block) = doc.get_object(0, "content_block") else {
            return;
        };
        if s(doc, block, "type").as_deref() == Some("tool_use") {
            let tc = self.choice(0).tool_calls.entry(index).or_default();
            tc.id = s(doc, block, "id");
            tc.name = s(doc, block, "name").unwrap_or_default();
        } else if let Some(t) = doc.get_str(block, "text") {
            self.choice(0).text.push_str(&t);
        }
    }

    fn anthropic_block_delta(&mut self, doc: &Doc) {
        let index = doc.get_int(0, "index").unwrap_or(0);
        let Some(delta) = doc.get_object(0, "delta") else {
            return;
        };
        match s(doc, delta, "type").as_deref() {
            Some("text_delta") => {
                if let Some(t) = doc.get_str(delta, "text") {
                    self.choice(0).text.push_str(&t);
                }
            }
            Some("thinking_delta") => {
                if let Some(t) = doc.get_str(delta, "thinking") {
                    append(&mut self.choice(0).reasoning, &t);
                }
            }
            Some("input_json_delta") => {
                if let Some(j) = doc.get_str(delta, "partial_json") {
                    self.choice(0)
                        .tool_calls
                        .entry(index)
                        .or_default()
                        .arguments
                        .push_str(&j);
                }
            }
            _ => {}
        }
    }

    fn anthropic_message_delta(&mut self, doc: &Doc) {
        if let Some(d) = doc.get_object(0, "delta") {
            if let Some(r) = s(doc, d, "stop_reason") {
                self.choice(0).finish_reason = Some(r);
            }
        }
        if let Some(u) = doc.get_object(0, "usage") {
            let usage = self.usage.get_or_insert_with(Usage::default);
            if let Some(out) = doc.get_int(u, "output_tokens") {
                usage.completion = Some(out); // cumulative in message_delta
            }
            if let Some(inp) = doc.get_int(u, "input_tokens") {
                usage.prompt = Some(inp);
            }
        }
    }

    fn responses(&mut self, doc: &Doc, event: &str) {
        match event {
            "response.output_text.delta" => {
                if let Some(t) = doc.get_str(0, "delta") {
                    self.choice(0).text.push_str(&t);
                }
            }
            "response.refusal.delta" => {
                if let Some(t) = doc.get_str(0, "delta") {
                    append(&mut self.choice(0).refusal, &t);
                }
            }
            "response.created" => {
                if let Some(r) = doc.get_object(0, "response") {
                    self.id = s(doc, r, "id");
                    self.model = s(doc, r, "model");
                }
                self.choice(0).role = Some("assistant".into());
            }
            "response.completed" | "response.incomplete" | "response.failed" => {
                let Some(r) = doc.get_object(0, "response") else {
                    return;
                };
                let status = s(doc, r, "status");
                let ch = self.choice(0);
                ch.finish_reason = status;
                ch.role.get_or_insert_with(|| "assistant".into());
                if let Some(out) = doc.get_array(r, "output") {
                    for (i, item) in doc.elements(out).enumerate() {
                        if doc.node(item).kind == Kind::Object
                            && s(doc, item, "type").as_deref() == Some("function_call")
                        {
                            let tc = ch.tool_calls.entry(i as i64).or_default();
                            tc.id = s(doc, item, "call_id").or_else(|| s(doc, item, "id"));
                            tc.name = s(doc, item, "name").unwrap_or_default();
                            tc.arguments = s(doc, item, "arguments").unwrap_or_default();
                        }
                    }
                }
                if let Some(u) = doc.get_object(r, "usage") {
                    self.usage = Some(Usage {
                        prompt: doc.get_int(u, "input_tokens"),
                        completion: doc.get_int(u, "output_tokens"),
                        total: doc.get_int(u, "total_tokens"),
                    });
                }
            }
            _ => {}
        }
    }

    /// OCI Generative AI: generateText, chat GENERIC and COHERE.
    fn oci(&mut self, doc: &Doc, p: &Parsed) {
        if let Some(t) = text_delta(p) {
            self.choice(0).text.push_str(&t);
        }
        if let Some(r) = s(doc, 0, "finishReason") {
            self.choice(0).finish_reason = Some(r);
        }
        if let Some(m) = doc.get_object(0, "message") {
            if let Some(role) = s(doc, m, "role") {
                self.choice(0).role = Some(role.to_ascii_lowercase());
            }
            if let Some(calls) = doc.get_array(m, "toolCalls") {
                for (i, call) in doc.elements(calls).enumerate() {
                    if doc.node(call).kind != Kind::Object {
                        continue;
                    }
                    let id = s(doc, call, "id");
                    let ch = self.choice(0);
                    let key = id
                        .as_ref()
                        .and_then(|id| {
                            ch.tool_calls
                                .iter()
                                .find(|(_, t)| t.id.as_deref() == Some(id))
                                .map(|(k, _)| *k)
                        })
                        .unwrap_or_else(|| {
                            if id.is_some() {
                                ch.tool_calls.len() as i64
                            } else {
                                i as i64
                            }
                        });
                    let tc = ch.tool_calls.entry(key).or_default();
                    if tc.id.is_none() {
                        tc.id = id;
                    }
                    if let Some(n) = s(doc, call, "name") {
                        if tc.name.is_empty() {
                            tc.name = n;
                        }
                    }
                    if let Some(a) = doc.get_str(call, "arguments") {
                        tc.arguments.push_str(&a);
                    }
                }
            }
        }
        if let Some(u) = doc.get_object(0, "usage") {
            self.usage = Some(Usage {
                prompt: doc.get_int(u, "promptTokens"),
                completion: doc.get_int(u, "completionTokens"),
                total: doc.get_int(u, "totalTokens"),
            });
        }
    }

    /// The result as JSON (parsed into a chunk object by the bindings).
    pub fn to_value(&self) -> Value {
        let choice_json = |index: i64, c: &Choice| {
            let calls: Vec<Value> = c
                .tool_calls
                .values()
                .map(|t| json!({"id": t.id, "type": "function", "function": {"name": t.name, "arguments": t.arguments}}))
                .collect();
            json!({
                "index": index,
                "text": c.text,
                "role": c.role,
                "finish_reason": c.finish_reason,
                "refusal": c.refusal,
                "reasoning": c.reasoning,
                "tool_calls": calls,
            })
        };
        let first = self.choices.iter().next();
        let mut out = match first {
            Some((i, c)) => choice_json(*i, c),
            None => choice_json(0, &Choice::default()),
        };
        let map: &mut Map<String, Value> = out.as_object_mut().expect("object");
        map.remove("index");
        map.insert(
            "choices".into(),
            Value::Array(
                self.choices
                    .iter()
                    .map(|(i, c)| choice_json(*i, c))
                    .collect(),
            ),
        );
        let usage = self.usage.map(|u| {
            // Counts near i64::MAX (only a hostile or broken stream sends them)
            // leave the total unknown instead of overflowing.
            let total = u.total.or(match (u.prompt, u.completion) {
                (Some(p), Some(c)) => p.checked_add(c),
                _ => None,
            });
            json!({"prompt_tokens": u.prompt, "completion_tokens": u.completion, "total_tokens": total})
        });
        let mut usage = usage.unwrap_or(Value::Null);
        if let (Some(n), Some(u)) = (self.reasoning_tokens, usage.as_object_mut()) {
            u.insert("reasoning_tokens".into(), json!(n));
        }
        map.insert("usage".into(), usage);
        if let Some(b) = &self.block_reason {
            map.insert("block_reason".into(), json!(b));
        }
        map.insert(
            "id".into(),
            self.id.clone().map(Value::String).unwrap_or(Value::Null),
        );
        map.insert(
            "model".into(),
            self.model.clone().map(Value::String).unwrap_or(Value::Null),
        );
        out
    }
}

#[cfg(test)]
#[path = "accumulate_tests.rs"]
mod tests;
