//! Cleartext HTTP/1.1 read straight from the socket in the stream's own task.
//!
//! Through hyper, every chunk of a streamed body crosses two tasks: hyper's
//! connection task reads the socket into its 8 KiB buffer, decodes the
//! framing and sends the bytes through the body channel, whose receiver wakes
//! the stream's task; and each connection holds hyper's read and write
//! buffers. Here the stream's task polls the socket itself: one wake-up per
//! read, and the buffer is the one the body is decoded from. At 5,000
//! concurrent streams that is less CPU per chunk and less memory per stream
//! (docs/performance.md, "HTTP/1.1 read from the socket").
//!
//! Used for `http://` URLs when no proxy applies (no `proxy=`, no
//! `HTTP_PROXY`/`ALL_PROXY` in the environment) and HTTP/1.1 is allowed:
//! local and in-cluster OpenAI-compatible servers (vLLM, Ollama, llama.cpp,
//! gateways). `https://`, proxies and h2c stay on reqwest and hyper, which do
//! TLS, CONNECT tunnels and HTTP/2. `SSERPENT_HTTP1=hyper` (read when a
//! client is made) puts cleartext HTTP/1.1 back on hyper too.
//!
//! The response is handed on as a [`Response`], which
//! `super::response::Response` puts beside reqwest's: everything after the
//! head (retries, redirects, the body's decoding and errors) is the same
//! code for both paths.

mod body;
pub mod framing;
pub mod pool;
mod request;
pub mod response;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use bytes::BytesMut;
use reqwest::header::HeaderMap;
use reqwest::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub use pool::Pool;

use super::headers_deadline;

/// Larger request bodies go through hyper (`Upstream::direct_for`).
pub const MAX_DIRECT_BODY: usize = 64 * 1024;

/// The environment variable that can put cleartext HTTP/1.1 back on hyper.
pub const HTTP1_ENV: &str = "SSERPENT_HTTP1";

/// Buffer allocated for a read of the response head or body: an SSE read
/// is a few hundred bytes; the buffer grows when a read fills it.
const READ_SIZE: usize = 4096;

/// The pool for cleartext HTTP/1.1 read here, or `None` when the client's
/// options (`http1`, a `proxy`) or the environment want every request on
/// reqwest.
pub fn pool_for(
    http1: bool,
    proxy: bool,
    connect_timeout: std::time::Duration,
    idle_timeout: std::time::Duration,
) -> Result<Option<Arc<Pool>>, String> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let proxied = ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
        .iter()
        .any(|v| env(v).is_some());
    let direct = reads_directly(http1 && !proxy, env(HTTP1_ENV).as_deref(), proxied)?;
    Ok(direct.then(|| Pool::new(connect_timeout, idle_timeout)))
}

/// Whether cleartext HTTP/1.1 is read here: `allowed` when the options ask
/// for HTTP/1.1 and no proxy, `choice` is `SSERPENT_HTTP1`, `proxied` whether
/// the environment names a proxy for `http://`.
fn reads_directly(allowed: bool, choice: Option<&str>, proxied: bool) -> Result<bool, String> {
    match choice.map(str::trim).unwrap_or("") {
        "" | "direct" => Ok(allowed && !proxied),
        "hyper" => Ok(false),
        other => Err(format!(
            "{HTTP1_ENV}={other:?} is not an HTTP/1.1 reader; allowed values: direct, hyper (unset or empty: direct)"
        )),
    }
}

/// Why a request failed before its response head (after it, the body's
/// errors are messages from `Response::chunk`).
#[derive(Debug)]
pub enum SendError {
    /// Could not connect (refused, unreachable, no such host).
    Connect(String),
    /// The connect took longer than `connect_timeout`.
    ConnectTimeout(String),
    /// The connection broke or the response head was not HTTP.
    Request(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Connect(m) => write!(f, "connection failed: {m}"),
            SendError::ConnectTimeout(m) => write!(f, "timed out: {m}"),
            SendError::Request(m) => write!(f, "error sending the request: {m}"),
        }
    }
}

