//! The decoder against the WHATWG rules, case by case.

use super::*;

fn decode(chunks: &[&[u8]]) -> Vec<(String, String, String)> {
    decode_with(DEFAULT_MAX_EVENT_SIZE, chunks)
        .into_iter()
        .map(|r| r.expect("no error"))
        .collect()
}

fn decode_with(max: usize, chunks: &[&[u8]]) -> Vec<Result<(String, String, String), SseError>> {
    let mut d = Decoder::new(max);
    let mut out = Vec::new();
    for c in chunks {
        d.feed(c, &mut out);
    }
    d.close();
    out.into_iter()
        .map(|r| r.map(|e| (e.event_type().to_string(), e.data, e.id.to_string())))
        .collect()
}

fn ev(t: &str, d: &str, id: &str) -> (String, String, String) {
    (t.into(), d.into(), id.into())
}

#[test]
fn basic_data_event() {
    assert_eq!(
        decode(&[b"data: hello\n\n"]),
        vec![ev("message", "hello", "")]
    );
}

#[test]
fn leading_bom_stripped_once() {
    assert_eq!(
        decode(&[b"\xEF\xBB\xBFdata: a\n\n"]),
        vec![ev("message", "a", "")]
    );
    // a second BOM is part of the field name, which is then unknown
    assert_eq!(
        decode(&[b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\ndata: b\n\n"]),
        vec![ev("message", "b", "")]
    );
    // split BOM
    assert_eq!(
        decode(&[b"\xEF", b"\xBB", b"\xBFdata: a\n\n"]),
        vec![ev("message", "a", "")]
    );
    // a BOM later in the stream is data
    assert_eq!(
        decode(&[b"data: \xEF\xBB\xBFx\n\n"]),
        vec![ev("message", "\u{FEFF}x", "")]
    );
}

#[test]
fn partial_bom_is_content() {
    // EF BB followed by 'd' is an invalid sequence: one U+FFFD in the field name
    assert_eq!(
        decode(&[b"\xEF\xBBdata: a\n\ndata: b\n\n"]),
        vec![ev("message", "b", "")]
    );
    assert_eq!(
        decode(&[b"\xEF", b"\xBB: x\ndata: b\n\n"]),
        vec![ev("message", "b", "")]
    );
}

#[test]
fn invalid_utf8_replaced() {
    assert_eq!(
        decode(&[b"data: a\xFFb\n\n"]),
        vec![ev("message", "a\u{FFFD}b", "")]
    );
    // multi-byte char split across feeds
    assert_eq!(
        decode(&[b"data: \xE3\x81", b"\x82\n\n"]),
        vec![ev("message", "あ", "")]
    );
    // a truncated sequence at the end of a line
    assert_eq!(
        decode(&[b"data: \xE3\x81\ndata: x\n\n"]),
        vec![ev("message", "\u{FFFD}\nx", "")]
    );
    // invalid sequence split across feeds
    assert_eq!(
        decode(&[b"data: \xF0\x9F", b"\n\n"]),
        vec![ev("message", "\u{FFFD}", "")]
    );
}

#[test]
fn all_line_terminators() {
    let want = vec![ev("message", "a\nb\nc", "")];
    assert_eq!(decode(&[b"data: a\r\ndata: b\rdata: c\n\r\n"]), want);
    assert_eq!(decode(&[b"data: a\rdata: b\rdata: c\r\r"]), want);
    assert_eq!(decode(&[b"data: a\ndata: b\ndata: c\n\n"]), want);
}

#[test]
fn crlf_split_across_feeds_is_one_terminator() {
    // if CR and LF counted twice, the LF would be a blank line and dispatch early
    assert_eq!(
        decode(&[b"data: a\r", b"\ndata: b\r\n\r\n"]),
        vec![ev("message", "a\nb", "")]
    );
    assert_eq!(
        decode(&[b"data: a\r", b"\n", b"\r", b"\n"]),
        vec![ev("message", "a", "")]
    );
    // CR at end then CR: two terminators, an empty line
    assert_eq!(
        decode(&[b"data: a\r", b"\rdata: b\n\n"]),
        vec![ev("message", "a", ""), ev("message", "b", "")]
    );
}

#[test]
fn comments_and_fields() {
    assert_eq!(
        decode(&[b": comment\ndata: x\n:another\n\n"]),
        vec![ev("message", "x", "")]
    );
    // no colon: field with empty value
    assert_eq!(decode(&[b"data\n\n"]), vec![ev("message", "", "")]);
    assert_eq!(decode(&[b"data\ndata\n\n"]), vec![ev("message", "\n", "")]);
    // exactly one leading space removed
    assert_eq!(
        decode(&[b"data:  two\n\n"]),
        vec![ev("message", " two", "")]
    );
    assert_eq!(decode(&[b"data:none\n\n"]), vec![ev("message", "none", "")]);
    // field names are case-sensitive; unknown fields ignored
    assert_eq!(
        decode(&[b"Data: x\nfoo: bar\ndata: y\n\n"]),
        vec![ev("message", "y", "")]
    );
    // a value may contain colons
    assert_eq!(
        decode(&[b"data: a:b: c\n\n"]),
        vec![ev("message", "a:b: c", "")]
    );
}

#[test]
fn data_joining_and_trailing_lf() {
    assert_eq!(
        decode(&[b"data: a\ndata:\ndata: b\n\n"]),
        vec![ev("message", "a\n\nb", "")]
    );
    assert_eq!(decode(&[b"data:\n\n"]), vec![ev("message", "", "")]);
}

#[test]
fn block_without_data_resets_type() {
    assert_eq!(
        decode(&[b"event: foo\n\ndata: x\n\n"]),
        vec![ev("message", "x", "")]
    );
}

#[test]
fn event_type_set_and_reset() {
    assert_eq!(
        decode(&[b"event: add\ndata: 1\n\ndata: 2\n\nevent:\ndata: 3\n\n"]),
        vec![
            ev("add", "1", ""),
            ev("message", "2", ""),
            ev("message", "3", "")
        ]
    );
}

#[test]
fn ids_persist_and_reset() {
    assert_eq!(
        decode(&[b"id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: 2\ndata: d\n\n"]),
        vec![
            ev("message", "a", "1"),
            ev("message", "b", "1"),
            ev("message", "c", ""),
            ev("message", "d", "2")
        ]
    );
}

#[test]
fn id_with_nul_ignored() {
    assert_eq!(
        decode(&[b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n"]),
        vec![ev("message", "a", "1"), ev("message", "b", "1")]
    );
}

#[test]
fn id_only_block_updates_last_event_id() {
    let mut d = Decoder::default();
    let mut out = Vec::new();
    d.feed(b"id: 7\n\n", &mut out);
    assert!(out.is_empty());
    assert_eq!(&**d.last_event_id(), "7");
    d.feed(b"data: x\n\n", &mut out);
    assert_eq!(&*out[0].as_ref().unwrap().id, "7");
}

#[test]
fn id_of_incomplete_event_not_applied() {
    let mut d = Decoder::default();
    let mut out = Vec::new();
    d.feed(b"id: 1\ndata: a\n\nid: 2\ndata: b\n", &mut out);
    d.close();
    assert_eq!(out.len(), 1);
    assert_eq!(&**d.last_event_id(), "1");
}

#[test]
fn retry_only_digits() {
    let mut d = Decoder::default();
    let mut out = Vec::new();
    d.feed(b"retry: 1000\n", &mut out);
    assert_eq!(d.retry(), Some(1000));
    d.feed(
        b"retry: 12a\nretry: -5\nretry:\nretry: 1.5\nretry:  7\n",
        &mut out,
    );
    assert_eq!(d.retry(), Some(1000));
    d.feed(b"retry:20\n\n", &mut out);
    assert_eq!(d.retry(), Some(20));
    assert!(out.is_empty());
}

#[test]
fn incomplete_event_discarded_at_end() {
    assert_eq!(
        decode(&[b"data: a\n\ndata: b\n"]),
        vec![ev("message", "a", "")]
    );
    assert_eq!(
        decode(&[b"data: a\n\ndata: b"]),
        vec![ev("message", "a", "")]
    );
    let mut d = Decoder::default();
    let mut out = Vec::new();
    d.feed(b"data: b\n", &mut out);
    assert!(d.has_pending_event());
    d.close();
    assert!(!d.has_pending_event());
}

#[test]
fn line_too_long_errors_and_recovers() {
    let got = decode_with(16, &[b"data: 0123456789", b"0123456789\n\ndata: ok\n\n"]);
    assert_eq!(
        got,
        vec![
            Err(SseError::LineTooLong { limit: 16 }),
            Ok(ev("message", "ok", ""))
        ]
    );
}

#[test]
fn event_too_large_errors_and_recovers() {
    let got = decode_with(
        16,
        &[b"data: 0123456789\ndata: 0123456789\ndata: x\n\ndata: ok\n\n"],
    );
    assert_eq!(
        got,
        vec![
            Err(SseError::EventTooLarge { limit: 16 }),
            Ok(ev("message", "ok", ""))
        ]
    );
}

#[test]
fn buffers_never_exceed_limit() {
    let mut d = Decoder::new(64);
    let mut out = Vec::new();
    for _ in 0..10_000 {
        d.feed(b"data: xxxxxxxxxxxxxxxx", &mut out);
        assert!(d.line.len() <= 64 && d.data.len() <= 64);
    }
    for _ in 0..1000 {
        d.feed(b"data: xxxxxxxxxxxxxxxx\n", &mut out);
        assert!(d.line.len() <= 64 && d.data.len() <= 64);
    }
}

#[test]
fn every_split_point_gives_same_events() {
    let inputs: &[&[u8]] = &[
        b"\xEF\xBB\xBF: hi\r\nevent: a\rdata: 1\r\nid: x\n\r\ndata: \xE3\x81\x82\xFF\r\rretry: 5\ndata\n\n",
        b"data: a\r\n\r\ndata: b\r\r",
        b"id: 1\nevent: e\ndata: a\ndata: b\n\nid\n\ndata: c\n\n",
    ];
    for input in inputs {
        let whole = decode(&[input]);
        for i in 0..=input.len() {
            for j in i..=input.len() {
                let got = decode(&[&input[..i], &input[i..j], &input[j..]]);
                assert_eq!(got, whole, "split at {i},{j}");
            }
        }
    }
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn split(input: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        points.sort_unstable();
        let mut pieces = Vec::new();
        let mut last = 0;
        for p in points {
            pieces.push(input[last..p].to_vec());
            last = p;
        }
        pieces.push(input[last..].to_vec());
        pieces
    }

    fn sse_bytes() -> impl Strategy<Value = Vec<u8>> {
        let atom = prop_oneof![
            Just(b"data".to_vec()),
            Just(b"event".to_vec()),
            Just(b"id".to_vec()),
            Just(b"retry".to_vec()),
            Just(b":".to_vec()),
            Just(b": ".to_vec()),
            Just(b"\r".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"\xEF\xBB\xBF".to_vec()),
            Just(b"\xE3\x81\x82".to_vec()),
            Just(b"\x00".to_vec()),
            Just(b"12".to_vec()),
            any::<u8>().prop_map(|b| vec![b]),
        ];
        prop::collection::vec(atom, 0..60).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn splits_never_change_events(input in sse_bytes(), cuts in prop::collection::vec(any::<usize>(), 0..6)) {
            let whole = decode_with(DEFAULT_MAX_EVENT_SIZE, &[&input]);
            let pieces = split(&input, &cuts);
            let refs: Vec<&[u8]> = pieces.iter().map(|p| p.as_slice()).collect();
            prop_assert_eq!(decode_with(DEFAULT_MAX_EVENT_SIZE, &refs), whole);
        }

        #[test]
        fn random_bytes_never_panic_and_stay_bounded(input in prop::collection::vec(any::<u8>(), 0..400), cuts in prop::collection::vec(any::<usize>(), 0..6), max in 1usize..40) {
            let mut d = Decoder::new(max);
            let mut out = Vec::new();
            for piece in split(&input, &cuts) {
                d.feed(&piece, &mut out);
                prop_assert!(d.line.len() <= max);
                prop_assert!(d.data.len() + d.event_type.len() <= max);
            }
            for e in out.iter().flatten() {
                prop_assert!(e.data.len() <= max);
            }
        }
    }
}

/// Decodes with raw capture; returns each event's raw bytes.
fn raw_events(max: usize, chunks: &[&[u8]]) -> Vec<Option<Vec<u8>>> {
    let mut d = Decoder::new(max);
    d.keep_raw();
    let mut out = Vec::new();
    for c in chunks {
        d.feed(c, &mut out);
    }
    out.into_iter()
        .filter_map(Result::ok)
        .map(|e| e.raw.map(Vec::from))
        .collect()
}

fn raw_joined(chunks: &[&[u8]]) -> Vec<u8> {
    raw_events(DEFAULT_MAX_EVENT_SIZE, chunks)
        .into_iter()
        .map(|r| r.expect("raw bytes"))
        .collect::<Vec<_>>()
        .concat()
}

#[test]
fn raw_bytes_are_the_event_as_sent_in_any_piecing() {
    let body: &[u8] = b"id: 7\r\nevent: a\r\n: note\r\ndata:x\r\ndata: y\r\n\r\nretry: 5\n\ndata: z\r\rdata: w\n\n";
    let events = raw_events(DEFAULT_MAX_EVENT_SIZE, &[body]);
    assert_eq!(
        events,
        [
            Some(b"id: 7\r\nevent: a\r\n: note\r\ndata:x\r\ndata: y\r\n\r\n".to_vec()),
            // the retry-only block rides with the next event
            Some(b"retry: 5\n\ndata: z\r\r".to_vec()),
            Some(b"data: w\n\n".to_vec()),
        ]
    );
    for split in 0..body.len() {
        assert_eq!(
            raw_joined(&[&body[..split], &body[split..]]),
            body,
            "split at {split}"
        );
    }
    let bytes: Vec<&[u8]> = body.chunks(1).collect();
    assert_eq!(raw_joined(&bytes), body);
}

#[test]
fn raw_capture_drops_keepalives_the_bom_and_an_unfinished_event() {
    let body: &[u8] =
        b"\xEF\xBB\xBF: keep-alive\r\r: ping\n\ndata: a\n\n: ping\n\ndata: b\n\ndata: cut";
    assert_eq!(raw_joined(&[body]), b"data: a\n\ndata: b\n\n");
}

#[test]
fn raw_capture_is_bounded_and_skips_what_it_cannot_hold_whole() {
    // 40 comment lines of 10 bytes in one block: over twice the 64-byte limit.
    let mut body = b": 34567890\n".repeat(40);
    body.extend_from_slice(b"data: a\n\ndata: b\n\n");
    assert_eq!(
        raw_events(64, &[&body]),
        [None, Some(b"data: b\n\n".to_vec())]
    );
    // An oversized event is reported and its bytes not carried to the next.
    let mut d = Decoder::new(16);
    d.keep_raw();
    let mut out = Vec::new();
    d.feed(
        b"data: 0123456789\ndata: 0123456789\n\ndata: ok\n\n",
        &mut out,
    );
    assert!(matches!(out[0], Err(SseError::EventTooLarge { .. })));
    assert_eq!(
        out[1].as_ref().unwrap().raw.as_deref(),
        Some(&b"data: ok\n\n"[..])
    );
}

#[test]
fn raw_capture_turned_on_mid_event_leaves_that_event_without() {
    let mut d = Decoder::default();
    let mut out = Vec::new();
    d.feed(b"data: a\n", &mut out);
    d.keep_raw();
    d.feed(b"\ndata: b\n\n", &mut out);
    let raws: Vec<_> = out
        .iter()
        .map(|e| e.as_ref().unwrap().raw.clone())
        .collect();
    assert_eq!(
        raws,
        [None, Some(b"data: b\n\n".to_vec().into_boxed_slice())]
    );
}

#[test]
fn raw_capture_never_starts_a_stream_with_a_bom() {
    // The second BOM belongs to a field name; forwarded first, it would be stripped.
    let events = raw_events(
        DEFAULT_MAX_EVENT_SIZE,
        &[b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\ndata: b\n\ndata: c\n\n"],
    );
    assert_eq!(events, [None, Some(b"data: c\n\n".to_vec())]);
}

/// The LF of a CRLF split from its CR by a read goes where the CR's block went
/// (found by the fuzz target).
#[test]
fn raw_capture_follows_a_split_crlf_to_its_block() {
    let body: &[u8] = b"dat\r\n\r\n\r\ndata: b\r\n\r\n: c\r\n\r\ndata: d\r\n\r\n";
    let whole = raw_joined(&[body]);
    assert_eq!(whole, b"dat\r\n\r\ndata: b\r\n\r\ndata: d\r\n\r\n");
    for split in 0..body.len() - 1 {
        assert_eq!(
            raw_joined(&[&body[..split], &body[split..]]),
            whole,
            "split at {split}"
        );
    }
    // Split from the very last CR, the final LF waits for an event that never comes.
    let last = raw_joined(&[&body[..body.len() - 1], &body[body.len() - 1..]]);
    assert_eq!(last, whole[..whole.len() - 1]);
}

/// A block too large to capture keeps what earlier blocks carried (here the
/// LF split from the CR that dispatched the event before it; found by the
/// fuzz target).
#[test]
fn raw_capture_overflow_keeps_the_carried_bytes() {
    let mut body = b"data: a\r\n\r\n".to_vec();
    for _ in 0..4 {
        body.extend_from_slice(b": 0123456789012345678901234567890123456789\r\n");
    }
    body.extend_from_slice(b"\r\ndata: b\r\n\r\n");
    let run = |pieces: &[&[u8]]| {
        raw_events(64, pieces)
            .into_iter()
            .map(|r| r.expect("raw bytes"))
            .collect::<Vec<_>>()
            .concat()
    };
    let whole = run(&[&body]);
    assert_eq!(whole, b"data: a\r\n\r\ndata: b\r\n\r\n");
    let split = b"data: a\r\n\r".len();
    assert_eq!(run(&[&body[..split], &body[split..]]), whole);
}
