//! The google-genai SDK's computed properties of `GenerateContentResponse`
//! (`text`, `function_calls`, `parts`, `executable_code`,
//! `code_execution_result`), read from the tape: what `Chunk.__getattribute__`
//! answers for these names on a Gemini response, with the SDK's return values
//! (`None` in the same cases).

use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};

use super::chunk::Chunk;
use crate::providers::gemini::{self, FUNCTION_CALL, GENERATE_CONTENT_RESPONSE, PART};
use crate::wire::json::{Doc, Kind};

/// The property `name` of a Gemini response chunk, or `None` if it is no such property.
pub(super) fn property(py: Python<'_>, chunk: &Chunk, name: &str) -> Option<PyResult<Py<PyAny>>> {
    if !std::ptr::eq(chunk.schema, &GENERATE_CONTENT_RESPONSE) {
        return None;
    }
    let doc: &Doc = &chunk.doc;
    let parts = || gemini::first_parts(doc, chunk.node);
    // The SDK's `not ...content.parts`: an empty list reads as none too.
    let nonempty = || parts().filter(|&p| doc.node(p).len > 0);
    Some(match name {
        "text" => Ok(match gemini::response_text(doc, chunk.node) {
            Some(t) => PyString::new(py, &t).into_any().unbind(),
            None => py.None(),
        }),
        "parts" => match parts() {
            Some(p) => chunk.value_to_py(py, p, &PART),
            None => Ok(py.None()),
        },
        "function_calls" => (|| {
            let Some(p) = nonempty() else {
                return Ok(py.None());
            };
            let calls = doc
                .elements(p)
                .filter(|&part| doc.node(part).kind == Kind::Object)
                .filter_map(|part| doc.get(part, "functionCall"))
                .filter(|&c| doc.node(c).kind != Kind::Null)
                .map(|c| chunk.value_to_py(py, c, &FUNCTION_CALL))
                .collect::<PyResult<Vec<_>>>()?;
            if calls.is_empty() {
                return Ok(py.None());
            }
            Ok(PyList::new(py, calls)?.into_any().unbind())
        })(),
        "executable_code" | "code_execution_result" => {
            let (key, field) = if name == "executable_code" {
                ("executableCode", "code")
            } else {
                ("codeExecutionResult", "output")
            };
            let found = nonempty().and_then(|p| {
                doc.elements(p)
                    .filter(|&part| doc.node(part).kind == Kind::Object)
                    .find_map(|part| doc.get_object(part, key))
            });
            Ok(match found.and_then(|o| doc.get_str(o, field)) {
                Some(t) => PyString::new(py, &t).into_any().unbind(),
                None => py.None(),
            })
        }
        _ => return None,
    })
}

/// The property names, for `dir()`.
pub(super) const PROPERTIES: [&str; 5] = [
    "text",
    "parts",
    "function_calls",
    "executable_code",
    "code_execution_result",
];
