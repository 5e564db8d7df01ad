//! Content chunks are rendered from templates prepared once per response (a
//! JSON text split around the word, and for the Responses API around the
//! sequence number), so that a 200,000-chunk stream costs a few copies per
//! chunk and no JSON serialization.

use std::io::Write as _;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::mock::scenario::{data_frame, FrameSource};

/// The default reply, split into word tokens.
pub const DEFAULT_TEXT: &str = "Hello! This is the sserpent mock server.";

/// The word tokens of the reply, JSON-escaped (without quotes).
pub struct Words {
    tokens: Vec<String>,
    escaped: Vec<Vec<u8>>,
    /// The first token with a leading space, for when the words wrap around.
    wrap_escaped: Vec<u8>,
}

impl Words {
    pub fn new(text: &str) -> Self {
        let mut tokens: Vec<String> = Vec::new();
        for (i, w) in text.split(' ').enumerate() {
            tokens.push(if i == 0 {
                w.to_owned()
            } else {
                format!(" {w}")
            });
        }
        let esc = |s: &str| {
            let q = serde_json::to_string(s).expect("strings serialize");
            q.as_bytes()[1..q.len() - 1].to_vec()
        };
        let escaped = tokens.iter().map(|t| esc(t)).collect();
        let wrap_escaped = esc(&format!(" {}", tokens[0]));
        Words {
            tokens,
            escaped,
            wrap_escaped,
        }
    }

    pub fn default_count() -> usize {
        DEFAULT_TEXT.split(' ').count()
    }

    /// Word `i` (cycling), escaped for a JSON string.
    pub fn escaped(&self, i: usize) -> &[u8] {
        let k = i % self.tokens.len();
        if k == 0 && i > 0 {
            &self.wrap_escaped
        } else {
            &self.escaped[k]
        }
    }

    fn token(&self, i: usize) -> String {
        let k = i % self.tokens.len();
        if k == 0 && i > 0 {
            format!(" {}", self.tokens[0])
        } else {
            self.tokens[k].clone()
        }
    }

    /// The text of `n` chunks joined.
    pub fn text(&self, n: usize) -> String {
        (0..n).map(|i| self.token(i)).collect()
    }
}

/// Placeholders a template is split at. They are inserted raw, never inside
/// escaped text, so they cannot collide with content.
pub(super) const WORD: &str = "\u{0}W\u{0}";
pub(super) const SEQ: &str = "\u{0}S\u{0}";

enum Part {
    Lit(Vec<u8>),
    Word,
    Seq,
}

/// One content chunk, ready to render: `prefix` + JSON object with the word
/// (and sequence number) substituted, `"x_sent_ns"` optionally added as the
/// last field, then the blank line.
pub struct Template {
    parts: Vec<Part>,
    /// What closes each rendered chunk: the object's brace and the blank line
    /// (SSE; Gemini's with CRLF), or the brace and a newline (NDJSON).
    end: &'static [u8],
}

impl Template {
    /// `json` is an object containing [`WORD`] (inside a string) and perhaps [`SEQ`].
    pub(super) fn new(prefix: &str, json: &str) -> Self {
        let body = json.strip_suffix('}').expect("a JSON object");
        let mut parts = Vec::new();
        let mut lit = prefix.as_bytes().to_vec();
        let mut rest = body;
        while let Some(at) = rest.find('\u{0}') {
            lit.extend_from_slice(&rest.as_bytes()[..at]);
            parts.push(Part::Lit(std::mem::take(&mut lit)));
            let ph = &rest[at..at + 3];
            parts.push(if ph == WORD { Part::Word } else { Part::Seq });
            rest = &rest[at + 3..];
        }
        lit.extend_from_slice(rest.as_bytes());
        parts.push(Part::Lit(lit));
        Template {
            parts,
            end: b"}\n\n",
        }
    }

    /// An NDJSON line: `json` and a newline (no prefix, no blank line).
    pub(super) fn line(json: &str) -> Self {
        Template {
            end: b"}\n",
            ..Template::new("", json)
        }
    }

    /// Lines end in CRLF (Gemini's streams).
    pub(super) fn crlf(mut self) -> Self {
        self.end = b"}\r\n\r\n";
        self
    }

    fn render(&self, out: &mut Vec<u8>, word: &[u8], seq: u64, timestamp: bool) {
        for p in &self.parts {
            match p {
                Part::Lit(b) => out.extend_from_slice(b),
                Part::Word => out.extend_from_slice(word),
                Part::Seq => {
                    let _ = write!(out, "{seq}");
                }
            }
        }
        if timestamp {
            let ns = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let _ = write!(out, ",\"x_sent_ns\":{ns}");
        }
        out.extend_from_slice(self.end);
    }
}

/// A generated stream: fixed frames, content chunks, fixed frames.
pub struct GenSource {
    pub(super) pre: Vec<Bytes>,
    /// One template per choice; step `k` renders word `k / len` with
    /// template `k % len`.
    pub(super) templates: Vec<Template>,
    pub(super) words: Arc<Words>,
    pub(super) steps: usize,
    pub(super) seq_base: u64,
    pub(super) timestamps: bool,
    pub(super) post: Vec<Bytes>,
    pub(super) next: usize,
}

impl FrameSource for GenSource {
    fn next_frame(&mut self, out: &mut Vec<u8>) -> bool {
        let i = self.next;
        self.next += 1;
        if let Some(f) = self.pre.get(i) {
            out.extend_from_slice(f);
            return true;
        }
        let k = i - self.pre.len();
        if k < self.steps {
            let n = self.templates.len();
            self.templates[k % n].render(
                out,
                self.words.escaped(k / n),
                self.seq_base + k as u64,
                self.timestamps,
            );
            return true;
        }
        match self.post.get(k - self.steps) {
            Some(f) => {
                out.extend_from_slice(f);
                true
            }
            None => {
                self.next -= 1;
                false
            }
        }
    }
}

pub(super) fn frame(s: String) -> Bytes {
    data_frame(&s)
}

pub(super) fn named(event: &str, json: String) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {json}\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::generate::default_reply;
    use crate::mock::generate::testing::{events, json, request};

    #[test]
    fn words_cycle_with_spaces() {
        let w = Words::new(DEFAULT_TEXT);
        assert_eq!(w.text(Words::default_count()), DEFAULT_TEXT);
        assert_eq!(w.text(9), format!("{DEFAULT_TEXT} Hello! This"));
        assert_eq!(w.escaped(0), b"Hello!");
        assert_eq!(w.escaped(7), b" Hello!");
        let q = Words::new("a\"b c");
        assert_eq!(q.escaped(0), b"a\\\"b");
    }

    #[test]
    fn timestamps_and_many_chunks() {
        let body = json(r#"{"stream":true}"#);
        let mut req = request("POST", "/v1/chat/completions", &body);
        req.chunks = 1000;
        req.timestamps = true;
        let (ev, raw) = events(default_reply(&req));
        assert_eq!(ev.len(), 1000 + 3);
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        for (_, d) in &ev[1..1001] {
            let v = json(d);
            let ts = v["x_sent_ns"].as_u64().unwrap();
            assert!(ts <= before && ts > before - 60_000_000_000);
        }
        assert!(json(&ev[0].1).get("x_sent_ns").is_none());
        assert!(raw.ends_with(b"data: [DONE]\n\n"));
    }
}
