//! What one `GenerateContentResponse` adds to a stream's result: per
//! candidate its text, thoughts, whole function calls, `finishReason` and
//! role; the usage so far; a blocked prompt. `items::accumulate` folds these.

use crate::wire::json::{Doc, Kind};

use super::is_thought;

#[derive(Debug, Default)]
pub struct Call {
    pub id: Option<String>,
    pub name: String,
    /// The arguments object as JSON text (as OpenAI's tool calls carry them).
    pub arguments: String,
}

#[derive(Debug, Default)]
pub struct Candidate {
    /// `index`, or the position in `candidates`.
    pub index: i64,
    pub finish_reason: Option<String>,
    pub role: Option<String>,
    pub text: String,
    /// The thought parts' text.
    pub reasoning: Option<String>,
    pub calls: Vec<Call>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub prompt: Option<i64>,
    pub candidates: Option<i64>,
    pub thoughts: Option<i64>,
    pub total: Option<i64>,
}

#[derive(Debug, Default)]
pub struct Response {
    pub id: Option<String>,
    pub model: Option<String>,
    pub candidates: Vec<Candidate>,
    pub usage: Option<Usage>,
    /// `promptFeedback.blockReason`.
    pub block_reason: Option<String>,
}

fn s(doc: &Doc, obj: u32, key: &str) -> Option<String> {
    doc.get_str(obj, key).map(|c| c.into_owned())
}

/// Reads a response (the root of `doc`).
pub fn read(doc: &Doc) -> Response {
    let mut out = Response::default();
    if doc.node(0).kind != Kind::Object {
        return out;
    }
    out.id = s(doc, 0, "responseId");
    out.model = s(doc, 0, "modelVersion");
    if let Some(candidates) = doc.get_array(0, "candidates") {
        for (i, c) in doc.elements(candidates).enumerate() {
            if doc.node(c).kind == Kind::Object {
                out.candidates.push(candidate(doc, c, i as i64));
            }
        }
    }
    out.block_reason = doc
        .get_object(0, "promptFeedback")
        .and_then(|f| s(doc, f, "blockReason"));
    out.usage = doc.get_object(0, "usageMetadata").map(|u| Usage {
        prompt: doc.get_int(u, "promptTokenCount"),
        candidates: doc.get_int(u, "candidatesTokenCount"),
        thoughts: doc.get_int(u, "thoughtsTokenCount"),
        total: doc.get_int(u, "totalTokenCount"),
    });
    out
}

fn candidate(doc: &Doc, c: u32, position: i64) -> Candidate {
    let mut out = Candidate {
        index: doc.get_int(c, "index").unwrap_or(position),
        finish_reason: s(doc, c, "finishReason"),
        ..Candidate::default()
    };
    let Some(content) = doc.get_object(c, "content") else {
        return out;
    };
    out.role = s(doc, content, "role");
    let Some(parts) = doc.get_array(content, "parts") else {
        return out;
    };
    for part in doc.elements(parts) {
        if doc.node(part).kind != Kind::Object {
            continue;
        }
        if let Some(t) = doc.get_str(part, "text") {
            if is_thought(doc, part) {
                out.reasoning.get_or_insert_with(String::new).push_str(&t);
            } else {
                out.text.push_str(&t);
            }
        }
        if let Some(call) = doc.get_object(part, "functionCall") {
            out.calls.push(Call {
                id: s(doc, call, "id"),
                name: s(doc, call, "name").unwrap_or_default(),
                arguments: doc
                    .get(call, "args")
                    .map_or_else(|| "{}".to_string(), |a| doc.json_text(a).to_string()),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_response() {
        let doc = Doc::parse(
            r#"{"candidates":[{"content":{"parts":[{"text":"hm","thought":true},{"text":"a"},{"functionCall":{"name":"f","args":{"x": 1}}}],"role":"model"},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":3,"thoughtsTokenCount":2},"modelVersion":"m","responseId":"r"}"#.into(),
        )
        .unwrap();
        let r = read(&doc);
        assert_eq!(
            (r.id.as_deref(), r.model.as_deref()),
            (Some("r"), Some("m"))
        );
        let c = &r.candidates[0];
        assert_eq!(
            (c.index, c.text.as_str(), c.reasoning.as_deref()),
            (0, "a", Some("hm"))
        );
        assert_eq!(
            (c.finish_reason.as_deref(), c.role.as_deref()),
            (Some("STOP"), Some("model"))
        );
        assert_eq!(
            (c.calls[0].name.as_str(), c.calls[0].arguments.as_str()),
            ("f", r#"{"x": 1}"#)
        );
        assert_eq!(
            r.usage,
            Some(Usage {
                prompt: Some(3),
                candidates: None,
                thoughts: Some(2),
                total: None
            })
        );
        assert_eq!(r.block_reason, None);
    }
}
