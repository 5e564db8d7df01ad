//! The tape parser as it was before `tape.rs` (commit f629bc8), kept verbatim as the
//! reference that `tape_matches_reference_parser` compares the current one against:
//! the same documents accepted, the same nodes, the same error message at the same byte.

use super::super::{hex_val, JsonError, Kind, Node, MAX_DEPTH};

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    nodes: Vec<Node>,
    /// Open containers: (node index, is an object, elements so far).
    stack: Vec<(u32, bool, u32)>,
}

pub(super) fn parse_tape(s: &[u8]) -> Result<Vec<Node>, JsonError> {
    let mut p = Parser {
        s,
        i: 0,
        nodes: Vec::with_capacity(s.len() / 8 + 4),
        stack: Vec::new(),
    };
    p.run()?;
    p.skip_ws();
    if p.i != s.len() {
        return Err(p.err("extra data after the JSON value"));
    }
    Ok(p.nodes)
}

const SPLAT: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Nonzero when some byte of `w` is a quote, a backslash or below 0x20.
#[inline]
fn special_bytes(w: u64) -> u64 {
    let quote = w ^ (SPLAT * b'"' as u64);
    let backslash = w ^ (SPLAT * b'\\' as u64);
    let has_zero = |v: u64| v.wrapping_sub(SPLAT) & !v & HIGH;
    let below_space = w.wrapping_sub(SPLAT * 0x20) & !w & HIGH;
    has_zero(quote) | has_zero(backslash) | below_space
}

