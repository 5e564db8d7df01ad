//! `Client`: one connection pool on the shared runtime, and `client.stream(...)`.

use std::sync::Arc;

use bytes::Bytes;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};

use crate::items::pipeline::Ending;
use crate::transport::http::{header_map, ClientOptions, RequestSpec};
use crate::transport::pools::Shards;
use crate::wire::sse::DEFAULT_MAX_EVENT_SIZE;

use super::args;
use super::client_inner::ClientInner;
use super::stream::Stream;
use super::urls::{parse_url, redact_url};

/// An HTTP client for SSE streams: one connection pool on sserpent's shared
/// tokio runtime.
///
/// Timeouts (seconds): ``connect_timeout`` (default 5) for establishing a
/// connection; ``read_timeout`` (default 600) for any gap in the data,
/// restarted by every byte received, keep-alive comments included, and also
/// bounding the wait for response headers once connected; ``timeout`` (default None) a
/// deadline for the whole stream, retries included. ``max_retries`` (default
/// 2) retries connect errors and 408/409/429/5xx with exponential backoff or
/// ``Retry-After``, only before any body byte was delivered. ``verify`` may
/// be a path to a PEM CA bundle. ``http1``/``http2`` choose the protocols as
/// httpx does: HTTP/1.1 only (the default); ``http2=True`` also, HTTP/2
/// where TLS negotiates it; ``http1=False, http2=True`` HTTP/2 only, with
/// prior knowledge on ``http://`` URLs (h2c). Over HTTP/2 streams share
/// connections, ``http2_max_streams`` (default 100) open at once on each.
/// ``pool_idle_timeout`` (default 90) closes idle pooled connections, and
/// drops idle HTTP/2 pools past the first. Numeric arguments refuse bools,
/// NaN, infinities and out-of-range values, naming the argument.
#[pyclass(frozen, module = "sserpent", name = "Client")]
pub struct Client {
    pub inner: Arc<ClientInner>,
}

