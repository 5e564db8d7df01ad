//! Which attributes read `None` when absent, per OpenAI object shape.
//!
//! The openai SDK types many fields as `Optional[...] = None`, so
//! `chunk.choices[0].delta.content` is `None` on a `{}` delta and
//! `chunk.usage` is `None` on ordinary chunks. Chunk objects mirror that:
//! an absent field listed here reads `None`; any other absent attribute
//! raises `AttributeError`, so typos still fail loudly.

use crate::wire::json::{Doc, Kind};

#[derive(Debug)]
pub struct Schema {
    /// The SDK class this shape mirrors (used in error messages).
    pub name: &'static str,
    /// Fields that read `None` when absent.
    pub optional: &'static [&'static str],
    /// Schemas of nested objects (for arrays: of their elements).
    pub children: &'static [(&'static str, &'static Schema)],
    /// (attribute name, JSON key) where the two differ: Gemini's snake_case attributes over
    /// its camelCase wire (`usage_metadata` reads `usageMetadata`). Empty for OpenAI's shapes.
    pub wire: &'static [(&'static str, &'static str)],
}

impl Schema {
    #[inline]
    pub fn child(&'static self, key: &str) -> &'static Schema {
        for (k, s) in self.children {
            if *k == key {
                return s;
            }
        }
        &ANY
    }

    #[inline]
    pub fn is_optional(&self, key: &str) -> bool {
        self.optional.contains(&key)
    }

    /// The JSON key an attribute reads (itself unless `wire` renames it).
    #[inline]
    pub fn wire_key<'a>(&self, attr: &'a str) -> &'a str {
        for (a, w) in self.wire {
            if *a == attr {
                return w;
            }
        }
        attr
    }

    /// The attribute name of a JSON key (the inverse of [`Schema::wire_key`]).
    #[inline]
    pub fn attr_name<'a>(&self, key: &'a str) -> &'a str {
        for (a, w) in self.wire {
            if *w == key {
                return a;
            }
        }
        key
    }
}

/// Any JSON object without a known shape.
pub static ANY: Schema = Schema {
    name: "Chunk",
    optional: &[],
    children: &[],
    wire: &[],
};

/// A field the SDK types as a plain dict (not a model): dumped as it is, `None`s included.
pub static PLAIN: Schema = Schema {
    name: "Chunk",
    optional: &[],
    children: &[],
    wire: &[],
};

static PROMPT_TOKENS_DETAILS: Schema = Schema {
    name: "PromptTokensDetails",
    optional: &[
        "audio_tokens",
        "cached_tokens",
        "cache_write_tokens",
        "image_tokens",
        "text_tokens",
    ],
    children: &[],
    wire: &[],
};

static COMPLETION_TOKENS_DETAILS: Schema = Schema {
    name: "CompletionTokensDetails",
    optional: &[
        "accepted_prediction_tokens",
        "audio_tokens",
        "reasoning_tokens",
        "rejected_prediction_tokens",
        "text_tokens",
    ],
    children: &[],
    wire: &[],
};

static USAGE: Schema = Schema {
    name: "CompletionUsage",
    optional: &["completion_tokens_details", "prompt_tokens_details"],
    children: &[
        ("completion_tokens_details", &COMPLETION_TOKENS_DETAILS),
        ("prompt_tokens_details", &PROMPT_TOKENS_DETAILS),
    ],
    wire: &[],
};

static FUNCTION_DELTA: Schema = Schema {
    name: "ChoiceDeltaToolCallFunction",
    optional: &["arguments", "name"],
    children: &[],
    wire: &[],
};

static TOOL_CALL_DELTA: Schema = Schema {
    name: "ChoiceDeltaToolCall",
    optional: &["id", "function", "type"],
    children: &[("function", &FUNCTION_DELTA)],
    wire: &[],
};

static FUNCTION_CALL_DELTA: Schema = Schema {
    name: "ChoiceDeltaFunctionCall",
    optional: &["arguments", "name"],
    children: &[],
    wire: &[],
};

