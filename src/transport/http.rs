//! The HTTP side: one reqwest client per `Client`, requests with retries
//! before the first body byte, and typed failures.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Response};

use super::headers_deadline::{within_read_timeout, HeadersTimeout, WatchConnectsLayer};

/// Error bodies of non-2xx responses are read up to this size.
const MAX_ERROR_BODY: usize = 1 << 20;
const MAX_BACKOFF: Duration = Duration::from_secs(8);
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

fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

pub fn build_client(opts: &ClientOptions) -> Result<reqwest::Client, String> {
    install_crypto_provider();
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
    if let Some(pem) = &opts.ca_bundle {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| format!("invalid CA bundle: {e}"))?;
        if certs.is_empty() {
            // Else a wrong file would quietly leave only the system's roots.
            return Err("invalid CA bundle: no PEM certificate in it".into());
        }
        // As with requests and httpx, a bundle replaces the system's roots.
        b = b.tls_certs_only(certs);
    }
    b.build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// The reqwest clients (connection pools) of one `Client`.
///
/// HTTP/1.1 needs one: its pool opens a connection per concurrent stream.
/// HTTP/2 puts every stream to an origin on one connection per pool, but a
/// server caps the streams open at once on a connection
/// (`SETTINGS_MAX_CONCURRENT_STREAMS`, often 100 to 250), and past the cap
/// hyper queues new streams until one ends instead of opening another
/// connection: stream 101 of a busy service would wait minutes for its
/// first byte. So an HTTP/2 client takes another pool, hence another
/// connection, for every `http2_max_streams` streams open at once. Pools
/// beyond the first are dropped (with their connections) once they have had
/// no stream for `pool_idle_timeout`, so a burst's pools don't outlive it.
pub struct Shards {
    opts: ClientOptions,
    /// The pools and the pid they belong to: a forked child must not reuse
    /// the parent's pooled connections (they are the parent's sockets).
    inner: Mutex<(u32, Vec<Shard>)>,
}

struct Shard {
    client: reqwest::Client,
    usage: Arc<Usage>,
}

/// How many streams a pool carries, and since when it carries none.
#[derive(Default)]
struct Usage {
    open: AtomicUsize,
    idle_since: Mutex<Option<Instant>>,
}

impl Usage {
    fn idle_for(&self, now: Instant) -> Option<Duration> {
        if self.open.load(Ordering::Acquire) > 0 {
            return None;
        }
        let since = *self.idle_since.lock().unwrap_or_else(|e| e.into_inner());
        since.map(|t| now.saturating_duration_since(t))
    }
}

/// A stream's place in a pool, given back when the stream's task ends.
pub struct Lease {
    usage: Arc<Usage>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.usage.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            *self
                .usage
                .idle_since
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        }
    }
}

impl Shards {
    pub fn new(opts: ClientOptions) -> Result<Self, String> {
        let first = Shard {
            client: build_client(&opts)?,
            usage: Arc::default(),
        };
        Ok(Shards {
            opts,
            inner: Mutex::new((std::process::id(), vec![first])),
        })
    }

    /// A pool with room for one more stream, and the stream's lease on it.
    pub fn lease(&self) -> Result<(reqwest::Client, Lease), String> {
        let cap = if self.opts.http2 {
            self.opts.http2_max_streams.max(1)
        } else {
            usize::MAX
        };
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let pid = std::process::id();
        if inner.0 != pid {
            // A forked child: the parent's pools hold the parent's
            // connections; never touch (or drop) them here.
            for old in std::mem::take(&mut inner.1) {
                std::mem::forget(old);
            }
            inner.0 = pid;
        }
        let shards = &mut inner.1;
        self.drop_idle(shards);
        let free = shards
            .iter()
            .position(|s| s.usage.open.load(Ordering::Acquire) < cap);
        let shard = match free {
            Some(i) => &shards[i],
            None => {
                shards.push(Shard {
                    client: build_client(&self.opts)?,
                    usage: Arc::default(),
                });
                &shards[shards.len() - 1]
            }
        };
        shard.usage.open.fetch_add(1, Ordering::AcqRel);
        let lease = Lease {
            usage: shard.usage.clone(),
        };
        Ok((shard.client.clone(), lease))
    }

