//! The text delta carried by one chunk, for every provider shape sserpent
//! streams: OpenAI chat and completions (and Azure), the Responses API,
//! Anthropic Messages, OCI generateText and chat (GENERIC and COHERE), Ollama's
//! `/api/chat` (`message.content`) and `/api/generate` (`response`); and the
//! reasoning delta where a stream carries one apart from the answer.

use std::borrow::Cow;

use crate::items::pipeline::Parsed;
use crate::providers::gemini;
use crate::wire::json::{Doc, Kind};

/// The text this chunk adds, if any (empty text counts as none).
pub fn text_delta(p: &Parsed) -> Option<Cow<'_, str>> {
    let doc = &*p.doc;
    if doc.node(0).kind != Kind::Object {
        return None;
    }
    let text = match p.event.as_deref() {
        Some("response.output_text.delta") => doc.get_str(0, "delta"),
        Some("content_block_delta") => {
            let delta = doc.get_object(0, "delta")?;
            match doc
                .get(delta, "type")
                .and_then(|t| doc.str_value(t))
                .as_deref()
            {
                Some("text_delta") => doc.get_str(delta, "text"),
                _ => None,
            }
        }
        Some(t) if typed_event(t) => None,
        _ if std::ptr::eq(p.schema, &gemini::GENERATE_CONTENT_RESPONSE) => {
            // The SDK's `response.text`: the first candidate's text parts, thoughts left out.
            gemini::response_text(doc, 0).map(Cow::Owned)
        }
        _ => generic_text(doc),
    }?;
    (!text.is_empty()).then_some(text)
}

/// An event of the Responses API or Anthropic Messages (named by its `event:` line) that
/// carries no delta of the kind asked for.
fn typed_event(t: &str) -> bool {
    t.starts_with("response.") || t.starts_with("message") || t.starts_with("content_block")
}

/// Choice 0 (with n > 1 the choices interleave; `final()` keeps them apart).
fn choice0(doc: &Doc, choices: u32) -> Option<u32> {
    doc.elements(choices).find(|&c| {
        doc.node(c).kind == Kind::Object && doc.get(c, "index").is_none_or(|i| doc.raw(i) == "0")
    })
}

/// The reasoning this chunk adds, if any (empty counts as none): OpenAI-compatible
/// servers' `delta.reasoning_content` (DeepSeek, vLLM) or `delta.reasoning` (newer
/// vLLM, OpenRouter, Ollama's `/v1`), Ollama's `message.thinking` / `thinking`, and
/// Anthropic's `thinking_delta`.
pub fn reasoning_delta(p: &Parsed) -> Option<Cow<'_, str>> {
    let doc = &*p.doc;
    if doc.node(0).kind != Kind::Object {
        return None;
    }
    let text = match p.event.as_deref() {
        Some("content_block_delta") => {
            let delta = doc.get_object(0, "delta")?;
            match doc.get_str(delta, "type").as_deref() {
                Some("thinking_delta") => doc.get_str(delta, "thinking"),
                _ => None,
            }
        }
        Some(t) if typed_event(t) => None,
        _ => {
            if let Some(choices) = doc.get_array(0, "choices") {
                let delta = doc.get_object(choice0(doc, choices)?, "delta")?;
                chat_reasoning(doc, delta)
            } else if let Some(message) = doc.get_object(0, "message") {
                doc.get_str(message, "thinking")
            } else {
                doc.get_str(0, "thinking")
            }
        }
    }?;
    (!text.is_empty()).then_some(text)
}

/// A chat delta's reasoning: `reasoning_content`, else `reasoning`.
pub fn chat_reasoning<'d>(doc: &'d Doc, delta: u32) -> Option<Cow<'d, str>> {
    doc.get_str(delta, "reasoning_content")
        .or_else(|| doc.get_str(delta, "reasoning"))
}

fn generic_text(doc: &Doc) -> Option<Cow<'_, str>> {
    if let Some(choices) = doc.get(0, "choices") {
        if doc.node(choices).kind != Kind::Array {
            return None;
        }
        let choice = choice0(doc, choices)?;
        if let Some(delta) = doc.get_object(choice, "delta") {
            return doc.get_str(delta, "content");
        }
        return doc.get_str(choice, "text");
    }
    // OCI: COHERE chat's final event repeats the whole text with finishReason.
    if doc.get(0, "finishReason").is_some() {
        return None;
    }
    if let Some(message) = doc.get_object(0, "message") {
        // OCI GENERIC chat: message.content[].text
        let content = doc.get(message, "content")?;
        if doc.node(content).kind != Kind::Array {
            return doc.get_str(message, "content");
        }
        let mut out = String::new();
        for part in doc.elements(content) {
            if doc.node(part).kind == Kind::Object {
                if let Some(t) = doc.get_str(part, "text") {
                    out.push_str(&t);
                }
            }
        }
        return Some(Cow::Owned(out));
    }
    // Ollama's /api/generate.
    if let Some(r) = doc.get_str(0, "response") {
        return Some(r);
    }
    // OCI generateText and COHERE chat deltas.
    doc.get_str(0, "text")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::items::pipeline::{Item, Mode, Out, Pipeline};

    fn text_of(path: &str) -> String {
        let bytes = std::fs::read(format!(
            "{}/tests/fixtures/wire/{path}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let mut p = Pipeline::new(Mode::Chunks, 1 << 20);
        let mut out = Out::new();
        p.feed(&bytes, &mut out);
        p.finish(&mut out);
        let mut text = String::new();
        for item in out {
            if let Ok(Item::Chunk(c)) = item {
                if let Some(t) = text_delta(&c) {
                    text.push_str(&t);
                }
            }
        }
        text
    }

    #[test]
    fn every_provider_sample() {
        assert_eq!(text_of("openai_chat_usage.sse"), "Two.");
        assert_eq!(text_of("openai_chat_keepalive_cr.sse"), "AB");
        assert_eq!(text_of("openai_completions.sse"), "This is a test.");
        assert_eq!(text_of("openai_responses.sse"), "Hello there!");
        assert_eq!(text_of("azure_chat.sse"), "なぜコンピュータは寒い？");
        assert_eq!(
            text_of("oci_generate_text.sse"),
            " Why was the computer cold?\n\nBecause it left its Windows open!"
        );
        assert_eq!(text_of("oci_chat_generic.sse"), "Hello, world");
        assert_eq!(text_of("oci_chat_cohere.sse"), "The answer is 42.");
        assert_eq!(
            text_of("anthropic_messages.sse"),
            "Let me check the weather."
        );
        assert_eq!(text_of("openai_chat_error_midstream.sse"), "Hel");
        assert_eq!(text_of("anthropic_error.sse"), "Par");
        assert_eq!(
            text_of("gemini_text.sse"),
            "The sky is blue because of Rayleigh scattering: air molecules scatter short wavelengths most."
        );
        assert_eq!(text_of("gemini_thinking.sse"), "It is 4.");
    }
}
