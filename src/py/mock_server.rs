//! `sserpent._sserpent.MockServer` (the server in `crate::mock`), re-exported by
//! `sserpent.testing`; the classes of its records are in `mock_records.rs`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyString};

use crate::mock::scenario::{event_frame, split_frames, Faults, Scenario, ScenarioBody};
use crate::mock::MockServer;

use super::mock_records::{PyMockConnection, PyMockRequest};
use super::values::buffer_copy;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyMockServer>()?;
    m.add_class::<PyMockRequest>()?;
    m.add_class::<PyMockConnection>()?;
    // Recorded times are on `time.monotonic()`'s clock (a no-op on unix, which reads it itself).
    let now: f64 = m
        .py()
        .import("time")?
        .call_method0("monotonic")?
        .extract()?;
    crate::mock::record::align_monotonic(now);
    Ok(())
}

/// An embedded mock LLM server on its own threads (see ``sserpent.testing``).
#[pyclass(frozen, module = "sserpent.testing", name = "MockServer")]
pub struct PyMockServer {
    inner: MockServer,
}

/// Compact JSON text of a Python object (`json.dumps`, no ASCII escaping).
fn dumps(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    let py = obj.py();
    let kwargs = PyDict::new(py);
    kwargs.set_item("separators", (",", ":"))?;
    kwargs.set_item("ensure_ascii", false)?;
    py.import("json")?
        .call_method("dumps", (obj,), Some(&kwargs))?
        .extract()
}

/// The bytes of a bytes-like object (or the UTF-8 of a str).
fn bytes_of(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u8>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(b.to_vec());
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(s.to_cow()?.into_owned().into_bytes());
    }
    match buffer_copy(obj) {
        Some(copy) => Ok(copy?.as_bytes().to_vec()),
        None => Err(PyTypeError::new_err(format!(
            "{what} must be bytes-like or str, not {}",
            obj.get_type().name()?
        ))),
    }
}

fn text_of(v: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = v.cast::<PyString>() {
        Ok(s.to_cow()?.into_owned())
    } else {
        dumps(v)
    }
}

const EVENT_KEYS: [&str; 4] = ["event", "data", "id", "retry"];

/// A dict that describes an event (keys among event/data/id/retry) rather
/// than a JSON payload.
fn is_event_dict(d: &Bound<'_, PyDict>) -> bool {
    let mut described = false;
    for key in d.keys() {
        let Ok(k) = key.extract::<String>() else {
            return false;
        };
        if !EVENT_KEYS.contains(&k.as_str()) {
            return false;
        }
        described |= k == "data" || k == "event";
    }
    described
}

fn opt_field(d: &Bound<'_, PyDict>, key: &str) -> PyResult<Option<String>> {
    match d.get_item(key)? {
        Some(v) if !v.is_none() => Ok(Some(text_of(&v)?)),
        _ => Ok(None),
    }
}

/// One item of `events=[...]` as a frame.
fn event_item(item: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    if item.cast::<PyBytes>().is_ok() || item.cast::<PyByteArray>().is_ok() {
        return Ok(Bytes::from(bytes_of(item, "an event")?));
    }
    if let Ok(s) = item.cast::<PyString>() {
        return Ok(event_frame(None, &s.to_cow()?, None, None));
    }
    if let Ok(d) = item.cast::<PyDict>() {
        if !is_event_dict(d) {
            return Ok(event_frame(None, &dumps(item)?, None, None));
        }
        let retry = match d.get_item("retry")? {
            Some(v) if !v.is_none() => Some(v.extract::<u64>()?),
            _ => None,
        };
        return Ok(event_frame(
            opt_field(d, "event")?.as_deref(),
            &opt_field(d, "data")?.unwrap_or_default(),
            opt_field(d, "id")?.as_deref(),
            retry,
        ));
    }
    // A `sserpent.Event` (or anything with str `event`, `data` and `id`).
    if let (Ok(event), Ok(data), Ok(id)) = (
        item.getattr("event").and_then(|v| v.extract::<String>()),
        item.getattr("data").and_then(|v| v.extract::<String>()),
        item.getattr("id").and_then(|v| v.extract::<String>()),
    ) {
        let event = (!event.is_empty() && event != "message").then_some(event.as_str());
        let id = (!id.is_empty()).then_some(id.as_str());
        return Ok(event_frame(event, &data, id, None));
    }
    // Any other JSON value (a list, a number) as a data line.
    dumps(item)
        .map(|s| event_frame(None, &s, None, None))
        .map_err(|_| {
            PyTypeError::new_err(
                "events items must be dict, str, bytes, or sserpent.Event-like objects",
            )
        })
}

