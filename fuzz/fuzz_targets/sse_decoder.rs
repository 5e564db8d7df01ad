//! The incremental SSE decoder (src/wire/sse.rs) against a whole-stream reference.
//!
//! Input layout: `[limit] [cuts] [piece length]{cuts % 8} stream...`
//! - `limit` < 0x40 keeps the default `max_event_size`; otherwise the limit is
//!   `limit - 0x3F` bytes (1..=192), so the size checks fire often;
//! - `cuts % 8` piece lengths cut the stream into fed pieces (the rest is the
//!   last piece; a zero length is an empty feed).
//!
//! Checked, besides "no panic":
//! - fed whole, the decoder gives exactly the reference's events and errors,
//!   last event ID, retry and "event pending" flag;
//! - fed in the chosen pieces, after every feed the events and errors so far
//!   are exactly the reference's for the bytes fed so far (nothing late,
//!   nothing lost, errors in stream order) and the buffers stay within the limit;
//! - fed one byte at a time, the result equals the whole feed;
//! - keeping raw bytes (`keep_raw`), whole and in the pieces: the same events,
//!   the same raw bytes whatever the piecing, and those bytes, decoded again,
//!   give the same events (re-streaming forwards them unchanged).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sserpent::wire::sse::{Decoder, Event, Output, SseError, DEFAULT_MAX_EVENT_SIZE};

const BOM: &[u8] = b"\xEF\xBB\xBF";

#[derive(Debug, PartialEq)]
struct Outcome {
    items: Output,
    last_event_id: String,
    retry: Option<u64>,
    pending: bool,
}

/// The spec's "Interpreting an event stream" over a whole byte stream, written
/// for clarity rather than speed, plus sserpent's documented size limit: a line
/// longer than the limit, or an event whose data and type grow past it, is
/// reported once and the event is skipped up to its blank line.
#[derive(Default)]
struct Reference {
    max: usize,
    items: Output,
    data: Vec<u8>,
    event_type: Vec<u8>,
    id_buffer: Vec<u8>,
    last_event_id: String,
    retry: Option<u64>,
    discarding: bool,
}

impl Reference {
    fn run(input: &[u8], max: usize) -> Outcome {
        if !input.is_empty() && input.len() < BOM.len() && BOM.starts_with(input) {
            // Not yet known whether the stream starts with a BOM.
            return Outcome {
                items: Vec::new(),
                last_event_id: String::new(),
                retry: None,
                pending: true,
            };
        }
        let s = input.strip_prefix(BOM).unwrap_or(input);
        let mut r = Reference {
            max,
            ..Default::default()
        };
        let mut start = 0;
        let mut i = 0;
        while i < s.len() {
            if s[i] == b'\r' || s[i] == b'\n' {
                r.line(&s[start..i]);
                if s[i] == b'\r' && s.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                i += 1;
                start = i;
            } else {
                i += 1;
            }
        }
        let tail = &s[start..];
        if tail.len() > max {
            r.fail(SseError::LineTooLong { limit: max });
        }
        Outcome {
            pending: !tail.is_empty()
                || !r.data.is_empty()
                || !r.event_type.is_empty()
                || r.discarding,
            items: r.items,
            last_event_id: r.last_event_id,
            retry: r.retry,
        }
    }

    fn fail(&mut self, e: SseError) {
        if !self.discarding {
            self.items.push(Err(e));
        }
        self.discarding = true;
        self.data.clear();
        self.event_type.clear();
    }

    fn line(&mut self, line: &[u8]) {
        let max = self.max;
        if line.len() > max {
            return self.fail(SseError::LineTooLong { limit: max });
        }
        if line.is_empty() {
            return self.dispatch();
        }
        if self.discarding || line[0] == b':' {
            return;
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match name {
            b"event" => {
                if self.data.len() + value.len() > max {
                    return self.fail(SseError::EventTooLarge { limit: max });
                }
                self.event_type = value.to_vec();
            }
            b"data" => {
                if self.data.len() + self.event_type.len() + value.len() + 1 > max {
                    return self.fail(SseError::EventTooLarge { limit: max });
                }
                self.data.extend_from_slice(value);
                self.data.push(b'\n');
            }
            b"id" if !value.contains(&0) => self.id_buffer = value.to_vec(),
            b"retry" if !value.is_empty() && value.iter().all(|b| b.is_ascii_digit()) => {
                let mut ms: u64 = 0;
                for d in value {
                    ms = ms.saturating_mul(10).saturating_add(u64::from(d - b'0'));
                }
                self.retry = Some(ms);
            }
            _ => {}
        }
    }

    fn dispatch(&mut self) {
        self.last_event_id = String::from_utf8_lossy(&self.id_buffer).into_owned();
        let data = std::mem::take(&mut self.data);
        let event_type = std::mem::take(&mut self.event_type);
        if std::mem::take(&mut self.discarding) || data.is_empty() {
            return;
        }
        let data = &data[..data.len() - 1];
        self.items.push(Ok(Event {
            event: (!event_type.is_empty())
                .then(|| String::from_utf8_lossy(&event_type).into_owned()),
            data: String::from_utf8_lossy(data).into_owned(),
            id: self.last_event_id.as_str().into(),
            raw: None,
        }));
    }
}

fn outcome(d: &Decoder, items: Output) -> Outcome {
    Outcome {
        items,
        last_event_id: d.last_event_id().to_string(),
        retry: d.retry(),
        pending: d.has_pending_event(),
    }
}

/// The fuzzer's pieces of `stream`, then what is left of it.
fn pieces<'a>(stream: &'a [u8], lengths: &[u8]) -> (Vec<&'a [u8]>, &'a [u8]) {
    let mut fed = 0;
    let mut out = Vec::with_capacity(lengths.len());
    for &len in lengths {
        let end = (fed + usize::from(len)).min(stream.len());
        out.push(&stream[fed..end]);
        fed = end;
    }
    (out, &stream[fed..])
}

