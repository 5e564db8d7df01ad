//! `model_dump()` / `model_dump_json()` as on the openai SDK's pydantic models,
//! keyword arguments included, so code written against the SDK's chunks
//! (`chunk.model_dump(exclude_none=True)`, `model_dump_json(indent=2)`, ...)
//! runs unchanged and gets the same data.
//!
//! The SDK's rules, which these follow:
//! - by default every field the SDK types as optional is present, `None`
//!   when the JSON lacks it (the fields that read `None` as attributes,
//!   `crate::schema`); `exclude_unset=True` gives the JSON's own keys;
//! - `exclude_none` drops `None` values of model objects (their fields and
//!   their extra keys), never inside a plain dict that is an extra value;
//! - `exclude_defaults` drops optional fields that hold `None`, keeping extras;
//! - `include` / `exclude`: sets of keys or nested dicts of them, with list
//!   indices (negative ones too), `"__all__"`, and `True` / `...` for "whole".
//!
//! Objects of an unknown shape (not an OpenAI chat or completions object)
//! count as models whose every key is optional, like the Anthropic SDK's.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyList, PyString};

use super::chunk::{scalar, to_plain};
use crate::json::{Doc, Kind};
use crate::schema::{Schema, ANY};

#[derive(Clone, Copy, Default)]
pub struct DumpFlags {
    pub exclude_unset: bool,
    pub exclude_defaults: bool,
    pub exclude_none: bool,
}

#[derive(Clone, Copy)]
enum Shape {
    /// An SDK model with a known schema.
    Model(&'static Schema),
    /// A model of unknown shape: every key optional.
    Unknown,
    /// A plain dict (an extra value of a model): dumped as it is.
    Plain,
}

impl Shape {
    fn of(schema: &'static Schema) -> Shape {
        if std::ptr::eq(schema, &ANY) {
            Shape::Unknown
        } else {
            Shape::Model(schema)
        }
    }

    fn child(self, key: &str) -> Shape {
        match self {
            Shape::Model(s) => match s.children.iter().find(|(k, _)| *k == key) {
                Some((_, c)) => Shape::Model(c),
                // A declared field without a schema here: a model in the SDK.
                None if s.is_optional(key) => Shape::Unknown,
                None => Shape::Plain,
            },
            other => other,
        }
    }

    /// Whether `key` is a field whose default is `None`.
    fn defaults_to_none(self, key: &str) -> bool {
        match self {
            Shape::Model(s) => s.is_optional(key),
            Shape::Unknown => true,
            Shape::Plain => false,
        }
    }
}

/// The plain Python value of node `idx`, dumped as the SDK would.
pub fn dump<'py>(
    py: Python<'py>,
    doc: &Doc,
    idx: u32,
    schema: &'static Schema,
    flags: DumpFlags,
) -> PyResult<Bound<'py, PyAny>> {
    dump_node(py, doc, idx, Shape::of(schema), flags)
}

fn dump_node<'py>(
    py: Python<'py>,
    doc: &Doc,
    idx: u32,
    shape: Shape,
    flags: DumpFlags,
) -> PyResult<Bound<'py, PyAny>> {
    match doc.node(idx).kind {
        Kind::Object => {
            if matches!(shape, Shape::Plain) {
                return to_plain(py, doc, idx);
            }
            let dict = PyDict::new(py);
            // Duplicate keys: the last one wins, as in `json.loads`, before any exclusion.
            for (k, v) in doc.members(idx) {
                let key = doc.str_value(k).unwrap_or_default();
                dict.set_item(
                    scalar(py, doc, k)?,
                    dump_node(py, doc, v, shape.child(&key), flags)?,
                )?;
            }
            if flags.exclude_none || flags.exclude_defaults {
                let mut drop = Vec::new();
                for (k, v) in dict.iter() {
                    if !v.is_none() {
                        continue;
                    }
                    let key = k.cast::<PyString>().map(|s| s.to_cow()).ok();
                    let key = key.as_ref().and_then(|k| k.as_ref().ok());
                    let is_default = key.is_some_and(|k| shape.defaults_to_none(k));
                    if flags.exclude_none || is_default {
                        drop.push(k);
                    }
                }
                for k in drop {
                    dict.del_item(k)?;
                }
            } else if let (Shape::Model(s), false) = (shape, flags.exclude_unset) {
                for field in s.optional {
                    if !dict.contains(*field)? {
                        dict.set_item(*field, py.None())?;
                    }
                }
            }
            Ok(dict.into_any())
        }
        Kind::Array => {
            let items = doc
                .elements(idx)
                .map(|e| dump_node(py, doc, e, shape, flags))
                .collect::<PyResult<Vec<_>>>()?;
            Ok(PyList::new(py, items)?.into_any())
        }
        _ => Ok(scalar(py, doc, idx)?.into_bound(py)),
    }
}

