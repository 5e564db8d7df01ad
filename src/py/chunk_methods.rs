//! `Chunk`'s Python methods: attribute and item access (the hot path), the
//! dict-like views, `to_dict`/`to_json`/`model_dump*`, comparison and pickling.
//! Apart from `chunk.rs` because pickling goes through `Event`, which itself
//! makes chunks (see there).

use std::sync::Arc;

use pyo3::exceptions::{PyAttributeError, PyKeyError};
use pyo3::prelude::*;
use pyo3::pyclass::CompareOp;
use pyo3::types::{PyDict, PyList, PyString};
use pyo3::{ffi, IntoPyObjectExt};

use super::chunk::Chunk;
use super::dump;
use super::event::PyEvent;
use super::values::{scalar, to_plain, with_text};
use crate::providers::openai::schema::{Schema, ANY};
use crate::wire::json::Kind;

impl Chunk {
    /// What the SDK-style dump methods share: the dumped data, filtered.
    fn dumped<'py>(
        &self,
        py: Python<'py>,
        exclude_unset: bool,
        exclude_defaults: bool,
        exclude_none: bool,
        include: Option<&Bound<'py, PyAny>>,
        exclude: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let flags = dump::DumpFlags {
            exclude_unset,
            exclude_defaults,
            exclude_none,
        };
        let value = dump::dump(py, &self.doc, self.node, self.schema, flags)?;
        dump::filter(value, include, exclude)
    }

    fn lookup(&self, key: &str) -> Option<u32> {
        self.doc.get(self.node, key)
    }

    /// Key nodes in first-occurrence order; a repeated key keeps its first
    /// position and its last value, as `json.loads` does.
    fn keys_vec(&self) -> Vec<u32> {
        let members: Vec<u32> = self.doc.members(self.node).map(|(k, _)| k).collect();
        let name = |k: u32| {
            self.doc
                .str_value(k)
                .unwrap_or_else(|| self.doc.raw(k).into())
        };
        if members.len() <= 16 {
            // Small objects (every LLM chunk): quadratic, but no hashing or allocation per key.
            let fast = members.iter().all(|&k| !self.doc.node(k).escaped);
            return members
                .iter()
                .enumerate()
                .filter(|&(i, &k)| {
                    !members[..i].iter().any(|&p| {
                        if fast {
                            self.doc.raw(p) == self.doc.raw(k)
                        } else {
                            name(p) == name(k)
                        }
                    })
                })
                .map(|(_, &k)| k)
                .collect();
        }
        let mut seen = std::collections::HashSet::new();
        members
            .into_iter()
            .filter(|&k| seen.insert(name(k)))
            .collect()
    }

    fn value_of_key(&self, py: Python<'_>, key: u32) -> PyResult<Py<PyAny>> {
        let name = scalar(py, &self.doc, key)?;
        let (v, schema) = self.find(py, name.bind(py))?.unwrap_or((key + 1, &ANY));
        self.value_to_py(py, v, schema)
    }

    /// The value node for a Python key (the last member of that name) and its schema.
    fn find(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
    ) -> PyResult<Option<(u32, &'static Schema)>> {
        let Ok(k) = key.cast::<PyString>() else {
            return Ok(None);
        };
        if let Ok(found) = with_text(k, |k| {
            self.lookup(k)
                .map(|v| (v, self.schema.child(self.schema.attr_name(k))))
        }) {
            return Ok(found);
        }
        // A key with lone surrogates: no Rust string can hold it; compare as Python strings.
        let mut found = None;
        for (kn, v) in self.doc.members(self.node) {
            if self.doc.str_value(kn).is_none() && scalar(py, &self.doc, kn)?.bind(py).eq(key)? {
                found = Some((v, &ANY));
            }
        }
        Ok(found)
    }
}

/// Names that resolve to methods, never to JSON fields.
#[inline]
fn is_method(name: &str) -> bool {
    matches!(
        name,
        "get"
            | "keys"
            | "values"
            | "items"
            | "to_dict"
            | "to_json"
            | "model_dump"
            | "model_dump_json"
            | "to_json_dict"
    )
}

