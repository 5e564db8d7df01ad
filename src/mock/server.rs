//! The accept loop and one task per connection.
//!
//! While a response is written the connection's task also reads the socket,
//! so that a client that goes away is noticed at once, even while the
//! response is paced or stalled: its close is then recorded as the client's.

use std::io;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::{sleep, sleep_until, Instant};

use super::generate::{self, GenRequest};
use super::http1::{self, Framing, ReadResult, Request};
use super::http2;
use super::oci_auth;
use super::record::{monotonic, ClosedBy, ConnHandle, Recorder, RequestRecord};
use super::respond::{respond, Outcome, Sink};
use super::scenario::{
    merge_headers, ListSource, Reply, ReplyBody, Scenario, ScenarioBody, ScenarioQueue,
};
use super::status::{error_body, status_error_body};

/// Pipelined bytes read while a response is being written, at most.
const MAX_PIPELINED: usize = 1024 * 1024;
/// How long a reset waits for the bytes already written to be acknowledged.
const RESET_DRAIN: Duration = Duration::from_secs(1);

/// State shared by the server's tasks and its owner.
#[derive(Default)]
pub struct Shared {
    pub queue: Mutex<ScenarioQueue>,
    pub recorder: Recorder,
    seq: AtomicU64,
    /// Set: OCI paths require a request signature verifying with this key.
    pub oci_key: Mutex<Option<crate::providers::oci::PublicKey>>,
    /// HTTP/2 streams a connection may have open at once (0: the default).
    pub h2_max_streams: AtomicU32,
}

impl Shared {
    fn take_scenario(&self, path: &str) -> Option<Arc<Scenario>> {
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take(path)
    }

    /// Records `req` (received on connection `conn_id`) and returns its
    /// reply, checking its OCI signature first when one is required.
    pub fn answer(&self, req: &Request, conn_id: u64) -> Reply {
        let oci_key = self
            .oci_key
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let oci_signature = match oci_key {
            Some(key) if oci_auth::is_oci_path(req.head.path()) => Some(oci_auth::check(&key, req)),
            _ => None,
        };
        let unauthorized = matches!(oci_signature, Some(Err(_)));
        self.recorder.add_request(RequestRecord {
            method: req.head.method.clone(),
            path: req.head.path().to_owned(),
            query: req.head.query().to_owned(),
            headers: req.head.headers.clone(),
            body: req.body.clone(),
            connection_id: conn_id,
            received_at: monotonic(),
            oci_signature,
        });
        if unauthorized {
            oci_auth::unauthorized()
        } else {
            self.reply_for(req)
        }
    }

    /// The reply to `req`: the first matching queued scenario, else the
    /// default response for its path.
    pub fn reply_for(&self, req: &Request) -> Reply {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let scenario = self.take_scenario(req.head.path());
        let parsed = if req.body.iter().all(u8::is_ascii_whitespace) {
            Ok(Value::Object(Default::default()))
        } else {
            serde_json::from_slice::<Value>(&req.body)
        };
        let empty = Value::Object(Default::default());
        let (chunks, interval, timestamps) = generate::load_headers(&req.head.headers);
        let gen = GenRequest {
            method: &req.head.method,
            path: req.head.path(),
            body: parsed.as_ref().unwrap_or(&empty),
            body_len: req.body.len(),
            chunks,
            interval,
            timestamps,
            seq,
        };
        let default = || {
            if parsed.is_err() && generate::route(gen.method, gen.path).is_some() {
                Reply {
                    status: 400,
                    headers: generate::fixed_headers(&gen, "application/json"),
                    body: ReplyBody::Fixed(
                        error_body(
                            "We could not parse the JSON body of your request.",
                            "invalid_request_error",
                            None,
                        )
                        .into(),
                    ),
                    faults: Default::default(),
                }
            } else {
                generate::default_reply(&gen)
            }
        };
        let Some(s) = scenario else {
            return default();
        };
        let (mut headers, body) = match &s.body {
            ScenarioBody::Frames(frames) => (
                generate::stream_headers(&gen),
                ReplyBody::Stream(Box::new(ListSource::new(frames.clone()))),
            ),
            ScenarioBody::Fixed {
                bytes,
                content_type,
            } => (
                generate::fixed_headers(&gen, content_type),
                ReplyBody::Fixed(bytes.clone()),
            ),
            ScenarioBody::Default if s.status >= 400 => (
                generate::fixed_headers(&gen, "application/json"),
                ReplyBody::Fixed(status_error_body(s.status).into()),
            ),
            ScenarioBody::Default => {
                let mut r = default();
                if r.status == 200 {
                    r.status = s.status;
                }
                merge_headers(&mut r.headers, &s.headers);
                let mut faults = s.faults.clone();
                faults.delay = faults.delay.or(r.faults.delay);
                r.faults = faults;
                return r;
            }
        };
        merge_headers(&mut headers, &s.headers);
        Reply {
            status: s.status,
            headers,
            body,
            faults: s.faults.clone(),
        }
    }
}

/// Resolves when the server is stopping.
pub(super) async fn stopping(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

pub async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stopping(&mut shutdown) => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let conn = shared.recorder.open_connection(peer.to_string());
                tokio::spawn(serve(stream, conn, shared.clone(), shutdown.clone()));
            }
            // Out of file descriptors or an aborted handshake: try again.
            Err(_) => sleep(Duration::from_millis(5)).await,
        }
    }
}

/// Records the connection's close when its task ends, however it ends.
pub(super) struct CloseGuard {
    pub shared: Arc<Shared>,
    pub id: u64,
    pub by: ClosedBy,
}

impl Drop for CloseGuard {
    fn drop(&mut self) {
        self.shared.recorder.close_connection(self.id, self.by);
    }
}