pub fn str_pairs(obj: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Vec<(String, String)>> {
    let Some(obj) = obj else {
        return Ok(Vec::new());
    };
    if obj.is_none() {
        return Ok(Vec::new());
    }
    // A mapping, or an iterable of (name, value) pairs.
    let items = if let Ok(d) = obj.cast::<PyDict>() {
        d.items().into_any()
    } else if obj.hasattr("items")? {
        obj.call_method0("items")?
    } else {
        obj.clone()
    };
    let mut out = Vec::new();
    for item in items.try_iter()? {
        let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item?.extract()?;
        let k: String = k
            .extract()
            .map_err(|_| PyTypeError::new_err(format!("{what} names must be str")))?;
        let v: String = if v.is_instance_of::<PyString>() {
            v.extract()?
        } else {
            v.str()?.extract()?
        };
        out.push((k, v));
    }
    Ok(out)
}

#[pymethods]
impl Client {
    #[new]
    #[pyo3(signature = (
        base_url = None, headers = None, connect_timeout = 5.0, read_timeout = 600.0, timeout = None,
        max_retries = 2, http2 = false, proxy = None, verify = None, http1 = true,
        http2_max_streams = 100, pool_idle_timeout = 90.0
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        base_url: Option<&str>,
        headers: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = args::named::connect_timeout)] connect_timeout: f64,
        #[pyo3(from_py_with = args::named::read_timeout)] read_timeout: f64,
        #[pyo3(from_py_with = args::named::opt_timeout)] timeout: Option<f64>,
        #[pyo3(from_py_with = args::named::max_retries)] max_retries: i64,
        http2: bool,
        proxy: Option<String>,
        verify: Option<&Bound<'_, PyAny>>,
        http1: bool,
        #[pyo3(from_py_with = args::named::http2_max_streams)] http2_max_streams: i64,
        #[pyo3(from_py_with = args::named::pool_idle_timeout)] pool_idle_timeout: f64,
    ) -> PyResult<Self> {
        let mut opts = ClientOptions {
            connect_timeout: args::seconds("connect_timeout", connect_timeout)?,
            read_timeout: args::seconds("read_timeout", read_timeout)?,
            total_timeout: timeout.map(|t| args::seconds("timeout", t)).transpose()?,
            max_retries: args::count("max_retries", max_retries, 0, u32::MAX.into())?,
            http1,
            http2,
            http2_max_streams: args::count(
                "http2_max_streams",
                http2_max_streams,
                1,
                u32::MAX.into(),
            )?,
            pool_idle_timeout: args::seconds("pool_idle_timeout", pool_idle_timeout)?,
            proxy,
            ..ClientOptions::default()
        };
        if let Some(v) = verify {
            if v.is_none() {
            } else if let Ok(flag) = v.extract::<bool>() {
                opts.verify = flag;
                if !flag {
                    let warnings = py.import("warnings")?;
                    warnings.call_method1(
                        "warn",
                        (
                            "sserpent.Client(verify=False) disables TLS certificate verification",
                            py.get_type::<pyo3::exceptions::PyUserWarning>(),
                        ),
                    )?;
                }
            } else {
                let path: std::path::PathBuf = v.extract()?;
                let pem = std::fs::read(&path).map_err(|e| {
                    PyValueError::new_err(format!("cannot read CA bundle {}: {e}", path.display()))
                })?;
                opts.ca_bundle = Some(pem);
            }
        }
        let base_url = match base_url {
            Some(u) => Some(parse_url(u)?),
            None => None,
        };
        let pools = Shards::new(opts.clone()).map_err(PyValueError::new_err)?;
        let headers = str_pairs(headers, "header")?;
        header_map(&headers).map_err(PyValueError::new_err)?;
        Ok(Client {
            inner: Arc::new(ClientInner {
                pools,
                opts,
                base_url,
                headers,
            }),
        })
    }

    /// Prepares a streaming request; it is sent on first iteration or
    /// ``open()`` / ``await aopen()``.
    ///
    /// ``terminator`` fixes how the stream must end instead of learning it
    /// from its first events: ``"done"`` (``data: [DONE]``),
    /// ``"message_stop"``, ``"response.completed"``, ``"eof"`` (the body
    /// may just end, as OCI's streams do; a body without a single event is
    /// still incomplete), ``"done_true"`` (a line with ``"done": true``, Ollama's), or
    /// ``"finish_reason"`` (Gemini: the body may end once a candidate carried a
    /// ``finishReason`` or the prompt was blocked).
    /// ``read_timeout`` (seconds) replaces the client's read-idle timeout for
    /// this request. ``framing`` reads the body as ``"sse"`` or ``"ndjson"``
    /// (one JSON document per line); by default as its ``Content-Type`` says
    /// (``application/x-ndjson`` and the like: NDJSON, else SSE).
    /// ``require_done=False``: a stream owing ``data: [DONE]`` may end without it
    /// (servers known to omit it); a cut event or an empty body stays incomplete.
    #[pyo3(signature = (method, url, *, json = None, content = None, headers = None, params = None, max_event_size = DEFAULT_MAX_EVENT_SIZE as i64, terminator = None, read_timeout = None, framing = None, require_done = true))]
    #[allow(clippy::too_many_arguments)]
    fn stream(
        &self,
        py: Python<'_>,
        method: &str,
        url: &str,
        json: Option<&Bound<'_, PyAny>>,
        content: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
        params: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = args::named::max_event_size)] max_event_size: i64,
        terminator: Option<&str>,
        #[pyo3(from_py_with = args::named::opt_read_timeout)] read_timeout: Option<f64>,
        framing: Option<&str>,
        require_done: bool,
    ) -> PyResult<Stream> {
        let framing = super::adapters::framing_arg(framing)?;
        let max_event_size = args::size("max_event_size", max_event_size)?;
        let read_timeout = per_call_timeout(read_timeout)?;
        let ending = match terminator {
            None => None,
            Some("done") => Some(Ending::Done),
            Some("message_stop") => Some(Ending::MessageStop),
            Some("response.completed") => Some(Ending::ResponseDone),
            Some("eof") => Some(Ending::Eof),
            Some("done_true") => Some(Ending::DoneTrue),
            Some("finish_reason") => Some(Ending::FinishReason),
            Some(t) => {
                return Err(PyValueError::new_err(format!(
                    "terminator must be \"done\", \"message_stop\", \"response.completed\", \"eof\", \"done_true\" or \"finish_reason\", not {t:?}"
                )))
            }
        };
        self.build_stream(
            py,
            method,
            url,
            json,
            content,
            headers,
            params,
            max_event_size,
            ending,
        )
        .map(|s| {
            s.with_read_timeout(read_timeout)
                .with_wire(framing, require_done)
        })
    }

    /// Sends a non-streaming request and returns its JSON body as chunk
    /// objects (HTTP errors raise as for streams; retries apply).
    #[pyo3(signature = (method, url, *, json = None, content = None, headers = None, params = None, max_size = 64 * 1024 * 1024, read_timeout = None))]
    #[allow(clippy::too_many_arguments)]
    fn request(
        &self,
        py: Python<'_>,
        method: &str,
        url: &str,
        json: Option<&Bound<'_, PyAny>>,
        content: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
        params: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = args::named::max_size)] max_size: i64,
        #[pyo3(from_py_with = args::named::opt_read_timeout)] read_timeout: Option<f64>,
    ) -> PyResult<Py<PyAny>> {
        self.send(
            py,
            method,
            url,
            json,
            content,
            headers,
            params,
            max_size,
            read_timeout,
        )?
        .body_blocking(py)
    }

    /// A non-streaming request as a :class:`Stream`, for its status and headers:
    /// ``open()`` (or ``await aopen()``) sends it and raises HTTP errors; ``read()``
    /// (or ``await aread()``) returns the JSON body as chunk objects, as :meth:`request` does.
    #[pyo3(signature = (method, url, *, json = None, content = None, headers = None, params = None, max_size = 64 * 1024 * 1024, read_timeout = None))]
    #[allow(clippy::too_many_arguments)]
    fn send(
        &self,
        py: Python<'_>,
        method: &str,
        url: &str,
        json: Option<&Bound<'_, PyAny>>,
        content: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
        params: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = args::named::max_size)] max_size: i64,
        #[pyo3(from_py_with = args::named::opt_read_timeout)] read_timeout: Option<f64>,
    ) -> PyResult<Stream> {
        let max_size = args::size("max_size", max_size)?;
        Ok(self
            .body_stream(py, method, url, json, content, headers, params, max_size)?
            .with_read_timeout(per_call_timeout(read_timeout)?))
    }

    /// Async :meth:`request`: ``await client.arequest(...)``.
    #[pyo3(signature = (method, url, *, json = None, content = None, headers = None, params = None, max_size = 64 * 1024 * 1024, read_timeout = None))]
    #[allow(clippy::too_many_arguments)]
    fn arequest(
        &self,
        py: Python<'_>,
        method: &str,
        url: &str,
        json: Option<&Bound<'_, PyAny>>,
        content: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
        params: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = args::named::max_size)] max_size: i64,
        #[pyo3(from_py_with = args::named::opt_read_timeout)] read_timeout: Option<f64>,
    ) -> PyResult<Py<PyAny>> {
        let stream = self.send(
            py,
            method,
            url,
            json,
            content,
            headers,
            params,
            max_size,
            read_timeout,
        )?;
        Stream::body_awaitable(&Bound::new(py, stream)?)
    }

    #[getter]
    fn base_url(&self) -> Option<String> {
        self.inner.base_url.as_ref().map(|u| u.to_string())
    }

    fn __repr__(&self) -> String {
        let o = &self.inner.opts;
        let mut args = Vec::new();
        if let Some(u) = &self.inner.base_url {
            args.push(format!("base_url={:?}", redact_url(u)));
        }
        // The protocols, where they differ from the defaults.
        if !o.http1 {
            args.push("http1=False".into());
        }
        if o.http2 {
            args.push("http2=True".into());
            if o.http2_max_streams != ClientOptions::default().http2_max_streams {
                args.push(format!("http2_max_streams={}", o.http2_max_streams));
            }
        }
        format!("Client({})", args.join(", "))
    }
}

