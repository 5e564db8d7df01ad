//! Raising the exception classes defined in `sserpent._errors`. Uses nothing
//! else of the bindings: `event.rs` and `stream_errors.rs` raise through it.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyType};

use crate::wire::sse::SseError;

macro_rules! error_class {
    ($fn_name:ident, $name:literal) => {
        pub fn $fn_name(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
            static CELL: PyOnceLock<Py<PyType>> = PyOnceLock::new();
            CELL.import(py, "sserpent._errors", $name)
        }
    };
}

error_class!(sse_error, "SSEError");
error_class!(chunk_decode_error, "ChunkDecodeError");
error_class!(stream_error, "StreamError");
error_class!(incomplete_stream_error, "IncompleteStreamError");
error_class!(content_decoding_error, "ContentDecodingError");
error_class!(api_connection_error, "APIConnectionError");
error_class!(api_timeout_error, "APITimeoutError");

/// Builds `cls(message, **kwargs)` as a `PyErr`.
pub fn make_error(
    _py: Python<'_>,
    cls: PyResult<&Bound<'_, PyType>>,
    message: String,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let exc = cls?.call((message.clone(),), kwargs)?;
        Ok(PyErr::from_value(exc))
    };
    build().unwrap_or_else(|e| e)
}

pub fn sse_to_pyerr(py: Python<'_>, e: &SseError) -> PyErr {
    let limit = match e {
        SseError::LineTooLong { limit }
        | SseError::EventTooLarge { limit }
        | SseError::NdjsonLineTooLong { limit } => *limit,
    };
    let kwargs = PyDict::new(py);
    let _ = kwargs.set_item("limit", limit);
    make_error(py, sse_error(py), e.to_string(), Some(&kwargs))
}

pub fn not_bytes(what: &str, obj: &Bound<'_, PyAny>) -> PyErr {
    let ty = obj
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into());
    PyTypeError::new_err(format!(
        "{what} expects bytes-like items (bytes, bytearray, memoryview), got {ty}"
    ))
}
