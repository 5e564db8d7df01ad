//! The HTTP side: the options and the reqwest client built from them, what a
//! request and a response head are, redirects that drop credentials across
//! origins, and typed failures. Retries are in `retry`, pools in `pools`.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Method;

use super::response::Response;

use super::headers_deadline::WatchConnectsLayer;

/// Error bodies of non-2xx responses are read up to this size.
pub(super) const MAX_ERROR_BODY: usize = 1 << 20;
/// HTTP/2 flow-control windows (see `build_client`).
const H2_STREAM_WINDOW: u32 = 4 << 20;
const H2_CONNECTION_WINDOW: u32 = 1 << 30;

#[derive(Clone, Debug)]
pub struct ClientOptions {
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    /// Deadline for the whole stream, retries included.
    pub total_timeout: Option<Duration>,
    pub max_retries: u32,
    /// Protocols allowed, as in httpx: HTTP/1.1 alone (the default); both,
    /// HTTP/2 where TLS negotiates it; or HTTP/2 alone, which on `http://`
    /// URLs means cleartext HTTP/2 with prior knowledge (h2c).
    pub http1: bool,
    pub http2: bool,
    /// Streams opened on one HTTP/2 connection before another is opened
    /// (see [`Shards`]).
    pub http2_max_streams: usize,
    /// An idle pooled connection is closed after this long; so is an idle
    /// HTTP/2 pool beyond the first (see [`Shards`]).
    pub pool_idle_timeout: Duration,
    pub proxy: Option<String>,
    pub verify: bool,
    pub ca_bundle: Option<Vec<u8>>,
    pub initial_backoff: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(600),
            total_timeout: None,
            max_retries: 2,
            http1: true,
            http2: false,
            http2_max_streams: 100,
            pool_idle_timeout: Duration::from_secs(90),
            proxy: None,
            verify: true,
            ca_bundle: None,
            initial_backoff: Duration::from_millis(500),
        }
    }
}

pub fn build_client(opts: &ClientOptions) -> Result<reqwest::Client, String> {
    super::tls::install_crypto_provider();
    let mut b = reqwest::Client::builder()
        // Redirects are followed in `send_following`, which knows which
        // headers are credentials and drops them on a change of origin.
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(opts.connect_timeout)
        .connector_layer(WatchConnectsLayer)
        .tcp_nodelay(true)
        .pool_idle_timeout(opts.pool_idle_timeout)
        .danger_accept_invalid_certs(!opts.verify);
    if opts.http2 {
        // Fixed windows, Go's net/http sizes, instead of hyper's adaptive ones.
        // Many streams share one connection, and each LLM token comes in a DATA
        // frame of its own: h2 budgets the small frames buffered at once to
        // half the connection window and kills the connection with
        // ENHANCE_YOUR_CALM past it, so with a 64 KiB window a few thousand
        // streams lagging by one frame each break every stream (measured: 2,657
        // of 5,000 streams in `benches/bench_concurrency.py`). A large
        // connection window also keeps one stalled consumer, holding its
        // stream's window, from blocking the others; memory stays bounded by
        // each stream's window.
        b = b
            .http2_initial_stream_window_size(H2_STREAM_WINDOW)
            .http2_initial_connection_window_size(H2_CONNECTION_WINDOW);
    }
    b = match (opts.http1, opts.http2) {
        (true, false) => b.http1_only(),
        (true, true) => b,
        (false, true) => b.http2_prior_knowledge(),
        (false, false) => return Err("http1 and http2 cannot both be False".into()),
    };
    if let Some(p) = &opts.proxy {
        b = b.proxy(reqwest::Proxy::all(p).map_err(|e| format!("invalid proxy URL: {e}"))?);
    }
    if opts.verify {
        // The trust settings' shared configuration (`super::tls`): the system's
        // roots are read once per process, not for every client. A CA bundle
        // replaces the system's roots, as with requests and httpx.
        let tls = super::tls::client_config(opts.ca_bundle.as_deref(), opts.http1, opts.http2)?;
        b = b.tls_backend_preconfigured(tls);
    }
    b.build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// What to send. Headers are kept apart from the URL so neither shows in reprs.
#[derive(Clone, Debug)]
pub struct RequestSpec {
    pub method: Method,
    pub url: reqwest::Url,
    pub headers: HeaderMap,
    pub body: Option<Bytes>,
}

/// Status line and headers of the response that was streamed.
#[derive(Clone, Debug)]
pub struct ResponseHead {
    pub status: u16,
    /// `HTTP/1.1`, `HTTP/2`, ... as httpx spells it.
    pub http_version: &'static str,
    pub headers: Vec<(String, String)>,
    pub request_id: Option<String>,
}

fn version_name(v: reqwest::Version) -> &'static str {
    match v {
        reqwest::Version::HTTP_09 => "HTTP/0.9",
        reqwest::Version::HTTP_10 => "HTTP/1.0",
        reqwest::Version::HTTP_2 => "HTTP/2",
        reqwest::Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/1.1",
    }
}