/// Each event's raw bytes, decoding with `keep_raw` in the given pieces
/// (the rest of `stream` after them in one more feed).
fn raw_run(stream: &[u8], lengths: &[u8], max: usize) -> Vec<Option<Vec<u8>>> {
    let mut d = Decoder::new(max);
    d.keep_raw();
    let mut out = Vec::new();
    let (fed, rest) = pieces(stream, lengths);
    for piece in fed {
        d.feed(piece, &mut out);
    }
    d.feed(rest, &mut out);
    out.into_iter()
        .filter_map(Result::ok)
        .map(|e| e.raw.map(Vec::from))
        .collect()
}

fn check_bounds(d: &Decoder, max: usize) {
    let [line, event, id] = d.buffered();
    assert!(line <= max, "line buffer {line} > limit {max}");
    assert!(event <= max, "event buffer {event} > limit {max}");
    assert!(id <= max, "id buffer {id} > limit {max}");
}

fuzz_target!(|input: &[u8]| {
    let Some((&limit, rest)) = input.split_first() else {
        return;
    };
    let Some((&cuts, rest)) = rest.split_first() else {
        return;
    };
    let max = if limit < 0x40 {
        DEFAULT_MAX_EVENT_SIZE
    } else {
        usize::from(limit - 0x3F)
    };
    let ncuts = usize::from(cuts % 8).min(rest.len());
    let (lengths, stream) = rest.split_at(ncuts);

    // Whole.
    let want = Reference::run(stream, max);
    let mut d = Decoder::new(max);
    let mut out = Vec::new();
    d.feed(stream, &mut out);
    check_bounds(&d, max);
    let whole = outcome(&d, out);
    assert_eq!(whole, want, "whole feed differs from the reference");

    // In the fuzzer's pieces, each prefix checked against the reference.
    let mut d = Decoder::new(max);
    let mut out = Vec::new();
    let mut fed = 0;
    let (fuzzer_pieces, rest) = pieces(stream, lengths);
    for piece in fuzzer_pieces {
        d.feed(piece, &mut out);
        fed += piece.len();
        check_bounds(&d, max);
        let items = std::mem::take(&mut out);
        let got = outcome(&d, items);
        assert_eq!(
            got,
            Reference::run(&stream[..fed], max),
            "after feeding {fed} bytes in pieces {lengths:?}"
        );
        out = got.items;
    }
    d.feed(rest, &mut out);
    check_bounds(&d, max);
    assert_eq!(
        outcome(&d, out),
        want,
        "pieces {lengths:?} differ from the whole feed"
    );

    // One byte at a time.
    let mut d = Decoder::new(max);
    let mut out = Vec::new();
    for b in stream.chunks(1) {
        d.feed(b, &mut out);
        check_bounds(&d, max);
    }
    assert_eq!(outcome(&d, out), want, "byte-at-a-time feed differs");

    // Raw capture: whole and in the pieces alike, and the raw bytes re-decode
    // to the same events.
    let raw_whole = raw_run(stream, &[], max);
    let raw_pieces = raw_run(stream, lengths, max);
    let joined =
        |r: &[Option<Vec<u8>>]| -> Vec<u8> { r.iter().flatten().flatten().copied().collect() };
    if raw_whole.iter().chain(&raw_pieces).all(Option::is_some) {
        // An LF split from its CR goes with the next event: only the joined
        // bytes are the same, but for such an LF at the very end.
        let (w, p) = (joined(&raw_whole), joined(&raw_pieces));
        assert!(
            w == p || w.strip_suffix(b"\n") == Some(&p[..]),
            "raw bytes depend on the piecing {lengths:?}"
        );
    }
    let events: Vec<&Event> = want.items.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(raw_whole.len(), events.len(), "keep_raw changed the events");
    if raw_whole.iter().all(Option::is_some) {
        let again = joined(&raw_whole);
        let mut d2 = Decoder::new(max.saturating_mul(4));
        let mut out2 = Vec::new();
        d2.feed(&again, &mut out2);
        let redecoded: Vec<(Option<String>, String)> = out2
            .into_iter()
            .filter_map(Result::ok)
            .map(|e| (e.event, e.data))
            .collect();
        let original: Vec<(Option<String>, String)> = events
            .iter()
            .map(|e| (e.event.clone(), e.data.clone()))
            .collect();
        assert_eq!(redecoded, original, "raw bytes re-decode to other events");
    }

    // close() forgets the partial event but keeps the last event ID and retry.
    d.close();
    assert!(!d.has_pending_event());
    assert_eq!(d.last_event_id().as_ref(), want.last_event_id);
    assert_eq!(d.retry(), want.retry);
});
