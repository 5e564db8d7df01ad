//! The pipeline's NDJSON framing, its `"done": true` terminator, `done_optional`
//! and the framing a content type declares (beside `pipeline.rs`, which is long enough).

use super::*;

const CHAT: &str = r#"{"object":"chat.completion.chunk","choices":[]}"#;

fn run_ndjson(mode: Mode, pieces: &[&[u8]]) -> Vec<Result<String, String>> {
    let mut p = Pipeline::new(mode, 1024).with_framing(Framing::Ndjson);
    let mut out = Out::new();
    for piece in pieces {
        p.feed(piece, &mut out);
    }
    p.finish(&mut out);
    out.into_iter()
        .map(|r| match r {
            Ok(Item::Chunk(c)) => Ok(format!("{}:{}", c.schema.name, c.doc.text)),
            Ok(Item::Event(e)) => Ok(e.data),
            Err(f) => Err(f.to_string()),
        })
        .collect()
}

#[test]
fn ndjson_stops_at_done_true_and_owes_it() {
    let a = r#"{"model":"m","created_at":"t","response":"a","done":false}"#;
    let z = r#"{"model":"m","created_at":"t","response":"","done":true}"#;
    let body = format!("{a}\n\r\n{z}\n{a}\n");
    for mode in [Mode::Chunks, Mode::Events] {
        let got = run_ndjson(mode, &[body.as_bytes()]);
        let name = |s: &str| match mode {
            Mode::Chunks => format!("GenerateResponse:{s}"),
            Mode::Events => s.to_string(),
        };
        assert_eq!(got, vec![Ok(name(a)), Ok(name(z))], "{mode:?}");
        let cut = format!("{a}\n{a}\n");
        assert_eq!(
            run_ndjson(mode, &[cut.as_bytes()])[2],
            Err(format!(
                "the stream ended without a line with \"done\": true, after 2 complete {}",
                if mode == Mode::Chunks {
                    "chunks"
                } else {
                    "events"
                }
            ))
        );
    }
    // Lines without `done` (not Ollama's): the end of the body is the end.
    assert_eq!(
        run_ndjson(Mode::Chunks, &[b"{\"x\":1}\n"]),
        vec![Ok("Chunk:{\"x\":1}".into())]
    );
    // An error line.
    assert_eq!(
        run_ndjson(
            Mode::Chunks,
            &[format!("{a}\n{{\"error\":\"boom\"}}\n").as_bytes()]
        )[1],
        Err("boom".into())
    );
}

#[test]
fn done_optional_forgives_only_a_missing_done() {
    let body = format!("data: {CHAT}\n\n");
    let run = |body: &[u8]| {
        let mut p = Pipeline::new(Mode::Chunks, 1024).done_optional();
        let mut out = Out::new();
        p.feed(body, &mut out);
        p.finish(&mut out);
        out.into_iter()
            .map(|r| r.map(|_| ()).map_err(|f| f.to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(run(body.as_bytes()), vec![Ok(())]);
    let cut = format!("data: {CHAT}\n\ndata: {{\"te");
    assert_eq!(
        run(cut.as_bytes())[1],
        Err("the stream ended in the middle of an event, after 1 complete chunks".into())
    );
    let anthropic = b"event: message_start\ndata: {\"type\":\"message_start\"}\n\n";
    assert_eq!(
        run(anthropic)[1],
        Err("the stream ended without event: message_stop, after 1 complete chunks".into())
    );
}

#[test]
fn framing_of_content_types() {
    for (ct, f) in [
        ("application/x-ndjson", Framing::Ndjson),
        ("Application/X-NDJSON; charset=utf-8", Framing::Ndjson),
        ("application/jsonl", Framing::Ndjson),
        ("application/json", Framing::Sse),
        ("text/event-stream", Framing::Sse),
        ("", Framing::Sse),
    ] {
        assert_eq!(Framing::of_content_type(ct), f, "{ct}");
    }
}
