//! What the mock server saw: every request and every connection, for tests to
//! assert on. Connections are opened and closed from the server's tasks;
//! `wait_closed` blocks a test thread on a condition variable until a close.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;

/// Seconds on the clock of Python's `time.monotonic()`, so recorded times
/// compare directly with times a test takes: `CLOCK_MONOTONIC`, or on macOS
/// `CLOCK_UPTIME_RAW` (CPython reads `mach_absolute_time`, which it equals).
#[cfg(unix)]
pub fn monotonic() -> f64 {
    #[cfg(target_vendor = "apple")]
    const CLOCK: libc::clockid_t = libc::CLOCK_UPTIME_RAW;
    #[cfg(not(target_vendor = "apple"))]
    const CLOCK: libc::clockid_t = libc::CLOCK_MONOTONIC;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(CLOCK, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Elsewhere (Windows): seconds since the first call on `Instant` (Windows'
/// performance counter, which `time.monotonic()` reads too since Python
/// 3.13), plus the offset the bindings set with [`align_monotonic`].
#[cfg(not(unix))]
pub fn monotonic() -> f64 {
    let (start, offset) = *CLOCK_BASE.get_or_init(|| (Instant::now(), 0.0));
    start.elapsed().as_secs_f64() + offset
}

#[cfg(not(unix))]
static CLOCK_BASE: std::sync::OnceLock<(Instant, f64)> = std::sync::OnceLock::new();

/// Makes [`monotonic`] read `now` at this instant (the bindings pass
/// `time.monotonic()` at import). Unix reads Python's clock itself.
pub fn align_monotonic(now: f64) {
    #[cfg(not(unix))]
    let _ = CLOCK_BASE.set((Instant::now(), now));
    #[cfg(unix)]
    let _ = now;
}

/// One request as received (the body de-chunked).
#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub method: String,
    /// The path without the query.
    pub path: String,
    /// The query without its `?` (empty when there is none).
    pub query: String,
    /// Header names lower-cased, in arrival order, repeats kept.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub connection_id: u64,
    /// `monotonic()` when the whole request had arrived.
    pub received_at: f64,
    /// The OCI signature check (when the server requires one on this
    /// path): the `keyId`, or why the request failed.
    pub oci_signature: Option<Result<String, String>>,
}

impl RequestRecord {
    /// The first value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Who ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosedBy {
    Client,
    Server,
}

impl ClosedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            ClosedBy::Client => "client",
            ClosedBy::Server => "server",
        }
    }
}

/// A snapshot of one connection's record.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionInfo {
    pub id: u64,
    pub peer: String,
    /// `HTTP/1.1`, or `HTTP/2` for a record of one HTTP/2 stream.
    pub http_version: &'static str,
    pub opened_at: f64,
    pub closed_at: Option<f64>,
    pub closed_by: Option<ClosedBy>,
    pub requests: u64,
    pub bytes_sent: u64,
}

impl ConnectionInfo {
    pub fn is_open(&self) -> bool {
        self.closed_at.is_none()
    }
}

struct ConnSlot {
    id: u64,
    peer: String,
    http_version: &'static str,
    /// An HTTP/2 connection, recorded through its streams instead.
    hidden: bool,
    opened_at: f64,
    closed_at: Option<f64>,
    closed_by: Option<ClosedBy>,
    requests: u64,
    bytes_sent: Arc<AtomicU64>,
}

#[derive(Default)]
struct Inner {
    requests: Vec<Arc<RequestRecord>>,
    /// Ordered by id; `reset` keeps the connections still open.
    conns: Vec<ConnSlot>,
    next_id: u64,
}

impl Inner {
    fn slot_mut(&mut self, id: u64) -> Option<&mut ConnSlot> {
        let i = self.conns.binary_search_by_key(&id, |c| c.id).ok()?;
        Some(&mut self.conns[i])
    }
}

/// The server's log of requests and connections.
#[derive(Default)]
pub struct Recorder {
    inner: Mutex<Inner>,
    closed: Condvar,
}

