//! A validating JSON parser that builds a flat "tape" of nodes over the source
//! text instead of a tree of allocated values.
//!
//! Chunk objects read only a few fields of each LLM chunk, so parsing into a
//! tape (one `Vec` per document, no allocation per key or string) and turning
//! just the accessed nodes into Python objects later is several times cheaper
//! than materializing every value up front. Validation is complete (RFC 8259,
//! the same documents `json.loads` accepts, minus NaN/Infinity), so a document
//! that parses here never fails later.

use std::fmt;
use std::sync::atomic::AtomicU32;

mod retape;
mod tape;
pub use retape::{retape, LastTape};
use tape::parse_tape;

/// Containers nested deeper than this are rejected (keeps later recursive
/// conversions far from any stack limit).
pub const MAX_DEPTH: usize = 512;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Null,
    True,
    False,
    Int,
    Float,
    Str,
    Array,
    Object,
}

/// One value on the tape. Containers are followed by their elements; an
/// object's members are a key node (`Str`) followed by the value's subtree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Node {
    pub kind: Kind,
    /// `Str` only: the raw text contains backslash escapes.
    pub escaped: bool,
    /// Byte offset of the value; for `Str`, just after the opening quote.
    pub start: u32,
    /// Byte offset just past the value; for `Str`, of the closing quote.
    pub end: u32,
    /// Index of the first node after this subtree.
    pub next: u32,
    /// Containers: number of elements (object members).
    pub len: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError {
    pub position: usize,
    pub message: &'static str,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.message, self.position)
    }
}

impl std::error::Error for JsonError {}

/// `a == b` for byte slices. Object keys are short (`id`, `delta`, `content`,
/// `finish_reason`), and a slice `==` calls libc's `bcmp` for each; here up to 16 bytes
/// are compared in at most two pairs of (overlapping) loads, inline.
#[inline(always)]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    fn word8(s: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(s[at..at + 8].try_into().expect("8 bytes"))
    }
    fn word4(s: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(s[at..at + 4].try_into().expect("4 bytes"))
    }
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => word4(a, 0) == word4(b, 0) && word4(a, n - 4) == word4(b, n - 4),
        8..=16 => word8(a, 0) == word8(b, 0) && word8(a, n - 8) == word8(b, n - 8),
        _ => a == b,
    }
}

/// A parsed document: the source text and its tape (node 0 is the root).
#[derive(Debug)]
pub struct Doc {
    pub text: String,
    pub nodes: Vec<Node>,
    /// How many objects share one reference to this document on behalf of a single
    /// owner that orders its own accesses, so that it can count them without atomic
    /// instructions: the Python bindings' chunk objects, under the interpreter's lock
    /// (`py/doc_ref.rs`). 0 while no such owner holds one. Only plain loads and stores
    /// touch it; an atomic type just makes the document shareable across threads.
    #[cfg_attr(not(feature = "python"), allow(dead_code))]
    pub(crate) holders: AtomicU32,
}

impl Doc {
    pub fn new(text: String, nodes: Vec<Node>) -> Doc {
        Doc {
            text,
            nodes,
            holders: AtomicU32::new(0),
        }
    }

    pub fn parse(text: String) -> Result<Doc, JsonError> {
        let nodes = Self::tape(&text)?;
        Ok(Doc::new(text, nodes))
    }

    /// Validates `text` and builds its tape; `Doc::new(text, nodes)` then owns both.
    pub fn tape(text: &str) -> Result<Vec<Node>, JsonError> {
        if text.len() >= u32::MAX as usize {
            return Err(JsonError {
                position: 0,
                message: "document larger than 4 GiB",
            });
        }
        parse_tape(text.as_bytes())
    }

    #[inline]
    pub fn node(&self, i: u32) -> &Node {
        &self.nodes[i as usize]
    }

    /// The raw source text of a node (strings without their quotes).
    #[inline]
    pub fn raw(&self, i: u32) -> &str {
        let n = self.node(i);
        &self.text[n.start as usize..n.end as usize]
    }

    /// The raw bytes of a node (strings without their quotes), unchecked for char boundaries.
    #[inline]
    pub fn raw_bytes(&self, i: u32) -> &[u8] {
        let n = self.node(i);
        &self.text.as_bytes()[n.start as usize..n.end as usize]
    }

    /// The JSON text of a node exactly as it appeared in the source.
    pub fn json_text(&self, i: u32) -> &str {
        let n = self.node(i);
        match n.kind {
            Kind::Str => &self.text[n.start as usize - 1..n.end as usize + 1],
            _ => &self.text[n.start as usize..n.end as usize],
        }
    }

