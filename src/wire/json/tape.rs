//! The validating parser behind `Doc::tape`: one pass over the text, one node per value.
//!
//! It runs once per chunk of every stream, so the common case is kept short: servers send
//! compact JSON, so whitespace is looked for only where a byte at or below `' '` shows up,
//! a key is expected right after `{` and `,` in an object, and no allocation is made but
//! the nodes' `Vec`. It descends recursively, one call per non-empty container: each loop
//! then knows its container's kind and keeps its element count in a register (measured:
//! 10% fewer instructions a chunk than one loop over a chain of open containers). The
//! depth is bounded by `MAX_DEPTH`: an optimized frame is about 200 bytes, so 512 levels
//! take some 100 KiB of stack, no more than the conversions that later walk the same depth.
//!
//! `inline(always)` is for optimized builds only (`cfg_attr(not(debug_assertions), ...)`):
//! unoptimized, everything forced inline into `object` made its frame 5 KiB, and 512
//! levels of that overflow a 2 MiB thread stack (cargo test's, tokio's).

use super::{hex_val, JsonError, Kind, Node, MAX_DEPTH};

/// What follows an opening bracket (see `Parser::open`).
enum Opened {
    /// The container is empty, its node complete: the offset past its closing bracket.
    Empty(usize),
    /// The offset of the first element, and the index of the container's node.
    First(usize, usize),
}

/// The nodes so far. The text goes to every method as an argument of its own, not as a
/// field: a field would be reloaded after every node written (the compiler cannot tell
/// the nodes' buffer from the parser's memory), an argument stays in its registers.
struct Parser {
    nodes: Vec<Node>,
}

/// The byte at `i`, or 0 past the end. A 0 byte is never valid outside a string, so every
/// decision taken on it is an error; only the error paths then ask which of the two it was.
#[cfg_attr(not(debug_assertions), inline(always))]
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
#[cfg_attr(not(debug_assertions), inline(always))]
fn ws(s: &[u8], i: usize) -> (usize, u8) {
    let c = byte(s, i);
    if c > b' ' {
        return (i, c);
    }
    let i = skip_ws(s, i);
    (i, byte(s, i))
}

/// Whether the byte at `i`, after any whitespace, is `want`, and its offset: the byte that
/// compact JSON has right there is tested before any whitespace is looked for.
#[cfg_attr(not(debug_assertions), inline(always))]
fn at_ws(s: &[u8], i: usize, want: u8) -> (usize, bool) {
    if byte(s, i) == want {
        return (i, true);
    }
    let i = skip_ws(s, i);
    (i, byte(s, i) == want)
}

#[cold]
#[inline(never)]
fn err(position: usize, message: &'static str) -> JsonError {
    JsonError { position, message }
}

pub(super) fn parse_tape(s: &[u8]) -> Result<Vec<Node>, JsonError> {
    let mut p = Parser {
        // Typical chunks take one node per 10-11 bytes: this never grows for them.
        nodes: Vec::with_capacity(s.len() / 8 + 4),
    };
    let (i, c) = ws(s, 0);
    let i = p.value(s, i, c, 0)?;
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
#[cfg_attr(not(debug_assertions), inline(always))]
fn special_bytes(w: u64) -> u64 {
    let quote = (w ^ (SPLAT * b'"' as u64)).wrapping_sub(SPLAT);
    let backslash = (w ^ (SPLAT * b'\\' as u64)).wrapping_sub(SPLAT);
    let below_space = w.wrapping_sub(SPLAT * 0x20);
    (quote | backslash | below_space) & !w & HIGH
}

/// The offset of the first quote, backslash or control byte at or after `i`, or
/// `s.len()`, and that byte (0 at the end): the scan of a string's body, whose ordinary
/// bytes go many at a time. The byte comes from where the scan found it, so that the
/// caller's test for the closing quote needs no bounds check (measured: 2 instructions
/// a string).
#[cfg_attr(not(debug_assertions), inline(always))]
fn scan(s: &[u8], mut i: usize) -> (usize, u8) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // `i < s.len() - 15` rather than `i + 16 <= s.len()`: the bound is computed once,
        // and the loop then runs on one comparison and one addition (measured: 2
        // instructions fewer every 16 bytes).
        let bound = s.len().saturating_sub(15);
        while i < bound {
            // SAFETY: SSE2 is part of x86_64 itself (no detection needed), and
            // `i < s.len() - 15` (`bound` is 0 when `s` is shorter than 16 bytes), so
            // `i + 16 <= s.len()`: the 16 bytes read are inside `s` (`loadu` needs no
            // alignment).
            let mask = unsafe {
                let v = _mm_loadu_si128(s.as_ptr().add(i).cast());
                // `^ 0x02` turns a quote into 0x20 and keeps the bytes below 0x20 below it:
                // those are the bytes that `min` with 0x20 leaves unchanged (unsigned).
                let x = _mm_xor_si128(v, _mm_set1_epi8(0x02));
                let quote_or_control = _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x20)), x);
                let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
                _mm_movemask_epi8(_mm_or_si128(quote_or_control, backslash)) as u32
            };
            if mask != 0 {
                let at = i + mask.trailing_zeros() as usize;
                // SAFETY: `mask` has one bit per byte of the 16 read and is not 0, so
                // `at < i + 16 <= s.len()`.
                return (at, unsafe { *s.get_unchecked(at) });
            }
            i += 16;
        }
    }
    while let Some(w) = s.get(i..i + 8) {
        let w = u64::from_le_bytes(w.try_into().unwrap());
        let mask = special_bytes(w);
        if mask != 0 {
            // The flagged byte's bit is its top bit: the byte itself is the one below.
            let bit = mask.trailing_zeros() & !7;
            return (i + (bit / 8) as usize, (w >> bit) as u8);
        }
        i += 8;
    }
    while i < s.len() && !matches!(s[i], b'"' | b'\\' | 0..=0x1F) {
        i += 1;
    }
    (i, byte(s, i))
}

