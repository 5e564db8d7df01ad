//! Gemini's `GenerateContentResponse` stream folded: each response carries the
//! parts it adds (text, thoughts, whole function calls), `finishReason` on the
//! candidate's last one, and `usageMetadata` as counted so far (the last one
//! holds the totals).

use super::{int, s, Accumulator, Usage};
use crate::providers::gemini::is_thought;
use crate::wire::json::{Doc, Kind};

impl Accumulator {
    pub(super) fn gemini(&mut self, doc: &Doc) {
        if self.id.is_none() {
            self.id = s(doc, 0, "responseId");
        }
        if self.model.is_none() {
            self.model = s(doc, 0, "modelVersion");
        }
        if let Some(candidates) = doc.get_array(0, "candidates") {
            for (i, c) in doc.elements(candidates).enumerate() {
                if doc.node(c).kind == Kind::Object {
                    self.gemini_candidate(doc, c, i as i64);
                }
            }
        }
        if let Some(f) = doc.get_object(0, "promptFeedback") {
            if let Some(reason) = s(doc, f, "blockReason") {
                self.choice(0).finish_reason = Some(reason.clone());
                self.block_reason = Some(reason);
            }
        }
        if let Some(u) = doc.get_object(0, "usageMetadata") {
            let candidates = int(doc, u, "candidatesTokenCount");
            let thoughts = int(doc, u, "thoughtsTokenCount");
            // Thoughts count as output, as OpenAI counts reasoning tokens in completion_tokens.
            let completion = match (candidates, thoughts) {
                (Some(c), Some(t)) => c.checked_add(t),
                (c, t) => c.or(t),
            };
            self.usage = Some(Usage {
                prompt: int(doc, u, "promptTokenCount"),
                completion,
                total: int(doc, u, "totalTokenCount"),
            });
            self.reasoning_tokens = thoughts;
        }
    }

    fn gemini_candidate(&mut self, doc: &Doc, c: u32, position: i64) {
        let index = int(doc, c, "index").unwrap_or(position);
        let ch = self.choice(index);
        if let Some(r) = s(doc, c, "finishReason") {
            ch.finish_reason = Some(r);
        }
        let Some(content) = doc.get_object(c, "content") else {
            return;
        };
        if let Some(role) = s(doc, content, "role") {
            ch.role = Some(role);
        }
        let Some(parts) = doc.get_array(content, "parts") else {
            return;
        };
        for part in doc.elements(parts) {
            if doc.node(part).kind != Kind::Object {
                continue;
            }
            if let Some(t) = doc.get_str(part, "text") {
                if is_thought(doc, part) {
                    super::append(&mut ch.reasoning, &t);
                } else {
                    ch.text.push_str(&t);
                }
            }
            if let Some(call) = doc.get_object(part, "functionCall") {
                let key = ch.tool_calls.len() as i64;
                let tc = ch.tool_calls.entry(key).or_default();
                tc.id = s(doc, call, "id");
                tc.name = s(doc, call, "name").unwrap_or_default();
                // The arguments as JSON text, as OpenAI's tool calls carry them.
                tc.arguments = doc
                    .get(call, "args")
                    .map_or_else(|| "{}".to_string(), |a| doc.json_text(a).to_string());
            }
        }
    }
}