async fn serve(
    mut stream: TcpStream,
    conn: ConnHandle,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    // Declared after the socket, so dropped before it: a close by the server
    // is recorded before the client can see it.
    let mut guard = CloseGuard {
        shared: shared.clone(),
        id: conn.id,
        by: ClosedBy::Server,
    };
    let _ = stream.set_nodelay(true);
    // An HTTP/2 client with prior knowledge starts with its preface; an
    // HTTP/1.1 request never starts with "PRI".
    let mut peek = [0u8; 3];
    let h2 = tokio::select! {
        n = stream.peek(&mut peek) => matches!(n, Ok(3)) && peek[..] == http2::PREFACE[..3],
        _ = stopping(&mut shutdown) => return,
    };
    if h2 {
        // Its streams are recorded one by one instead.
        shared.recorder.discard(conn.id);
        drop(guard);
        http2::serve(stream, shared, shutdown).await;
        return;
    }
    let mut buf = BytesMut::with_capacity(8 * 1024);
    loop {
        let (mut rd, mut wr) = stream.split();
        let read = tokio::select! {
            r = http1::read_request(&mut rd, &mut wr, &mut buf) => r,
            _ = stopping(&mut shutdown) => return,
        };
        let req = match read {
            ReadResult::Request(req) => req,
            ReadResult::Closed => {
                guard.by = ClosedBy::Client;
                return;
            }
            ReadResult::Bad(e) => {
                let (headers, body) = e.answer();
                if let Ok(n) =
                    http1::write_fixed(&mut wr, e.status(), &headers, body.as_bytes(), true).await
                {
                    conn.add_sent(n);
                }
                return;
            }
        };
        let keep_alive = req.head.keep_alive();
        let framing = if req.head.version >= 1 {
            Framing::Chunked
        } else {
            Framing::Close
        };
        let reply = shared.answer(&req, conn.id);
        let reset = reply.faults.reset;
        let mut sink = H1Sink {
            wr: &mut wr,
            conn: &conn,
        };
        let outcome = tokio::select! {
            biased;
            _ = stopping(&mut shutdown) => Outcome::Shutdown,
            o = respond(&mut sink, reply, framing, !keep_alive) => o,
            _ = watch_client(&mut rd, &mut buf) => Outcome::ClientGone,
        };
        match outcome {
            Outcome::Done if keep_alive => continue,
            Outcome::Done => return,
            Outcome::Close { reset } => {
                if reset {
                    reset_on_close(&stream).await;
                }
                return;
            }
            Outcome::ClientGone => {
                guard.by = ClosedBy::Client;
                return;
            }
            Outcome::Shutdown => {
                if reset {
                    set_linger_zero(&stream);
                }
                return;
            }
        }
    }
}

/// Reads (and keeps, for the next request) whatever the client sends while a
/// response is written; returns when the client closes or resets.
async fn watch_client<R: AsyncRead + Unpin>(rd: &mut R, buf: &mut BytesMut) {
    loop {
        if buf.len() >= MAX_PIPELINED {
            std::future::pending::<()>().await;
        }
        buf.reserve(4096);
        match rd.read_buf(buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// An HTTP/1.1 connection's writing half. A client that goes away is
/// noticed by reading the other half (`watch_client`).
struct H1Sink<'a, W> {
    wr: &'a mut W,
    conn: &'a ConnHandle,
}

impl<W: AsyncWrite + Unpin> Sink for H1Sink<'_, W> {
    async fn head(
        &mut self,
        status: u16,
        headers: &[(String, String)],
        framing: Framing,
        close: bool,
    ) -> io::Result<()> {
        self.write(&http1::response_head(status, headers, framing, close))
            .await
    }

    async fn fixed(
        &mut self,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
        close: bool,
    ) -> io::Result<()> {
        let mut out = http1::response_head(status, headers, Framing::Length(body.len()), close);
        out.extend_from_slice(body);
        self.write(&out).await
    }

    async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.wr.write_all(bytes).await?;
        self.conn.add_sent(bytes.len());
        Ok(())
    }

    async fn sleep_until(&mut self, due: Instant) -> io::Result<()> {
        sleep_until(due).await;
        Ok(())
    }
}

#[cfg(unix)]
fn set_linger_zero(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket descriptor and a correctly sized option value.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

#[cfg(not(unix))]
fn set_linger_zero(stream: &TcpStream) {
    #[allow(deprecated)]
    let _ = stream.set_linger(Some(Duration::ZERO));
}

/// Bytes written but not yet acknowledged by the peer.
#[cfg(target_os = "linux")]
fn unacked(stream: &TcpStream) -> usize {
    use std::os::fd::AsRawFd;
    let mut n: libc::c_int = 0;
    // SAFETY: TIOCOUTQ (SIOCOUTQ) writes one int.
    let r = unsafe { libc::ioctl(stream.as_raw_fd(), libc::TIOCOUTQ, &mut n) };
    if r == 0 {
        n.max(0) as usize
    } else {
        0
    }
}

/// Makes the coming close an RST. A reset makes the peer's kernel drop data
/// it has not handed to the application yet, so the bytes written before
/// the fault are let through first.
async fn reset_on_close(stream: &TcpStream) {
    #[cfg(target_os = "linux")]
    {
        let deadline = Instant::now() + RESET_DRAIN;
        while unacked(stream) > 0 && Instant::now() < deadline {
            sleep(Duration::from_millis(1)).await;
        }
        // The peer acknowledged the bytes; give its reader a moment to take them.
        sleep(Duration::from_millis(20)).await;
    }
    #[cfg(not(target_os = "linux"))]
    sleep(RESET_DRAIN / 10).await;
    set_linger_zero(stream);
}