impl Parser {
    #[cfg_attr(not(debug_assertions), inline(always))]
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

    /// The value whose first byte `c` is at `i`, inside `depth` open containers; returns
    /// the offset just past it.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn value(&mut self, s: &[u8], i: usize, c: u8, depth: usize) -> Result<usize, JsonError> {
        // (Testing for a string before this match, as most values are, measured no
        // better: the compiler folds it into the match.)
        match c {
            b'"' => self.string(s, i),
            b'{' => self.object(s, i, depth),
            b'[' => self.array(s, i, depth),
            b't' => self.literal(s, i, b"true", Kind::True),
            b'f' => self.literal(s, i, b"false", Kind::False),
            b'n' => self.literal(s, i, b"null", Kind::Null),
            b'-' | b'0'..=b'9' => self.number(s, i),
            _ => Err(self.no_value(s, i)),
        }
    }

    #[cold]
    fn no_value(&self, s: &[u8], i: usize) -> JsonError {
        err(
            i,
            if i < s.len() {
                "expecting value"
            } else if self.nodes.is_empty() {
                "expecting value, found end of input"
            } else {
                "unexpected end of input"
            },
        )
    }

    /// The start of a container whose opening bracket is at `open`; its node is pushed,
    /// to be completed by `close` unless the container is empty.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn open(
        &mut self,
        s: &[u8],
        open: usize,
        kind: Kind,
        close: u8,
        depth: usize,
    ) -> Result<Opened, JsonError> {
        let (i, c) = ws(s, open + 1);
        if c == close {
            self.push(kind, false, open, i + 1);
            return Ok(Opened::Empty(i + 1));
        }
        if depth >= MAX_DEPTH {
            return Err(err(i, "JSON nested too deeply"));
        }
        let idx = self.nodes.len();
        self.push(kind, false, open, open);
        Ok(Opened::First(i, idx))
    }

    /// Completes the node of a container of `count` elements whose closing bracket ends
    /// just before `end`.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn close(&mut self, idx: usize, count: u32, end: usize) -> usize {
        let next = self.nodes.len() as u32;
        let n = &mut self.nodes[idx];
        n.len = count;
        n.end = end as u32;
        n.next = next;
        end
    }

    #[inline(never)]
    fn object(&mut self, s: &[u8], open: usize, depth: usize) -> Result<usize, JsonError> {
        let (mut i, idx) = match self.open(s, open, Kind::Object, b'}', depth)? {
            Opened::Empty(end) => return Ok(end),
            Opened::First(i, idx) => (i, idx),
        };
        let mut count = 0;
        loop {
            i = self.key(s, i)?;
            let (at, c) = ws(s, i);
            i = self.value(s, at, c, depth + 1)?;
            count += 1;
            let (at, comma) = at_ws(s, i, b',');
            if !comma {
                if byte(s, at) != b'}' {
                    return Err(err(at, "expecting ',' or '}'"));
                }
                return Ok(self.close(idx, count, at + 1));
            }
            i = at + 1;
        }
    }

    #[inline(never)]
    fn array(&mut self, s: &[u8], open: usize, depth: usize) -> Result<usize, JsonError> {
        let (mut i, idx) = match self.open(s, open, Kind::Array, b']', depth)? {
            Opened::Empty(end) => return Ok(end),
            Opened::First(i, idx) => (i, idx),
        };
        let mut count = 0;
        loop {
            let (at, c) = ws(s, i);
            i = self.value(s, at, c, depth + 1)?;
            count += 1;
            let (at, comma) = at_ws(s, i, b',');
            if !comma {
                if byte(s, at) != b']' {
                    return Err(err(at, "expecting ',' or ']'"));
                }
                return Ok(self.close(idx, count, at + 1));
            }
            i = at + 1;
        }
    }

    /// An object's key and the `:` after it, from `i` (whitespace allowed before either);
    /// returns the offset just past the `:`.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn key(&mut self, s: &[u8], i: usize) -> Result<usize, JsonError> {
        let (i, quote) = at_ws(s, i, b'"');
        if !quote {
            return Err(err(i, "expecting property name enclosed in double quotes"));
        }
        let (i, colon) = at_ws(s, self.string(s, i)?, b':');
        if !colon {
            return Err(err(i, "expecting ':' delimiter"));
        }
        Ok(i + 1)
    }

    #[inline]
    fn literal<const N: usize>(
        &mut self,
        s: &[u8],
        i: usize,
        word: &[u8; N],
        kind: Kind,
    ) -> Result<usize, JsonError> {
        if s.get(i..i + N) != Some(word.as_slice()) {
            return Err(err(i, "expecting value"));
        }
        self.push(kind, false, i, i + N);
        Ok(i + N)
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    fn number(&mut self, s: &[u8], start: usize) -> Result<usize, JsonError> {
        let (end, kind) = number_token(s, start)?;
        self.push(kind, false, start, end);
        Ok(end)
    }

    /// The string whose opening quote is at `open`; returns the offset past its closing quote.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn string(&mut self, s: &[u8], open: usize) -> Result<usize, JsonError> {
        let start = open + 1;
        let (i, c) = scan(s, start);
        if c != b'"' {
            return self.string_escaped(s, open, i);
        }
        self.push(Kind::Str, false, start, i);
        Ok(i + 1)
    }

    /// The rest of a string that `string` found an escape or a fault in at `i`: kept out of
    /// line, so that the usual string (no escape) needs no flag and few registers.
    #[inline(never)]
    fn string_escaped(&mut self, s: &[u8], open: usize, i: usize) -> Result<usize, JsonError> {
        let end = escaped_string_end(s, open, i)?;
        self.push(Kind::Str, true, open + 1, end);
        Ok(end + 1)
    }
}

