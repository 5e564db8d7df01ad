//! The exceptions for what goes wrong in a stream: its pipeline's faults
//! (bad JSON, a provider's error event, a cut-off stream).
//! Apart from `errors.rs`, which `event.rs` raises through: these carry an `Event`.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::items::pipeline::{Fault, ProviderError};

use super::errors::{
    chunk_decode_error, incomplete_stream_error, make_error, sse_to_pyerr, stream_error,
};
use super::event::PyEvent;
use super::values::to_plain;

pub fn fault_to_pyerr(py: Python<'_>, fault: Fault) -> PyErr {
    match fault {
        Fault::Sse(e) => sse_to_pyerr(py, &e),
        Fault::InvalidJson { error, event } => {
            let message = crate::items::pipeline::invalid_json_message(&error, &event.data);
            let kwargs = PyDict::new(py);
            let build = || -> PyResult<()> {
                kwargs.set_item("data", &event.data)?;
                kwargs.set_item("position", error.position)?;
                kwargs.set_item("event", Py::new(py, PyEvent::from(event))?)?;
                Ok(())
            };
            if let Err(e) = build() {
                return e;
            }
            make_error(py, chunk_decode_error(py), message, Some(&kwargs))
        }
        Fault::Provider(p) => provider_to_pyerr(py, *p),
        Fault::Incomplete(message) => make_error(py, incomplete_stream_error(py), message, None),
    }
}

fn provider_to_pyerr(py: Python<'_>, p: ProviderError) -> PyErr {
    let kwargs = PyDict::new(py);
    let build = || -> PyResult<()> {
        kwargs.set_item("type", &p.kind)?;
        if let (Some(doc), Some(node)) = (&p.doc, p.error_node) {
            let error = to_plain(py, doc, node)?;
            if let Ok(d) = error.cast::<PyDict>() {
                kwargs.set_item("code", d.get_item("code")?)?;
                kwargs.set_item("param", d.get_item("param")?)?;
            }
            kwargs.set_item("body", to_plain(py, doc, 0)?)?;
        }
        kwargs.set_item("event", Py::new(py, PyEvent::from(p.event))?)?;
        Ok(())
    };
    if let Err(e) = build() {
        return e;
    }
    make_error(py, stream_error(py), p.message, Some(&kwargs))
}
