//! `model_dump()` / `model_dump_json()` as on the openai SDK's pydantic models,
//! keyword arguments included, so code written against the SDK's chunks
//! (`chunk.model_dump(exclude_none=True)`, `model_dump_json(indent=2)`, ...)
//! runs unchanged and gets the same data.
//!
//! The SDK's rules, which these follow:
//! - by default every field the SDK types as optional is present, `None`
//!   when the JSON lacks it (the fields that read `None` as attributes,
//!   `crate::providers::openai::schema`); `exclude_unset=True` gives the JSON's own keys;
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

use super::values::{scalar, to_plain};
use crate::providers::openai::schema::{Schema, ANY, PLAIN};
use crate::wire::json::{Doc, Kind};

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
        if std::ptr::eq(schema, &PLAIN) {
            Shape::Plain
        } else if std::ptr::eq(schema, &ANY) {
            Shape::Unknown
        } else {
            Shape::Model(schema)
        }
    }

    fn child(self, key: &str) -> Shape {
        match self {
            Shape::Model(s) => match s.children.iter().find(|(k, _)| *k == s.attr_name(key)) {
                Some((_, c)) => Shape::of(c),
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
            Shape::Model(s) => s.is_optional(s.attr_name(key)),
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
                let value = dump_node(py, doc, v, shape.child(&key), flags)?;
                match shape {
                    // Gemini's models dump under their attribute names, as the SDK's do.
                    Shape::Model(s) if !s.wire.is_empty() && s.attr_name(&key) != key => {
                        dict.set_item(s.attr_name(&key), value)?
                    }
                    _ => dict.set_item(scalar(py, doc, k)?, value)?,
                }
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

// ---- include / exclude ---------------------------------------------------------------------
//
// Read lazily from the caller's Python objects, one level per level of data (so a spec nested
// deeper than the data, or one that contains itself, costs nothing), with pydantic's rules:
// - a spec is a dict (key -> value) or a collection of keys (set, list, tuple), keys being
//   str for objects and int for lists (negative and out-of-range ints wrap modulo the length);
// - in a dict, `True` or `...` means the whole item, a dict or collection means those parts
//   of it; any other value means the whole item for `include` and nothing for `exclude`;
// - `"__all__"` applies to every item; merged with an item's own entry when both are specs,
//   otherwise the item's own entry wins; an index given twice: the last one wins;
// - include and exclude are judged together against the original keys and indices.

/// What one spec says about one item.
enum Entry<'py> {
    Whole,
    /// The parts named by these specs (all of them apply).
    Parts(Vec<Bound<'py, PyAny>>),
    /// A dict value that is neither a spec nor `True`/`...` (`False`, `None`, `0`, ...).
    Other,
}

#[derive(Clone, Copy)]
enum ItemKey<'a> {
    Str(&'a str),
    Index(usize, usize),
}

fn is_whole(v: &Bound<'_, PyAny>) -> bool {
    let py = v.py();
    v.is(py.Ellipsis().bind(py)) || v.is(PyBool::new(py, true).as_any())
}

fn is_spec(v: &Bound<'_, PyAny>) -> bool {
    v.is_instance_of::<PyDict>()
        || v.is_instance_of::<pyo3::types::PySet>()
        || v.is_instance_of::<pyo3::types::PyFrozenSet>()
        || v.is_instance_of::<PyList>()
        || v.is_instance_of::<pyo3::types::PyTuple>()
}

fn check_spec(spec: &Bound<'_, PyAny>) -> PyResult<()> {
    if is_spec(spec) {
        return Ok(());
    }
    let what = if spec.is_instance_of::<PyString>() {
        "a str".to_string()
    } else {
        spec.get_type().name()?.to_string()
    };
    Err(PyTypeError::new_err(format!(
        "include/exclude must be a set or dict of keys, not {what}"
    )))
}

/// Whether spec key `k` names the item at `key`.
fn key_matches(k: &Bound<'_, PyAny>, key: ItemKey<'_>) -> PyResult<bool> {
    if let Ok(s) = k.cast::<PyString>() {
        return Ok(matches!(key, ItemKey::Str(name) if s.to_cow()? == name));
    }
    if !k.is_instance_of::<PyBool>() {
        if let Ok(i) = k.extract::<i64>() {
            return Ok(match key {
                ItemKey::Index(at, len) => {
                    let len = i64::try_from(len).unwrap_or(i64::MAX);
                    len > 0 && usize::try_from(i.rem_euclid(len)).ok() == Some(at)
                }
                ItemKey::Str(_) => false,
            });
        }
    }
    Err(PyTypeError::new_err(format!(
        "include/exclude keys must be str (object keys) or int (list indices), not {}",
        k.get_type().name()?
    )))
}

fn is_all(k: &Bound<'_, PyAny>) -> bool {
    k.cast::<PyString>()
        .is_ok_and(|s| s.to_cow().is_ok_and(|s| s == "__all__"))
}

fn entry_of<'py>(v: Bound<'py, PyAny>) -> Entry<'py> {
    if is_whole(&v) {
        Entry::Whole
    } else if is_spec(&v) {
        Entry::Parts(vec![v])
    } else {
        Entry::Other
    }
}

/// What `spec` says about the item at `key`, `"__all__"` included.
fn lookup<'py>(spec: &Bound<'py, PyAny>, key: ItemKey<'_>) -> PyResult<Option<Entry<'py>>> {
    check_spec(spec)?;
    let mut own = None;
    let mut all = None;
    if let Ok(d) = spec.cast::<PyDict>() {
        for (k, v) in d.iter() {
            if is_all(&k) {
                all = Some(entry_of(v));
            } else if key_matches(&k, key)? {
                own = Some(entry_of(v)); // the last match wins
            }
        }
    } else {
        for k in spec.try_iter()? {
            let k = k?;
            if is_all(&k) {
                all = Some(Entry::Whole);
            } else if key_matches(&k, key)? {
                own = Some(Entry::Whole);
            }
        }
    }
    Ok(match (own, all) {
        (Some(Entry::Parts(mut a)), Some(Entry::Parts(b))) => {
            a.extend(b);
            Some(Entry::Parts(a))
        }
        (Some(own), _) => Some(own),
        (None, all) => all,
    })
}

/// The specs' entry for one item. They are in priority order (an item's own entry before
/// `"__all__"`'s): the first entry found decides, except that parts add up with parts.
fn combine<'py>(specs: &[Bound<'py, PyAny>], key: ItemKey<'_>) -> PyResult<Option<Entry<'py>>> {
    let mut out: Option<Entry<'py>> = None;
    for spec in specs {
        let Some(e) = lookup(spec, key)? else {
            continue;
        };
        out = Some(match (out, e) {
            (None, e) => e,
            (Some(Entry::Parts(mut a)), Entry::Parts(b)) => {
                for s in b {
                    if !a.iter().any(|x| x.is(&s)) {
                        a.push(s);
                    }
                }
                Entry::Parts(a)
            }
            (Some(first), _) => first,
        });
    }
    Ok(out)
}