/// Seconds as a duration; `None` and zero mean "none".
fn duration(name: &str, secs: Option<f64>) -> PyResult<Option<Duration>> {
    let Some(s) = secs else {
        return Ok(None);
    };
    let d = Duration::try_from_secs_f64(s)
        .map_err(|_| PyValueError::new_err(format!("{name} must be a number of seconds >= 0")))?;
    Ok((!d.is_zero()).then_some(d))
}

fn header_pairs(headers: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<(String, String)>> {
    let Some(h) = headers else {
        return Ok(Vec::new());
    };
    if h.is_none() {
        return Ok(Vec::new());
    }
    let items = if let Ok(d) = h.cast::<PyDict>() {
        d.items().into_any()
    } else if h.hasattr("items")? {
        h.call_method0("items")?
    } else {
        h.clone()
    };
    let mut out = Vec::new();
    for pair in items.try_iter()? {
        let (k, v): (String, Bound<'_, PyAny>) = pair?.extract()?;
        let v = if let Ok(s) = v.cast::<PyString>() {
            s.to_cow()?.into_owned()
        } else {
            v.str()?.to_cow()?.into_owned()
        };
        out.push((k, v));
    }
    Ok(out)
}

fn oci_key(pem: &str) -> PyResult<crate::providers::oci::PublicKey> {
    crate::providers::oci::PublicKey::from_pem(pem)
        .map_err(|e| PyValueError::new_err(e.to_string()))
}

#[pymethods]
impl PyMockServer {
    #[new]
    #[pyo3(signature = (host = "127.0.0.1", port = 0, *, oci_public_key = None, http2_max_concurrent_streams = None))]
    fn new(
        py: Python<'_>,
        host: &str,
        port: u16,
        oci_public_key: Option<&str>,
        http2_max_concurrent_streams: Option<u32>,
    ) -> PyResult<Self> {
        let key = oci_public_key.map(oci_key).transpose()?;
        if http2_max_concurrent_streams == Some(0) {
            return Err(PyValueError::new_err(
                "http2_max_concurrent_streams must be at least 1",
            ));
        }
        let host = host.to_owned();
        let inner = py.detach(|| MockServer::start(&host, port))?;
        inner.require_oci_signature(key);
        inner.set_http2_max_streams(http2_max_concurrent_streams);
        Ok(PyMockServer { inner })
    }

    /// Require OCI request signatures on the OCI paths, verified with this
    /// RSA public key (PEM; a private key PEM gives its public half); ``None``
    /// stops checking. Failing requests are answered 401 ``NotAuthenticated``.
    #[pyo3(signature = (public_key_pem))]
    fn require_oci_signature(&self, public_key_pem: Option<&str>) -> PyResult<()> {
        let key = public_key_pem.map(oci_key).transpose()?;
        self.inner.require_oci_signature(key);
        Ok(())
    }

    /// ``http://HOST:PORT``.
    #[getter]
    fn url(&self) -> String {
        self.inner.url()
    }

    /// The URL an OpenAI client takes as ``base_url``: :attr:`url` + ``/v1``.
    #[getter]
    fn base_url(&self) -> String {
        format!("{}/v1", self.inner.url())
    }

    #[getter]
    fn host(&self) -> String {
        self.inner.addr().ip().to_string()
    }

    #[getter]
    fn port(&self) -> u16 {
        self.inner.addr().port()
    }

    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Scripted responses not used yet (repeats counted).
    #[getter]
    fn pending(&self) -> usize {
        self.inner.pending()
    }

    /// Queue a scripted response for the next matching request.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (
        *,
        events = None,
        sse = None,
        sse_file = None,
        json = None,
        body = None,
        status = 200,
        headers = None,
        path = None,
        times = 1,
        delay = None,
        headers_delay = None,
        cut_after = None,
        cut_mid_event = false,
        reset = false,
        stall_after = None,
        keepalive = None,
        stall_for = None,
        close_before_headers = false,
    ))]
    fn enqueue(
        &self,
        py: Python<'_>,
        events: Option<&Bound<'_, PyAny>>,
        sse: Option<&Bound<'_, PyAny>>,
        sse_file: Option<std::path::PathBuf>,
        json: Option<&Bound<'_, PyAny>>,
        body: Option<&Bound<'_, PyAny>>,
        status: u16,
        headers: Option<&Bound<'_, PyAny>>,
        path: Option<String>,
        times: u32,
        delay: Option<f64>,
        headers_delay: Option<f64>,
        cut_after: Option<usize>,
        cut_mid_event: bool,
        reset: bool,
        stall_after: Option<usize>,
        keepalive: Option<f64>,
        stall_for: Option<f64>,
        close_before_headers: bool,
    ) -> PyResult<()> {
        let given = [
            events.is_some(),
            sse.is_some(),
            sse_file.is_some(),
            json.is_some(),
            body.is_some(),
        ];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(PyValueError::new_err(
                "give at most one of events, sse, sse_file, json and body",
            ));
        }
        let body = if let Some(events) = events {
            let frames = events
                .try_iter()?
                .map(|item| event_item(&item?))
                .collect::<PyResult<Vec<_>>>()?;
            ScenarioBody::Frames(frames.into())
        } else if let Some(sse) = sse {
            ScenarioBody::Frames(split_frames(&bytes_of(sse, "sse")?).into())
        } else if let Some(file) = sse_file {
            let raw = py.detach(|| std::fs::read(&file))?;
            ScenarioBody::Frames(split_frames(&raw).into())
        } else if let Some(json) = json {
            ScenarioBody::Fixed {
                bytes: Bytes::from(dumps(json)?),
                content_type: "application/json",
            }
        } else if let Some(body) = body {
            ScenarioBody::Fixed {
                bytes: Bytes::from(bytes_of(body, "body")?),
                content_type: "text/plain; charset=utf-8",
            }
        } else {
            ScenarioBody::Default
        };
        let keepalive = match keepalive {
            Some(k) if k <= 0.0 => {
                return Err(PyValueError::new_err("keepalive must be > 0 seconds"))
            }
            k => duration("keepalive", k)?,
        };
        let scenario = Scenario {
            path,
            times,
            status,
            headers: header_pairs(headers)?,
            body,
            faults: Faults {
                delay: duration("delay", delay)?,
                headers_delay: duration("headers_delay", headers_delay)?,
                cut_after,
                cut_mid_event,
                reset,
                stall_after,
                keepalive,
                // Zero is a stall of no length, not an endless one.
                stall_for: match stall_for {
                    Some(s) => Some(Duration::try_from_secs_f64(s).map_err(|_| {
                        PyValueError::new_err("stall_for must be a number of seconds >= 0")
                    })?),
                    None => None,
                },
                close_before_headers,
            },
        };
        self.inner.enqueue(scenario).map_err(PyValueError::new_err)
    }

    /// Every request received since the start (or the last :meth:`reset`).
    #[getter]
    fn requests(&self) -> Vec<PyMockRequest> {
        self.inner
            .requests()
            .into_iter()
            .map(|inner| PyMockRequest { inner })
            .collect()
    }

    /// A snapshot of every connection's record, oldest first.
    #[getter]
    fn connections(&self) -> Vec<PyMockConnection> {
        self.inner
            .connections()
            .into_iter()
            .map(|inner| PyMockConnection { inner })
            .collect()
    }

    /// Block (without the GIL) until the connection is closed; ``True`` when it is.
    #[pyo3(
        signature = (connection_id = None, timeout = Some(5.0)),
        text_signature = "($self, connection_id=None, timeout=5.0)"
    )]
    fn wait_closed(
        &self,
        py: Python<'_>,
        connection_id: Option<u64>,
        timeout: Option<f64>,
    ) -> PyResult<bool> {
        let limit = match timeout {
            None => None,
            Some(t) => Some(
                Duration::try_from_secs_f64(t.max(0.0))
                    .map_err(|_| PyValueError::new_err("timeout must be a number of seconds"))?,
            ),
        };
        let start = Instant::now();
        let mut target = connection_id;
        loop {
            if target.is_none() {
                target = self.inner.connections().last().map(|c| c.id);
            }
            let left = limit.map(|l| l.saturating_sub(start.elapsed()));
            // Short slices, so that Ctrl-C is seen while waiting.
            let slice = left.map_or(Duration::from_millis(100), |l| {
                l.min(Duration::from_millis(100))
            });
            match py.detach(|| self.inner.wait_closed(target, slice)) {
                Ok(true) if target.is_some() => return Ok(true),
                Ok(_) => {}
                Err(e) => return Err(PyValueError::new_err(e.to_string())),
            }
            py.check_signals()?;
            if left.is_some_and(|l| l <= slice) {
                return Ok(false);
            }
        }
    }

    /// Forget the queued responses and the records (open connections stay).
    fn reset(&self) {
        self.inner.reset();
    }

    /// Stop the server: close every connection and free the port. Idempotent.
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.inner.close());
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: Option<&Bound<'_, PyAny>>,
        _exc: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> bool {
        self.close(py);
        false
    }

    fn __repr__(&self) -> String {
        format!(
            "<MockServer {} ({})>",
            self.inner.url(),
            if self.inner.is_closed() {
                "closed"
            } else {
                "running"
            }
        )
    }
}
