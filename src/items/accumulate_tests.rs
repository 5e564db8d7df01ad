//! Unit tests of `accumulate.rs`.

use super::*;
use crate::items::pipeline::{Item, Mode, Out, Pipeline};

fn fold(path: &str) -> (Value, Value) {
    let dir = format!("{}/tests/fixtures/wire", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(format!("{dir}/{path}.sse")).unwrap();
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{dir}/{path}.expected.json")).unwrap(),
    )
    .unwrap();
    let mut p = Pipeline::new(Mode::Chunks, 1 << 20);
    let mut out = Out::new();
    p.feed(&bytes, &mut out);
    p.finish(&mut out);
    let mut acc = Accumulator::default();
    for item in out {
        if let Ok(Item::Chunk(c)) = item {
            acc.add(&c);
        }
    }
    (acc.to_value(), expected)
}

fn fold_body(body: &str) -> Value {
    let mut p = Pipeline::new(Mode::Chunks, 1 << 20);
    let mut out = Out::new();
    p.feed(body.as_bytes(), &mut out);
    p.finish(&mut out);
    let mut acc = Accumulator::default();
    for item in out {
        if let Ok(Item::Chunk(c)) = item {
            acc.add(&c);
        }
    }
    acc.to_value()
}

#[test]
fn usage_total_does_not_overflow() {
    // Found by fuzz/fuzz_targets/pipeline.rs: the summed total overflowed i64.
    for body in [
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9223372036854775807,\"completion_tokens\":1}}\n\n",
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":-9223372036854775808,\"completion_tokens\":-1}}\n\n",
        "event: message_start\ndata: {\"message\":{\"usage\":{\"input_tokens\":9223372036854775807}}}\n\nevent: message_delta\ndata: {\"usage\":{\"output_tokens\":2}}\n\n",
    ] {
        assert_eq!(fold_body(body)["usage"]["total_tokens"], Value::Null, "{body}");
    }
    let usage = &fold_body(
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":3}}\n\n",
    )["usage"];
    assert_eq!(usage["total_tokens"], json!(5));
}

#[test]
fn matches_every_expected_result() {
    for name in [
        "openai_chat_usage",
        "openai_chat_tool_call",
        "openai_chat_keepalive_cr",
        "openai_completions",
        "openai_responses",
        "azure_chat",
        "oci_generate_text",
        "oci_chat_generic",
        "oci_chat_cohere",
        "anthropic_messages",
        "gemini_text",
        "gemini_function_call",
        "gemini_thinking",
        "gemini_safety",
        "gemini_prompt_blocked",
    ] {
        let (got, want) = fold(name);
        for key in [
            "text",
            "finish_reason",
            "role",
            "usage",
            "tool_calls",
            "reasoning",
            "block_reason",
        ] {
            if let Some(w) = want.get(key) {
                assert_eq!(got.get(key), Some(w), "{name}: {key}");
            }
        }
    }
}