impl ResponseHead {
    pub fn of(resp: &Response) -> Self {
        let headers: Vec<(String, String)> = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let request_id = [
            "x-request-id",
            "apim-request-id",
            "opc-request-id",
            "request-id",
        ]
        .iter()
        .find_map(|name| resp.headers().get(*name))
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        ResponseHead {
            status: resp.status(),
            http_version: version_name(resp.version()),
            headers,
            request_id,
        }
    }
}

#[derive(Debug)]
pub enum HttpError {
    /// Could not connect, or the connection broke before a response.
    Connect(String),
    /// connect, read-idle or total timeout.
    Timeout(String),
    /// A non-2xx response, with its (bounded) body.
    Status { head: ResponseHead, body: Bytes },
    /// The body broke after the response started.
    Body(String),
    /// The request could not be built.
    Invalid(String),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Connect(m)
            | HttpError::Timeout(m)
            | HttpError::Body(m)
            | HttpError::Invalid(m) => f.write_str(m),
            HttpError::Status { head, .. } => write!(f, "HTTP status {}", head.status),
        }
    }
}

/// Headers that carry credentials: never sent to another origin on a redirect.
pub const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "api-key",
    "x-api-key",
    "ocp-apim-subscription-key",
    "x-goog-api-key",
    "opc-obo-token",
    "x-content-sha256",
];

const MAX_REDIRECTS: usize = 10;