    /// Drops the pools, but the first, idle for `pool_idle_timeout`.
    fn drop_idle(&self, shards: &mut Vec<Shard>) {
        let now = Instant::now();
        let mut index = 0;
        shards.retain(|s| {
            index += 1;
            index == 1
                || s.usage
                    .idle_for(now)
                    .is_none_or(|d| d < self.opts.pool_idle_timeout)
        });
    }

    /// Pools held now (idle ones past `pool_idle_timeout` dropped first).
    pub fn pools(&self) -> usize {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.0 == std::process::id() {
            self.drop_idle(&mut inner.1);
        }
        inner.1.len()
    }
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
            status: resp.status().as_u16(),
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

fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 409 | 429) || status >= 500
}

/// `Retry-After` (seconds or an HTTP date) or `retry-after-ms`, capped.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<f64>().ok())
    {
        return Some(Duration::from_secs_f64((ms / 1000.0).clamp(0.0, 60.0)));
    }
    let v = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return Some(Duration::from_secs_f64(secs.clamp(0.0, 60.0)));
    }
    let when = httpdate(v)?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or_default()
            .min(Duration::from_secs(60)),
    )
}

/// Parses an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT").
fn httpdate(s: &str) -> Option<SystemTime> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    if parts.len() != 6 || parts[5] != "GMT" {
        return None;
    }
    let day: u64 = parts[1].parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == parts[2])? as u64
        + 1;
    let year: i64 = parts[3].parse().ok()?;
    let hms: Vec<u64> = parts[4].split(':').filter_map(|x| x.parse().ok()).collect();
    if hms.len() != 3 {
        return None;
    }
    // days from civil (Howard Hinnant)
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let secs = days * 86400 + (hms[0] * 3600 + hms[1] * 60 + hms[2]) as i64;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

fn backoff(opts: &ClientOptions, attempt: u32) -> Duration {
    let base = opts
        .initial_backoff
        .saturating_mul(1 << attempt.min(10))
        .min(MAX_BACKOFF);
    // Up to 25% jitter, from the clock's low bits (no RNG dependency).
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    base.mul_f64(1.0 - (nanos % 250) as f64 / 1000.0)
}

