//! The JSON tape parser (src/wire/json.rs) against serde_json.
//!
//! The input is one data payload; bytes that are not UTF-8 are replaced with
//! U+FFFD first, as the SSE decoder does before a payload reaches the parser.
//!
//! Validity: `Doc::parse` accepts exactly what serde_json's syntactic
//! validation (`IgnoredAny`) accepts, with one documented deviation: containers
//! nested deeper than `json::MAX_DEPTH` (512) are rejected. Like Python's
//! `json.loads` (the reference the bindings follow) and like `IgnoredAny`, the
//! tape accepts lone surrogate escapes (`"\ud800"`) and numbers beyond f64
//! (`1e999`); serde_json refuses those two only when building a `Value`.
//!
//! Values: for an accepted document, the tape read through its accessors
//! (`get`, `members`, `elements`, `str_value`, `raw`, `json_text`) equals
//! serde_json's `Value`: duplicated keys keep the last, strings unescape the
//! same, integers are exact, floats agree to rounding.
//!
//! Read against the previous document (`json::retape`, what a stream's pipeline does):
//! an input holding a 0 byte is two documents, the one before it read first; the
//! checks above apply to the one after it, and `retape` from the first must give
//! exactly the tape `Doc::tape` gives for it, or nothing, and nothing when it is
//! rejected. (A 0 byte is never valid JSON, so no input of the first kind is lost.)
#![no_main]

use std::borrow::Cow;
use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use serde::de::{Deserialize, IgnoredAny};
use serde_json::Value;
use sserpent::wire::json::{retape, Doc, Kind, MAX_DEPTH};

fn depth(doc: &Doc) -> usize {
    // Containers whose subtree has not ended yet, by their `next` index.
    let mut open: Vec<u32> = Vec::new();
    let mut deepest = 0;
    for (i, n) in doc.nodes.iter().enumerate() {
        while open.last().is_some_and(|&end| end as usize <= i) {
            open.pop();
        }
        if matches!(n.kind, Kind::Array | Kind::Object) {
            if n.len > 0 {
                open.push(n.next);
            }
            deepest = deepest.max(open.len());
        }
    }
    deepest
}

fn serde_value(text: &str) -> serde_json::Result<Value> {
    let mut de = serde_json::Deserializer::from_str(text);
    de.disable_recursion_limit();
    let v = Value::deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

fn serde_accepts(text: &str) -> bool {
    serde_json::from_str::<IgnoredAny>(text).is_ok()
}

/// Whether the raw text of a `Str` node holds a `\uXXXX` escape of a
/// surrogate that is not part of a high-low pair.
fn has_lone_surrogate(raw: &str) -> bool {
    let b = raw.as_bytes();
    let mut i = 0;
    let unit = |at: usize| u32::from_str_radix(&raw[at..at + 4], 16).unwrap();
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        if b[i + 1] != b'u' {
            i += 2;
            continue;
        }
        let u = unit(i + 2);
        i += 6;
        if (0xD800..0xDC00).contains(&u) {
            if b.len() >= i + 6 && b[i] == b'\\' && b[i + 1] == b'u' {
                let lo = unit(i + 2);
                if (0xDC00..0xE000).contains(&lo) {
                    i += 6;
                    continue;
                }
            }
            return true;
        } else if (0xDC00..0xE000).contains(&u) {
            return true;
        }
    }
    false
}

fn floats_agree(a: f64, b: f64) -> bool {
    // serde_json without `float_roundtrip` may be one ulp off the correctly
    // rounded value that `str::parse` gives.
    a == b
        || (a.is_sign_negative() == b.is_sign_negative() && a.to_bits().abs_diff(b.to_bits()) <= 2)
}

