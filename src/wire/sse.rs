//! Incremental server-sent events decoder following the WHATWG HTML rules in
//! "9.2.6 Interpreting an event stream", byte for byte.
//!
//! The decoder works on bytes: line terminators (CR, LF, CRLF) and the field
//! separator are ASCII and can never occur inside a multi-byte UTF-8 sequence,
//! so splitting lines first and decoding each field with replacement later
//! gives exactly the result of decoding the whole stream first, without ever
//! holding more than the current line and the current event.

use std::sync::Arc;

use memchr::{memchr, memchr2};

/// Default limit for one event (its data, type and id together) and for one line.
pub const DEFAULT_MAX_EVENT_SIZE: usize = 16 * 1024 * 1024;

const BOM: &[u8; 3] = b"\xEF\xBB\xBF";

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event type; `None` stands for the default type `"message"`
    /// (the common case, kept free of an allocation).
    pub event: Option<String>,
    pub data: String,
    /// The last event ID in effect when the event was dispatched.
    pub id: Arc<str>,
}

impl Event {
    pub fn event_type(&self) -> &str {
        self.event.as_deref().unwrap_or("message")
    }
}

/// Why the decoder refused input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseError {
    /// One line grew past the limit before its terminator arrived.
    LineTooLong { limit: usize },
    /// One event's fields together grew past the limit before its blank line.
    EventTooLarge { limit: usize },
}

impl std::fmt::Display for SseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SseError::LineTooLong { limit } => write!(
                f,
                "SSE line longer than max_event_size ({limit} bytes) without a line terminator; the event was dropped"
            ),
            SseError::EventTooLarge { limit } => write!(
                f,
                "SSE event larger than max_event_size ({limit} bytes); the event was dropped"
            ),
        }
    }
}

impl std::error::Error for SseError {}

/// What one `feed` produced, in stream order.
pub type Output = Vec<Result<Event, SseError>>;

#[derive(Debug)]
pub struct Decoder {
    max_event_size: usize,
    /// Bytes of a line whose terminator has not arrived yet.
    line: Vec<u8>,
    /// The current line grew past the limit: its remaining bytes are skipped.
    line_overflow: bool,
    /// The data buffer of the spec, as bytes ("\n" after every data line).
    data: Vec<u8>,
    /// The event type buffer of the spec.
    event_type: Vec<u8>,
    /// The last event ID buffer of the spec (persists across events).
    id_buffer: Vec<u8>,
    id_buffer_changed: bool,
    /// The last event ID string, updated at every dispatch from the buffer.
    last_event_id: Arc<str>,
    retry: Option<u64>,
    /// Bytes seen so far while deciding whether the stream starts with a BOM.
    bom_prefix: Vec<u8>,
    bom_checked: bool,
    /// The previous input ended with CR: an LF at the start of the next one
    /// belongs to the same terminator.
    skip_lf: bool,
    /// An oversized event is being skipped up to its blank line.
    discarding: bool,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_EVENT_SIZE)
    }
}

impl Decoder {
    pub fn new(max_event_size: usize) -> Self {
        Decoder {
            max_event_size: max_event_size.max(1),
            line: Vec::new(),
            line_overflow: false,
            data: Vec::new(),
            event_type: Vec::new(),
            id_buffer: Vec::new(),
            id_buffer_changed: false,
            last_event_id: Arc::from(""),
            retry: None,
            bom_prefix: Vec::new(),
            bom_checked: false,
            skip_lf: false,
            discarding: false,
        }
    }

    pub fn max_event_size(&self) -> usize {
        self.max_event_size
    }

    pub fn last_event_id(&self) -> &Arc<str> {
        &self.last_event_id
    }

    /// The latest valid `retry` value in milliseconds.
    pub fn retry(&self) -> Option<u64> {
        self.retry
    }

    /// Bytes held now: the unterminated line, the current event's data and
    /// type together, and the last event ID buffer. Each stays within
    /// `max_event_size`; the fuzz targets (`fuzz/`) check that after every feed.
    #[doc(hidden)]
    pub fn buffered(&self) -> [usize; 3] {
        [
            self.line.len(),
            self.data.len() + self.event_type.len(),
            self.id_buffer.len(),
        ]
    }

    /// True when bytes of an event that has not been dispatched yet are held:
    /// ending the stream now would discard them.
    pub fn has_pending_event(&self) -> bool {
        !self.line.is_empty()
            || self.line_overflow
            || !self.data.is_empty()
            || !self.event_type.is_empty()
            || self.discarding
            || (!self.bom_checked && !self.bom_prefix.is_empty())
    }

