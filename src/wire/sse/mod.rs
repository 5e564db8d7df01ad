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
    /// The bytes the event came in as, when the decoder keeps them
    /// ([`Decoder::keep_raw`]): see there for what they hold.
    pub raw: Option<Box<[u8]>>,
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
    /// One NDJSON line (`wire::ndjson`) grew past the limit before its LF.
    NdjsonLineTooLong { limit: usize },
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
            SseError::NdjsonLineTooLong { limit } => write!(
                f,
                "NDJSON line longer than max_event_size ({limit} bytes); the line was dropped"
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
    /// Raw capture (`keep_raw`): the bytes since the last event, and how many
    /// of them to keep when a block ends without an event.
    raw: Option<RawCapture>,
}

/// The bytes of the block being read, for re-streaming them unchanged.
#[derive(Debug, Default)]
struct RawCapture {
    bytes: Vec<u8>,
    /// Blocks that set fields but dispatched nothing (`retry:` alone, say)
    /// are carried into the next event's bytes; comment-only blocks are not.
    carried: usize,
    /// The current block had a field line (not only comments).
    has_fields: bool,
    /// The bytes outgrew their bound: this block's event gets none.
    overflowed: bool,
    /// An event got raw bytes already: the next bytes are not the stream's first.
    past_first: bool,
    /// Where the LF goes if the next read starts with the second half of a
    /// CRLF whose CR ended the last one.
    split_lf: SplitLf,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum SplitLf {
    /// The CR ended a line of the block being read: the LF is part of it.
    #[default]
    InBlock,
    /// The CR ended a block whose bytes were kept: the LF goes with the next
    /// event whatever block it is in, so the bytes of all events stay whole.
    Kept,
    /// The CR ended a block that was dropped (a keep-alive): so is the LF.
    Dropped,
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
            raw: None,
        }
    }

    /// Keeps each event's bytes as they came in ([`Event::raw`]) from the
    /// next byte on: every line since the previous event, with its own line
    /// terminators, comments and `id:`/`retry:` fields, through its blank
    /// line; blocks that dispatch nothing are carried into the next event,
    /// except comment-only ones (keep-alives), which are dropped, as is a
    /// leading BOM. The LF of a CRLF split across two reads goes with the
    /// next event (the bytes of all events together are the stream's, in any
    /// piecing, but for such an LF at its very end). The bytes of one event
    /// are bounded by twice the event size limit; past it the event has no
    /// raw bytes (`None`).
    pub fn keep_raw(&mut self) {
        if self.raw.is_none() {
            self.raw = Some(RawCapture {
                // Bytes of the current block went by uncaptured.
                overflowed: self.has_pending_event(),
                ..RawCapture::default()
            });
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
        if let Some(raw) = &mut self.raw {
            *raw = RawCapture::default();
        }
    }

    fn process(&mut self, input: &[u8], out: &mut Output) {
        let mut pos = 0;
        // Start of the bytes not yet in the raw capture.
        let mut mark = 0;
        if self.skip_lf && !input.is_empty() {
            self.skip_lf = false;
            if input[0] == b'\n' {
                pos = 1;
                if let Some(raw) = &mut self.raw {
                    match raw.split_lf {
                        SplitLf::InBlock => raw.push(b"\n", self.max_event_size),
                        SplitLf::Kept => {
                            raw.push(b"\n", self.max_event_size);
                            raw.carried = raw.carried.max(raw.bytes.len());
                        }
                        SplitLf::Dropped => {}
                    }
                    mark = 1;
                }
            }
        }
        while pos < input.len() {
            let rest = &input[pos..];
            let Some(off) = memchr2(b'\r', b'\n', rest) else {
                self.buffer_partial_line(rest, out);
                break;
            };
            let terminator = rest[off];
            let blank = off == 0 && self.line.is_empty() && !self.line_overflow;
            let discarded = self.discarding;
            let before = out.len();
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
            if self.raw.is_some() {
                let mut split_lf = SplitLf::InBlock;
                if blank {
                    let kept = self.end_raw_block(&input[mark..pos], discarded, &mut out[before..]);
                    mark = pos;
                    split_lf = if kept {
                        SplitLf::Kept
                    } else {
                        SplitLf::Dropped
                    };
                }
                if let Some(raw) = &mut self.raw {
                    raw.split_lf = split_lf;
                }
            }
        }
        if mark < input.len() {
            if let Some(raw) = &mut self.raw {
                raw.push(&input[mark..], self.max_event_size);
            }
        }
    }

    /// A blank line ended a block: its bytes go to the event it dispatched,
    /// are carried to the next one, or (comments only) are dropped. Returns
    /// whether they were kept.
    fn end_raw_block(
        &mut self,
        tail: &[u8],
        discarded: bool,
        dispatched: &mut [Result<Event, SseError>],
    ) -> bool {
        let Some(raw) = &mut self.raw else {
            return false;
        };
        raw.push(tail, self.max_event_size);
        match dispatched.iter_mut().rev().find_map(|r| r.as_mut().ok()) {
            Some(event) => {
                let bytes = std::mem::take(&mut raw.bytes);
                // At the start of a stream a BOM would be stripped, not read
                // as part of a field name as it was here (after the real one).
                let bom_lost = !raw.past_first && bytes.starts_with(BOM);
                let kept = !raw.overflowed && !bom_lost;
                if kept {
                    event.raw = Some(bytes.into_boxed_slice());
                }
                *raw = RawCapture {
                    past_first: true,
                    ..RawCapture::default()
                };
                kept
            }
            None if raw.has_fields && !raw.overflowed && !discarded => {
                raw.carried = raw.bytes.len();
                raw.has_fields = false;
                true
            }
            None => {
                raw.bytes.truncate(raw.carried);
                raw.overflowed = false;
                raw.has_fields = false;
                false
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
        if line[0] != b':' {
            if let Some(raw) = &mut self.raw {
                raw.has_fields = true;
            }
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
            raw: None,
        }));
    }
}

impl RawCapture {
    fn push(&mut self, bytes: &[u8], max_event_size: usize) {
        if self.overflowed {
            return;
        }
        if self.bytes.len() + bytes.len() > max_event_size.saturating_mul(2) {
            // This block's bytes are lost; what earlier blocks carried is not.
            self.overflowed = true;
            self.bytes.truncate(self.carried);
            self.bytes.shrink_to(self.carried.max(64));
            return;
        }
        self.bytes.extend_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests;
