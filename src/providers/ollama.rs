//! Ollama's native API (`/api/chat`, `/api/generate`): which attributes read
//! `None` when absent, as the `ollama` package's pydantic models
//! (`ChatResponse`, `GenerateResponse`, `Message`) type them.

use crate::providers::openai::schema::{Schema, ANY};
use crate::wire::json::{Doc, Kind};

static FUNCTION: Schema = Schema {
    name: "Function",
    optional: &[],
    children: &[],
    wire: &[],
};

static TOOL_CALL: Schema = Schema {
    name: "ToolCall",
    optional: &[],
    children: &[("function", &FUNCTION)],
    wire: &[],
};

static MESSAGE: Schema = Schema {
    name: "Message",
    optional: &["content", "thinking", "images", "tool_name", "tool_calls"],
    children: &[("tool_calls", &TOOL_CALL)],
    wire: &[],
};

/// `ollama.ChatResponse` (each line of an `/api/chat` stream).
pub static CHAT_RESPONSE: Schema = Schema {
    name: "ChatResponse",
    // `BaseGenerateResponse`'s fields, then its own: all `Optional[...] = None`.
    optional: &[
        "model",
        "created_at",
        "done",
        "done_reason",
        "total_duration",
        "load_duration",
        "prompt_eval_count",
        "prompt_eval_duration",
        "eval_count",
        "eval_duration",
        "logprobs",
    ],
    children: &[("message", &MESSAGE)],
    wire: &[],
};

/// `ollama.GenerateResponse` (each line of an `/api/generate` stream).
pub static GENERATE_RESPONSE: Schema = Schema {
    name: "GenerateResponse",
    optional: &[
        "model",
        "created_at",
        "done",
        "done_reason",
        "total_duration",
        "load_duration",
        "prompt_eval_count",
        "prompt_eval_duration",
        "eval_count",
        "eval_duration",
        "response",
        "thinking",
        "context",
        "logprobs",
        "image",
        "completed",
        "total",
    ],
    children: &[],
    wire: &[],
};

/// The Ollama shape of a document's root: an object with `done` and
/// `created_at`, and a `message` object (chat) or a `response` string
/// (generate); `ANY` for anything else.
pub fn detect(doc: &Doc) -> &'static Schema {
    if doc.node(0).kind != Kind::Object
        || doc.get(0, "done").is_none()
        || doc.get(0, "created_at").is_none()
    {
        return &ANY;
    }
    if doc.get_object(0, "message").is_some() {
        &CHAT_RESPONSE
    } else if doc.get_str(0, "response").is_some() {
        &GENERATE_RESPONSE
    } else {
        &ANY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> &'static str {
        detect(&Doc::parse(s.into()).unwrap()).name
    }

    #[test]
    fn detects_chat_and_generate() {
        let chat = r#"{"model":"m","created_at":"t","message":{"role":"assistant","content":"a"},"done":false}"#;
        assert_eq!(name(chat), "ChatResponse");
        assert_eq!(
            name(r#"{"model":"m","created_at":"t","response":"a","done":false}"#),
            "GenerateResponse"
        );
        assert_eq!(name(r#"{"message":{"content":"a"}}"#), "Chunk");
        assert_eq!(name(r#"{"done":true,"created_at":"t"}"#), "Chunk");
        assert!(CHAT_RESPONSE.is_optional("eval_count"));
        assert!(CHAT_RESPONSE.is_optional("logprobs"));
        assert!(GENERATE_RESPONSE.is_optional("total"));
        assert!(GENERATE_RESPONSE.is_optional("prompt_eval_duration"));
        assert!(CHAT_RESPONSE.child("message").is_optional("thinking"));
        assert!(!CHAT_RESPONSE.child("message").is_optional("role"));
    }
}