/// Whether the tape's node `i` is the same value as `v`.
fn compare(doc: &Doc, i: u32, v: &Value) {
    let n = *doc.node(i);
    // Every node's own text is a JSON document of its own.
    let text = doc.json_text(i);
    assert!(
        serde_accepts(text),
        "json_text of node {i} is not JSON: {text:?}"
    );
    match (n.kind, v) {
        (Kind::Null, Value::Null) => assert_eq!(text, "null"),
        (Kind::True, Value::Bool(true)) => assert_eq!(text, "true"),
        (Kind::False, Value::Bool(false)) => assert_eq!(text, "false"),
        (Kind::Str, Value::String(s)) => {
            let ours = doc.str_value(i).expect("a string serde_json decodes");
            assert_eq!(&*ours, s.as_str());
            assert_eq!(n.escaped, doc.raw(i).contains('\\'));
            if !n.escaped {
                assert!(matches!(ours, Cow::Borrowed(_)));
            }
        }
        (Kind::Int | Kind::Float, Value::Number(num)) => {
            let raw = doc.raw(i);
            assert_eq!(
                n.kind == Kind::Float,
                raw.contains(['.', 'e', 'E']),
                "number kind of {raw:?}"
            );
            if let Some(x) = num.as_i64() {
                assert_eq!(raw.parse::<i128>().ok(), Some(i128::from(x)), "{raw:?}");
            } else if let Some(x) = num.as_u64() {
                assert_eq!(raw.parse::<i128>().ok(), Some(i128::from(x)), "{raw:?}");
            } else {
                let theirs = num.as_f64().unwrap();
                let ours: f64 = raw.parse().unwrap();
                assert!(floats_agree(ours, theirs), "{raw:?}: {ours} vs {theirs}");
            }
        }
        (Kind::Array, Value::Array(items)) => {
            assert_eq!(n.len as usize, items.len());
            let els: Vec<u32> = doc.elements(i).collect();
            assert_eq!(els.len(), items.len());
            for (&e, item) in els.iter().zip(items) {
                compare(doc, e, item);
            }
            let end = els.last().map_or(i + 1, |&e| doc.node(e).next);
            assert_eq!(end, n.next, "array {i} subtree end");
        }
        (Kind::Object, Value::Object(map)) => {
            assert_eq!(n.len as usize, doc.members(i).count());
            let mut keys = HashSet::new();
            let mut end = i + 1;
            for (k, val) in doc.members(i) {
                assert_eq!(doc.node(k).kind, Kind::Str);
                let key = doc.str_value(k).expect("a key serde_json decodes");
                assert!(map.contains_key(&*key), "extra key {key:?}");
                keys.insert(key.into_owned());
                end = doc.node(val).next;
            }
            assert_eq!(end, n.next, "object {i} subtree end");
            assert_eq!(keys.len(), map.len(), "distinct keys");
            for (key, val) in map {
                let node = doc.get(i, key).expect("a key serde_json has");
                compare(doc, node, val);
            }
        }
        (kind, v) => panic!("node {i} is {kind:?}, serde_json has {v:?}"),
    }
}

fuzz_target!(|input: &[u8]| {
    let input = match input.iter().position(|&b| b == 0) {
        Some(zero) => {
            let (old, new) = (&input[..zero], &input[zero + 1..]);
            let (old, new) = (String::from_utf8_lossy(old), String::from_utf8_lossy(new));
            if let Ok(old_nodes) = Doc::tape(&old) {
                let ours = retape(old.as_bytes(), &old_nodes, new.as_bytes());
                match (ours, Doc::tape(&new)) {
                    (Some(ours), Ok(theirs)) => assert_eq!(ours, theirs, "{old:?} -> {new:?}"),
                    (Some(_), Err(e)) => {
                        panic!("retape answered, the parser rejects ({e}): {old:?} -> {new:?}")
                    }
                    (None, _) => {}
                }
            }
            &input[zero + 1..]
        }
        None => input,
    };
    let text = String::from_utf8_lossy(input);
    let ours = Doc::parse(text.clone().into_owned());
    let doc = match ours {
        Err(e) => {
            assert!(e.position <= text.len(), "{e:?}");
            if e.message == "JSON nested too deeply" {
                // The documented deviation; serde_json (no depth limit for
                // IgnoredAny) would decide on the rest of the text.
                return;
            }
            assert!(
                !serde_accepts(&text),
                "json.rs rejects ({e}), serde_json accepts: {text:?}"
            );
            return;
        }
        Ok(doc) => doc,
    };
    assert!(
        serde_accepts(&text),
        "json.rs accepts, serde_json rejects: {text:?}"
    );
    assert!(depth(&doc) <= MAX_DEPTH);
    assert_eq!(doc.node(0).next as usize, doc.nodes.len(), "root subtree");
    match serde_value(&text) {
        Ok(v) => compare(&doc, 0, &v),
        Err(e) => {
            // Only the two documented cases may keep serde_json from a Value
            // (its fast float parsing also overflows just below f64::MAX).
            let nodes = 0..doc.nodes.len() as u32;
            let lone = nodes
                .clone()
                .any(|i| doc.node(i).kind == Kind::Str && has_lone_surrogate(doc.raw(i)));
            let huge = nodes.into_iter().any(|i| {
                matches!(doc.node(i).kind, Kind::Int | Kind::Float)
                    && doc.raw(i).parse::<f64>().unwrap().abs() > 1e308
            });
            assert!(lone || huge, "serde_json refuses an accepted document: {e}");
        }
    }
    // Every string: `str_value` is `None` exactly for lone surrogates.
    for i in 0..doc.nodes.len() as u32 {
        if doc.node(i).kind == Kind::Str {
            assert_eq!(
                doc.str_value(i).is_none(),
                has_lone_surrogate(doc.raw(i)),
                "{:?}",
                doc.raw(i)
            );
        }
    }
});