static DELTA_AUDIO: Schema = Schema {
    name: "ChoiceDeltaAudio",
    optional: &["id", "data", "expires_at", "transcript"],
    children: &[],
    wire: &[],
};

static DELTA: Schema = Schema {
    name: "ChoiceDelta",
    optional: &[
        "audio",
        "content",
        "function_call",
        "refusal",
        "role",
        "tool_calls",
    ],
    children: &[
        ("tool_calls", &TOOL_CALL_DELTA),
        ("function_call", &FUNCTION_CALL_DELTA),
        ("audio", &DELTA_AUDIO),
    ],
    wire: &[],
};

static TOP_LOGPROB: Schema = Schema {
    name: "TopLogprob",
    optional: &["bytes"],
    children: &[],
    wire: &[],
};

static TOKEN_LOGPROB: Schema = Schema {
    name: "ChatCompletionTokenLogprob",
    optional: &["bytes"],
    children: &[("top_logprobs", &TOP_LOGPROB)],
    wire: &[],
};

static CHOICE_LOGPROBS: Schema = Schema {
    name: "ChoiceLogprobs",
    optional: &["content", "refusal"],
    children: &[("content", &TOKEN_LOGPROB), ("refusal", &TOKEN_LOGPROB)],
    wire: &[],
};

static CHUNK_CHOICE: Schema = Schema {
    name: "Choice",
    optional: &["finish_reason", "logprobs"],
    children: &[("delta", &DELTA), ("logprobs", &CHOICE_LOGPROBS)],
    wire: &[],
};

/// `openai.types.chat.ChatCompletionChunk`
pub static CHAT_COMPLETION_CHUNK: Schema = Schema {
    name: "ChatCompletionChunk",
    optional: &[
        "moderation",
        "obfuscation",
        "service_tier",
        "system_fingerprint",
        "usage",
    ],
    children: &[("choices", &CHUNK_CHOICE), ("usage", &USAGE)],
    wire: &[],
};

static COMPLETION_LOGPROBS: Schema = Schema {
    name: "Logprobs",
    optional: &["text_offset", "token_logprobs", "tokens", "top_logprobs"],
    // `List[Dict[str, float]]` in the SDK.
    children: &[("top_logprobs", &PLAIN)],
    wire: &[],
};

static COMPLETION_CHOICE: Schema = Schema {
    name: "CompletionChoice",
    optional: &["logprobs"],
    children: &[("logprobs", &COMPLETION_LOGPROBS)],
    wire: &[],
};

/// `openai.types.Completion` (also each chunk of a completions stream)
pub static COMPLETION: Schema = Schema {
    name: "Completion",
    optional: &["system_fingerprint", "usage"],
    children: &[("choices", &COMPLETION_CHOICE), ("usage", &USAGE)],
    wire: &[],
};

static TOOL_CALL_FUNCTION: Schema = Schema {
    name: "Function",
    optional: &[],
    children: &[],
    wire: &[],
};

static TOOL_CALL: Schema = Schema {
    name: "ChatCompletionMessageToolCall",
    optional: &[],
    children: &[("function", &TOOL_CALL_FUNCTION)],
    wire: &[],
};

static MESSAGE: Schema = Schema {
    name: "ChatCompletionMessage",
    optional: &[
        "content",
        "refusal",
        "annotations",
        "audio",
        "function_call",
        "tool_calls",
    ],
    children: &[("tool_calls", &TOOL_CALL)],
    wire: &[],
};

static CHAT_CHOICE: Schema = Schema {
    name: "Choice",
    optional: &["logprobs"],
    children: &[("message", &MESSAGE), ("logprobs", &CHOICE_LOGPROBS)],
    wire: &[],
};

/// `openai.types.chat.ChatCompletion`
pub static CHAT_COMPLETION: Schema = Schema {
    name: "ChatCompletion",
    optional: &[
        "metadata",
        "moderation",
        "service_tier",
        "system_fingerprint",
        "usage",
    ],
    children: &[("choices", &CHAT_CHOICE), ("usage", &USAGE)],
    wire: &[],
};

