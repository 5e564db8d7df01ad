//! Unit tests of `pipeline.rs`.

use super::*;

fn run(mode: Mode, pieces: &[&[u8]]) -> Vec<Result<String, String>> {
    let mut p = Pipeline::new(mode, crate::wire::sse::DEFAULT_MAX_EVENT_SIZE);
    let mut out = Out::new();
    for piece in pieces {
        p.feed(piece, &mut out);
    }
    p.finish(&mut out);
    out.into_iter()
        .map(|r| match r {
            Ok(Item::Chunk(c)) => Ok(c.doc.text.clone()),
            Ok(Item::Event(e)) => Ok(format!("{}:{}", e.event_type(), e.data)),
            Err(f) => Err(f.to_string()),
        })
        .collect()
}

const CHAT: &str = r#"{"object":"chat.completion.chunk","choices":[]}"#;

#[test]
fn stops_at_done_and_ignores_rest() {
    let body = format!("data: {CHAT}\n\ndata: [DONE]\n\ndata: {CHAT}\n\n");
    assert_eq!(
        run(Mode::Chunks, &[body.as_bytes()]),
        vec![Ok(CHAT.to_string())]
    );
}

#[test]
fn missing_done_is_incomplete() {
    let body = format!("data: {CHAT}\n\n");
    let got = run(Mode::Chunks, &[body.as_bytes()]);
    assert_eq!(got[0], Ok(CHAT.to_string()));
    assert_eq!(
        got[1],
        Err("the stream ended without data: [DONE], after 1 complete chunks".into())
    );
}

#[test]
fn cut_event_is_incomplete() {
    let got = run(Mode::Chunks, &[b"data: {\"text\":\"a\"}\n\ndata: {\"te"]);
    assert_eq!(got.len(), 2);
    assert!(got[1]
        .as_ref()
        .unwrap_err()
        .starts_with("the stream ended in the middle of an event"));
}

#[test]
fn unknown_streams_may_end_at_eof() {
    assert_eq!(
        run(Mode::Chunks, &[b"data: {\"text\":\"a\"}\n\n"]),
        vec![Ok("{\"text\":\"a\"}".into())]
    );
}

#[test]
fn live_eof_streams_still_owe_one_event() {
    let finish = |body: &[u8]| {
        let mut p = Pipeline::new(Mode::Chunks, 1024)
            .with_ending(Ending::Eof)
            .requiring_events();
        let mut out = Out::new();
        p.feed(body, &mut out);
        p.finish(&mut out);
        out.into_iter()
            .map(|r| r.map(|_| ()).map_err(|f| f.to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(finish(b"data: {\"text\":\"a\"}\n\n"), vec![Ok(())]);
    assert_eq!(
        finish(b"<html><title>Sign in</title></html>\n"),
        vec![Err("the response body ended before its first event".into())]
    );
}

#[test]
fn error_object_raises() {
    let got = run(
        Mode::Chunks,
        &[b"data: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}\n\n"],
    );
    assert_eq!(got, vec![Err("boom".into())]);
}

#[test]
fn anthropic_error_event() {
    let got = run(
        Mode::Chunks,
        &[b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"],
    );
    assert_eq!(got, vec![Err("Overloaded".into())]);
}

#[test]
fn invalid_json_quotes_data() {
    let got = run(Mode::Chunks, &[b"data: {nope}\n\n"]);
    assert_eq!(
        got,
        vec![Err(
            "invalid JSON in data event (expecting property name enclosed in double quotes at byte 1): data starts with \"{nope}\"".into()
        )]
    );
}

#[test]
fn anthropic_ends_at_message_stop_and_skips_ping() {
    let body = b"event: message_start\ndata: {\"type\":\"message_start\"}\n\nevent: ping\ndata: {\"type\":\"ping\"}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    assert_eq!(run(Mode::Chunks, &[body]).len(), 2);
    let cut = b"event: message_start\ndata: {\"type\":\"message_start\"}\n\n";
    let got = run(Mode::Chunks, &[cut]);
    assert_eq!(
        got[1],
        Err("the stream ended without event: message_stop, after 1 complete chunks".into())
    );
}

#[test]
fn gemini_ends_at_a_finish_reason() {
    let text = r#"{"candidates":[{"content":{"parts":[{"text":"a"}],"role":"model"},"index":0}]}"#;
    let last = r#"{"candidates":[{"content":{"parts":[{"text":"b"}],"role":"model"},"finishReason":"STOP","index":0}]}"#;
    let usage = r#"{"usageMetadata":{"promptTokenCount":1}}"#;
    let body = format!("data: {text}\r\n\r\ndata: {last}\r\n\r\ndata: {usage}\r\n\r\n");
    assert_eq!(
        run(Mode::Chunks, &[body.as_bytes()]),
        vec![Ok(text.into()), Ok(last.into()), Ok(usage.into())]
    );
    let cut = format!("data: {text}\r\n\r\n");
    assert_eq!(
        run(Mode::Chunks, &[cut.as_bytes()]),
        vec![
            Ok(text.into()),
            Err(
                "the stream ended without a candidate's finishReason, after 1 complete chunks"
                    .into()
            )
        ]
    );
    let blocked =
        r#"{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":4}}"#;
    assert_eq!(
        run(Mode::Chunks, &[format!("data: {blocked}\n\n").as_bytes()]),
        vec![Ok(blocked.into())]
    );
}

#[test]
fn gemini_error_carries_its_status() {
    let mut p = Pipeline::new(Mode::Chunks, 1 << 20);
    let mut out = Out::new();
    p.feed(
        b"data: {\"error\":{\"code\":429,\"message\":\"Resource exhausted\",\"status\":\"RESOURCE_EXHAUSTED\"}}\n\n",
        &mut out,
    );
    match out.pop_front() {
        Some(Err(Fault::Provider(p))) => {
            assert_eq!(p.message, "Resource exhausted");
            assert_eq!(p.kind.as_deref(), Some("RESOURCE_EXHAUSTED"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn events_mode_yields_done() {
    let got = run(Mode::Events, &[b"data: x\n\ndata: [DONE]\n\ndata: y\n\n"]);
    assert_eq!(
        got,
        vec![Ok("message:x".into()), Ok("message:[DONE]".into())]
    );
}