    /// Decodes `input`, appending dispatched events (and at most one error
    /// per oversized line or event, in stream order) to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Output) {
        if input.is_empty() {
            return;
        }
        if self.bom_checked {
            self.process(input, out);
            return;
        }
        // Only the very first bytes of the stream may be a BOM; they may
        // arrive one `feed` at a time.
        let take = (BOM.len() - self.bom_prefix.len()).min(input.len());
        self.bom_prefix.extend_from_slice(&input[..take]);
        let rest = &input[take..];
        if self.bom_prefix.len() < BOM.len() && BOM.starts_with(&self.bom_prefix) {
            return; // still undecided; `take` consumed all of `input`
        }
        self.bom_checked = true;
        let prefix = std::mem::take(&mut self.bom_prefix);
        if prefix.as_slice() != BOM {
            self.process(&prefix, out);
        }
        self.process(rest, out);
    }

    /// Ends the stream. Per the spec an event without its blank line is
    /// discarded; the last event ID and retry survive for a reconnection.
    pub fn close(&mut self) {
        self.line.clear();
        self.line_overflow = false;
        self.data.clear();
        self.event_type.clear();
        self.bom_prefix.clear();
        self.bom_checked = false;
        self.skip_lf = false;
        self.discarding = false;
    }

    fn process(&mut self, input: &[u8], out: &mut Output) {
        let mut pos = 0;
        if self.skip_lf && !input.is_empty() {
            self.skip_lf = false;
            if input[0] == b'\n' {
                pos = 1;
            }
        }
        while pos < input.len() {
            let rest = &input[pos..];
            let Some(off) = memchr2(b'\r', b'\n', rest) else {
                self.buffer_partial_line(rest, out);
                return;
            };
            let terminator = rest[off];
            self.finish_line(&rest[..off], out);
            pos += off + 1;
            if terminator == b'\r' {
                if pos < input.len() {
                    if input[pos] == b'\n' {
                        pos += 1;
                    }
                } else {
                    self.skip_lf = true;
                }
            }
        }
    }

    fn buffer_partial_line(&mut self, bytes: &[u8], out: &mut Output) {
        if self.line_overflow {
            return;
        }
        if self.line.len() + bytes.len() > self.max_event_size {
            self.line.clear();
            self.line_overflow = true;
            self.fail(
                SseError::LineTooLong {
                    limit: self.max_event_size,
                },
                out,
            );
            return;
        }
        self.line.extend_from_slice(bytes);
    }

    /// A line terminator arrived; `tail` is the part of the line in this input.
    fn finish_line(&mut self, tail: &[u8], out: &mut Output) {
        if self.line_overflow {
            self.line_overflow = false;
            return; // the oversized line itself is never interpreted
        }
        if self.line.len() + tail.len() > self.max_event_size {
            self.line.clear();
            self.fail(
                SseError::LineTooLong {
                    limit: self.max_event_size,
                },
                out,
            );
            return;
        }
        if self.line.is_empty() {
            self.process_line(tail, out);
        } else {
            let mut line = std::mem::take(&mut self.line);
            line.extend_from_slice(tail);
            self.process_line(&line, out);
            line.clear();
            self.line = line; // keep the capacity for the next long line
        }
    }

    fn fail(&mut self, error: SseError, out: &mut Output) {
        if !self.discarding {
            out.push(Err(error));
        }
        self.discarding = true;
        self.data.clear();
        self.event_type.clear();
    }

    fn process_line(&mut self, line: &[u8], out: &mut Output) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if self.discarding || line[0] == b':' {
            return;
        }
        let (name, value) = match memchr(b':', line) {
            Some(i) => {
                let value = &line[i + 1..];
                (&line[..i], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match name {
            b"data" => {
                if self.pending_size() + value.len() + 1 > self.max_event_size {
                    self.fail(
                        SseError::EventTooLarge {
                            limit: self.max_event_size,
                        },
                        out,
                    );
                    return;
                }
                self.data.reserve(value.len() + 1);
                self.data.extend_from_slice(value);
                self.data.push(b'\n');
            }
            b"event" => {
                if self.pending_size() - self.event_type.len() + value.len() > self.max_event_size {
                    self.fail(
                        SseError::EventTooLarge {
                            limit: self.max_event_size,
                        },
                        out,
                    );
                    return;
                }
                self.event_type.clear();
                self.event_type.extend_from_slice(value);
            }
            b"id" if memchr(0, value).is_none() => {
                self.id_buffer.clear();
                self.id_buffer.extend_from_slice(value);
                self.id_buffer_changed = true;
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                let ms = value.iter().fold(0u64, |acc, d| {
                    acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
                });
                self.retry = Some(ms);
            }
            _ => {}
        }
    }

    fn pending_size(&self) -> usize {
        self.data.len() + self.event_type.len()
    }

    fn dispatch(&mut self, out: &mut Output) {
        if self.id_buffer_changed {
            self.id_buffer_changed = false;
            self.last_event_id = Arc::from(String::from_utf8_lossy(&self.id_buffer).as_ref());
        }
        if self.discarding {
            self.discarding = false;
            self.data.clear();
            self.event_type.clear();
            return;
        }
        if self.data.is_empty() {
            self.event_type.clear();
            return;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop(); // the LF appended after the last data line
        let data = match String::from_utf8(data) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        let event = if self.event_type.is_empty() {
            None
        } else {
            let t = String::from_utf8_lossy(&self.event_type).into_owned();
            self.event_type.clear();
            Some(t)
        };
        out.push(Ok(Event {
            event,
            data,
            id: self.last_event_id.clone(),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(chunks: &[&[u8]]) -> Vec<(String, String, String)> {
        decode_with(DEFAULT_MAX_EVENT_SIZE, chunks)
            .into_iter()
            .map(|r| r.expect("no error"))
            .collect()
    }

    fn decode_with(
        max: usize,
        chunks: &[&[u8]],
    ) -> Vec<Result<(String, String, String), SseError>> {
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
}