/// The closing quote of the string opened at `open`, from `i`, where `scan` stopped at
/// something other than a closing quote: escapes validated, control bytes and the end of
/// the text refused.
fn escaped_string_end(s: &[u8], open: usize, mut i: usize) -> Result<usize, JsonError> {
    loop {
        let Some(&c) = s.get(i) else {
            return Err(err(open, "unterminated string"));
        };
        match c {
            b'"' => return Ok(i),
            b'\\' => i = escape(s, i)?,
            // `scan` stops at nothing else.
            _ => return Err(err(i, "invalid control character in string")),
        }
        i = scan(s, i).0;
    }
}

/// The end of the string whose body starts at `start` (just after its opening quote),
/// validated as `Parser::string` does: the offset of its closing quote and whether it
/// holds escapes, or `None` where the parser would stop with an error. For `retape`,
/// which re-reads one token of a document.
pub(super) fn string_end(s: &[u8], start: usize) -> Option<(usize, bool)> {
    match scan(s, start) {
        (i, b'"') => Some((i, false)),
        (i, _) => escaped_string_end(s, start - 1, i)
            .ok()
            .map(|end| (end, true)),
    }
}

/// The end of the number starting at `start`, validated as `Parser::number` does, and
/// its kind (`Int` or `Float`); `None` where the parser would stop with an error.
pub(super) fn number_end(s: &[u8], start: usize) -> Option<(usize, Kind)> {
    number_token(s, start).ok()
}

/// The number starting at `start`: the offset just past it and its kind.
#[cfg_attr(not(debug_assertions), inline(always))]
fn number_token(s: &[u8], start: usize) -> Result<(usize, Kind), JsonError> {
    let mut i = start + (byte(s, start) == b'-') as usize;
    match byte(s, i) {
        b'0' => i += 1,
        b'1'..=b'9' => i = digits(s, i + 1),
        _ => return Err(err(i, "expecting value")),
    }
    let mut float = false;
    if byte(s, i) == b'.' {
        float = true;
        i += 1;
        if !byte(s, i).is_ascii_digit() {
            return Err(err(i, "expecting digits after the decimal point"));
        }
        i = digits(s, i + 1);
    }
    if byte(s, i) | 0x20 == b'e' {
        float = true;
        i += 1;
        i += matches!(byte(s, i), b'+' | b'-') as usize;
        if !byte(s, i).is_ascii_digit() {
            return Err(err(i, "expecting digits in the exponent"));
        }
        i = digits(s, i + 1);
    }
    Ok((i, if float { Kind::Float } else { Kind::Int }))
}

/// The offset of the first byte at or after `i` that is not an ASCII digit, or `s.len()`.
#[cfg_attr(not(debug_assertions), inline(always))]
fn digits(s: &[u8], mut i: usize) -> usize {
    // Eight at a time: in a byte, `b + 0x46` reaches 0x80 from ':' up, `b - 0x30` below '0',
    // and `b` itself from 0x80 up. As in `special_bytes`, a carry or borrow only leaves a
    // flagged byte, so the lowest flagged byte is exact.
    while let Some(w) = s.get(i..i + 8) {
        let w = u64::from_le_bytes(w.try_into().unwrap());
        let mask = (w.wrapping_add(SPLAT * 0x46) | w.wrapping_sub(SPLAT * 0x30) | w) & HIGH;
        if mask != 0 {
            return i + (mask.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while byte(s, i).is_ascii_digit() {
        i += 1;
    }
    i
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
