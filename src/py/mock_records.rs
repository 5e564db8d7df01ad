//! `MockRequest` and `MockConnection`: read-only Python views of what the mock
//! server recorded (`crate::mock::record`), handed out by `MockServer.requests()`
//! and `connections()`; apart from the server's bindings, which only build them.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::mock::record::{ConnectionInfo, RequestRecord};

/// One request the mock server received.
#[pyclass(frozen, module = "sserpent.testing", name = "MockRequest")]
pub struct PyMockRequest {
    pub(super) inner: Arc<RequestRecord>,
}

#[pymethods]
impl PyMockRequest {
    #[getter]
    fn method(&self) -> &str {
        &self.inner.method
    }

    /// The path, without the query.
    #[getter]
    fn path(&self) -> &str {
        &self.inner.path
    }

    /// The query string, without ``?`` (empty when there is none).
    #[getter]
    fn query(&self) -> &str {
        &self.inner.query
    }

    /// Header names lower-cased; repeated headers joined with ``", "``.
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (n, v) in &self.inner.headers {
            match d.get_item(n)? {
                Some(prev) => {
                    let joined = format!("{}, {v}", prev.extract::<String>()?);
                    d.set_item(n, joined)?;
                }
                None => d.set_item(n, v)?,
            }
        }
        Ok(d)
    }

    #[getter]
    fn body<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.body)
    }

    #[getter]
    fn connection_id(&self) -> u64 {
        self.inner.connection_id
    }

    /// ``time.monotonic()`` when the whole request had arrived.
    #[getter]
    fn received_at(&self) -> f64 {
        self.inner.received_at
    }

    /// ``True``/``False`` when the server checked this request's OCI
    /// signature (see :meth:`MockServer.require_oci_signature`), else ``None``.
    #[getter]
    fn oci_signature_valid(&self) -> Option<bool> {
        self.inner.oci_signature.as_ref().map(|r| r.is_ok())
    }

    /// Why the OCI signature check failed (``None`` when it passed or was not made).
    #[getter]
    fn oci_signature_error(&self) -> Option<&str> {
        match &self.inner.oci_signature {
            Some(Err(e)) => Some(e),
            _ => None,
        }
    }

    /// The ``keyId`` of a valid OCI signature.
    #[getter]
    fn oci_key_id(&self) -> Option<&str> {
        match &self.inner.oci_signature {
            Some(Ok(k)) => Some(k),
            _ => None,
        }
    }

    /// The body parsed with ``json.loads``.
    fn json(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(py
            .import("json")?
            .call_method1("loads", (PyBytes::new(py, &self.inner.body),))?
            .unbind())
    }

    fn __repr__(&self) -> String {
        // Headers stay out: they carry API keys.
        format!(
            "<MockRequest {} {}{}{} connection_id={} body={} bytes>",
            self.inner.method,
            self.inner.path,
            if self.inner.query.is_empty() { "" } else { "?" },
            self.inner.query,
            self.inner.connection_id,
            self.inner.body.len()
        )
    }
}

/// A snapshot of one connection's record.
#[pyclass(frozen, module = "sserpent.testing", name = "MockConnection")]
pub struct PyMockConnection {
    pub(super) inner: ConnectionInfo,
}

#[pymethods]
impl PyMockConnection {
    #[getter]
    fn id(&self) -> u64 {
        self.inner.id
    }

    /// The client's address, ``"127.0.0.1:PORT"``.
    #[getter]
    fn peer(&self) -> &str {
        &self.inner.peer
    }

    /// ``"HTTP/1.1"``, or ``"HTTP/2"``: over HTTP/2 every stream is recorded
    /// as a connection of its own (a client cancels one response by
    /// resetting its stream), and the TCP connection carrying them is not.
    #[getter]
    fn http_version(&self) -> &'static str {
        self.inner.http_version
    }

    #[getter]
    fn open(&self) -> bool {
        self.inner.is_open()
    }

    /// ``"client"``, ``"server"``, or ``None`` while open.
    #[getter]
    fn closed_by(&self) -> Option<&'static str> {
        self.inner.closed_by.map(|c| c.as_str())
    }

    /// ``time.monotonic()`` at accept.
    #[getter]
    fn opened_at(&self) -> f64 {
        self.inner.opened_at
    }

    #[getter]
    fn closed_at(&self) -> Option<f64> {
        self.inner.closed_at
    }

    /// Requests received on the connection.
    #[getter]
    fn requests(&self) -> u64 {
        self.inner.requests
    }

    /// Bytes written to the socket (heads included).
    #[getter]
    fn bytes_sent(&self) -> u64 {
        self.inner.bytes_sent
    }

    fn __repr__(&self) -> String {
        let state = match self.inner.closed_by {
            None => "open".to_string(),
            Some(by) => format!("closed by {}", by.as_str()),
        };
        format!(
            "<MockConnection id={} {} {state} requests={} bytes_sent={}>",
            self.inner.id, self.inner.http_version, self.inner.requests, self.inner.bytes_sent
        )
    }
}
