//! Embedded mock LLM server: serves OpenAI, Azure OpenAI, Anthropic and OCI
//! style streams on loopback, replays recorded `.sse` bodies, injects faults
//! on demand and records every request and connection for assertions.
//!
//! May use `providers` only (OCI request signatures); knows nothing of
//! `transport`, `items` or Python. Only `py::mock_server` and tests use it.
//!
//! It runs on its own small tokio runtime (two worker threads), apart from
//! the client's, so that a test or a benchmark measures the client and not
//! a server starved by it.
//!
//! Each file uses only files listed below it:
//! - `server`: the accept loop and one task per connection (HTTP/1.1 here);
//! - `http2`: HTTP/2 with prior knowledge, each stream recorded apart;
//! - `shared`: what the connections' tasks share, and how a request is
//!   answered;
//! - `respond`: writing one response, faults included, to either protocol;
//! - `oci_auth`: OCI request-signature checks (when a public key is set);
//! - `generate`: the default provider responses, one file per wire shape;
//! - `http1`: minimal HTTP/1.1 (requests in, heads and chunked bodies out);
//! - `scenario`: queued scripted responses and their faults;
//! - `status`: reason phrases and OpenAI-style error bodies;
//! - `json`: JSON objects written field by field, in order;
//! - `record`: the request and connection records.

pub mod generate;
pub mod http1;
pub mod http2;
mod json;
pub mod oci_auth;
pub mod record;
pub mod respond;
pub mod scenario;
pub mod server;
pub mod shared;
pub mod status;

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};
use tokio::runtime::Runtime;
use tokio::sync::watch;

pub use record::{ClosedBy, ConnectionInfo, RequestRecord, UnknownConnection};
pub use scenario::{Faults, Scenario, ScenarioBody};

use shared::Shared;

/// Pending connections the kernel may hold for `accept` (5,000 clients
/// connecting at once should not see SYN retries).
const BACKLOG: u32 = 8192;

/// A running mock server. Stopped by [`MockServer::close`] or on drop.
pub struct MockServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    runtime: Mutex<Option<Runtime>>,
    /// The process that started the server: a child forked from it holds a
    /// copy of this object but none of the runtime's threads.
    owner_pid: u32,
}

impl std::fmt::Debug for MockServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockServer")
            .field("addr", &self.addr)
            .field("closed", &self.is_closed())
            .finish()
    }
}

fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Raises the soft limit on open files to the hard limit (at most 65,536):
/// thousands of concurrent streams in one process need more than the usual
/// 1,024 descriptors.
fn raise_nofile_limit() {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: plain calls with a valid rlimit.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
                let want = lim.rlim_max.min(65_536);
                if lim.rlim_cur < want {
                    lim.rlim_cur = want;
                    libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
                }
            }
        }
    }
}

impl MockServer {
    /// Binds `host:port` (port 0: an ephemeral port) and starts serving.
    pub fn start(host: &str, port: u16) -> io::Result<MockServer> {
        raise_nofile_limit();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sserpent-mock")
            .enable_io()
            .enable_time()
            .build()?;
        let mut last_err = None;
        let mut listener = None;
        {
            let _entered = runtime.enter();
            for addr in (host, port).to_socket_addrs()? {
                match bind(addr) {
                    Ok(l) => {
                        listener = Some(l);
                        break;
                    }
                    Err(e) => last_err = Some(e),
                }
            }
        }
        let listener = listener.ok_or_else(|| {
            last_err.unwrap_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("no address for {host:?}"),
                )
            })
        })?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let (shutdown, rx) = watch::channel(false);
        runtime.spawn(server::accept_loop(listener, shared.clone(), rx));
        Ok(MockServer {
            addr,
            shared,
            shutdown,
            runtime: Mutex::new(Some(runtime)),
            owner_pid: std::process::id(),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT` (IPv6 hosts in brackets).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues a scripted response (checked first).
    pub fn enqueue(&self, scenario: Scenario) -> Result<(), String> {
        scenario.validate()?;
        self.shared
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(scenario);
        Ok(())
    }

    /// Scripted responses not used yet (repeats counted).
    pub fn pending(&self) -> usize {
        self.shared
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pending()
    }

    /// Requires OCI request signatures verifying with `key` on the OCI
    /// paths (`None`: no check). Requests that fail are answered 401.
    pub fn require_oci_signature(&self, key: Option<crate::providers::oci::PublicKey>) {
        *self
            .shared
            .oci_key
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = key;
    }

    /// Caps the streams an HTTP/2 connection may have open at once
    /// (`SETTINGS_MAX_CONCURRENT_STREAMS`) for connections accepted from now
    /// on; `None`: no practical cap (2^20).
    pub fn set_http2_max_streams(&self, max: Option<u32>) {
        self.shared
            .h2_max_streams
            .store(max.unwrap_or(0), std::sync::atomic::Ordering::Relaxed);
    }

    pub fn requests(&self) -> Vec<Arc<RequestRecord>> {
        self.shared.recorder.requests()
    }

    pub fn connections(&self) -> Vec<ConnectionInfo> {
        self.shared.recorder.connections()
    }

    /// Blocks until connection `id` (`None`: the most recent) is closed;
    /// `Ok(false)` when `timeout` passed first.
    pub fn wait_closed(
        &self,
        id: Option<u64>,
        timeout: Duration,
    ) -> Result<bool, UnknownConnection> {
        self.shared.recorder.wait_closed(id, timeout)
    }

    /// Drops the queued scenarios and the records (connections still open
    /// stay recorded).
    pub fn reset(&self) {
        self.shared
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.shared.recorder.reset();
    }

    pub fn is_closed(&self) -> bool {
        self.runtime
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
    }

    /// Stops accepting, closes every connection (recorded as closed by the
    /// server) and stops the runtime. Idempotent; the records stay readable.
    pub fn close(&self) {
        let Some(runtime) = self
            .runtime
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            return;
        };
        if std::process::id() != self.owner_pid {
            // A forked child: the threads (and the listening socket's server)
            // live in the parent. Stopping a runtime without its threads could
            // hang, so the child's copy is left alone.
            std::mem::forget(runtime);
            return;
        }
        let _ = self.shutdown.send(true);
        let in_runtime = tokio::runtime::Handle::try_current().is_ok();
        if in_runtime {
            runtime.shutdown_background();
        } else {
            self.shared.recorder.wait_all_closed(Duration::from_secs(2));
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests;