/// An `include` / `exclude` argument, parsed.
#[derive(Clone, Debug)]
enum Filter {
    /// The whole value (`True`, `...`, or a key listed in a set).
    Whole,
    /// Some keys or indices, each with what to keep or drop of it.
    Keys {
        keys: Vec<(Key, Filter)>,
        all: Option<Box<Filter>>,
    },
}

#[derive(Clone, Debug, PartialEq)]
enum Key {
    Str(String),
    Int(i64),
}

impl Key {
    fn parse(k: &Bound<'_, PyAny>) -> PyResult<Key> {
        if let Ok(s) = k.cast::<PyString>() {
            return Ok(Key::Str(s.to_str()?.to_owned()));
        }
        if !k.is_instance_of::<PyBool>() {
            if let Ok(i) = k.extract::<i64>() {
                return Ok(Key::Int(i));
            }
        }
        Err(PyTypeError::new_err(format!(
            "include/exclude keys must be str (object keys) or int (list indices), not {}",
            k.get_type().name()?
        )))
    }
}

fn ellipsis(py: Python<'_>) -> &Bound<'_, PyAny> {
    static ELLIPSIS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    ELLIPSIS.get_or_init(py, || py.Ellipsis()).bind(py)
}

impl Filter {
    fn parse(spec: &Bound<'_, PyAny>) -> PyResult<Option<Filter>> {
        let py = spec.py();
        if spec.is_none() {
            return Ok(None);
        }
        if spec.is(ellipsis(py)) || spec.is(PyBool::new(py, true).as_any()) {
            return Ok(Some(Filter::Whole));
        }
        if spec.is(PyBool::new(py, false).as_any()) {
            return Ok(None);
        }
        let mut keys = Vec::new();
        let mut all = None;
        if let Ok(d) = spec.cast::<PyDict>() {
            for (k, v) in d.iter() {
                let Some(sub) = Filter::parse(&v)? else {
                    continue;
                };
                if k.cast::<PyString>()
                    .is_ok_and(|s| s.to_str().is_ok_and(|s| s == "__all__"))
                {
                    all = Some(Box::new(sub));
                } else {
                    keys.push((Key::parse(&k)?, sub));
                }
            }
        } else if spec.is_instance_of::<PyString>() {
            return Err(PyTypeError::new_err(
                "include/exclude must be a set or dict of keys, not a str",
            ));
        } else {
            let iter = spec.try_iter().map_err(|_| {
                PyTypeError::new_err(format!(
                    "include/exclude must be a set or dict of keys, not {}",
                    spec.get_type()
                        .name()
                        .map(|n| n.to_string())
                        .unwrap_or_default()
                ))
            })?;
            for k in iter {
                let k = k?;
                if k.cast::<PyString>()
                    .is_ok_and(|s| s.to_str().is_ok_and(|s| s == "__all__"))
                {
                    all = Some(Box::new(Filter::Whole));
                } else {
                    keys.push((Key::parse(&k)?, Filter::Whole));
                }
            }
        }
        Ok(Some(Filter::Keys { keys, all }))
    }

    /// What applies to the item at `key` (of a container of `len` items).
    fn for_key(&self, key: &Key, len: usize) -> Option<Filter> {
        let Filter::Keys { keys, all } = self else {
            return Some(Filter::Whole);
        };
        let matches = |k: &Key| match (k, key) {
            (Key::Int(i), Key::Int(j)) if *i < 0 => {
                i64::try_from(len).ok().map(|n| n + i) == Some(*j)
            }
            _ => k == key,
        };
        let mut found: Option<Filter> = None;
        for (k, f) in keys {
            if matches(k) {
                found = Some(match found {
                    None => f.clone(),
                    Some(prev) => prev.merge(f),
                });
            }
        }
        match (found, all) {
            (Some(f), Some(a)) => Some(f.merge(a)),
            (Some(f), None) => Some(f),
            (None, Some(a)) => Some((**a).clone()),
            (None, None) => None,
        }
    }

    fn merge(self, other: &Filter) -> Filter {
        match (self, other) {
            (Filter::Whole, _) | (_, Filter::Whole) => Filter::Whole,
            (Filter::Keys { mut keys, all }, Filter::Keys { keys: k2, all: a2 }) => {
                keys.extend(k2.iter().cloned());
                let all = match (all, a2) {
                    (Some(a), Some(b)) => Some(Box::new(a.merge(b))),
                    (a, b) => a.or_else(|| b.clone()),
                };
                Filter::Keys { keys, all }
            }
        }
    }
}

fn key_of_item(k: &Bound<'_, PyAny>) -> Key {
    match k.cast::<PyString>() {
        Ok(s) => Key::Str(s.to_str().unwrap_or_default().to_owned()),
        Err(_) => Key::Str(String::new()),
    }
}

fn include<'py>(value: Bound<'py, PyAny>, filter: &Filter) -> PyResult<Bound<'py, PyAny>> {
    let py = value.py();
    if matches!(filter, Filter::Whole) {
        return Ok(value);
    }
    if let Ok(d) = value.cast::<PyDict>() {
        let out = PyDict::new(py);
        for (k, v) in d.iter() {
            if let Some(sub) = filter.for_key(&key_of_item(&k), d.len()) {
                out.set_item(k, include(v, &sub)?)?;
            }
        }
        return Ok(out.into_any());
    }
    if let Ok(l) = value.cast::<PyList>() {
        let n = l.len();
        let mut out = Vec::new();
        for (i, v) in l.iter().enumerate() {
            if let Some(sub) = filter.for_key(&Key::Int(i as i64), n) {
                out.push(include(v, &sub)?);
            }
        }
        return Ok(PyList::new(py, out)?.into_any());
    }
    Ok(value)
}