impl Client {
    #[allow(clippy::too_many_arguments)]
    pub fn build_stream(
        &self,
        py: Python<'_>,
        method: &str,
        url: &str,
        json: Option<&Bound<'_, PyAny>>,
        content: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
        params: Option<&Bound<'_, PyAny>>,
        max_event_size: usize,
        ending: Option<Ending>,
    ) -> PyResult<Stream> {
        let method = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            .map_err(|_| PyValueError::new_err(format!("invalid HTTP method {method:?}")))?;
        let mut full = self.join(url)?;
        for (k, v) in str_pairs(params, "param")? {
            full.query_pairs_mut().append_pair(&k, &v);
        }
        let mut pairs = self.inner.headers.clone();
        let extra = str_pairs(headers, "header")?;
        pairs.retain(|(k, _)| !extra.iter().any(|(k2, _)| k2.eq_ignore_ascii_case(k)));
        pairs.extend(extra);
        let has = |pairs: &Vec<(String, String)>, name: &str| {
            pairs.iter().any(|(k, _)| k.eq_ignore_ascii_case(name))
        };
        let body = match (json, content) {
            (Some(j), None) if !j.is_none() => {
                let dumps = py.import("json")?.getattr("dumps")?;
                let kwargs = PyDict::new(py);
                kwargs.set_item("separators", (",", ":"))?;
                kwargs.set_item("ensure_ascii", false)?;
                // NaN and infinities are not JSON: refuse them, as
                // json.dumps(allow_nan=False), before anything is sent.
                kwargs.set_item("allow_nan", false)?;
                let text: String = dumps
                    .call((j,), Some(&kwargs))
                    .map_err(|e| {
                        if e.is_instance_of::<PyValueError>(py) {
                            PyValueError::new_err(format!(
                                "json= is not valid JSON: {}",
                                e.value(py)
                            ))
                        } else {
                            e
                        }
                    })?
                    .extract()?;
                if !has(&pairs, "content-type") {
                    pairs.push(("content-type".into(), "application/json".into()));
                }
                Some(Bytes::from(text.into_bytes()))
            }
            (None, Some(c)) | (Some(_), Some(c)) if json.is_none_or(|j| j.is_none()) => {
                if let Ok(b) = c.cast::<PyBytes>() {
                    Some(Bytes::copy_from_slice(b.as_bytes()))
                } else if let Ok(s) = c.cast::<PyString>() {
                    Some(Bytes::from(s.to_cow()?.into_owned().into_bytes()))
                } else {
                    return Err(PyTypeError::new_err("content must be bytes or str"));
                }
            }
            (Some(_), Some(_)) => {
                return Err(PyValueError::new_err("pass json= or content=, not both"))
            }
            _ => None,
        };
        if !has(&pairs, "accept") {
            pairs.push(("accept".into(), "text/event-stream".into()));
        }
        let headers = header_map(&pairs).map_err(PyValueError::new_err)?;
        let spec = RequestSpec {
            method,
            url: full,
            headers,
            body,
        };
        Ok(Stream::new(
            self.inner.clone(),
            spec,
            max_event_size,
            ending,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn body_stream(
        &self,
        py: Python<'_>,
        method: &str,
        url: &str,
        json: Option<&Bound<'_, PyAny>>,
        content: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
        params: Option<&Bound<'_, PyAny>>,
        max_size: usize,
    ) -> PyResult<Stream> {
        let mut pairs = str_pairs(headers, "header")?;
        if !pairs.iter().any(|(k, _)| k.eq_ignore_ascii_case("accept")) {
            pairs.push(("accept".into(), "application/json".into()));
        }
        let headers = PyDict::new(py);
        for (k, v) in pairs {
            headers.set_item(k, v)?;
        }
        self.build_stream(
            py,
            method,
            url,
            json,
            content,
            Some(headers.as_any()),
            params,
            max_size,
            None,
        )
    }

    fn join(&self, url: &str) -> PyResult<reqwest::Url> {
        if url.contains("://") {
            return parse_url(url);
        }
        match &self.inner.base_url {
            Some(base) => {
                let b = base.as_str().trim_end_matches('/');
                parse_url(&format!("{b}/{}", url.trim_start_matches('/')))
            }
            None => Err(PyValueError::new_err(format!(
                "relative URL {url:?} needs a Client(base_url=...)"
            ))),
        }
    }
}

/// A per-call `read_timeout=` (seconds), or `None`.
fn per_call_timeout(secs: Option<f64>) -> PyResult<Option<std::time::Duration>> {
    secs.map(|s| args::seconds("read_timeout", s)).transpose()
}
