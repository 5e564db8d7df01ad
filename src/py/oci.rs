//! `_sserpent.oci_sign`: OCI request signing (see `crate::providers::oci`) for
//! `sserpent.oci`.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::providers::oci::{self, PrivateKey, SignRequest};

use super::client::str_pairs;

/// Signs a request by OCI's HTTP Signature scheme (``rsa-sha256``) and
/// returns the headers to add (lower-case names): ``date``, ``host``,
/// ``content-type``, and for POST/PUT/PATCH ``content-length`` and
/// ``x-content-sha256``, then ``authorization``. Values already in
/// ``headers`` (``date``, ``content-type``, ``content-length``,
/// ``x-content-sha256``) are signed as given. ``key_id`` is
/// ``TENANCY/USER/FINGERPRINT`` or ``ST$<token>``; ``private_key_pem`` an
/// unencrypted RSA key (PKCS#1 or PKCS#8 PEM); ``date`` an HTTP date
/// (default: now). Errors never quote the key.
#[pyfunction]
#[pyo3(signature = (method, url, headers, body, key_id, private_key_pem, date = None))]
#[allow(clippy::too_many_arguments)]
pub fn oci_sign<'py>(
    py: Python<'py>,
    method: &str,
    url: &str,
    headers: Option<&Bound<'py, PyAny>>,
    body: Option<&Bound<'py, PyBytes>>,
    key_id: &str,
    private_key_pem: &str,
    date: Option<&str>,
) -> PyResult<Bound<'py, PyDict>> {
    let pairs = str_pairs(headers, "header")?;
    let body = body.map(|b| b.as_bytes());
    let pem = private_key_pem.to_owned();
    let req = SignRequest {
        method,
        url,
        headers: &pairs,
        body,
    };
    // RSA signing takes about a millisecond: without the GIL.
    let signed = py
        .detach(|| {
            let key = PrivateKey::from_pem(&pem)?;
            oci::sign(&req, key_id, &key, date)
        })
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    let out = PyDict::new(py);
    for (k, v) in signed {
        out.set_item(k, v)?;
    }
    Ok(out)
}