#[pymethods]
impl Chunk {
    fn __getattribute__(slf: &Bound<'_, Self>, name: &Bound<'_, PyString>) -> PyResult<Py<PyAny>> {
        let read = with_text(name, |n| {
            if n.starts_with('_') || is_method(n) {
                return generic_getattr(slf, name);
            }
            let this = slf.get();
            let py = slf.py();
            if this.doc.node(this.node).kind != Kind::Object {
                return generic_getattr(slf, name);
            }
            // Gemini's snake_case attributes read their camelCase keys.
            match this.lookup(this.schema.wire_key(n)) {
                Some(v) => this.member_to_py(py, v, n),
                None if this.schema.is_optional(n) => Ok(py.None()),
                None => super::gemini::property(py, this, n)
                    .unwrap_or_else(|| Err(PyAttributeError::new_err(n.to_string()))),
            }
        });
        // A name no UTF-8 can hold (lone surrogates; the only way `with_text` fails) is
        // not read as a field (item access finds such keys: `chunk["\ud800"]`): the
        // generic lookup's AttributeError, so `getattr(chunk, name, default)` and
        // `hasattr` work.
        read.unwrap_or_else(|_| generic_getattr(slf, name))
    }

    /// Called when `__getattribute__` found nothing: the message names the shape.
    fn __getattr__(&self, name: &Bound<'_, PyString>) -> PyResult<Py<PyAny>> {
        let fields: Vec<String> = self
            .keys_vec()
            .iter()
            .map(|&k| self.doc.raw(k).to_string())
            .collect();
        Err(PyAttributeError::new_err(format!(
            "'{}' object has no attribute '{}' (fields: {})",
            self.schema.name,
            // Lone surrogates shown escaped, as `repr` shows them.
            name.to_cow().map(|n| n.into_owned()).unwrap_or_else(|_| {
                // `repr` without its quotes (`'` or `"`, whichever it chose).
                let shown = name.repr().map(|r| r.to_string()).unwrap_or_default();
                let mut inner = shown.chars();
                inner.next();
                inner.next_back();
                inner.as_str().to_owned()
            }),
            fields.join(", ")
        )))
    }