/// Handed to a connection's task: the id and the shared byte counter.
#[derive(Clone)]
pub struct ConnHandle {
    pub id: u64,
    pub bytes_sent: Arc<AtomicU64>,
}

impl ConnHandle {
    pub fn add_sent(&self, n: usize) {
        self.bytes_sent.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Why `wait_closed` could not wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownConnection(pub u64);

impl std::fmt::Display for UnknownConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no connection with id {} was recorded", self.0)
    }
}

impl std::error::Error for UnknownConnection {}

impl Recorder {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicking connection task must not take the records down with it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn open_connection(&self, peer: String) -> ConnHandle {
        self.open(peer, "HTTP/1.1")
    }

    /// Records one HTTP/2 stream as a connection of its own: a stream is
    /// what an HTTP/2 client closes (resets) to cancel one response.
    pub fn open_stream(&self, peer: String) -> ConnHandle {
        self.open(peer, "HTTP/2")
    }

    /// Forgets connection `id`: an HTTP/2 connection, whose streams are
    /// recorded one by one instead.
    pub fn discard(&self, id: u64) {
        let mut inner = self.lock();
        if let Some(slot) = inner.slot_mut(id) {
            // Kept (hidden), so that its id stays known while its streams
            // are recorded: `wait_closed(None)` may have picked it already.
            slot.hidden = true;
        }
        drop(inner);
        self.closed.notify_all();
    }

    fn open(&self, peer: String, http_version: &'static str) -> ConnHandle {
        let mut inner = self.lock();
        inner.next_id += 1;
        let id = inner.next_id;
        let bytes_sent = Arc::new(AtomicU64::new(0));
        inner.conns.push(ConnSlot {
            id,
            peer,
            http_version,
            hidden: false,
            opened_at: monotonic(),
            closed_at: None,
            closed_by: None,
            requests: 0,
            bytes_sent: bytes_sent.clone(),
        });
        drop(inner);
        // `wait_closed(None)` waiting for a first connection pins it now.
        self.closed.notify_all();
        ConnHandle { id, bytes_sent }
    }

    /// Records the close of connection `id` (only the first close counts).
    pub fn close_connection(&self, id: u64, by: ClosedBy) {
        let mut inner = self.lock();
        if let Some(slot) = inner.slot_mut(id) {
            if slot.closed_at.is_none() {
                slot.closed_at = Some(monotonic());
                slot.closed_by = Some(by);
            }
        }
        drop(inner);
        self.closed.notify_all();
    }

    pub fn add_request(&self, record: RequestRecord) {
        let mut inner = self.lock();
        if let Some(slot) = inner.slot_mut(record.connection_id) {
            slot.requests += 1;
        }
        inner.requests.push(Arc::new(record));
    }

    pub fn requests(&self) -> Vec<Arc<RequestRecord>> {
        self.lock().requests.clone()
    }