fn origin(url: &reqwest::Url) -> pool::Origin {
    (
        url.host_str().unwrap_or("").to_string(),
        url.port_or_known_default().unwrap_or(80),
    )
}

/// TCP keepalive as reqwest sets it: a peer gone silent (a NAT or load
/// balancer that dropped the connection) is noticed in about a minute, not
/// at `read_timeout`.
const KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(15);

async fn connect(pool: &Pool, url: &reqwest::Url) -> Result<TcpStream, SendError> {
    let deadline = tokio::time::Instant::now() + pool.connect_timeout;
    let port = url.port_or_known_default().unwrap_or(80);
    let host = url.host_str().unwrap_or("");
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<std::net::SocketAddr> = match literal.parse::<std::net::IpAddr>() {
        Ok(ip) => vec![(ip, port).into()],
        Err(_) if host.is_empty() => return Err(SendError::Connect("the URL has no host".into())),
        Err(_) => {
            let resolve = tokio::net::lookup_host((host, port));
            match tokio::time::timeout_at(deadline, resolve).await {
                Ok(Ok(found)) => found.collect(),
                Ok(Err(e)) => return Err(SendError::Connect(format!("dns error: {e}"))),
                Err(_) => return Err(timed_out(pool)),
            }
        }
    };
    // The time left is shared among the addresses, so one that drops packets
    // does not use it all (as hyper's connector splits it).
    let mut last = None;
    for (i, addr) in addrs.iter().enumerate() {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let share = left / (addrs.len() - i) as u32;
        match tokio::time::timeout(share, TcpStream::connect(addr)).await {
            Ok(Ok(sock)) => {
                let _ = sock.set_nodelay(true);
                let keepalive = socket2::TcpKeepalive::new().with_time(KEEPALIVE);
                #[cfg(any(target_os = "linux", target_os = "macos", windows))]
                let keepalive = keepalive.with_interval(KEEPALIVE);
                #[cfg(any(target_os = "linux", target_os = "macos"))]
                let keepalive = keepalive.with_retries(3);
                let _ = socket2::SockRef::from(&sock).set_tcp_keepalive(&keepalive);
                return Ok(sock);
            }
            Ok(Err(e)) => last = Some(SendError::Connect(format!("tcp connect error: {e}"))),
            Err(_) => last = Some(timed_out(pool)),
        }
    }
    Err(last.unwrap_or_else(|| SendError::Connect("dns error: no addresses".into())))
}

fn timed_out(pool: &Pool) -> SendError {
    SendError::ConnectTimeout(format!(
        "no connection within {:.3}s",
        pool.connect_timeout.as_secs_f64()
    ))
}

/// A response whose head was read; its body is read from the socket as
/// [`Response::chunk`] is called.
pub struct Response {
    pub status: u16,
    pub version: http::Version,
    pub headers: HeaderMap,
    body: body::Body,
}

impl std::fmt::Debug for Response {
    // Status and version only: header values can carry secrets (cookies).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl Response {
    /// The next piece of the body, `None` at its end, or why it broke.
    pub async fn chunk(&mut self) -> Result<Option<bytes::Bytes>, String> {
        std::future::poll_fn(|cx| self.body.poll_chunk(cx))
            .await
            .transpose()
    }
}

