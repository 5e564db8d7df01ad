//! The SDK's `accumulate_delta` (`openai/lib/streaming/_deltas.py`) over JSON
//! values, with Python's list indexing, and the one-pass scans of a chunk's
//! members that `chat_events` reads: the shared pieces of the chat stream state.

use serde_json::{Map, Number, Value};

use crate::wire::json::{Doc, Kind};

pub(crate) fn py_index(len: usize, i: i64) -> Option<usize> {
    let i = if i < 0 { i + len as i64 } else { i };
    (0..len as i64).contains(&i).then_some(i as usize)
}

fn py_insert(list: &mut Vec<Value>, i: i64, v: Value) {
    let len = list.len() as i64;
    let at = if i < 0 { (i + len).max(0) } else { i.min(len) };
    list.insert(at as usize, v);
}

fn has_indexed_entries(v: &Value) -> bool {
    v.as_array().is_some_and(|a| {
        a.iter()
            .any(|e| e.as_object().is_some_and(|o| o.contains_key("index")))
    })
}

fn add_numbers(a: &Number, b: &Number) -> Number {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        if let Some(s) = x.checked_add(y) {
            return s.into();
        }
    }
    let s = a.as_f64().unwrap_or(0.0) + b.as_f64().unwrap_or(0.0);
    Number::from_f64(s).unwrap_or_else(|| a.clone())
}

/// The SDK's `accumulate_delta`, in place.
pub fn accumulate_delta(
    acc: &mut Map<String, Value>,
    delta: Map<String, Value>,
) -> Result<(), String> {
    for (key, dv) in delta {
        if acc.get(&key).is_none_or(Value::is_null) {
            if has_indexed_entries(&dv) {
                acc.insert(key.clone(), Value::Array(Vec::new()));
            } else {
                acc.insert(key, dv);
                continue;
            }
        }
        if key == "index" || key == "type" {
            acc.insert(key, dv);
            continue;
        }
        let Some(av) = acc.get_mut(&key) else {
            continue;
        };
        match (av, dv) {
            (Value::String(a), Value::String(d)) => a.push_str(&d),
            (Value::Number(a), Value::Number(d)) => *a = add_numbers(a, &d),
            (Value::Object(a), Value::Object(d)) => accumulate_delta(a, d)?,
            (Value::Array(a), Value::Array(d)) => {
                let scalars = a.iter().all(|x| x.is_string() || x.is_number());
                if scalars
                    && (!a.is_empty()
                        || !d.iter().any(|e| e.get("index").is_some() && e.is_object()))
                {
                    a.extend(d);
                    continue;
                }
                for entry in d {
                    let Value::Object(e) = entry else {
                        return Err(format!(
                            "Unexpected list delta entry is not a dictionary: {entry}"
                        ));
                    };
                    let index = match e.get("index") {
                        None => {
                            return Err(format!(
                                "Expected list delta entry to have an `index` key; {}",
                                Value::Object(e)
                            ))
                        }
                        Some(i) => i.as_i64().ok_or_else(|| {
                            format!(
                                "Unexpected, list delta entry `index` value is not an integer; {i}"
                            )
                        })?,
                    };
                    match py_index(a.len(), index) {
                        None => py_insert(a, index, Value::Object(e)),
                        Some(at) => match &mut a[at] {
                            Value::Object(acc_entry) => accumulate_delta(acc_entry, e)?,
                            _ => return Err("not handled yet".into()),
                        },
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// A node as a JSON value.
pub fn value_of(doc: &Doc, node: u32) -> Value {
    match doc.node(node).kind {
        Kind::Null => Value::Null,
        Kind::True => Value::Bool(true),
        Kind::False => Value::Bool(false),
        Kind::Str => match doc.str_value(node) {
            Some(s) => Value::String(s.into_owned()),
            None => serde_json::from_str(doc.json_text(node)).unwrap_or(Value::Null),
        },
        _ => serde_json::from_str(doc.json_text(node)).unwrap_or(Value::Null),
    }
}

/// `accumulate_delta(acc, delta)` for the delta object at `delta` in `doc`: a string onto
/// a string (every content chunk) appends in place; anything else goes through the JSON value.
pub(crate) fn accumulate_node(
    acc: &mut Map<String, Value>,
    doc: &Doc,
    delta: u32,
) -> Result<(), String> {
    for (k, v) in doc.members(delta) {
        let Some(key) = doc.str_value(k) else {
            continue;
        };
        if doc.node(v).kind == Kind::Str && key != "index" && key != "type" {
            if let (Some(Value::String(a)), Some(more)) =
                (acc.get_mut(key.as_ref()), doc.str_value(v))
            {
                a.push_str(&more);
                continue;
            }
        }
        let mut one = Map::new();
        one.insert(key.into_owned(), value_of(doc, v));
        accumulate_delta(acc, one)?;
    }
    Ok(())
}

/// The members of a chunk and of its choices that the state reads, found in one pass
/// each (a lookup by name scans every member).
#[derive(Default, Clone, Copy)]
pub(crate) struct RootNodes {
    pub(crate) object: Option<u32>,
    pub(crate) choices: Option<u32>,
    pub(crate) usage: Option<u32>,
    pub(crate) system_fingerprint: Option<u32>,
    pub(crate) moderation: Option<u32>,
}

#[derive(Default, Clone, Copy)]
pub(crate) struct ChoiceNodes {
    pub(crate) node: u32,
    pub(crate) index: i64,
    pub(crate) delta: Option<u32>,
    pub(crate) finish_reason: Option<u32>,
    pub(crate) logprobs: Option<u32>,
    pub(crate) content: Option<u32>,
    pub(crate) refusal: Option<u32>,
    pub(crate) tool_calls: Option<u32>,
}

pub(crate) fn scan_root(doc: &Doc) -> RootNodes {
    let mut r = RootNodes::default();
    for (k, v) in doc.members(0) {
        match doc.str_value(k).as_deref() {
            Some("object") => r.object = Some(v),
            Some("choices") => r.choices = (doc.node(v).kind == Kind::Array).then_some(v),
            Some("usage") => r.usage = Some(v),
            Some("system_fingerprint") => r.system_fingerprint = Some(v),
            Some("moderation") => r.moderation = Some(v),
            _ => {}
        }
    }
    r
}

fn int_node(doc: &Doc, n: u32) -> Option<i64> {
    (doc.node(n).kind == Kind::Int)
        .then(|| doc.raw(n).parse().ok())
        .flatten()
}

pub(crate) fn scan_choice(doc: &Doc, c: u32) -> ChoiceNodes {
    let mut n = ChoiceNodes {
        node: c,
        ..Default::default()
    };
    let mut index = None;
    for (k, v) in doc.members(c) {
        match doc.str_value(k).as_deref() {
            Some("index") => index = int_node(doc, v),
            Some("delta") => n.delta = (doc.node(v).kind == Kind::Object).then_some(v),
            Some("finish_reason") => n.finish_reason = Some(v),
            Some("logprobs") => n.logprobs = (doc.node(v).kind == Kind::Object).then_some(v),
            _ => {}
        }
    }
    n.index = index.unwrap_or(0);
    if let Some(d) = n.delta {
        for (k, v) in doc.members(d) {
            match doc.str_value(k).as_deref() {
                Some("content") => n.content = Some(v),
                Some("refusal") => n.refusal = Some(v),
                Some("tool_calls") => n.tool_calls = (doc.node(v).kind == Kind::Array).then_some(v),
                _ => {}
            }
        }
    }
    n
}
