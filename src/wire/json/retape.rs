//! A stream's next document read against the one before it.
//!
//! Consecutive chunks of an LLM stream are mostly the same bytes: the id, the model, the
//! keys, the nesting repeat; a few tokens change (the content's text, OpenAI's
//! `obfuscation` pad, a timestamp, a token count). [`LastTape`] keeps the previous
//! document's text and tape, and [`retape`] walks the new text against that text: where
//! the bytes agree, the previous tape's nodes hold (shifted by how much longer or shorter
//! the tokens changed so far are); where they differ, the difference must fall inside one
//! string or number token of the previous tape, and that token alone is read again in the
//! new text, validated as the parser validates it (escapes and control bytes; a number's
//! grammar). A difference anywhere else (punctuation, whitespace, a literal, a container's
//! bounds), or more than [`MAX_CHANGES`] changed tokens, gives up, and the text is parsed
//! whole. On the OpenAI chunk of `benches/tape_bench.rs` (`chunk-after`) this takes about
//! half the instructions of a parse, the copies `LastTape` keeps included.
//!
//! Why the tape is the one the parser would build: the parser reads left to right, and
//! everything it has built and will decide at an offset follows from the bytes before it
//! (plus, for a number, the one byte after it). Up to the first difference the two texts
//! are the same bytes, so the nodes are the same. The token the difference falls in began
//! in the common part (a string's opening quote, a number's offset), so the parser, in the
//! same state, reads the new token from the same offset; `string_end` and `number_end`
//! read it as the parser does and give up wherever the parser would fail. Past the token
//! (a string's closing quote, the byte after a number) the parser stands where it stood in
//! the previous text past the old token: the same open containers, the same counts. From
//! there the texts agree again, up to the next difference, where the same argument
//! repeats; the two texts must end together. Only a token's offsets, a string's `escaped`
//! and a number's kind can change, never the nodes' order, `next` or `len`. Errors are
//! never reported from here: a text it gives up on is parsed whole, and the parser reports
//! what is wrong exactly as it always does.

use super::tape::{number_end, string_end};
use super::{Doc, JsonError, Kind, Node};

/// More changed tokens than this and the text is parsed whole (each costs a scan of the
/// previous tape; OpenAI's chunks change two, Gemini's four or five).
const MAX_CHANGES: usize = 16;

/// Previous documents this large are not kept: a stream's chunks are a few hundred
/// bytes, and this bounds what a stream holds (text plus tape) at a few KiB.
const MAX_KEPT_TEXT: usize = 2048;
/// Nor tapes this long (a 2 KiB text of small numbers could have a thousand nodes).
const MAX_KEPT_NODES: usize = 256;

/// The last document of a stream, kept to read the next one against.
#[derive(Default)]
pub struct LastTape {
    text: String,
    nodes: Vec<Node>,
    /// The last `tape` was read against the document before it.
    retaped: bool,
    /// What that read changed in the root object's members.
    root: RootChanges,
}

/// The changed tokens that are keys or values of the root object's members.
#[derive(Default)]
struct RootChanges {
    key: bool,
    values: [u32; MAX_CHANGES],
    len: usize,
}

impl LastTape {
    /// The tape of `text` (`Doc::tape`'s result, errors included), read against the last
    /// document when it can be, which is then `text` (or none, after an error).
    pub fn tape(&mut self, text: &str) -> Result<Vec<Node>, JsonError> {
        let retaped = retape_in_place(
            self.text.as_bytes(),
            &mut self.nodes,
            text.as_bytes(),
            &mut self.root,
        );
        self.retaped = retaped.is_some();
        let nodes = if self.retaped {
            self.nodes.clone()
        } else {
            // `self.nodes` may be half rewritten: it is replaced, or dropped on an error.
            self.nodes.clear();
            self.text.clear();
            let nodes = Doc::tape(text)?;
            // Only a tape small enough to keep is copied: the buffers' capacity stays
            // bounded for the whole stream.
            if nodes.len() <= MAX_KEPT_NODES {
                self.nodes.extend_from_slice(&nodes);
            }
            nodes
        };
        self.text.clear();
        if text.len() <= MAX_KEPT_TEXT && nodes.len() <= MAX_KEPT_NODES {
            self.text.push_str(text);
        } else {
            self.nodes.clear();
        }
        Ok(nodes)
    }

    /// After a `tape` read against the document before it that changed no key of the
    /// root object: the value nodes of the root's members that changed (empty when only
    /// deeper tokens did); every other key and value of the root is the same bytes as in
    /// the document before. `None` after a document parsed whole or a changed root key.
    pub fn changed_root_values(&self) -> Option<&[u32]> {
        (self.retaped && !self.root.key).then(|| &self.root.values[..self.root.len])
    }
}

/// The tape of `new`, exactly as `Doc::tape` would build it, from the tape `old_nodes`
/// of the text `old`; `None` when `new` differs from `old` in more than the string and
/// number tokens (see the module's docs), and for an empty `old_nodes`.
pub fn retape(old: &[u8], old_nodes: &[Node], new: &[u8]) -> Option<Vec<Node>> {
    let mut nodes = old_nodes.to_vec();
    retape_in_place(old, &mut nodes, new, &mut RootChanges::default()).map(|_| nodes)
}