fn exclude<'py>(value: Bound<'py, PyAny>, filter: &Filter) -> PyResult<Bound<'py, PyAny>> {
    let py = value.py();
    if let Ok(d) = value.cast::<PyDict>() {
        let out = PyDict::new(py);
        for (k, v) in d.iter() {
            match filter.for_key(&key_of_item(&k), d.len()) {
                None => out.set_item(k, v)?,
                Some(Filter::Whole) => {}
                Some(sub) => out.set_item(k, exclude(v, &sub)?)?,
            }
        }
        return Ok(out.into_any());
    }
    if let Ok(l) = value.cast::<PyList>() {
        let n = l.len();
        let mut out = Vec::new();
        for (i, v) in l.iter().enumerate() {
            match filter.for_key(&Key::Int(i as i64), n) {
                None => out.push(v),
                Some(Filter::Whole) => {}
                Some(sub) => out.push(exclude(v, &sub)?),
            }
        }
        return Ok(PyList::new(py, out)?.into_any());
    }
    Ok(value)
}

/// `include`, then `exclude`, as pydantic applies them.
pub fn filter<'py>(
    value: Bound<'py, PyAny>,
    inc: Option<&Bound<'py, PyAny>>,
    exc: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let mut value = value;
    if let Some(f) = inc.map(Filter::parse).transpose()?.flatten() {
        value = include(value, &f)?;
    }
    if let Some(f) = exc.map(Filter::parse).transpose()?.flatten() {
        value = exclude(value, &f)?;
    }
    Ok(value)
}

pub fn check_mode(mode: &str) -> PyResult<()> {
    match mode {
        "python" | "json" => Ok(()),
        other => Err(PyValueError::new_err(format!(
            "mode must be 'python' or 'json', not '{other}'"
        ))),
    }
}

/// JSON text of a dumped value: compact like pydantic's, or indented.
pub fn to_json_text<'py>(
    value: &Bound<'py, PyAny>,
    indent: Option<usize>,
    ensure_ascii: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let py = value.py();
    static DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let dumps = DUMPS.get_or_try_init(py, || {
        py.import("json")?.getattr("dumps").map(Bound::unbind)
    })?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("ensure_ascii", ensure_ascii)?;
    match indent {
        Some(n) => kwargs.set_item("indent", n)?,
        None => kwargs.set_item("separators", (",", ":"))?,
    }
    dumps.bind(py).call((value,), Some(&kwargs))
}
