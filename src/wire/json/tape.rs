//! The validating parser behind `Doc::tape`: one pass over the text, one node per value.
//!
//! It runs once per chunk of every stream, so the common case is kept short: servers send
//! compact JSON, so whitespace is looked for only where a byte at or below `' '` shows up,
//! a key is expected right after `{` and `,` in an object, and no allocation is made but
//! the nodes' `Vec`. Open containers are chained through their own nodes (see `Open`)
//! instead of through a stack of their own.

use super::{hex_val, JsonError, Kind, Node, MAX_DEPTH};

/// `cur` when no container is open.
const NONE: u32 = u32::MAX;

/// The innermost open container. Its node's `next` holds the enclosing container's index
/// until the closing bracket stores the real value (no open container reads its `next`),
/// and an enclosing container's `len` holds its element count while a child is open: the
/// nesting needs no memory of its own, however deep.
struct Open {
    cur: u32,
    in_obj: bool,
    count: u32,
    depth: usize,
}

struct Parser<'a> {
    s: &'a [u8],
    nodes: Vec<Node>,
}

/// The byte at `i`, or 0 past the end. A 0 byte is never valid outside a string, so every
/// decision taken on it is an error; only the error paths then ask which of the two it was.
#[inline(always)]
fn byte(s: &[u8], i: usize) -> u8 {
    s.get(i).copied().unwrap_or(0)
}

#[inline]
fn skip_ws(s: &[u8], mut i: usize) -> usize {
    while matches!(byte(s, i), b' ' | b'\n' | b'\r' | b'\t') {
        i += 1;
    }
    i
}

/// `skip_ws` reached only when the byte at `i` can be whitespace (or the end): compact
/// JSON, the servers' usual output, then costs one comparison per token.
#[inline(always)]
fn ws(s: &[u8], i: usize) -> (usize, u8) {
    let c = byte(s, i);
    if c > b' ' {
        return (i, c);
    }
    let i = skip_ws(s, i);
    (i, byte(s, i))
}

#[cold]
fn err(position: usize, message: &'static str) -> JsonError {
    JsonError { position, message }
}

pub(super) fn parse_tape(s: &[u8]) -> Result<Vec<Node>, JsonError> {
    let mut p = Parser {
        s,
        // Typical chunks take one node per 10-11 bytes: this never grows for them.
        nodes: Vec::with_capacity(s.len() / 8 + 4),
    };
    let i = p.run()?;
    let i = skip_ws(s, i);
    if i != s.len() {
        return Err(err(i, "extra data after the JSON value"));
    }
    Ok(p.nodes)
}

const SPLAT: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Nonzero when some byte of `w` is a quote, a backslash or below 0x20; its lowest
/// flagged byte is the first such byte. (A subtraction borrows only out of a byte that
/// is itself flagged, so the bytes above the first may be flagged wrongly, never below;
/// `!w` drops the bytes from 0x80 up, which none of the three tests may flag.)
#[inline(always)]
fn special_bytes(w: u64) -> u64 {
    let quote = (w ^ (SPLAT * b'"' as u64)).wrapping_sub(SPLAT);
    let backslash = (w ^ (SPLAT * b'\\' as u64)).wrapping_sub(SPLAT);
    let below_space = w.wrapping_sub(SPLAT * 0x20);
    (quote | backslash | below_space) & !w & HIGH
}