    /// Iterates over an object's members as `(key node, value node)` pairs.
    pub fn members(&self, obj: u32) -> Members<'_> {
        debug_assert_eq!(self.node(obj).kind, Kind::Object);
        Members {
            doc: self,
            at: obj + 1,
            left: self.node(obj).len,
        }
    }

    /// Iterates over an array's element nodes.
    pub fn elements(&self, arr: u32) -> Elements<'_> {
        debug_assert_eq!(self.node(arr).kind, Kind::Array);
        Elements {
            doc: self,
            at: arr + 1,
            left: self.node(arr).len,
        }
    }

    /// Whether a key node equals `name`.
    #[inline]
    pub fn key_is(&self, key: u32, name: &str) -> bool {
        let n = self.node(key);
        if n.escaped {
            unescape(self.raw(key)).is_some_and(|k| k == name)
        } else {
            // The bytes as they are: no char-boundary checks on this hot path.
            let key = &self.text.as_bytes()[n.start as usize..n.end as usize];
            same_bytes(key, name.as_bytes())
        }
    }

    /// The value node of the member named `name` (JSON objects may repeat a
    /// key; `json.loads` keeps the last, so do we).
    ///
    /// The hot path of attribute access (and of `final()`'s fold): a member
    /// is skipped on its key's length, from the node, before any text is
    /// touched; only a key of the right length is compared byte by byte.
    #[inline]
    pub fn get(&self, obj: u32, name: &str) -> Option<u32> {
        let nodes = self.nodes.as_slice();
        let text = self.text.as_bytes();
        let want = name.as_bytes();
        let mut found = None;
        let mut at = obj as usize + 1;
        for _ in 0..nodes[obj as usize].len {
            let key = &nodes[at];
            let hit = if key.escaped {
                self.key_is(at as u32, name)
            } else {
                key.end.wrapping_sub(key.start) as usize == want.len()
                    && same_bytes(&text[key.start as usize..key.end as usize], want)
            };
            if hit {
                found = Some(at as u32 + 1);
            }
            at = nodes[at + 1].next as usize;
        }
        found
    }

    /// The value node of member `name` if it is an object.
    pub fn get_object(&self, obj: u32, name: &str) -> Option<u32> {
        self.get(obj, name)
            .filter(|&n| self.node(n).kind == Kind::Object)
    }

    /// The value node of member `name` if it is an array.
    pub fn get_array(&self, obj: u32, name: &str) -> Option<u32> {
        self.get(obj, name)
            .filter(|&n| self.node(n).kind == Kind::Array)
    }

    /// The value of member `name` if it is an integer that fits an `i64`.
    pub fn get_int(&self, obj: u32, name: &str) -> Option<i64> {
        self.get(obj, name)
            .filter(|&n| self.node(n).kind == Kind::Int)
            .and_then(|n| self.raw(n).parse().ok())
    }

    /// The string value of member `name`, borrowed from the text unless it holds escapes.
    pub fn get_str(&self, obj: u32, name: &str) -> Option<std::borrow::Cow<'_, str>> {
        self.get(obj, name).and_then(|n| self.str_value(n))
    }

    /// The string value of a `Str` node (unescaped); `None` for other kinds or
    /// strings holding lone surrogates (not representable in Rust).
    pub fn str_value(&self, i: u32) -> Option<std::borrow::Cow<'_, str>> {
        let n = self.node(i);
        if n.kind != Kind::Str {
            return None;
        }
        if n.escaped {
            unescape(self.raw(i)).map(std::borrow::Cow::Owned)
        } else {
            Some(std::borrow::Cow::Borrowed(self.raw(i)))
        }
    }
}

pub struct Members<'a> {
    doc: &'a Doc,
    at: u32,
    left: u32,
}

impl Iterator for Members<'_> {
    type Item = (u32, u32);
    #[inline]
    fn next(&mut self) -> Option<(u32, u32)> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let key = self.at;
        let value = key + 1;
        self.at = self.doc.node(value).next;
        Some((key, value))
    }
}

pub struct Elements<'a> {
    doc: &'a Doc,
    at: u32,
    left: u32,
}

impl Iterator for Elements<'_> {
    type Item = u32;
    #[inline]
    fn next(&mut self) -> Option<u32> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let el = self.at;
        self.at = self.doc.node(el).next;
        Some(el)
    }
}

/// Decodes the escapes of a JSON string body (already validated). Returns
/// `None` when it holds a lone surrogate, which only Python strings can carry.
pub fn unescape(raw: &str) -> Option<String> {
    let b = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < b.len() {
        let Some(off) = memchr::memchr(b'\\', &b[i..]) else {
            out.push_str(&raw[i..]);
            break;
        };
        out.push_str(&raw[i..i + off]);
        i += off;
        let c = b[i + 1];
        i += 2;
        match c {
            b'"' => out.push('"'),
            b'\\' => out.push('\\'),
            b'/' => out.push('/'),
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'n' => out.push('\n'),
            b'r' => out.push('\r'),
            b't' => out.push('\t'),
            b'u' => {
                let hi = hex4(&b[i..i + 4]);
                i += 4;
                let cp = if (0xD800..0xDC00).contains(&hi) {
                    if b.len() >= i + 6 && b[i] == b'\\' && b[i + 1] == b'u' {
                        let lo = hex4(&b[i + 2..i + 6]);
                        if (0xDC00..0xE000).contains(&lo) {
                            i += 6;
                            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                        } else {
                            return None;
                        }
                    } else {
                        return None;
                    }
                } else if (0xDC00..0xE000).contains(&hi) {
                    return None;
                } else {
                    hi
                };
                out.push(char::from_u32(cp)?);
            }
            _ => unreachable!("validated escape"),
        }
    }
    Some(out)
}

#[inline]
fn hex4(b: &[u8]) -> u32 {
    b.iter()
        .fold(0, |acc, &c| (acc << 4) | hex_val(c).unwrap_or(0) as u32)
}

#[inline]
fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

mod many;

#[cfg(test)]
mod tests;
