//! Scripted responses: what a test queues with `enqueue`, the faults each can
//! inject, and the reply the server derives from it.
//!
//! A streamed body is a sequence of *frames*: one SSE event each (with its
//! blank line), or a raw piece of bytes. Faults count frames: `cut_after: 3`
//! closes the connection after the third.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

/// Faults injected into one response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Pause before every frame but the first.
    pub delay: Option<Duration>,
    /// Pause before the status line.
    pub headers_delay: Option<Duration>,
    /// Close the connection after this many frames, without ending the
    /// chunked body (also when the body has fewer frames).
    pub cut_after: Option<usize>,
    /// With `cut_after`: first send half of the next frame, splitting a
    /// multi-byte UTF-8 character when it has one.
    pub cut_mid_event: bool,
    /// Close with RST (SO_LINGER 0) instead of FIN wherever the server closes.
    pub reset: bool,
    /// After this many frames send nothing more and keep the connection open
    /// until the client leaves or the server stops.
    pub stall_after: Option<usize>,
    /// While stalled, send `: keep-alive\n\n` this often.
    pub keepalive: Option<Duration>,
    /// With `stall_after`: the stall ends after this long and the rest of the
    /// body follows (without it, the stall lasts until the client leaves).
    pub stall_for: Option<Duration>,
    /// Read the request, then close without answering.
    pub close_before_headers: bool,
}

impl Faults {
    /// True when the faults act on the body's frames (a fixed body is one frame).
    pub fn act_on_frames(&self) -> bool {
        self.delay.is_some()
            || self.cut_after.is_some()
            || self.cut_mid_event
            || self.stall_after.is_some()
            || self.keepalive.is_some()
            || self.stall_for.is_some()
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.cut_mid_event && self.cut_after.is_none() {
            return Err("cut_mid_event needs cut_after (the frames to send whole first)".into());
        }
        if self.keepalive.is_some() && self.stall_after.is_none() {
            return Err("keepalive needs stall_after".into());
        }
        if self.stall_for.is_some() && self.stall_after.is_none() {
            return Err("stall_for needs stall_after".into());
        }
        if self.keepalive == Some(Duration::ZERO) {
            return Err("keepalive must be > 0".into());
        }
        if self.cut_after.is_some() && self.stall_after.is_some() {
            return Err("cut_after and stall_after exclude each other".into());
        }
        Ok(())
    }
}

/// Where a scripted response's body comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ScenarioBody {
    /// The server's default response for the request's path (for a status
    /// of 400 and above, an OpenAI-style JSON error body instead).
    Default,
    /// A streamed body, frame by frame.
    Frames(Arc<[Bytes]>),
    /// A fixed body sent with `Content-Length`, with its default content type.
    Fixed {
        bytes: Bytes,
        content_type: &'static str,
    },
}

/// One scripted response.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Only requests whose path (without the query) contains this.
    pub path: Option<String>,
    /// How many requests it answers.
    pub times: u32,
    pub status: u16,
    /// Added to the response head, replacing defaults of the same name.
    pub headers: Vec<(String, String)>,
    pub body: ScenarioBody,
    pub faults: Faults,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            path: None,
            times: 1,
            status: 200,
            headers: Vec::new(),
            body: ScenarioBody::Default,
            faults: Faults::default(),
        }
    }
}

impl Scenario {
    pub fn validate(&self) -> Result<(), String> {
        if self.times == 0 {
            return Err("times must be >= 1".into());
        }
        if !(200..=999).contains(&self.status) {
            return Err(format!("status must be in 200..=999, not {}", self.status));
        }
        for (n, v) in &self.headers {
            let bad = |s: &str| s.bytes().any(|b| b == b'\r' || b == b'\n');
            if n.is_empty() || bad(n) || n.contains(':') || bad(v) {
                return Err(format!("invalid header {n:?}"));
            }
        }
        self.faults.validate()
    }