    pub fn connections(&self) -> Vec<ConnectionInfo> {
        self.lock()
            .conns
            .iter()
            .filter(|c| !c.hidden)
            .map(|c| ConnectionInfo {
                id: c.id,
                peer: c.peer.clone(),
                http_version: c.http_version,
                opened_at: c.opened_at,
                closed_at: c.closed_at,
                closed_by: c.closed_by,
                requests: c.requests,
                bytes_sent: c.bytes_sent.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Forgets every request and every closed connection; connections still
    /// open stay (their later requests and close are still recorded).
    pub fn reset(&self) {
        let mut inner = self.lock();
        inner.requests.clear();
        inner.conns.retain(|c| c.closed_at.is_none());
    }

    /// Blocks until every recorded connection is closed or `timeout` passes.
    pub fn wait_all_closed(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut inner = self.lock();
        loop {
            if inner
                .conns
                .iter()
                .all(|c| c.hidden || c.closed_at.is_some())
            {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            inner = self
                .closed
                .wait_timeout(inner, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Blocks until connection `id` (`None`: the most recent one, or the next
    /// one to open when there is none yet) is closed, or `timeout` passes.
    /// `Ok(true)` when it is closed.
    pub fn wait_closed(
        &self,
        id: Option<u64>,
        timeout: Duration,
    ) -> Result<bool, UnknownConnection> {
        let deadline = Instant::now() + timeout;
        let mut inner = self.lock();
        let mut target = id;
        let latest = |inner: &Inner| inner.conns.iter().rev().find(|c| !c.hidden).map(|c| c.id);
        loop {
            let hidden = |t: u64| inner.conns.iter().any(|c| c.id == t && c.hidden);
            if id.is_none() && target.is_none_or(hidden) {
                // The most recent connection, and not one that turned out to
                // be HTTP/2 (its streams are the records).
                target = latest(&inner);
            }
            if let Some(t) = target {
                match inner.conns.binary_search_by_key(&t, |c| c.id) {
                    Ok(i) if inner.conns[i].closed_at.is_some() => return Ok(true),
                    Ok(_) => {}
                    // Opened, then forgotten by `reset`, which keeps open ones.
                    Err(_) if (1..=inner.next_id).contains(&t) => return Ok(true),
                    Err(_) => return Err(UnknownConnection(t)),
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            inner = self
                .closed
                .wait_timeout(inner, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_connections_and_requests() {
        let rec = Recorder::default();
        let a = rec.open_connection("peer".into());
        let b = rec.open_connection("peer".into());
        assert_eq!((a.id, b.id), (1, 2));
        rec.add_request(RequestRecord {
            method: "POST".into(),
            path: "/v1/x".into(),
            query: String::new(),
            headers: vec![("a".into(), "b".into())],
            body: Bytes::from_static(b"{}"),
            connection_id: 1,
            received_at: monotonic(),
            oci_signature: None,
        });
        a.add_sent(10);
        rec.close_connection(1, ClosedBy::Client);
        rec.close_connection(1, ClosedBy::Server);
        let conns = rec.connections();
        assert_eq!(conns[0].closed_by, Some(ClosedBy::Client));
        assert_eq!(conns[0].requests, 1);
        assert_eq!(conns[0].bytes_sent, 10);
        assert!(conns[1].is_open());
        assert_eq!(rec.requests()[0].header("a"), Some("b"));
        assert_eq!(rec.wait_closed(Some(1), Duration::ZERO), Ok(true));
        assert_eq!(rec.wait_closed(None, Duration::ZERO), Ok(false));
        assert_eq!(
            rec.wait_closed(Some(9), Duration::ZERO),
            Err(UnknownConnection(9))
        );
        rec.reset();
        assert!(rec.requests().is_empty());
        assert_eq!(rec.connections().len(), 1);
        assert_eq!(rec.wait_closed(Some(1), Duration::ZERO), Ok(true));
    }

    #[test]
    fn wait_closed_wakes_up_on_close() {
        let rec = Arc::new(Recorder::default());
        let h = rec.open_connection("p".into());
        let r2 = rec.clone();
        let t = std::thread::spawn(move || r2.wait_closed(None, Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(20));
        rec.close_connection(h.id, ClosedBy::Server);
        assert_eq!(t.join().unwrap(), Ok(true));
    }

    #[test]
    fn an_http2_connection_gives_way_to_its_streams() {
        let rec = Arc::new(Recorder::default());
        let tcp = rec.open_connection("p".into());
        let r2 = rec.clone();
        // Picks the TCP connection, the most recent record, before it turns out HTTP/2.
        let t = std::thread::spawn(move || r2.wait_closed(None, Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(20));
        rec.discard(tcp.id);
        rec.close_connection(tcp.id, ClosedBy::Server);
        let stream = rec.open_stream("p".into());
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            !t.is_finished(),
            "waits for the stream, not the hidden connection"
        );
        rec.close_connection(stream.id, ClosedBy::Client);
        assert_eq!(t.join().unwrap(), Ok(true));
        let conns = rec.connections();
        assert_eq!(conns.len(), 1);
        assert_eq!((conns[0].id, conns[0].http_version), (stream.id, "HTTP/2"));
        assert!(rec.wait_all_closed(Duration::ZERO));
    }
}