/// The offset of the first quote, backslash or control byte at or after `i`, or
/// `s.len()`: the scan of a string's body, whose ordinary bytes go many at a time.
#[inline(always)]
fn scan(s: &[u8], mut i: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        while i + 16 <= s.len() {
            // SAFETY: SSE2 is part of x86_64 itself (no detection needed), and
            // `i + 16 <= s.len()`, so the 16 bytes read are inside `s` (`loadu`
            // needs no alignment).
            let mask = unsafe {
                let v = _mm_loadu_si128(s.as_ptr().add(i).cast());
                let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
                let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
                // The bytes up to 0x1F, unsigned: those that `min` leaves unchanged.
                let control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1F)), v);
                _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control)) as u32
            };
            if mask != 0 {
                return i + mask.trailing_zeros() as usize;
            }
            i += 16;
        }
    }
    while let Some(w) = s.get(i..i + 8) {
        let mask = special_bytes(u64::from_le_bytes(w.try_into().unwrap()));
        if mask != 0 {
            return i + (mask.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < s.len() && !matches!(s[i], b'"' | b'\\' | 0..=0x1F) {
        i += 1;
    }
    i
}

impl Parser<'_> {
    #[inline(always)]
    fn push(&mut self, kind: Kind, escaped: bool, start: usize, end: usize) {
        let next = self.nodes.len() as u32 + 1;
        self.nodes.push(Node {
            kind,
            escaped,
            start: start as u32,
            end: end as u32,
            next,
            len: 0,
        });
    }

    /// Parses the root value; returns the offset just past it.
    fn run(&mut self) -> Result<usize, JsonError> {
        let s = self.s;
        let mut i = 0;
        let mut open = Open {
            cur: NONE,
            in_obj: false,
            count: 0,
            depth: 0,
        };
        'value: loop {
            let (at, c) = ws(s, i);
            i = at;
            match c {
                b'"' => i = self.string(i)?,
                b'{' | b'[' => match self.open(i, c, &mut open)? {
                    (at, true) => {
                        i = at;
                        continue 'value;
                    }
                    (at, false) => i = at,
                },
                b't' => i = self.literal(i, b"true", Kind::True)?,
                b'f' => i = self.literal(i, b"false", Kind::False)?,
                b'n' => i = self.literal(i, b"null", Kind::Null)?,
                b'-' | b'0'..=b'9' => i = self.number(i)?,
                _ => return Err(self.no_value(i)),
            }
            // A value is complete: close containers or move to the next element.
            loop {
                if open.cur == NONE {
                    return Ok(i);
                }
                open.count += 1;
                let (at, c) = ws(s, i);
                i = at;
                if c == b',' {
                    i += 1;
                    if open.in_obj {
                        i = self.key(i)?;
                    }
                    continue 'value;
                }
                if c != if open.in_obj { b'}' } else { b']' } {
                    return Err(err(
                        i,
                        if open.in_obj {
                            "expecting ',' or '}'"
                        } else {
                            "expecting ',' or ']'"
                        },
                    ));
                }
                i += 1;
                self.close(i, &mut open);
            }
        }
    }

    #[cold]
    fn no_value(&self, i: usize) -> JsonError {
        err(
            i,
            if i < self.s.len() {
                "expecting value"
            } else if self.nodes.is_empty() {
                "expecting value, found end of input"
            } else {
                "unexpected end of input"
            },
        )
    }

    /// The container opening with `c` at `i`. Returns the offset to go on from and whether
    /// the container is now open (false: it was empty and is complete), the first key
    /// of an object already read.
    #[inline(always)]
    fn open(&mut self, i: usize, c: u8, open: &mut Open) -> Result<(usize, bool), JsonError> {
        let is_obj = c == b'{';
        let kind = if is_obj { Kind::Object } else { Kind::Array };
        let (at, next) = ws(self.s, i + 1);
        if next == if is_obj { b'}' } else { b']' } {
            self.push(kind, false, i, at + 1);
            return Ok((at + 1, false));
        }
        if open.depth >= MAX_DEPTH {
            return Err(err(at, "JSON nested too deeply"));
        }
        open.depth += 1;
        let idx = self.nodes.len() as u32;
        self.nodes.push(Node {
            kind,
            escaped: false,
            start: i as u32,
            end: i as u32,
            next: open.cur,
            len: 0,
        });
        if open.cur != NONE {
            self.nodes[open.cur as usize].len = open.count;
        }
        *open = Open {
            cur: idx,
            in_obj: is_obj,
            count: 0,
            depth: open.depth,
        };
        let at = if is_obj { self.key(at)? } else { at };
        Ok((at, true))
    }

    /// Completes the innermost container, whose closing bracket ends just before `end`,
    /// and makes the enclosing one current again.
    #[inline(always)]
    fn close(&mut self, end: usize, open: &mut Open) {
        let next = self.nodes.len() as u32;
        let n = &mut self.nodes[open.cur as usize];
        let parent = n.next;
        n.len = open.count;
        n.end = end as u32;
        n.next = next;
        open.depth -= 1;
        open.cur = parent;
        if parent != NONE {
            let p = &self.nodes[parent as usize];
            open.count = p.len;
            open.in_obj = p.kind == Kind::Object;
        }
    }

    /// An object's key and the `:` after it, from `i` (whitespace allowed before either);
    /// returns the offset just past the `:`.
    #[inline(always)]
    fn key(&mut self, i: usize) -> Result<usize, JsonError> {
        let s = self.s;
        let (i, c) = ws(s, i);
        if c != b'"' {
            return Err(err(i, "expecting property name enclosed in double quotes"));
        }
        let (i, c) = ws(s, self.string(i)?);
        if c != b':' {
            return Err(err(i, "expecting ':' delimiter"));
        }
        Ok(i + 1)
    }

    #[inline]
    fn literal<const N: usize>(
        &mut self,
        i: usize,
        word: &[u8; N],
        kind: Kind,
    ) -> Result<usize, JsonError> {
        if self.s.get(i..i + N) != Some(word.as_slice()) {
            return Err(err(i, "expecting value"));
        }
        self.push(kind, false, i, i + N);
        Ok(i + N)
    }

    #[inline(always)]
    fn number(&mut self, start: usize) -> Result<usize, JsonError> {
        let s = self.s;
        let digits = |mut i: usize| {
            while byte(s, i).is_ascii_digit() {
                i += 1;
            }
            i
        };
        let mut i = start + (byte(s, start) == b'-') as usize;
        match byte(s, i) {
            b'0' => i += 1,
            b'1'..=b'9' => i = digits(i + 1),
            _ => return Err(err(i, "expecting value")),
        }
        let mut float = false;
        if byte(s, i) == b'.' {
            float = true;
            i += 1;
            if !byte(s, i).is_ascii_digit() {
                return Err(err(i, "expecting digits after the decimal point"));
            }
            i = digits(i + 1);
        }
        if byte(s, i) | 0x20 == b'e' {
            float = true;
            i += 1;
            i += matches!(byte(s, i), b'+' | b'-') as usize;
            if !byte(s, i).is_ascii_digit() {
                return Err(err(i, "expecting digits in the exponent"));
            }
            i = digits(i + 1);
        }
        self.push(if float { Kind::Float } else { Kind::Int }, false, start, i);
        Ok(i)
    }

    /// The string whose opening quote is at `open`; returns the offset past its closing quote.
    #[inline(always)]
    fn string(&mut self, open: usize) -> Result<usize, JsonError> {
        let s = self.s;
        let start = open + 1;
        let mut i = start;
        let mut escaped = false;
        loop {
            i = scan(s, i);
            let Some(&c) = s.get(i) else {
                return Err(err(open, "unterminated string"));
            };
            match c {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    i = escape(s, i)?;
                }
                // `scan` stops at nothing else.
                _ => return Err(err(i, "invalid control character in string")),
            }
        }
        self.push(Kind::Str, escaped, start, i);
        Ok(i + 1)
    }
}

/// Validates the escape whose backslash is at `i`; returns the offset just past it.
#[inline]
fn escape(s: &[u8], i: usize) -> Result<usize, JsonError> {
    match byte(s, i + 1) {
        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Ok(i + 2),
        b'u' => match s.get(i + 2..i + 6) {
            Some(hex) if hex.iter().all(|&h| hex_val(h).is_some()) => Ok(i + 6),
            _ => Err(err(i, "invalid \\uXXXX escape")),
        },
        _ => Err(err(i, "invalid \\escape")),
    }
}
