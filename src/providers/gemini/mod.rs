//! Gemini's `GenerateContentResponse` (the Gemini API and Vertex AI): the SDK's
//! snake_case attribute names over the camelCase wire (`schema.rs`, generated
//! from google-genai's models), when a stream is complete, and the text a
//! response carries as the SDK's `response.text` computes it.

pub mod fold;
#[rustfmt::skip]
mod schema;

pub use schema::{CANDIDATE, CONTENT, FUNCTION_CALL, GENERATE_CONTENT_RESPONSE, PART};

use crate::wire::json::{Doc, Kind};

/// Whether this response ends the stream as complete: a candidate carries a
/// `finishReason`, or the prompt was blocked (`promptFeedback.blockReason`).
pub fn is_final(doc: &Doc) -> bool {
    if doc.node(0).kind != Kind::Object {
        return false;
    }
    if let Some(candidates) = doc.get_array(0, "candidates") {
        let finished = doc.elements(candidates).any(|c| {
            doc.node(c).kind == Kind::Object
                && doc
                    .get(c, "finishReason")
                    .is_some_and(|r| doc.node(r).kind == Kind::Str)
        });
        if finished {
            return true;
        }
    }
    doc.get_object(0, "promptFeedback")
        .and_then(|f| doc.get(f, "blockReason"))
        .is_some_and(|r| doc.node(r).kind == Kind::Str)
}

/// The `parts` array of the first candidate's content, as the SDK's properties
/// read it (`None` where there is no first candidate, content or parts array).
pub fn first_parts(doc: &Doc, response: u32) -> Option<u32> {
    let candidates = doc.get_array(response, "candidates")?;
    let first = doc.elements(candidates).next()?;
    if doc.node(first).kind != Kind::Object {
        return None;
    }
    let content = doc.get_object(first, "content")?;
    doc.get_array(content, "parts")
}

/// Whether a part is a thought (`"thought": true`).
pub fn is_thought(doc: &Doc, part: u32) -> bool {
    doc.get(part, "thought")
        .is_some_and(|t| doc.node(t).kind == Kind::True)
}

/// The SDK's `GenerateContentResponse.text`: the first candidate's text parts
/// (thoughts left out) concatenated; `None` without a first candidate, its
/// content or parts, or without a single (non-thought) text part.
pub fn response_text(doc: &Doc, response: u32) -> Option<String> {
    let parts = first_parts(doc, response)?;
    let mut text = String::new();
    let mut any = false;
    for part in doc.elements(parts) {
        if doc.node(part).kind != Kind::Object || is_thought(doc, part) {
            continue;
        }
        if let Some(t) = doc.get_str(part, "text") {
            any = true;
            text.push_str(&t);
        }
    }
    any.then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(s: &str) -> Doc {
        Doc::parse(s.into()).unwrap()
    }

    #[test]
    fn text_as_the_sdk_reads_it() {
        let t = |s: &str| response_text(&doc(s), 0);
        assert_eq!(
            t(r#"{"candidates":[{"content":{"parts":[{"text":"a"},{"text":"b"}]}}]}"#),
            Some("ab".into())
        );
        assert_eq!(t(r#"{"candidates":[]}"#), None);
        assert_eq!(t(r#"{"candidates":[{"finishReason":"STOP"}]}"#), None);
        assert_eq!(t(r#"{"candidates":[{"content":{"parts":[]}}]}"#), None);
        assert_eq!(
            t(r#"{"candidates":[{"content":{"parts":[{"text":"x","thought":true}]}}]}"#),
            None
        );
        assert_eq!(
            t(r#"{"candidates":[{"content":{"parts":[{"text":""}]}}]}"#),
            Some(String::new())
        );
        assert_eq!(
            t(r#"{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f"}}]}}]}"#),
            None
        );
    }

    #[test]
    fn finish_reason_or_block_ends() {
        assert!(is_final(&doc(
            r#"{"candidates":[{"content":{},"finishReason":"STOP"}]}"#
        )));
        assert!(is_final(&doc(
            r#"{"promptFeedback":{"blockReason":"SAFETY"}}"#
        )));
        assert!(!is_final(&doc(
            r#"{"candidates":[{"content":{"parts":[{"text":"a"}]}}]}"#
        )));
        assert!(!is_final(&doc(r#"{"candidates":[{"finishReason":null}]}"#)));
    }

    #[test]
    fn schema_maps_attributes_to_wire_keys() {
        let usage = GENERATE_CONTENT_RESPONSE.child("usage_metadata");
        assert_eq!(usage.wire_key("prompt_token_count"), "promptTokenCount");
        assert_eq!(usage.attr_name("promptTokenCount"), "prompt_token_count");
        assert!(usage.is_optional("thoughts_token_count"));
        let part = GENERATE_CONTENT_RESPONSE
            .child("candidates")
            .child("content")
            .child("parts");
        assert_eq!(part.name, "Part");
        assert_eq!(part.wire_key("function_call"), "functionCall");
        assert_eq!(part.wire_key("text"), "text");
    }
}