impl Parser<'_> {
    #[inline]
    fn err(&self, message: &'static str) -> JsonError {
        JsonError {
            position: self.i,
            message,
        }
    }

    #[inline(always)]
    fn skip_ws(&mut self) {
        while let Some(&c) = self.s.get(self.i) {
            if matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    #[inline(always)]
    fn push(&mut self, kind: Kind, start: usize, end: usize) -> u32 {
        let idx = self.nodes.len() as u32;
        self.nodes.push(Node {
            kind,
            escaped: false,
            start: start as u32,
            end: end as u32,
            next: idx + 1,
            len: 0,
        });
        idx
    }

    fn run(&mut self) -> Result<(), JsonError> {
        'value: loop {
            self.skip_ws();
            let Some(c) = self.peek() else {
                return Err(self.err(if self.nodes.is_empty() {
                    "expecting value, found end of input"
                } else {
                    "unexpected end of input"
                }));
            };
            match c {
                b'{' | b'[' => {
                    let kind = if c == b'{' { Kind::Object } else { Kind::Array };
                    let idx = self.push(kind, self.i, self.i);
                    self.i += 1;
                    self.skip_ws();
                    let close = if c == b'{' { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.i += 1;
                        self.nodes[idx as usize].end = self.i as u32;
                    } else {
                        if self.stack.len() >= MAX_DEPTH {
                            return Err(self.err("JSON nested too deeply"));
                        }
                        self.stack.push((idx, kind == Kind::Object, 0));
                        if kind == Kind::Object {
                            self.key()?;
                        }
                        continue 'value;
                    }
                }
                b'"' => {
                    self.string()?;
                }
                b't' => self.literal(b"true", Kind::True)?,
                b'f' => self.literal(b"false", Kind::False)?,
                b'n' => self.literal(b"null", Kind::Null)?,
                b'-' | b'0'..=b'9' => self.number()?,
                _ => return Err(self.err("expecting value")),
            }
            // A value is complete: close containers or move to the next element.
            loop {
                let Some(top) = self.stack.last_mut() else {
                    return Ok(());
                };
                let (idx, is_obj) = (top.0, top.1);
                top.2 += 1;
                self.skip_ws();
                match self.peek() {
                    Some(b',') => {
                        self.i += 1;
                        if is_obj {
                            self.skip_ws();
                            self.key()?;
                        }
                        continue 'value;
                    }
                    Some(b'}') if is_obj => {}
                    Some(b']') if !is_obj => {}
                    _ => {
                        return Err(self.err(if is_obj {
                            "expecting ',' or '}'"
                        } else {
                            "expecting ',' or ']'"
                        }))
                    }
                }
                self.i += 1;
                let (_, _, count) = self.stack.pop().expect("an open container");
                let next = self.nodes.len() as u32;
                let n = &mut self.nodes[idx as usize];
                n.len = count;
                n.end = self.i as u32;
                n.next = next;
            }
        }
    }

    #[inline(always)]
    fn key(&mut self) -> Result<(), JsonError> {
        if self.peek() != Some(b'"') {
            return Err(self.err("expecting property name enclosed in double quotes"));
        }
        self.string()?;
        self.skip_ws();
        if self.peek() != Some(b':') {
            return Err(self.err("expecting ':' delimiter"));
        }
        self.i += 1;
        Ok(())
    }

    fn literal(&mut self, word: &[u8], kind: Kind) -> Result<(), JsonError> {
        if self.s[self.i..].starts_with(word) {
            self.push(kind, self.i, self.i + word.len());
            self.i += word.len();
            Ok(())
        } else {
            Err(self.err("expecting value"))
        }
    }

    #[inline(always)]
    fn number(&mut self) -> Result<(), JsonError> {
        let s = self.s;
        let start = self.i;
        let mut i = start;
        let mut float = false;
        if s.get(i) == Some(&b'-') {
            i += 1;
        }
        match s.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                while matches!(s.get(i), Some(b'0'..=b'9')) {
                    i += 1;
                }
            }
            _ => {
                self.i = i;
                return Err(self.err("expecting value"));
            }
        }
        if s.get(i) == Some(&b'.') {
            float = true;
            i += 1;
            if !matches!(s.get(i), Some(b'0'..=b'9')) {
                self.i = i;
                return Err(self.err("expecting digits after the decimal point"));
            }
            while matches!(s.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
        }
        if matches!(s.get(i), Some(b'e' | b'E')) {
            float = true;
            i += 1;
            if matches!(s.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !matches!(s.get(i), Some(b'0'..=b'9')) {
                self.i = i;
                return Err(self.err("expecting digits in the exponent"));
            }
            while matches!(s.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
        }
        self.push(if float { Kind::Float } else { Kind::Int }, start, i);
        self.i = i;
        Ok(())
    }

    #[inline(always)]
    fn string(&mut self) -> Result<(), JsonError> {
        let s = self.s;
        let start = self.i + 1;
        let mut i = start;
        let mut escaped = false;
        loop {
            // Skip eight ordinary bytes at a time.
            // The lowest flagged byte of the mask is exact, so jump straight to it.
            while i + 8 <= s.len() {
                let w = u64::from_le_bytes(s[i..i + 8].try_into().unwrap());
                let mask = special_bytes(w);
                if mask != 0 {
                    i += (mask.trailing_zeros() / 8) as usize;
                    break;
                }
                i += 8;
            }
            let Some(&c) = s.get(i) else {
                self.i = start - 1;
                return Err(self.err("unterminated string"));
            };
            match c {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    match s.get(i + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                        Some(b'u') => {
                            if s.len() < i + 6
                                || !s[i + 2..i + 6].iter().all(|&h| hex_val(h).is_some())
                            {
                                self.i = i;
                                return Err(self.err("invalid \\uXXXX escape"));
                            }
                            i += 6;
                        }
                        _ => {
                            self.i = i;
                            return Err(self.err("invalid \\escape"));
                        }
                    }
                }
                0..=0x1F => {
                    self.i = i;
                    return Err(self.err("invalid control character in string"));
                }
                _ => i += 1,
            }
        }
        let idx = self.push(Kind::Str, start, i);
        self.nodes[idx as usize].escaped = escaped;
        self.i = i + 1;
        Ok(())
    }
}
