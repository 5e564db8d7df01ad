//! Newline-delimited JSON framing (`application/x-ndjson`, Ollama's native
//! API): one JSON document per line.
//!
//! Lines end with LF; a CR before it is dropped (CRLF tolerant); lines of
//! whitespace only are skipped; a UTF-8 BOM at the very start is dropped.
//! Each line comes out as an [`Event`] of the default type, its data the
//! line, so the pipeline reads NDJSON and SSE alike. The same limit as the
//! SSE decoder's bounds the one unterminated line held: past it the line is
//! reported ([`SseError::NdjsonLineTooLong`]) and its rest skipped.

use std::sync::Arc;

use memchr::memchr;

use crate::wire::sse::{Event, Output, SseError};

const BOM: &[u8; 3] = b"\xEF\xBB\xBF";

#[derive(Debug)]
pub struct LineDecoder {
    max_line_size: usize,
    /// Bytes of a line whose LF has not arrived yet.
    line: Vec<u8>,
    /// The current line grew past the limit: its remaining bytes are skipped.
    overflow: bool,
    /// The first line went by (a BOM is dropped from it only).
    past_first: bool,
    /// Lines keep their bytes (terminator included) in `Event::raw`.
    keep_raw: bool,
    empty_id: Arc<str>,
}

impl LineDecoder {
    pub fn new(max_line_size: usize) -> Self {
        LineDecoder {
            max_line_size: max_line_size.max(1),
            line: Vec::new(),
            overflow: false,
            past_first: false,
            keep_raw: false,
            empty_id: Arc::from(""),
        }
    }

    /// Each line's event carries the bytes it came in as, its LF included.
    pub fn keep_raw(&mut self) {
        self.keep_raw = true;
    }

    /// Bytes held now (the unterminated line): within the limit after every feed.
    pub fn buffered(&self) -> usize {
        self.line.len()
    }

    /// True when bytes of an unterminated, non-blank line are held.
    pub fn has_pending_line(&self) -> bool {
        self.overflow || !self.line.trim_ascii().is_empty()
    }

    /// The body ended: what is held is dropped (the pipeline reports it).
    pub fn close(&mut self) {
        self.line = Vec::new();
        self.overflow = false;
    }

    pub fn feed(&mut self, mut bytes: &[u8], out: &mut Output) {
        while !bytes.is_empty() {
            match memchr(b'\n', bytes) {
                Some(i) => {
                    let (piece, rest) = bytes.split_at(i + 1);
                    bytes = rest;
                    if self.overflow {
                        self.overflow = false;
                        self.past_first = true;
                        continue;
                    }
                    if self.line.len() + i > self.max_line_size {
                        self.line.clear();
                        self.past_first = true;
                        out.push(Err(SseError::NdjsonLineTooLong {
                            limit: self.max_line_size,
                        }));
                        continue;
                    }
                    if self.line.is_empty() {
                        self.dispatch(piece, out);
                    } else {
                        let mut line = std::mem::take(&mut self.line);
                        line.extend_from_slice(piece);
                        self.dispatch(&line, out);
                        if line.capacity() <= 64 * 1024 {
                            line.clear();
                            self.line = line;
                        }
                    }
                }
                None => {
                    if self.overflow {
                        return;
                    }
                    if self.line.len() + bytes.len() > self.max_line_size {
                        self.line = Vec::new();
                        self.overflow = true;
                        out.push(Err(SseError::NdjsonLineTooLong {
                            limit: self.max_line_size,
                        }));
                        return;
                    }
                    self.line.extend_from_slice(bytes);
                    return;
                }
            }
        }
    }

    /// One whole line, its LF included.
    fn dispatch(&mut self, with_lf: &[u8], out: &mut Output) {
        let mut line = &with_lf[..with_lf.len() - 1];
        if !std::mem::replace(&mut self.past_first, true) {
            line = line.strip_prefix(BOM).unwrap_or(line);
        }
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        if line.trim_ascii().is_empty() {
            return;
        }
        let data = match std::str::from_utf8(line) {
            Ok(s) => s.to_owned(),
            Err(_) => String::from_utf8_lossy(line).into_owned(),
        };
        out.push(Ok(Event {
            event: None,
            data,
            id: self.empty_id.clone(),
            raw: self.keep_raw.then(|| with_lf.into()),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(limit: usize, pieces: &[&[u8]]) -> Vec<Result<String, String>> {
        let mut d = LineDecoder::new(limit);
        let mut out = Output::new();
        for p in pieces {
            d.feed(p, &mut out);
            assert!(d.buffered() <= limit);
        }
        out.into_iter()
            .map(|r| r.map(|e| e.data).map_err(|e| e.to_string()))
            .collect()
    }

    #[test]
    fn splits_lines_crlf_blank_and_bom() {
        let want: Vec<Result<String, String>> =
            vec![Ok("{\"a\":1}".into()), Ok("{\"b\":2}".into())];
        assert_eq!(
            lines(64, &[b"\xEF\xBB\xBF{\"a\":1}\r\n\n \r\n{\"b\":2}\n"]),
            want
        );
        // Every split point, the BOM's included.
        let body = b"\xEF\xBB\xBF{\"a\":1}\r\n\n \r\n{\"b\":2}\n";
        for i in 0..body.len() {
            for j in i..body.len() {
                assert_eq!(
                    lines(64, &[&body[..i], &body[i..j], &body[j..]]),
                    want,
                    "{i} {j}"
                );
            }
        }
    }

    #[test]
    fn a_line_over_the_limit_is_reported_once_and_skipped() {
        let msg = "NDJSON line longer than max_event_size (8 bytes); the line was dropped";
        assert_eq!(
            lines(8, &[b"{\"a\":1}\n0123456789", b"abc\n{\"b\":2}\n"]),
            vec![
                Ok("{\"a\":1}".into()),
                Err(msg.into()),
                Ok("{\"b\":2}".into())
            ]
        );
        assert_eq!(
            lines(8, &[b"0123456789\n{}\n"]),
            vec![Err(msg.into()), Ok("{}".into())]
        );
        // Exactly at the limit is fine.
        assert_eq!(lines(8, &[b"01234567\n"]), vec![Ok("01234567".into())]);
    }

    #[test]
    fn pending_and_raw() {
        let mut d = LineDecoder::new(64);
        d.keep_raw();
        let mut out = Output::new();
        d.feed(b"{\"a\":1}\r\n{\"b\"", &mut out);
        assert!(d.has_pending_line());
        assert_eq!(
            out[0].as_ref().unwrap().raw.as_deref(),
            Some(&b"{\"a\":1}\r\n"[..])
        );
        d.close();
        assert!(!d.has_pending_line());
        let mut d = LineDecoder::new(64);
        d.feed(b"{}\n  ", &mut out);
        assert!(!d.has_pending_line());
    }
}