/// `stream.final()`: the accumulated result.
pub static STREAM_RESULT: Schema = Schema {
    name: "StreamResult",
    optional: &[],
    children: &[],
    wire: &[],
};

/// The schema for a document's root, chosen by its `object` field, and
/// whether the root has an `error` member (one pass over the root's keys).
pub fn detect(doc: &Doc) -> (&'static Schema, bool) {
    if doc.node(0).kind != Kind::Object {
        return (&ANY, false);
    }
    let (mut object, mut choices, mut error, mut gemini) = (None, false, false, false);
    for (k, v) in doc.members(0) {
        // Keys are compared as `json.loads` reads them: `"\u0065rror"` is `error`.
        let unescaped;
        let key = if doc.node(k).escaped {
            unescaped = doc.str_value(k);
            unescaped.as_deref().map_or(&b""[..], str::as_bytes)
        } else {
            doc.raw_bytes(k)
        };
        match key {
            b"object" => object = Some(v),
            b"choices" => choices = true,
            b"error" => error = true,
            b"candidates" | b"promptFeedback" | b"usageMetadata" => gemini = true,
            _ => {}
        }
    }
    let object = object.and_then(|o| doc.str_value(o));
    let schema = match object.as_deref() {
        Some("chat.completion.chunk") => &CHAT_COMPLETION_CHUNK,
        // Azure's first chunk (prompt_filter_results) has an empty `object`.
        Some("") if choices => &CHAT_COMPLETION_CHUNK,
        Some("text_completion") => &COMPLETION,
        Some("chat.completion") => &CHAT_COMPLETION,
        // Gemini's GenerateContentResponse has no `object`.
        None if gemini => &crate::providers::gemini::GENERATE_CONTENT_RESPONSE,
        _ => &ANY,
    };
    (schema, error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect_str(s: &str) -> &'static str {
        detect(&Doc::parse(s.into()).unwrap()).0.name
    }

    #[test]
    fn detects_shapes() {
        assert_eq!(
            detect_str(r#"{"object":"chat.completion.chunk","choices":[]}"#),
            "ChatCompletionChunk"
        );
        assert_eq!(
            detect_str(r#"{"object":"","choices":[]}"#),
            "ChatCompletionChunk"
        );
        assert_eq!(detect_str(r#"{"object":"text_completion"}"#), "Completion");
        assert_eq!(
            detect_str(r#"{"object":"chat.completion"}"#),
            "ChatCompletion"
        );
        assert_eq!(detect_str(r#"{"text":"x"}"#), "Chunk");
        assert_eq!(
            detect_str(r#"{"candidates":[],"modelVersion":"m"}"#),
            "GenerateContentResponse"
        );
        assert_eq!(
            detect_str(r#"{"promptFeedback":{"blockReason":"SAFETY"}}"#),
            "GenerateContentResponse"
        );
        assert_eq!(detect_str(r#"[1]"#), "Chunk");
    }

    #[test]
    fn escaped_keys_and_values_read_as_json_loads_reads_them() {
        // Found by the pipeline fuzz target's check against serde_json: escapes hid
        // `error` and `object`.
        let d = Doc::parse(r#"{"\u0065rror":{"message":"x"}}"#.into()).unwrap();
        assert!(detect(&d).1);
        assert_eq!(
            detect_str(r#"{"obj\u0065ct":"chat.completion.chun\u006b","choices":[]}"#),
            "ChatCompletionChunk"
        );
        assert_eq!(
            detect_str(r#"{"object":"text\u005fcompletion"}"#),
            "Completion"
        );
        // A lone surrogate is no key or value we know.
        assert_eq!(detect_str(r#"{"\ud800":1,"object":"\ud800"}"#), "Chunk");
    }

    #[test]
    fn nested_optionals() {
        let delta = CHAT_COMPLETION_CHUNK.child("choices").child("delta");
        assert!(delta.is_optional("content"));
        assert!(!delta.is_optional("contnet"));
        assert!(CHAT_COMPLETION_CHUNK.is_optional("usage"));
        assert_eq!(CHAT_COMPLETION_CHUNK.child("nope").name, "Chunk");
    }
}