/// Sends the request, retrying (connect errors, timeouts before the
/// response, 408/409/429/5xx) while no body byte has been delivered.
/// Returns the 2xx response, or the final failure.
pub async fn send_with_retries(
    client: &reqwest::Client,
    spec: &RequestSpec,
    opts: &ClientOptions,
    mut on_attempt: impl FnMut(u32),
) -> Result<Response, HttpError> {
    let mut attempt = 0u32;
    loop {
        on_attempt(attempt + 1);
        let outcome = within_read_timeout(
            send_following(client, spec),
            opts.connect_timeout,
            opts.read_timeout,
        )
        .await;
        let (failure, delay) = match outcome {
            Err(HeadersTimeout::AfterConnect(t)) => (
                HttpError::Timeout(format!(
                    "no response headers within {:.3}s of connecting (read_timeout)",
                    t.as_secs_f64()
                )),
                None,
            ),
            Err(HeadersTimeout::Connecting(t)) => (
                HttpError::Timeout(format!(
                    "no connection within {:.3}s (connect_timeout + read_timeout)",
                    t.as_secs_f64()
                )),
                None,
            ),
            Ok(Err(e)) => {
                let msg = describe_plain(&e);
                if e.is_timeout() {
                    (
                        HttpError::Timeout(format!(
                            "connect timed out after {:.3}s: {msg}",
                            opts.connect_timeout.as_secs_f64()
                        )),
                        None,
                    )
                } else if e.is_builder() {
                    return Err(HttpError::Invalid(msg));
                } else {
                    (HttpError::Connect(msg), None)
                }
            }
            Ok(Ok(resp)) => {
                let status = resp.status().as_u16();
                if (200..300).contains(&status) {
                    return Ok(resp);
                }
                let head = ResponseHead::of(&resp);
                let delay = retry_after(resp.headers());
                let body = read_limited(resp, MAX_ERROR_BODY).await;
                let retry = retryable_status(status);
                let err = HttpError::Status { head, body };
                if !retry {
                    return Err(err);
                }
                (err, delay)
            }
        };
        if attempt >= opts.max_retries {
            return Err(failure);
        }
        let pause = delay.unwrap_or_else(|| backoff(opts, attempt));
        tokio::time::sleep(pause).await;
        attempt += 1;
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

/// Sends once, following up to ten redirects: 303 (and 301/302 after a POST)
/// become a GET without body, 307/308 repeat the request; a redirect to
/// another origin drops every credential header.
async fn send_following(client: &reqwest::Client, spec: &RequestSpec) -> reqwest::Result<Response> {
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
        let mut req = client
            .request(method.clone(), url.clone())
            .headers(headers.clone());
        if let Some(b) = &body {
            req = req.body(b.clone());
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
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

/// A reqwest error's message and causes, without the URL.
pub fn describe_plain(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut msg = if e.is_connect() {
        "connection failed".to_string()
    } else if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_body() || e.is_decode() {
        "error reading the response body".to_string()
    } else if e.is_request() {
        "error sending the request".to_string()
    } else {
        "HTTP error".to_string()
    };
    let mut src = e.source();
    while let Some(s) = src {
        let s_msg = s.to_string();
        if !msg.contains(&s_msg) {
            msg.push_str(": ");
            msg.push_str(&s_msg);
        }
        src = s.source();
    }
    msg
}

/// An error response's body, decoded (as far as it decodes) and cut at `limit` bytes.
async fn read_limited(mut resp: Response, limit: usize) -> Bytes {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", HeaderValue::from_static("150"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(150)));
        let past = HeaderMap::from_iter([(
            HeaderName::from_static("retry-after"),
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        )]);
        assert_eq!(retry_after(&past), Some(Duration::ZERO));
        assert_eq!(
            httpdate("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(784111777))
        );
    }

    #[test]
    fn statuses_retried() {
        assert!(
            retryable_status(429)
                && retryable_status(500)
                && retryable_status(408)
                && retryable_status(409)
        );
        assert!(!retryable_status(400) && !retryable_status(401) && !retryable_status(404));
    }

    #[test]
    fn http2_streams_spread_over_pools_of_bounded_size() {
        let opts = ClientOptions {
            http1: false,
            http2: true,
            http2_max_streams: 2,
            ..ClientOptions::default()
        };
        let pools = Shards::new(opts).unwrap();
        let a = pools.lease().unwrap();
        let b = pools.lease().unwrap();
        assert_eq!(pools.pools(), 1);
        let c = pools.lease().unwrap();
        assert_eq!(pools.pools(), 2, "a third stream opens a second pool");
        drop(a);
        let d = pools.lease().unwrap();
        assert_eq!(pools.pools(), 2, "a freed place is taken before a new pool");
        drop((b, c, d));
        let _e = pools.lease().unwrap();
        assert_eq!(pools.pools(), 2);
    }

    #[test]
    fn idle_pools_past_the_first_are_dropped_after_the_idle_timeout() {
        let opts = ClientOptions {
            http1: false,
            http2: true,
            http2_max_streams: 1,
            pool_idle_timeout: Duration::from_millis(50),
            ..ClientOptions::default()
        };
        let pools = Shards::new(opts).unwrap();
        let leases: Vec<_> = (0..4).map(|_| pools.lease().unwrap()).collect();
        assert_eq!(pools.pools(), 4);
        drop(leases);
        assert_eq!(pools.pools(), 4, "kept until they have been idle long enough");
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(pools.pools(), 1, "the first pool stays");
        let busy = pools.lease().unwrap();
        let _second = pools.lease().unwrap();
        assert_eq!(pools.pools(), 2);
        drop(busy);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(pools.pools(), 2, "a pool with a stream is kept, the first even when idle");
    }

    #[test]
    fn http1_streams_share_one_pool() {
        let pools = Shards::new(ClientOptions::default()).unwrap();
        let leases: Vec<_> = (0..500).map(|_| pools.lease().unwrap()).collect();
        assert_eq!(pools.pools(), 1);
        drop(leases);
    }
}
