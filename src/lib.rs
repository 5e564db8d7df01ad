//! sserpent: server-sent events for LLM streams, decoded in Rust.
//!
//! Pure-Rust core modules (no Python needed, tested with
//! `cargo test --no-default-features`) and, behind the `python` feature, the
//! bindings that make up the `sserpent._sserpent` extension module.

// Layers, lowest first: each uses only the ones listed before it.
pub mod items;
/// The embedded mock server, apart from the client (uses `providers` for OCI signatures).
pub mod mock;
pub mod providers;
pub mod transport;
pub mod wire;

#[cfg(feature = "python")]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "python")]
mod py;

#[cfg(feature = "python")]
use pyo3::prelude::*;

// `gil_used`: chunks count the holders of their document under the GIL (py/doc_ref.rs),
// so a free-threaded interpreter enables it to load this module (and one forced to run
// without it gets an ImportError: `py::require_gil`).
#[cfg(feature = "python")]
#[pymodule(gil_used = true)]
fn _sserpent(m: &Bound<'_, PyModule>) -> PyResult<()> {
    py::register(m)?;
    Ok(())
}
