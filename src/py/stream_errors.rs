//! The exceptions for what goes wrong in a stream: its pipeline's faults
//! (bad JSON, a provider's error event, a cut-off stream) and HTTP failures
//! (a status code with the provider's message, connect errors, timeouts).
//! Apart from `errors.rs`, which `event.rs` raises through: these carry an `Event`.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::items::pipeline::{Fault, ProviderError};
use crate::transport::http::{HttpError, RequestSpec, ResponseHead};

use super::errors::{
    api_connection_error, api_timeout_error, chunk_decode_error, incomplete_stream_error,
    make_error, sse_to_pyerr, stream_error,
};
use super::event::PyEvent;
use super::urls::redact_url;
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
                // Google's errors name their kind in `status` ("RESOURCE_EXHAUSTED");
                // `code` is the HTTP status there.
                let code = match d.get_item("status")? {
                    Some(s) if s.is_instance_of::<pyo3::types::PyString>() => Some(s),
                    _ => d.get_item("code")?,
                };
                kwargs.set_item("code", code)?;
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

/// `POST http://host/path`: the request an error names (no query, no credentials).
pub(super) fn target_of(spec: &RequestSpec) -> String {
    format!("{} {}", spec.method, redact_url(&spec.url))
}

pub fn http_to_pyerr(py: Python<'_>, e: HttpError, spec: &RequestSpec) -> PyErr {
    let target = target_of(spec);
    match e {
        HttpError::Timeout(m) => {
            make_error(py, api_timeout_error(py), format!("{m} ({target})"), None)
        }
        HttpError::Connect(m) | HttpError::Body(m) => make_error(
            py,
            api_connection_error(py),
            format!("{m} ({target})"),
            None,
        ),
        HttpError::Invalid(m) => PyValueError::new_err(m),
        HttpError::Status { head, body } => status_error(py, &head, &body, &target),
    }
}

fn is_html(head: &ResponseHead, text: &str) -> bool {
    let declared = head.headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("content-type") && v.to_ascii_lowercase().contains("html")
    });
    let start = text
        .trim_start()
        .chars()
        .take(14)
        .collect::<String>()
        .to_ascii_lowercase();
    declared || start.starts_with("<!doctype html") || start.starts_with("<html")
}

/// The readable part of an HTML page: its `<title>`, else its text without tags,
/// whitespace collapsed.
fn html_summary(text: &str) -> Option<String> {
    let collapse = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    // ASCII lower-casing keeps byte offsets, so they index `text` too.
    let lower = text.to_ascii_lowercase();
    if let Some(start) = lower.find("<title") {
        if let Some(open_end) = lower[start..].find('>').map(|i| start + i + 1) {
            if let Some(end) = lower[open_end..].find("</title>").map(|i| open_end + i) {
                let title = collapse(&text[open_end..end]);
                if !title.is_empty() {
                    return Some(title);
                }
            }
        }
    }
    let mut plain = String::with_capacity(text.len());
    let mut in_tag = false;
    for ch in text.chars() {
        match ch {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                plain.push(' ');
            }
            c if !in_tag => plain.push(c),
            _ => {}
        }
    }
    let plain = collapse(&plain);
    (!plain.is_empty()).then_some(plain)
}

fn status_error(py: Python<'_>, head: &ResponseHead, body: &[u8], target: &str) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let text = String::from_utf8_lossy(body).into_owned();
        let parsed = py
            .import("json")?
            .getattr("loads")?
            .call1((text.as_str(),))
            .unwrap_or_else(|_| pyo3::types::PyString::new(py, &text).into_any());
        // The provider's message: {"error": {"message": ...}}, {"message": ...} or the text.
        let mut detail = None;
        if let Ok(d) = parsed.cast::<PyDict>() {
            let err = d.get_item("error")?;
            let holder = match &err {
                Some(e) if e.is_instance_of::<PyDict>() => e.clone(),
                _ => d.clone().into_any(),
            };
            if let Ok(Some(m)) = holder
                .cast::<PyDict>()
                .map(|h| h.get_item("message"))
                .unwrap_or(Ok(None))
            {
                detail = Some(m.str()?.to_string());
            } else if let Some(e) = err.filter(|e| e.is_instance_of::<pyo3::types::PyString>()) {
                detail = Some(e.str()?.to_string());
            }
        } else if !text.trim().is_empty() {
            // A proxy's HTML error page: its title (or its text), not its markup.
            let summary = is_html(head, &text)
                .then(|| html_summary(&text))
                .flatten()
                .unwrap_or_else(|| text.trim().to_string());
            let mut t: String = summary.chars().take(200).collect();
            if summary.chars().count() > 200 {
                t.push_str("...");
            }
            detail = Some(t);
        }
        let message = match detail {
            Some(d) => format!("HTTP {} from {target}: {d}", head.status),
            None => format!("HTTP {} from {target}", head.status),
        };
        let headers = PyDict::new(py);
        for (k, v) in &head.headers {
            headers.set_item(k, v)?;
        }
        let kwargs = PyDict::new(py);
        kwargs.set_item("status_code", head.status)?;
        kwargs.set_item("body", parsed)?;
        kwargs.set_item("request_id", &head.request_id)?;
        kwargs.set_item("headers", headers)?;
        let cls = py
            .import("sserpent._errors")?
            .getattr("status_error_class")?
            .call1((head.status,))?;
        Ok(PyErr::from_value(cls.call((message,), Some(&kwargs))?))
    };
    build().unwrap_or_else(|e| e)
}
