use serde_json::json;

use super::*;
use crate::items::pipeline::{Item, Mode, Out, Pipeline};

fn run(body: &str, opts: Options) -> (ChatState, Vec<Fire>) {
    let mut p = Pipeline::new(Mode::Chunks, 1 << 20);
    let mut out = Out::new();
    p.feed(body.as_bytes(), &mut out);
    p.finish(&mut out);
    let mut state = ChatState::new(opts);
    let mut fired = Vec::new();
    for item in out {
        if let Ok(Item::Chunk(c)) = item {
            if ChatState::is_chunk(&c.doc) {
                fired.extend(state.handle(&c.doc).unwrap());
            }
        }
    }
    (state, fired)
}

fn chunk(choice: serde_json::Value) -> String {
    let c = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [choice]});
    format!("data: {c}\n\n")
}

#[test]
fn accumulate_delta_as_the_sdk() {
    let mut acc = Map::new();
    let d = |v: serde_json::Value| v.as_object().unwrap().clone();
    accumulate_delta(&mut acc, d(json!({"content": "a", "n": 1, "tool_calls": [{"index": 0, "id": "x", "function": {"arguments": "{"}}]}))).unwrap();
    accumulate_delta(&mut acc, d(json!({"content": "b", "n": 2, "type": "t", "tool_calls": [{"index": 0, "function": {"arguments": "}"}}, {"index": 1, "id": "y"}]}))).unwrap();
    assert_eq!(
        Value::Object(acc.clone()),
        json!({"content": "ab", "n": 3, "type": "t", "tool_calls": [{"index": 0, "id": "x", "function": {"arguments": "{}"}}, {"index": 1, "id": "y"}]})
    );
    let err = accumulate_delta(&mut acc, d(json!({"tool_calls": [{"id": "z"}]}))).unwrap_err();
    assert!(err.contains("`index` key"), "{err}");
}

#[test]
fn events_in_the_sdks_order() {
    let mut body = String::new();
    body += &chunk(
        json!({"index": 0, "delta": {"role": "assistant", "content": "Hi"}, "finish_reason": null}),
    );
    body += &chunk(
        json!({"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "t", "type": "function", "function": {"name": "f", "arguments": "{\"a\""}}]}}),
    );
    body += &chunk(
        json!({"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}}),
    );
    body += &chunk(json!({"index": 0, "delta": {}, "finish_reason": "tool_calls"}));
    body += "data: [DONE]\n\n";
    let opts = Options {
        strict_tools: ["f".to_string()].into(),
        ..Default::default()
    };
    let (state, fired) = run(&body, opts);
    assert_eq!(
        fired,
        vec![
            Fire::Chunk,
            Fire::ContentDelta {
                choice: 0,
                delta: "Hi".into(),
                len: 2,
                parsed: Parsed::No
            },
            Fire::Chunk,
            Fire::ToolDelta {
                choice: 0,
                pos: 0,
                index: 0,
                name: "f".into(),
                len: 4,
                delta: "{\"a\"".into(),
                parsed: Parsed::Prefix(4)
            },
            Fire::ContentDone { choice: 0 },
            Fire::Chunk,
            Fire::ToolDelta {
                choice: 0,
                pos: 0,
                index: 0,
                name: "f".into(),
                len: 8,
                delta: ": 1}".into(),
                parsed: Parsed::Prefix(8)
            },
            Fire::Chunk,
            Fire::ToolDone {
                choice: 0,
                pos: 0,
                index: 0
            },
        ]
    );
    let snap = state.snapshot().unwrap();
    assert_eq!(snap["object"], "chat.completion");
    assert_eq!(snap["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        snap["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
        "{\"a\": 1}"
    );
    assert_eq!(snap["choices"][0]["message"]["content"], "Hi");
}

#[test]
fn a_parseable_request_refuses_length() {
    let mut body = chunk(json!({"index": 0, "delta": {"content": "{"}}));
    body += &chunk(json!({"index": 0, "delta": {}, "finish_reason": "length"}));
    let mut p = Pipeline::new(Mode::Chunks, 1 << 20);
    let mut out = Out::new();
    p.feed(body.as_bytes(), &mut out);
    let mut state = ChatState::new(Options {
        rich: true,
        parseable: true,
        ..Default::default()
    });
    let mut results = Vec::new();
    for item in out {
        if let Ok(Item::Chunk(c)) = item {
            results.push(state.handle(&c.doc).map_err(|e| format!("{e:?}")));
        }
    }
    assert!(results[0].is_ok());
    assert_eq!(results[1].as_ref().unwrap_err(), "Finish(\"length\")");
}