fn same_origin(a: &reqwest::Url, b: &reqwest::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Where a `Client`'s requests go: reqwest (TLS, proxies, HTTP/2, and
/// cleartext HTTP/1.1 when `direct` is `None`) and the pool of cleartext
/// HTTP/1.1 connections read straight from the socket (`super::h1`).
#[derive(Clone)]
pub struct Upstream {
    pub client: reqwest::Client,
    pub direct: Option<std::sync::Arc<super::h1::Pool>>,
}

impl Upstream {
    pub fn new(opts: &ClientOptions) -> Result<Self, String> {
        Ok(Upstream {
            client: build_client(opts)?,
            direct: super::h1::pool_for(
                opts.http1,
                opts.proxy.is_some(),
                opts.connect_timeout,
                opts.pool_idle_timeout,
            )?,
        })
    }

    /// The direct pool, if this request goes through it: `http://` without
    /// credentials in the URL (reqwest turns those into basic auth), and a
    /// body small enough to write before reading the answer (hyper reads an
    /// early answer, a 413 say, while it writes a large one).
    fn direct_for(
        &self,
        url: &reqwest::Url,
        body: Option<&Bytes>,
    ) -> Option<&std::sync::Arc<super::h1::Pool>> {
        self.direct.as_ref().filter(|_| {
            url.scheme() == "http"
                && url.username().is_empty()
                && url.password().is_none()
                && body.is_none_or(|b| b.len() <= super::h1::MAX_DIRECT_BODY)
        })
    }
}

/// Why a request got no response head.
#[derive(Debug)]
pub enum SendError {
    Reqwest(reqwest::Error),
    Direct(super::h1::SendError),
}

impl SendError {
    pub fn is_timeout(&self) -> bool {
        match self {
            SendError::Reqwest(e) => e.is_timeout(),
            SendError::Direct(e) => matches!(e, super::h1::SendError::ConnectTimeout(_)),
        }
    }

    pub fn is_builder(&self) -> bool {
        matches!(self, SendError::Reqwest(e) if e.is_builder())
    }

    /// The message and causes, without the URL.
    pub fn describe(&self) -> String {
        match self {
            SendError::Reqwest(e) => super::response::describe_plain(e),
            SendError::Direct(e) => e.to_string(),
        }
    }
}

/// Sends once, following up to ten redirects: 303 (and 301/302 after a POST)
/// become a GET without body, 307/308 repeat the request; a redirect to
/// another origin drops every credential header.
pub(super) async fn send_following(
    upstream: &Upstream,
    spec: &RequestSpec,
) -> Result<Response, SendError> {
    let mut method = spec.method.clone();
    let mut url = spec.url.clone();
    let mut headers = spec.headers.clone();
    if !headers.contains_key(reqwest::header::ACCEPT_ENCODING) {
        // Decoded by `crate::wire::encoding`, not by reqwest.
        headers.insert(
            reqwest::header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip"),
        );
    }
    let mut body = spec.body.clone();
    let mut hops = 0;
    loop {
        let resp = match upstream.direct_for(&url, body.as_ref()) {
            Some(pool) => Response::Direct(
                super::h1::send(pool, &method, &url, &headers, body.as_ref())
                    .await
                    .map_err(SendError::Direct)?,
            ),
            None => {
                let mut req = upstream
                    .client
                    .request(method.clone(), url.clone())
                    .headers(headers.clone());
                if let Some(b) = &body {
                    req = req.body(b.clone());
                }
                Response::Hyper(req.send().await.map_err(SendError::Reqwest)?)
            }
        };
        let status = resp.status();
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok());
        let next = match (status, location) {
            (301 | 302 | 303 | 307 | 308, Some(loc)) if hops < MAX_REDIRECTS => url.join(loc).ok(),
            _ => None,
        };
        let Some(next) = next else { return Ok(resp) };
        if !matches!(next.scheme(), "http" | "https") {
            return Ok(resp);
        }
        if status == 303 || (matches!(status, 301 | 302) && method == Method::POST) {
            method = Method::GET;
            body = None;
            headers.remove(reqwest::header::CONTENT_TYPE);
            headers.remove(reqwest::header::CONTENT_LENGTH);
        }
        if !same_origin(&url, &next) {
            for name in CREDENTIAL_HEADERS {
                headers.remove(*name);
            }
        }
        url = next;
        hops += 1;
    }
}

/// An error response's body, decoded (as far as it decodes) and cut at `limit` bytes.
pub(super) async fn read_limited(mut resp: Response, limit: usize) -> Bytes {
    let mut decoder = crate::wire::encoding::decoder_for(resp.headers())
        .ok()
        .flatten();
    let mut buf = Vec::new();
    let mut decoded = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let (piece, failed): (&[u8], bool) = match decoder.as_mut() {
            None => (&chunk, false),
            Some(d) => {
                decoded.clear();
                let failed = d.feed(&chunk, &mut decoded).is_err();
                (&decoded, failed)
            }
        };
        let room = limit - buf.len();
        buf.extend_from_slice(&piece[..piece.len().min(room)]);
        if failed || buf.len() >= limit {
            break;
        }
    }
    Bytes::from(buf)
}

pub fn header_map(pairs: &[(String, String)]) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| format!("invalid header name {k:?}"))?;
        let value =
            HeaderValue::from_str(v).map_err(|_| format!("invalid value for header {k:?}"))?;
        map.insert(name, value);
    }
    Ok(map)
}