/// Sends one request on a pooled or new connection and reads the response
/// head; the body is read from the socket as the response's body is polled.
pub async fn send(
    pool: &Arc<Pool>,
    method: &Method,
    url: &reqwest::Url,
    headers: &HeaderMap,
    body: Option<&bytes::Bytes>,
) -> Result<Response, SendError> {
    let origin = origin(url);
    let wire = request::request(method, url, headers, body.map(|b| &b[..]));
    let separate_body = body.filter(|b| b.len() > request::INLINE_BODY);
    let keep = !wants_close(headers);
    if let Some(sock) = pool.take(&origin) {
        // The server may close an idle connection just as a request goes out
        // on it: a request it cannot have read goes again on a new connection,
        // and so does one it may have read if sending it twice is harmless
        // (as hyper and Go's net/http do). Anything else fails here, and the
        // caller's retries (`max_retries`, with backoff) decide.
        match exchange(sock, &wire, separate_body, method).await {
            Ok(r) => return Ok(finish(pool, origin, r, keep)),
            Err(Exchange::Unsent(_)) => {}
            Err(Exchange::Unanswered(_)) if idempotent(method, headers) => {}
            Err(Exchange::Unanswered(e) | Exchange::Failed(e)) => return Err(e),
        }
    }
    headers_deadline::connecting();
    let sock = connect(pool, url).await?;
    headers_deadline::connected();
    match exchange(sock, &wire, separate_body, method).await {
        Ok(r) => Ok(finish(pool, origin, r, keep)),
        Err(Exchange::Unsent(e) | Exchange::Unanswered(e) | Exchange::Failed(e)) => Err(e),
    }
}

/// Methods a server may receive twice to the same effect (RFC 9110 §9.2.2),
/// or a request that carries an `Idempotency-Key`.
fn idempotent(method: &Method, headers: &HeaderMap) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    ) || headers.contains_key("idempotency-key")
}

/// The request asks for the connection to close after it.
fn wants_close(headers: &HeaderMap) -> bool {
    headers
        .get_all(reqwest::header::CONNECTION)
        .iter()
        .any(|v| {
            v.as_bytes()
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
        })
}

/// How far a request got on a connection that failed.
enum Exchange {
    /// Not written in full: the server cannot have read it.
    Unsent(SendError),
    /// Written, then closed or reset before any byte of the response.
    Unanswered(SendError),
    Failed(SendError),
}

struct Answer {
    sock: TcpStream,
    buf: BytesMut,
    head: response::Head,
}

async fn exchange(
    mut sock: TcpStream,
    wire: &[u8],
    separate_body: Option<&bytes::Bytes>,
    method: &Method,
) -> Result<Answer, Exchange> {
    let unsent = |e: std::io::Error| Exchange::Unsent(SendError::Request(e.to_string()));
    sock.write_all(wire).await.map_err(unsent)?;
    if let Some(b) = separate_body {
        sock.write_all(b).await.map_err(unsent)?;
    }
    let mut buf = BytesMut::with_capacity(READ_SIZE);
    // Any byte of a response (an interim 1xx counts) shows the request was read.
    let mut answered = false;
    loop {
        match sock.read_buf(&mut buf).await {
            Ok(0) if !answered => {
                return Err(Exchange::Unanswered(SendError::Request(
                    "connection closed before the response".into(),
                )))
            }
            Ok(0) => {
                return Err(Exchange::Failed(SendError::Request(
                    "connection closed in the middle of the response head".into(),
                )))
            }
            Ok(_) => answered = true,
            Err(e) if !answered => {
                return Err(Exchange::Unanswered(SendError::Request(e.to_string())))
            }
            Err(e) => return Err(Exchange::Failed(SendError::Request(e.to_string()))),
        }
        match response::response(&mut buf, method) {
            Ok(Some(head)) => return Ok(Answer { sock, buf, head }),
            Ok(None) => {
                if buf.capacity() - buf.len() < 1024 {
                    buf.reserve(READ_SIZE);
                }
            }
            Err(e) => return Err(Exchange::Failed(SendError::Request(e))),
        }
    }
}

fn finish(pool: &Arc<Pool>, origin: pool::Origin, a: Answer, keep: bool) -> Response {
    let reuse = (keep && a.head.reusable).then(|| (Arc::clone(pool), origin));
    Response {
        status: a.head.status,
        version: a.head.version,
        headers: a.head.headers,
        body: body::Body::new(a.sock, a.buf, framing::Decoder::new(a.head.framing), reuse),
    }
}