/// What to keep of one item: `None` to drop it, else the nested (include, exclude) specs.
#[allow(clippy::type_complexity)]
fn decide<'py>(
    inc: Option<&[Bound<'py, PyAny>]>,
    exc: Option<&[Bound<'py, PyAny>]>,
    key: ItemKey<'_>,
) -> PyResult<
    Option<(
        Option<Vec<Bound<'py, PyAny>>>,
        Option<Vec<Bound<'py, PyAny>>>,
    )>,
> {
    let inc_next = match inc {
        None => None,
        Some(specs) => match combine(specs, key)? {
            None => return Ok(None),
            Some(Entry::Parts(p)) => Some(p),
            Some(_) => None,
        },
    };
    let exc_next = match exc {
        None => None,
        Some(specs) => match combine(specs, key)? {
            Some(Entry::Whole) => return Ok(None),
            Some(Entry::Parts(p)) => Some(p),
            _ => None,
        },
    };
    Ok(Some((inc_next, exc_next)))
}

fn apply<'py>(
    value: Bound<'py, PyAny>,
    inc: Option<&[Bound<'py, PyAny>]>,
    exc: Option<&[Bound<'py, PyAny>]>,
) -> PyResult<Bound<'py, PyAny>> {
    if inc.is_none() && exc.is_none() {
        return Ok(value);
    }
    let py = value.py();
    if let Ok(d) = value.cast::<PyDict>() {
        let out = PyDict::new(py);
        for (k, v) in d.iter() {
            let name = k.cast::<PyString>().map(|s| s.to_cow()).ok();
            let name = match &name {
                Some(Ok(n)) => n.as_ref(),
                _ => "",
            };
            if let Some((i, e)) = decide(inc, exc, ItemKey::Str(name))? {
                out.set_item(&k, apply(v, i.as_deref(), e.as_deref())?)?;
            }
        }
        return Ok(out.into_any());
    }
    if let Ok(l) = value.cast::<PyList>() {
        let len = l.len();
        let mut out = Vec::with_capacity(len);
        for (at, v) in l.iter().enumerate() {
            if let Some((i, e)) = decide(inc, exc, ItemKey::Index(at, len))? {
                out.push(apply(v, i.as_deref(), e.as_deref())?);
            }
        }
        return Ok(PyList::new(py, out)?.into_any());
    }
    Ok(value)
}

/// `include` and `exclude` applied together, as pydantic applies them.
pub fn filter<'py>(
    value: Bound<'py, PyAny>,
    inc: Option<&Bound<'py, PyAny>>,
    exc: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let inc: Option<Vec<Bound<'py, PyAny>>> = inc.filter(|s| !s.is_none()).map(|s| vec![s.clone()]);
    let exc: Option<Vec<Bound<'py, PyAny>>> = exc.filter(|s| !s.is_none()).map(|s| vec![s.clone()]);
    for spec in inc.iter().chain(exc.iter()).flatten() {
        check_spec(spec)?;
    }
    apply(value, inc.as_deref(), exc.as_deref())
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
