//! `StreamMetrics`: one stream's timings and counts, a snapshot of the reader
//! task's live `Metrics` taken when Python reads `stream.metrics`, so its
//! numbers do not change under the caller.

use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Timings and counts of one stream; times in seconds from the request start.
#[pyclass(frozen, module = "sserpent", name = "StreamMetrics", get_all)]
pub struct StreamMetrics {
    time_to_headers: Option<f64>,
    time_to_first_event: Option<f64>,
    time_to_first_token: Option<f64>,
    chunks: u64,
    bytes_received: u64,
    duration: Option<f64>,
    gap_p50: Option<f64>,
    gap_p99: Option<f64>,
    attempts: u32,
}

impl From<&crate::transport::metrics::Snapshot> for StreamMetrics {
    fn from(s: &crate::transport::metrics::Snapshot) -> Self {
        let secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
        StreamMetrics {
            time_to_headers: secs(s.since_start(s.headers_at)),
            time_to_first_event: secs(s.since_start(s.first_event_at)),
            time_to_first_token: secs(s.since_start(s.first_text_at)),
            chunks: s.chunks,
            bytes_received: s.bytes,
            duration: secs(s.since_start(s.ended_at)),
            gap_p50: secs(s.gap_percentile(0.5)),
            gap_p99: secs(s.gap_percentile(0.99)),
            attempts: s.attempts,
        }
    }
}

#[pymethods]
impl StreamMetrics {
    /// Chunks per second over the stream's duration.
    #[getter]
    fn chunks_per_second(&self) -> Option<f64> {
        self.duration
            .filter(|d| *d > 0.0)
            .map(|d| self.chunks as f64 / d)
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("time_to_headers", self.time_to_headers)?;
        d.set_item("time_to_first_event", self.time_to_first_event)?;
        d.set_item("time_to_first_token", self.time_to_first_token)?;
        d.set_item("chunks", self.chunks)?;
        d.set_item("bytes_received", self.bytes_received)?;
        d.set_item("duration", self.duration)?;
        d.set_item("gap_p50", self.gap_p50)?;
        d.set_item("gap_p99", self.gap_p99)?;
        d.set_item("attempts", self.attempts)?;
        d.set_item("chunks_per_second", self.chunks_per_second())?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let ms = |v: Option<f64>| {
            v.map(|s| format!("{:.1}ms", s * 1e3))
                .unwrap_or_else(|| "-".into())
        };
        format!(
            "StreamMetrics(ttfb={}, ttft={}, chunks={}, bytes={}, duration={}, gap_p50={}, gap_p99={})",
            ms(self.time_to_headers),
            ms(self.time_to_first_token),
            self.chunks,
            self.bytes_received,
            ms(self.duration),
            ms(self.gap_p50),
            ms(self.gap_p99)
        )
    }
}
