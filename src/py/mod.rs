//! Python bindings, the `sserpent._sserpent` extension module: Python classes over the Rust core.
//! May use everything else in the crate (`wire`, `providers`, `items`, `transport`, `mock`);
//! nothing uses it but `lib.rs`. Inside, its files form layers too, without circles.

pub mod adapters;
pub mod alloc;
pub mod anthropic;
pub mod args;
pub mod awaitable;
pub mod bridge;
pub mod chat_event;
pub mod chat_state;
pub mod chat_stream;
pub mod chunk;
pub mod chunk_methods;
pub mod client;
pub mod client_inner;
pub mod doc_ref;
pub mod dump;
pub mod end_hook;
pub mod errors;
pub mod event;
pub mod gemini;
pub mod headers;
pub mod metrics;
pub mod mock_records;
pub mod mock_server;
pub mod oci;
pub mod ready;
pub mod running_loop;
pub mod sse_out;
pub mod stop_iteration;
pub mod stream;
pub mod stream_errors;
pub mod stream_methods;
pub mod urls;
pub mod values;
pub mod waiter;

use pyo3::prelude::*;

/// Chunk objects count the holders of their document under the GIL (`doc_ref.rs`).
/// The module declares that it needs it (`gil_used` in `lib.rs`), so a free-threaded
/// interpreter enables it to import sserpent, unless told not to (`PYTHON_GIL=0`,
/// `-X gil=0`): then the import fails here, rather than chunks racing later.
fn require_gil(py: Python<'_>) -> PyResult<()> {
    let sys = py.import("sys")?;
    let Ok(is_gil_enabled) = sys.getattr("_is_gil_enabled") else {
        return Ok(()); // before 3.13: always enabled
    };
    if is_gil_enabled.call0()?.is_truthy()? {
        return Ok(());
    }
    Err(pyo3::exceptions::PyImportError::new_err(
        "sserpent needs the GIL, which this interpreter runs without (PYTHON_GIL=0 or -X gil=0): \
         run it with the GIL enabled",
    ))
}

/// Internal counters for leak checks: live reader tasks.
#[pyfunction]
fn _live_tasks() -> usize {
    crate::transport::stream::LIVE_TASKS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Internal counters for leak checks: stream documents waiting to be freed on a tokio
/// thread (`transport/release.rs`).
#[pyfunction]
fn _released_waiting() -> usize {
    crate::transport::release::waiting()
}

/// For a chunk: how many chunk objects hold its document (`doc_ref.rs`), and how many
/// `Arc` references it has (the holders' one and any other).
#[pyfunction]
fn _doc_refs(chunk: &Bound<'_, chunk::Chunk>) -> (u32, usize) {
    chunk.get().doc_refs()
}

/// Whether a ready chunk's `StopIteration` is one object raised again (CPython 3.12 and 3.13,
/// `stop_iteration.rs`), that object's address (0 when none), and how many were made (tests).
#[pyfunction]
fn _stop_iteration_reused(py: Python<'_>) -> (bool, usize, usize) {
    stop_iteration::state(py)
}

/// Per class made by `alloc::new_object`: `True` once its instances are made directly,
/// `False` if pyo3's layout did not allow it, `None` before its first instance.
#[pyfunction]
fn _fast_alloc(py: Python<'_>) -> Vec<(&'static str, Option<bool>)> {
    use alloc::fast_alloc_active as active;
    vec![
        ("Chunk", active::<chunk::Chunk>(py)),
        ("_Pending", active::<awaitable::Pending>(py)),
        ("_Waiter", active::<waiter::Waiter>(py)),
    ]
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    require_gil(m.py())?;
    m.add_function(wrap_pyfunction!(_live_tasks, m)?)?;
    m.add_function(wrap_pyfunction!(_released_waiting, m)?)?;
    m.add_function(wrap_pyfunction!(_doc_refs, m)?)?;
    m.add_function(wrap_pyfunction!(_fast_alloc, m)?)?;
    m.add_function(wrap_pyfunction!(_stop_iteration_reused, m)?)?;
    m.add_function(wrap_pyfunction!(end_hook::_clock_ns, m)?)?;
    bridge::register(m)?;
    m.add_class::<anthropic::MessageState>()?;
    m.add_class::<chat_state::ChatState>()?;
    m.add_class::<chat_event::ChatEvent>()?;
    m.add_class::<chat_stream::ChatEvents>()?;
    m.add_class::<event::PyEvent>()?;
    m.add_class::<event::PyDecoder>()?;
    m.add_class::<chunk::Chunk>()?;
    m.add_class::<adapters::ChunkIter>()?;
    m.add_class::<adapters::ChunkParser>()?;
    m.add_class::<client::Client>()?;
    m.add_class::<stream::Stream>()?;
    m.add_class::<stream_methods::StreamView>()?;
    m.add_class::<metrics::StreamMetrics>()?;
    m.add_class::<headers::Headers>()?;
    m.add_class::<sse_out::SseIter>()?;
    m.add_function(wrap_pyfunction!(sse_out::sse_encode, m)?)?;
    m.add_function(wrap_pyfunction!(adapters::iter_events, m)?)?;
    m.add_function(wrap_pyfunction!(adapters::iter_chunks, m)?)?;
    m.add_function(wrap_pyfunction!(oci::oci_sign, m)?)?;
    mock_server::register(m)?;
    Ok(())
}