    fn __getitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        match self.find(py, key)? {
            Some((v, schema)) => self.value_to_py(py, v, schema),
            None => Err(PyKeyError::new_err(key.clone().unbind())),
        }
    }

    #[pyo3(signature = (key, default=None))]
    fn get(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        match self.find(py, key)? {
            Some((v, schema)) => self.value_to_py(py, v, schema),
            None => Ok(default.unwrap_or_else(|| py.None())),
        }
    }

    fn __contains__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.find(py, key)?.is_some())
    }

    fn __len__(&self) -> usize {
        self.keys_vec().len()
    }

    fn __iter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let keys = self.keys(py)?;
        Ok(keys.bind(py).try_iter()?.into_any().unbind())
    }

    fn keys(&self, py: Python<'_>) -> PyResult<Py<PyList>> {
        let keys = self
            .keys_vec()
            .into_iter()
            .map(|k| scalar(py, &self.doc, k))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(PyList::new(py, keys)?.unbind())
    }

    fn values(&self, py: Python<'_>) -> PyResult<Py<PyList>> {
        let values = self
            .keys_vec()
            .into_iter()
            .map(|k| self.value_of_key(py, k))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(PyList::new(py, values)?.unbind())
    }

    fn items(&self, py: Python<'_>) -> PyResult<Py<PyList>> {
        let items = self
            .keys_vec()
            .into_iter()
            .map(|k| Ok((scalar(py, &self.doc, k)?, self.value_of_key(py, k)?)))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(PyList::new(py, items)?.unbind())
    }

    /// Plain Python data equal to ``json.loads`` of this object's JSON. The arguments
    /// are those of the openai SDK's ``to_dict`` (``exclude_unset`` defaults to True
    /// there too); ``use_api_names`` and ``warnings`` change nothing.
    #[pyo3(signature = (
        *, mode = "python", use_api_names = true, exclude_unset = true, exclude_defaults = false,
        exclude_none = false, warnings = true
    ))]
    #[allow(clippy::too_many_arguments, unused_variables)]
    fn to_dict<'py>(
        &self,
        py: Python<'py>,
        mode: &str,
        use_api_names: bool,
        exclude_unset: bool,
        exclude_defaults: bool,
        exclude_none: bool,
        warnings: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        dump::check_mode(mode)?;
        if exclude_unset && !exclude_defaults && !exclude_none {
            return to_plain(py, &self.doc, self.node);
        }
        self.dumped(
            py,
            exclude_unset,
            exclude_defaults,
            exclude_none,
            None,
            None,
        )
    }

    /// This object's JSON text exactly as received. With arguments (those of the openai
    /// SDK's ``to_json``), the :meth:`to_dict` data serialized as the SDK does: indented by
    /// 2 unless ``indent`` says otherwise (``None``: compact).
    #[pyo3(signature = (
        *, indent = Some(2), use_api_names = true, exclude_unset = true,
        exclude_defaults = false, exclude_none = false, warnings = true
    ))]
    #[allow(clippy::too_many_arguments, unused_variables)]
    fn to_json<'py>(
        &self,
        py: Python<'py>,
        indent: Option<usize>,
        use_api_names: bool,
        exclude_unset: bool,
        exclude_defaults: bool,
        exclude_none: bool,
        warnings: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        // No arguments: the text as received (so also for an explicit indent=2 alone).
        if indent == Some(2) && exclude_unset && !exclude_defaults && !exclude_none {
            return Ok(PyString::new(py, self.doc.json_text(self.node)).into_any());
        }
        let value = self.dumped(
            py,
            exclude_unset,
            exclude_defaults,
            exclude_none,
            None,
            None,
        )?;
        dump::to_json_text(&value, indent, false)
    }

    /// The openai SDK's ``model_dump``: like :meth:`to_dict`, plus every field the SDK
    /// types as optional (``None`` when absent) unless ``exclude_unset``; pydantic's
    /// ``include``, ``exclude``, ``exclude_none`` and ``exclude_defaults`` apply.
    /// ``by_alias``, ``round_trip``, ``warnings``, ``context``, ``fallback`` and
    /// ``serialize_as_any`` are accepted and change nothing (no aliases, only JSON types).
    #[pyo3(signature = (
        *, mode = "python", include = None, exclude = None, context = None, by_alias = None,
        exclude_unset = false, exclude_defaults = false, exclude_none = false,
        exclude_computed_fields = false, round_trip = false, warnings = None, fallback = None,
        serialize_as_any = false
    ))]
    #[allow(clippy::too_many_arguments, unused_variables)]
    fn model_dump<'py>(
        &self,
        py: Python<'py>,
        mode: &str,
        include: Option<&Bound<'py, PyAny>>,
        exclude: Option<&Bound<'py, PyAny>>,
        context: Option<&Bound<'py, PyAny>>,
        by_alias: Option<&Bound<'py, PyAny>>,
        exclude_unset: bool,
        exclude_defaults: bool,
        exclude_none: bool,
        exclude_computed_fields: bool,
        round_trip: bool,
        warnings: Option<&Bound<'py, PyAny>>,
        fallback: Option<&Bound<'py, PyAny>>,
        serialize_as_any: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        dump::check_mode(mode)?;
        self.dumped(
            py,
            exclude_unset,
            exclude_defaults,
            exclude_none,
            include,
            exclude,
        )
    }

    /// The openai SDK's ``model_dump_json``: :meth:`model_dump` as compact JSON (or
    /// indented with ``indent``). :meth:`to_json` is the text exactly as received.
    #[pyo3(signature = (
        *, indent = None, ensure_ascii = false, include = None, exclude = None, context = None,
        by_alias = None, exclude_unset = false, exclude_defaults = false, exclude_none = false,
        exclude_computed_fields = false, round_trip = false, warnings = None, fallback = None,
        serialize_as_any = false
    ))]
    #[allow(clippy::too_many_arguments, unused_variables)]
    fn model_dump_json<'py>(
        &self,
        py: Python<'py>,
        indent: Option<usize>,
        ensure_ascii: bool,
        include: Option<&Bound<'py, PyAny>>,
        exclude: Option<&Bound<'py, PyAny>>,
        context: Option<&Bound<'py, PyAny>>,
        by_alias: Option<&Bound<'py, PyAny>>,
        exclude_unset: bool,
        exclude_defaults: bool,
        exclude_none: bool,
        exclude_computed_fields: bool,
        round_trip: bool,
        warnings: Option<&Bound<'py, PyAny>>,
        fallback: Option<&Bound<'py, PyAny>>,
        serialize_as_any: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let value = self.dumped(
            py,
            exclude_unset,
            exclude_defaults,
            exclude_none,
            include,
            exclude,
        )?;
        dump::to_json_text(&value, indent, ensure_ascii)
    }

    /// The google-genai SDK's ``to_json_dict``: ``model_dump(exclude_none=True, mode="json")``.
    fn to_json_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.dumped(py, false, false, true, None, None)
    }

    fn __richcmp__(
        &self,
        py: Python<'_>,
        other: &Bound<'_, PyAny>,
        op: CompareOp,
    ) -> PyResult<Py<PyAny>> {
        let other_plain = if let Ok(c) = other.cast::<Chunk>() {
            let c = c.get();
            to_plain(py, &c.doc, c.node)?
        } else if other.is_instance_of::<PyDict>() {
            other.clone()
        } else {
            return Ok(py.NotImplemented());
        };
        let mine = to_plain(py, &self.doc, self.node)?;
        match op {
            CompareOp::Eq => mine.eq(other_plain)?.into_py_any(py),
            CompareOp::Ne => mine.ne(other_plain)?.into_py_any(py),
            _ => Ok(py.NotImplemented()),
        }
    }

    /// Pickles as its JSON text, parsed again on load.
    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyAny>,))> {
        let caller = py
            .import("operator")?
            .getattr("methodcaller")?
            .call1(("json",))?;
        let event = PyEvent::from(crate::wire::sse::Event {
            event: None,
            data: self.doc.json_text(self.node).to_string(),
            id: Arc::from(""),
            raw: None,
        });
        Ok((caller, (Bound::new(py, event)?.into_any(),)))
    }

    fn __copy__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __deepcopy__<'py>(slf: PyRef<'py, Self>, _memo: &Bound<'py, PyAny>) -> PyRef<'py, Self> {
        slf
    }

    fn __repr__(&self) -> String {
        format!("{}({})", self.schema.name, self.doc.json_text(self.node))
    }

    fn __dir__(&self, py: Python<'_>) -> PyResult<Vec<Py<PyAny>>> {
        let mut names: Vec<Py<PyAny>> = Vec::new();
        for k in self.keys_vec() {
            let key = self.doc.str_value(k);
            match key.as_deref().map(|k| self.schema.attr_name(k)) {
                // Gemini's fields under their attribute names.
                Some(attr) if key.as_deref() != Some(attr) => {
                    names.push(PyString::new(py, attr).into_any().unbind())
                }
                _ => names.push(scalar(py, &self.doc, k)?),
            }
        }
        if std::ptr::eq(
            self.schema,
            &crate::providers::gemini::GENERATE_CONTENT_RESPONSE,
        ) {
            for p in super::gemini::PROPERTIES {
                names.push(PyString::new(py, p).into_any().unbind());
            }
        }
        for o in self.schema.optional {
            if self.lookup(self.schema.wire_key(o)).is_none() {
                names.push(PyString::new(py, o).into_any().unbind());
            }
        }
        for m in [
            "get",
            "keys",
            "values",
            "items",
            "to_dict",
            "to_json",
            "model_dump",
            "model_dump_json",
            "to_json_dict",
        ] {
            names.push(PyString::new(py, m).into_any().unbind());
        }
        Ok(names)
    }
}

fn generic_getattr(slf: &Bound<'_, Chunk>, name: &Bound<'_, PyString>) -> PyResult<Py<PyAny>> {
    unsafe {
        let ptr = ffi::PyObject_GenericGetAttr(slf.as_ptr(), name.as_ptr());
        Bound::from_owned_ptr_or_err(slf.py(), ptr).map(Bound::unbind)
    }
}