/// `retape`, rewriting the tape of `old` into that of `new`, and noting the changes to
/// the root object's members in `root`; `None` (and `nodes` partly rewritten) where
/// `retape` gives `None`.
fn retape_in_place(
    old: &[u8],
    nodes: &mut [Node],
    new: &[u8],
    root: &mut RootChanges,
) -> Option<()> {
    if nodes.is_empty() || new.len() >= u32::MAX as usize {
        return None;
    }
    // The changed tokens' indexes, in order, and the shift of every offset after each
    // (the difference in length so far, as a wrapping `u32`).
    let mut changed = [0u32; MAX_CHANGES];
    let mut shifts = [0u32; MAX_CHANGES];
    let mut count = 0;
    // Offsets in the two texts, with the bytes before them accounted for; the first node
    // that may still change (the nodes before it are rewritten already).
    let (mut o, mut n, mut from) = (0usize, 0usize, 0usize);
    loop {
        let same = same_prefix(&old[o..], &new[n..]);
        o += same;
        n += same;
        if o == old.len() && n == new.len() {
            break;
        }
        // The token the first difference is in: the last node starting at or before it,
        // if that is a string or number holding it (a string's closing quote, and the
        // offset just past a number, included: the token may grow).
        let at = from + nodes[from..].partition_point(|node| node.start as usize <= o);
        let index = at.checked_sub(1).filter(|&i| i >= from)?;
        let node = &mut nodes[index];
        if (node.end as usize) < o || count == MAX_CHANGES {
            return None;
        }
        let start = node.start as usize + n - o;
        let read = match node.kind {
            Kind::Str => string_end(new, start).map(|(end, escaped)| (end, Kind::Str, escaped)),
            Kind::Int | Kind::Float => number_end(new, start).map(|(end, kind)| (end, kind, false)),
            _ => None,
        };
        let (end, kind, escaped) = read?;
        o = node.end as usize;
        n = end;
        *node = Node {
            kind,
            escaped,
            start: start as u32,
            end: end as u32,
            ..*node
        };
        changed[count] = index as u32;
        shifts[count] = (n as u32).wrapping_sub(o as u32);
        count += 1;
        from = index + 1;
    }
    let changed = &changed[..count];
    if count > 0 {
        shift(nodes, changed, &shifts[..count]);
    }
    *root = RootChanges::default();
    for &k in changed {
        match root_member(nodes, k) {
            Some(Member::Key) => root.key = true,
            Some(Member::Value) => {
                root.values[root.len] = k;
                root.len += 1;
            }
            None => {}
        }
    }
    Some(())
}

enum Member {
    Key,
    Value,
}

/// Whether node `k` is a key or a value of one of the root object's members.
fn root_member(nodes: &[Node], k: u32) -> Option<Member> {
    if nodes[0].kind != Kind::Object {
        return None;
    }
    let mut key = 1;
    for _ in 0..nodes[0].len {
        if k == key {
            return Some(Member::Key);
        }
        if k == key + 1 {
            return Some(Member::Value);
        }
        if k < key {
            return None;
        }
        key = nodes[key as usize + 1].next;
    }
    None
}

/// Moves every node but the changed ones by the shift of the changes before it, and a
/// container's end by that of the last change inside it (a leaf's `next` is the node
/// after it, so only a container can have a change before its `next`).
#[inline]
fn shift(nodes: &mut [Node], changed: &[u32], shifts: &[u32]) {
    let before = |next: u32| shifts[changed.partition_point(|&k| k < next) - 1];
    let first = changed[0];
    // Before the first change nothing moves but the containers holding it.
    for node in &mut nodes[..first as usize] {
        if node.next > first {
            node.end = node.end.wrapping_add(before(node.next));
        }
    }
    for (c, &at) in changed.iter().enumerate().skip(1) {
        let by = shifts[c - 1];
        for node in &mut nodes[changed[c - 1] as usize + 1..at as usize] {
            node.start = node.start.wrapping_add(by);
            let end_by = if node.next > at {
                before(node.next)
            } else {
                by
            };
            node.end = node.end.wrapping_add(end_by);
        }
    }
    // After the last change, everything by the whole shift.
    let by = shifts[shifts.len() - 1];
    for node in &mut nodes[changed[changed.len() - 1] as usize + 1..] {
        node.start = node.start.wrapping_add(by);
        node.end = node.end.wrapping_add(by);
    }
}

/// How many leading bytes `a` and `b` have in common.
#[inline]
fn same_prefix(a: &[u8], b: &[u8]) -> usize {
    let len = a.len().min(b.len());
    let mut i = 0;
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        while i + 16 <= len {
            // SAFETY: SSE2 is part of x86_64, and `i + 16 <= len` keeps the 16 bytes read
            // inside both slices (`loadu` needs no alignment).
            let equal = unsafe {
                let x = _mm_loadu_si128(a.as_ptr().add(i).cast());
                let y = _mm_loadu_si128(b.as_ptr().add(i).cast());
                _mm_movemask_epi8(_mm_cmpeq_epi8(x, y)) as u32
            };
            if equal != 0xFFFF {
                return i + (!equal).trailing_zeros() as usize;
            }
            i += 16;
        }
    }
    while i + 8 <= len {
        let x = u64::from_le_bytes(a[i..i + 8].try_into().expect("8 bytes"));
        let y = u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        if x != y {
            return i + ((x ^ y).trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < len && a[i] == b[i] {
        i += 1;
    }
    i
}

#[cfg(test)]
#[path = "retape_tests.rs"]
mod tests;
