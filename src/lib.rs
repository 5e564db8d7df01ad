//! sserpent: server-sent events for LLM streams, decoded in Rust.
//!
//! Pure-Rust core modules (no Python needed, tested with
//! `cargo test --no-default-features`) and, behind the `python` feature, the
//! bindings that make up the `sserpent._sserpent` extension module.

pub mod accumulate;
pub mod anthropic;
pub mod channel;
pub mod encode;
pub mod encoding;
pub mod http;
pub mod json;
pub mod metrics;
pub mod mock;
pub mod oci;
pub mod partial_json;
pub mod pipeline;
pub mod runtime;
pub mod schema;
pub mod sse;
pub mod stream;
pub mod text;

#[cfg(feature = "python")]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "python")]
mod py;

#[cfg(feature = "python")]
use pyo3::prelude::*;

#[cfg(feature = "python")]
#[pymodule]
fn _sserpent(m: &Bound<'_, PyModule>) -> PyResult<()> {
    py::register(m)?;
    mock::py::register(m)?;
    Ok(())
}
