//! `Headers`: a response's headers as a read-only mapping, looked up without
//! regard to case as HTTP says, repeated headers kept in order.

use pyo3::prelude::*;
use pyo3::types::PyList;

/// Response headers with case-insensitive lookup.
#[pyclass(frozen, module = "sserpent", name = "Headers")]
pub struct Headers {
    pub(super) pairs: Vec<(String, String)>,
}

#[pymethods]
impl Headers {
    fn __getitem__(&self, key: &str) -> PyResult<String> {
        self.get(key, None)
            .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(key.to_string()))
    }

    /// The value of ``key`` (values of a repeated header joined with ", ").
    #[pyo3(signature = (key, default = None))]
    fn get(&self, key: &str, default: Option<String>) -> Option<String> {
        let values: Vec<&str> = self
            .pairs
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
            .collect();
        if values.is_empty() {
            default
        } else {
            Some(values.join(", "))
        }
    }

    fn get_list(&self, key: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn __contains__(&self, key: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k.eq_ignore_ascii_case(key))
    }

    fn keys(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (k, _) in &self.pairs {
            if !out.iter().any(|o| o.eq_ignore_ascii_case(k)) {
                out.push(k.clone());
            }
        }
        out
    }

    fn items(&self) -> Vec<(String, String)> {
        self.keys()
            .into_iter()
            .map(|k| {
                let v = self.get(&k, None).unwrap_or_default();
                (k, v)
            })
            .collect()
    }

    fn __len__(&self) -> usize {
        self.keys().len()
    }

    fn __iter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(PyList::new(py, self.keys())?
            .try_iter()?
            .into_any()
            .unbind())
    }

    fn __repr__(&self) -> String {
        format!("Headers({:?})", self.items())
    }
}