    fn matches(&self, path: &str) -> bool {
        self.path.as_deref().is_none_or(|p| path.contains(p))
    }
}

/// Scripted responses waiting for requests, first in first out.
#[derive(Debug, Default)]
pub struct ScenarioQueue {
    items: VecDeque<(Arc<Scenario>, u32)>,
}

impl ScenarioQueue {
    pub fn push(&mut self, scenario: Scenario) {
        let times = scenario.times;
        self.items.push_back((Arc::new(scenario), times));
    }

    /// The first queued scenario that matches `path`, used up once.
    pub fn take(&mut self, path: &str) -> Option<Arc<Scenario>> {
        let i = self.items.iter().position(|(s, _)| s.matches(path))?;
        let entry = &mut self.items[i];
        entry.1 -= 1;
        let scenario = entry.0.clone();
        if entry.1 == 0 {
            self.items.remove(i);
        }
        Some(scenario)
    }

    pub fn clear(&mut self) {
        self.items.clear();
    }

    /// Responses still queued, counting repeats.
    pub fn pending(&self) -> usize {
        self.items.iter().map(|(_, n)| *n as usize).sum()
    }
}

/// Splits a raw SSE body into frames, each ending after the line terminator
/// of a blank line (CR, LF or CRLF, as WHATWG reads them). The frames are
/// the exact bytes: concatenated they give `sse` back. Bytes after the last
/// blank line form a final, incomplete frame.
pub fn split_frames(sse: &[u8]) -> Vec<Bytes> {
    let whole = Bytes::copy_from_slice(sse);
    let mut frames = Vec::new();
    let (mut start, mut line_start, mut i) = (0, 0, 0);
    while let Some(k) = memchr::memchr2(b'\r', b'\n', &sse[i..]) {
        let at = i + k;
        let end = if sse[at] == b'\r' && sse.get(at + 1) == Some(&b'\n') {
            at + 2
        } else {
            at + 1
        };
        if at == line_start {
            frames.push(whole.slice(start..end));
            start = end;
        }
        line_start = end;
        i = end;
    }
    if start < sse.len() {
        frames.push(whole.slice(start..));
    }
    frames
}

