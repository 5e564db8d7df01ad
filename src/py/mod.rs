//! Python bindings: the `sserpent._sserpent` extension module.

pub mod adapters;
pub mod chunk;
pub mod errors;
pub mod event;

use pyo3::prelude::*;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<event::PyEvent>()?;
    m.add_class::<event::PyDecoder>()?;
    m.add_class::<chunk::Chunk>()?;
    m.add_class::<adapters::ChunkIter>()?;
    m.add_class::<adapters::ChunkParser>()?;
    m.add_function(wrap_pyfunction!(adapters::iter_events, m)?)?;
    m.add_function(wrap_pyfunction!(adapters::iter_chunks, m)?)?;
    Ok(())
}
