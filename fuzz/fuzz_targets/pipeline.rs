//! A whole SSE or NDJSON body through the events -> chunks pipeline (src/items/pipeline.rs),
//! then text extraction (src/items/text.rs), `final()`'s fold (src/items/accumulate.rs) and
//! schema detection (src/providers/openai/schema.rs), in every mode and ending.
//!
//! Input layout: `[config] [cuts] [piece length]{cuts % 8} body...`
//! - `config` bit 0: `Mode::Chunks` (else `Mode::Events`); bits 1-3: the
//!   ending (0 and 7 learn it; 1-6 fix Unknown, Done, MessageStop, ResponseDone,
//!   Eof, DoneTrue); bit 4: `requiring_events`; bits 5-7: 0 keeps the default
//!   `max_event_size`, else 8 << n bytes (16..=512).
//! - `cuts` bit 7: NDJSON framing (`wire/ndjson.rs`) instead of SSE; bit 6:
//!   `done_optional`.
//!
//! Checked, besides "no panic": the items are the same whichever pieces the
//! body arrives in; a fault is the last item; nothing comes after `finish`;
//! each mode yields only its own kind of item.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use sserpent::items::accumulate::Accumulator;
use sserpent::items::pipeline::{Ending, Framing, Item, Mode, Out, Pipeline};
use sserpent::items::text::{reasoning_delta, text_delta};
use sserpent::providers::openai::schema::{self, Schema};
use sserpent::wire::sse::DEFAULT_MAX_EVENT_SIZE;

fn pipeline(config: u8, cuts: u8) -> Pipeline {
    let mode = if config & 1 == 1 {
        Mode::Chunks
    } else {
        Mode::Events
    };
    let max = match config >> 5 {
        0 => DEFAULT_MAX_EVENT_SIZE,
        n => 8 << n,
    };
    let p = Pipeline::new(mode, max);
    let p = match (config >> 1) & 7 {
        1 => p.with_ending(Ending::Unknown),
        2 => p.with_ending(Ending::Done),
        3 => p.with_ending(Ending::MessageStop),
        4 => p.with_ending(Ending::ResponseDone),
        5 => p.with_ending(Ending::Eof),
        6 => p.with_ending(Ending::DoneTrue),
        _ => p,
    };
    let p = if cuts & 0x80 != 0 {
        p.with_framing(Framing::Ndjson)
    } else {
        p
    };
    let p = if cuts & 0x40 != 0 {
        p.done_optional()
    } else {
        p
    };
    if config & 0x10 != 0 {
        p.requiring_events()
    } else {
        p
    }
}

/// What the items say, comparable across runs.
fn render(out: &Out) -> Vec<String> {
    out.iter()
        .map(|item| match item {
            Ok(Item::Event(e)) => format!("event {:?} {:?} {:?}", e.event, e.data, e.id),
            Ok(Item::Chunk(c)) => format!("chunk {:?} {} {:?}", c.event, c.schema.name, c.doc.text),
            Err(f) => format!("fault {f} / {f:?}"),
        })
        .collect()
}

/// `schema::detect` reads the root's `object` and `error` members as
/// `json.loads` (and serde_json) see them: escapes decoded, the last of
/// duplicated keys.
fn check_detect(text: &str, schema: &'static Schema, has_error: bool) {
    // serde_json refuses lone surrogates, numbers past f64 and nesting past 128.
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return;
    };
    let Value::Object(root) = value else {
        assert!(std::ptr::eq(schema, &schema::ANY) && !has_error);
        return;
    };
    let want: &Schema = match root.get("object").and_then(Value::as_str) {
        Some("chat.completion.chunk") => &schema::CHAT_COMPLETION_CHUNK,
        Some("") if root.contains_key("choices") => &schema::CHAT_COMPLETION_CHUNK,
        Some("text_completion") => &schema::COMPLETION,
        Some("chat.completion") => &schema::CHAT_COMPLETION,
        // Gemini's GenerateContentResponse: no `object`, one of its own members.
        None if ["candidates", "promptFeedback", "usageMetadata"]
            .iter()
            .any(|k| root.contains_key(*k)) =>
        {
            &sserpent::providers::gemini::GENERATE_CONTENT_RESPONSE
        }
        _ => &schema::ANY,
    };
    assert_eq!(
        (schema.name, has_error),
        (want.name, root.contains_key("error")),
        "schema::detect on {text:?}"
    );
}

fuzz_target!(|input: &[u8]| {
    let [config, cuts, rest @ ..] = input else {
        return;
    };
    let ncuts = usize::from(cuts % 8).min(rest.len());
    let (lengths, body) = rest.split_at(ncuts);

    let mut whole = pipeline(*config, *cuts);
    let mut out = Out::new();
    whole.feed(body, &mut out);
    whole.finish(&mut out);
    assert!(whole.finished());
    let n = out.len();
    whole.feed(b"data: {}\n\n", &mut out);
    whole.finish(&mut out);
    assert_eq!(out.len(), n, "items after finish");

    let mut split = pipeline(*config, *cuts);
    let mut pieces_out = Out::new();
    let mut fed = 0;
    for &len in lengths {
        let end = (fed + usize::from(len)).min(body.len());
        split.feed(&body[fed..end], &mut pieces_out);
        fed = end;
    }
    split.feed(&body[fed..], &mut pieces_out);
    split.finish(&mut pieces_out);
    assert_eq!(render(&pieces_out), render(&out), "pieces {lengths:?}");

    let chunks_mode = config & 1 == 1;
    let mut acc = Accumulator::default();
    let mut text = String::new();
    for (i, item) in out.iter().enumerate() {
        match item {
            Ok(Item::Chunk(c)) => {
                assert!(chunks_mode, "a chunk in events mode");
                let (schema, has_error) = schema::detect(&c.doc);
                if std::ptr::eq(schema, &schema::ANY) {
                    let ollama = sserpent::providers::ollama::detect(&c.doc);
                    assert!(std::ptr::eq(ollama, c.schema));
                } else {
                    assert!(std::ptr::eq(schema, c.schema));
                }
                check_detect(&c.doc.text, schema, has_error);
                if let Some(r) = reasoning_delta(c) {
                    assert!(!r.is_empty());
                }
                let _ = schema
                    .child("choices")
                    .child("delta")
                    .is_optional("content");
                if let Some(t) = text_delta(c) {
                    assert!(!t.is_empty());
                    text.push_str(&t);
                }
                acc.add(c);
            }
            Ok(Item::Event(_)) => assert!(!chunks_mode, "an event in chunks mode"),
            Err(f) => {
                assert_eq!(i, out.len() - 1, "a fault that is not the last item");
                let _ = f.to_string();
            }
        }
    }
    let result = acc.to_value();
    let json = serde_json::to_string(&result).expect("final() serializes");
    assert!(
        sserpent::wire::json::Doc::parse(json).is_ok(),
        "final() JSON reparses"
    );
});