/// Appends `field: value` lines for every line of `value` (split at CR, LF
/// and CRLF, so that the frame stays one event).
fn push_field_lines(out: &mut Vec<u8>, field: &str, value: &str) {
    let mut rest = value;
    loop {
        out.extend_from_slice(field.as_bytes());
        out.extend_from_slice(b": ");
        match rest.find(['\r', '\n']) {
            Some(at) => {
                out.extend_from_slice(&rest.as_bytes()[..at]);
                out.push(b'\n');
                let skip = if rest[at..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[at + skip..];
            }
            None => {
                out.extend_from_slice(rest.as_bytes());
                out.push(b'\n');
                return;
            }
        }
    }
}

/// One event as a frame: `event:`, `id:`, `retry:` when given, `data:` lines.
pub fn event_frame(event: Option<&str>, data: &str, id: Option<&str>, retry: Option<u64>) -> Bytes {
    let mut out = Vec::with_capacity(data.len() + 32);
    if let Some(e) = event {
        push_field_lines(&mut out, "event", e);
    }
    if let Some(id) = id {
        push_field_lines(&mut out, "id", id);
    }
    if let Some(r) = retry {
        out.extend_from_slice(format!("retry: {r}\n").as_bytes());
    }
    push_field_lines(&mut out, "data", data);
    out.push(b'\n');
    Bytes::from(out)
}

/// `data: <data>\n\n` (one `data:` line per line of `data`).
pub fn data_frame(data: &str) -> Bytes {
    event_frame(None, data, None, None)
}

/// Produces the frames of a streamed body one at a time, so that a long
/// generated stream is never held whole.
pub trait FrameSource: Send {
    /// Appends the next frame to `out`; false when none is left.
    fn next_frame(&mut self, out: &mut Vec<u8>) -> bool;
}

/// Frames given up front.
pub struct ListSource {
    frames: Arc<[Bytes]>,
    next: usize,
}

impl ListSource {
    pub fn new(frames: Arc<[Bytes]>) -> Self {
        ListSource { frames, next: 0 }
    }
}

impl FrameSource for ListSource {
    fn next_frame(&mut self, out: &mut Vec<u8>) -> bool {
        match self.frames.get(self.next) {
            Some(f) => {
                out.extend_from_slice(f);
                self.next += 1;
                true
            }
            None => false,
        }
    }
}

/// A response's body.
pub enum ReplyBody {
    Fixed(Bytes),
    Stream(Box<dyn FrameSource>),
}

/// Everything the server sends for one request.
pub struct Reply {
    pub status: u16,
    /// Complete head fields (content type included), framing excepted.
    pub headers: Vec<(String, String)>,
    pub body: ReplyBody,
    pub faults: Faults,
}

/// `base` with every header of `overrides` replacing the ones of the same
/// name (compared case-insensitively).
pub fn merge_headers(base: &mut Vec<(String, String)>, overrides: &[(String, String)]) {
    for (n, _) in overrides {
        base.retain(|(b, _)| !b.eq_ignore_ascii_case(n));
    }
    base.extend(overrides.iter().cloned());
}

/// The index at which to cut `frame` in two for `cut_mid_event`: inside a
/// multi-byte UTF-8 character when there is one (the one nearest the middle),
/// else the middle. Always leaves at least one byte on each side when the
/// frame has two or more.
pub fn mid_cut(frame: &[u8]) -> usize {
    let mid = frame.len() / 2;
    frame
        .iter()
        .enumerate()
        .filter(|&(_, &b)| b >= 0xC0)
        .map(|(i, _)| i + 1)
        .filter(|&i| i < frame.len())
        .min_by_key(|&i| i.abs_diff(mid))
        .unwrap_or(mid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &[u8]) -> Vec<&[u8]> {
        // Keep the test readable: compare slices.
        let frames = split_frames(s);
        let joined: Vec<u8> = frames.iter().flat_map(|f| f.iter().copied()).collect();
        assert_eq!(joined, s, "frames must concatenate to the input");
        let mut out = Vec::new();
        let mut pos = 0;
        for f in &frames {
            out.push(&s[pos..pos + f.len()]);
            pos += f.len();
        }
        out
    }

    #[test]
    fn splits_at_blank_lines_with_every_terminator() {
        assert_eq!(
            split(b"data: a\n\ndata: b\n\n"),
            vec![&b"data: a\n\n"[..], b"data: b\n\n"]
        );
        assert_eq!(
            split(b"event: x\r\ndata: a\r\n\r\ndata: b\r\n\r\n"),
            vec![&b"event: x\r\ndata: a\r\n\r\n"[..], b"data: b\r\n\r\n"]
        );
        assert_eq!(
            split(b"\xEF\xBB\xBF: keep-alive\r\rdata: a\r\rdata: [DONE]\r\r"),
            vec![
                &b"\xEF\xBB\xBF: keep-alive\r\r"[..],
                b"data: a\r\r",
                b"data: [DONE]\r\r"
            ]
        );
        // Mixed: CR then CRLF (the CRLF is the blank line), LF then CRLF.
        assert_eq!(
            split(b"data: a\r\r\ndata: b\n\r\ndata: c"),
            vec![&b"data: a\r\r\n"[..], b"data: b\n\r\n", b"data: c"]
        );
        assert_eq!(
            split(b"\n\ndata: a\n"),
            vec![&b"\n"[..], b"\n", b"data: a\n"]
        );
        assert!(split(b"").is_empty());
    }

    #[test]
    fn splits_the_wire_samples_losslessly() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/wire");
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut seen = 0;
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "sse") {
                let raw = std::fs::read(&p).unwrap();
                let frames = split(&raw);
                // Gemini's blocked prompt is a single response; the other samples have more.
                assert!(!frames.is_empty(), "{p:?}");
                assert_eq!(frames.concat(), raw, "{p:?}");
                for f in &frames {
                    assert!(
                        f.ends_with(b"\n\n") || f.ends_with(b"\r\r") || f.ends_with(b"\r\n\r\n")
                    );
                }
                seen += 1;
            }
        }
        assert!(seen >= 10);
    }

    #[test]
    fn builds_event_frames() {
        assert_eq!(&data_frame("[DONE]")[..], b"data: [DONE]\n\n");
        assert_eq!(
            &data_frame("a\nb\r\nc")[..],
            b"data: a\ndata: b\ndata: c\n\n"
        );
        assert_eq!(
            &event_frame(Some("ping"), "{}", Some("7"), Some(1500))[..],
            b"event: ping\nid: 7\nretry: 1500\ndata: {}\n\n"
        );
        assert_eq!(&data_frame("")[..], b"data: \n\n");
    }

    #[test]
    fn queue_is_fifo_with_filters_and_repeats() {
        let mut q = ScenarioQueue::default();
        q.push(Scenario {
            status: 500,
            path: Some("/messages".into()),
            ..Scenario::default()
        });
        q.push(Scenario {
            status: 429,
            times: 2,
            ..Scenario::default()
        });
        assert_eq!(q.pending(), 3);
        assert_eq!(q.take("/v1/chat/completions").unwrap().status, 429);
        assert_eq!(q.take("/v1/messages").unwrap().status, 500);
        assert_eq!(q.take("/v1/messages").unwrap().status, 429);
        assert!(q.take("/v1/messages").is_none());
        q.push(Scenario::default());
        q.clear();
        assert_eq!(q.pending(), 0);
    }

    #[test]
    fn validates() {
        let ok = Scenario::default();
        assert!(ok.validate().is_ok());
        let bad = |f: fn(&mut Scenario)| {
            let mut s = Scenario::default();
            f(&mut s);
            s.validate().unwrap_err()
        };
        bad(|s| s.times = 0);
        bad(|s| s.status = 99);
        bad(|s| s.status = 101);
        bad(|s| s.headers = vec![("x".into(), "a\r\nb".into())]);
        bad(|s| s.faults.cut_mid_event = true);
        bad(|s| s.faults.keepalive = Some(Duration::from_secs(1)));
        bad(|s| s.faults.stall_for = Some(Duration::from_secs(1)));
    }

    #[test]
    fn cuts_inside_multibyte_characters() {
        let f = "data: {\"c\":\"ab\u{3042}cd\"}\n\n".as_bytes();
        let at = mid_cut(f);
        assert!(std::str::from_utf8(&f[..at]).is_err());
        assert_eq!(f[at - 1], 0xE3);
        assert_eq!(mid_cut(b"data: abcd\n\n"), 6);
        assert_eq!(mid_cut(b"\xC3\xA9"), 1);
    }

    #[test]
    fn merges_headers() {
        let mut h = vec![
            ("content-type".to_string(), "a".to_string()),
            ("x".to_string(), "1".to_string()),
        ];
        merge_headers(&mut h, &[("Content-Type".into(), "b".into())]);
        assert_eq!(
            h,
            vec![
                ("x".to_string(), "1".to_string()),
                ("Content-Type".to_string(), "b".to_string())
            ]
        );
    }

    #[test]
    fn list_source_yields_frames_in_order() {
        let frames: Arc<[Bytes]> = vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")].into();
        let mut s = ListSource::new(frames);
        let mut out = Vec::new();
        assert!(s.next_frame(&mut out));
        assert!(s.next_frame(&mut out));
        assert!(!s.next_frame(&mut out));
        assert_eq!(out, b"ab");
    }
}
