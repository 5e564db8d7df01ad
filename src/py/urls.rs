//! Request URLs: parsed from what the caller passed (http and https only),
//! and shown without credentials or query, which may hold secrets, wherever
//! the bindings print one (reprs, error messages).

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

pub fn parse_url(u: &str) -> PyResult<reqwest::Url> {
    let url = reqwest::Url::parse(u)
        .map_err(|e| PyValueError::new_err(format!("invalid URL {:?}: {e}", strip_query(u))))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(PyValueError::new_err(format!(
            "unsupported URL scheme {:?} (http or https)",
            url.scheme()
        )));
    }
    Ok(url)
}

fn strip_query(u: &str) -> &str {
    u.split(['?', '#']).next().unwrap_or(u)
}

/// The URL without credentials or query (either may hold secrets).
pub fn redact_url(u: &reqwest::Url) -> String {
    let mut u = u.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}
