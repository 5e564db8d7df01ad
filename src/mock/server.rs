//! The accept loop and one task per connection.
//!
//! While a response is written the connection's task also reads the socket,
//! so that a client that goes away is noticed at once, even while the
//! response is paced or stalled: its close is then recorded as the client's.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::{sleep, sleep_until, Instant};

use super::generate::{self, GenRequest};
use super::http1::{self, ChunkBuf, Framing, ReadResult, Request};
use super::oci_auth;
use super::record::{monotonic, ClosedBy, ConnHandle, Recorder, RequestRecord};
use super::scenario::{
    merge_headers, mid_cut, FrameSource, ListSource, Reply, ReplyBody, Scenario, ScenarioBody,
    ScenarioQueue,
};

/// Body bytes gathered before a write when frames are not paced.
const BATCH: usize = 64 * 1024;
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
    pub oci_key: Mutex<Option<crate::oci::PublicKey>>,
}

impl Shared {
    fn take_scenario(&self, path: &str) -> Option<Arc<Scenario>> {
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take(path)
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
                        generate::error_body(
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
                ReplyBody::Fixed(generate::status_error_body(s.status).into()),
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
async fn stopping(rx: &mut watch::Receiver<bool>) {
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
struct CloseGuard {
    shared: Arc<Shared>,
    id: u64,
    by: ClosedBy,
}

impl Drop for CloseGuard {
    fn drop(&mut self) {
        self.shared.recorder.close_connection(self.id, self.by);
    }
}

/// How writing a response ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Complete; the connection may serve another request.
    Done,
    /// The server closes the connection (a fault, or `connection: close`).
    Close {
        reset: bool,
    },
    ClientGone,
    Shutdown,
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
                let body = generate::error_body(e.message(), "invalid_request_error", None);
                let headers = [("content-type".to_string(), "application/json".to_string())];
                if let Ok(n) =
                    http1::write_fixed(&mut wr, e.status(), &headers, body.as_bytes(), true).await
                {
                    conn.add_sent(n);
                }
                return;
            }
        };
        let oci_key = shared
            .oci_key
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let oci_signature = match oci_key {
            Some(key) if oci_auth::is_oci_path(req.head.path()) => {
                Some(oci_auth::check(&key, &req))
            }
            _ => None,
        };
        let unauthorized = matches!(oci_signature, Some(Err(_)));
        shared.recorder.add_request(RequestRecord {
            method: req.head.method.clone(),
            path: req.head.path().to_owned(),
            query: req.head.query().to_owned(),
            headers: req.head.headers.clone(),
            body: req.body.clone(),
            connection_id: conn.id,
            received_at: monotonic(),
            oci_signature,
        });
        let keep_alive = req.head.keep_alive();
        let chunked = req.head.version >= 1;
        let reply = if unauthorized {
            oci_auth::unauthorized()
        } else {
            shared.reply_for(&req)
        };
        let reset = reply.faults.reset;
        let outcome = tokio::select! {
            biased;
            _ = stopping(&mut shutdown) => Outcome::Shutdown,
            o = respond(&mut wr, reply, chunked, !keep_alive, &conn) => o,
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

async fn respond<W: AsyncWrite + Unpin>(
    wr: &mut W,
    reply: Reply,
    chunked: bool,
    close: bool,
    conn: &ConnHandle,
) -> Outcome {
    match respond_inner(wr, reply, chunked, close, conn).await {
        Ok(o) => o,
        // A failed write means the peer is gone (EPIPE, ECONNRESET).
        Err(_) => Outcome::ClientGone,
    }
}

async fn write_counted<W: AsyncWrite + Unpin>(
    wr: &mut W,
    bytes: &[u8],
    conn: &ConnHandle,
) -> io::Result<()> {
    wr.write_all(bytes).await?;
    conn.add_sent(bytes.len());
    Ok(())
}

async fn flush<W: AsyncWrite + Unpin>(
    wr: &mut W,
    cb: &mut ChunkBuf,
    conn: &ConnHandle,
) -> io::Result<()> {
    if !cb.is_empty() {
        write_counted(wr, cb.take(), conn).await?;
        cb.clear();
    }
    Ok(())
}

async fn respond_inner<W: AsyncWrite + Unpin>(
    wr: &mut W,
    reply: Reply,
    chunked: bool,
    close: bool,
    conn: &ConnHandle,
) -> io::Result<Outcome> {
    let f = reply.faults;
    if let Some(d) = f.headers_delay {
        sleep(d).await;
    }
    if f.close_before_headers {
        return Ok(Outcome::Close { reset: f.reset });
    }
    let (mut src, framing): (Box<dyn FrameSource>, Framing) = match reply.body {
        ReplyBody::Fixed(body) if !f.act_on_frames() => {
            let mut out = http1::response_head(
                reply.status,
                &reply.headers,
                Framing::Length(body.len()),
                close,
            );
            out.extend_from_slice(&body);
            write_counted(wr, &out, conn).await?;
            return Ok(if f.reset || close {
                Outcome::Close { reset: f.reset }
            } else {
                Outcome::Done
            });
        }
        // A fixed body under frame faults: one frame, cut or stalled like any.
        ReplyBody::Fixed(body) => {
            let len = body.len();
            (
                Box::new(ListSource::new(vec![body].into())),
                Framing::Length(len),
            )
        }
        ReplyBody::Stream(src) if chunked => (src, Framing::Chunked),
        ReplyBody::Stream(src) => (src, Framing::Close),
    };
    let head = http1::response_head(reply.status, &reply.headers, framing, close);
    write_counted(wr, &head, conn).await?;

    let mut cb = ChunkBuf::new(framing == Framing::Chunked, BATCH + 4096);
    let mut sent = 0usize;
    let mut first_at = Instant::now();
    let mut stalled = false;
    loop {
        if f.stall_after == Some(sent) && !stalled {
            flush(wr, &mut cb, conn).await?;
            match f.stall_for {
                None => return stall(wr, &mut cb, f.keepalive, conn).await,
                Some(d) => stall_until(wr, &mut cb, f.keepalive, Instant::now() + d, conn).await?,
            }
            stalled = true;
            // Pacing goes on from here: the next frame at once, the others `delay` apart.
            let paced = u32::try_from(sent)
                .ok()
                .and_then(|k| f.delay.unwrap_or_default().checked_mul(k));
            first_at = paced
                .and_then(|t| Instant::now().checked_sub(t))
                .unwrap_or_else(Instant::now);
        }
        if let (Some(d), true) = (f.delay, sent > 0) {
            flush(wr, &mut cb, conn).await?;
            // On a fixed schedule from the first frame, so pauses don't drift.
            let due = u32::try_from(sent)
                .ok()
                .and_then(|k| d.checked_mul(k))
                .and_then(|t| first_at.checked_add(t));
            match due {
                Some(due) if due <= Instant::now() => {}
                Some(due) => sleep_until(due).await,
                None => sleep(d).await,
            }
        }
        if f.cut_after == Some(sent) {
            flush(wr, &mut cb, conn).await?;
            if f.cut_mid_event {
                let mut frame = Vec::new();
                if src.next_frame(&mut frame) {
                    let at = mid_cut(&frame);
                    cb.data().extend_from_slice(&frame[..at]);
                    flush(wr, &mut cb, conn).await?;
                }
            }
            return Ok(Outcome::Close { reset: f.reset });
        }
        if !src.next_frame(cb.data()) {
            break;
        }
        if sent == 0 {
            first_at = Instant::now();
        }
        sent += 1;
        if f.delay.is_some() || cb.len() >= BATCH {
            flush(wr, &mut cb, conn).await?;
        }
    }
    // The body is complete, but a cut or stall set past its end still applies.
    if f.cut_after.is_some() || f.reset {
        flush(wr, &mut cb, conn).await?;
        return Ok(Outcome::Close { reset: f.reset });
    }
    if f.stall_after.is_some() && !stalled {
        flush(wr, &mut cb, conn).await?;
        match f.stall_for {
            None => return stall(wr, &mut cb, f.keepalive, conn).await,
            Some(d) => stall_until(wr, &mut cb, f.keepalive, Instant::now() + d, conn).await?,
        }
    }
    match framing {
        Framing::Chunked => write_counted(wr, cb.take_last(), conn).await?,
        Framing::Length(_) => flush(wr, &mut cb, conn).await?,
        Framing::Close => {
            flush(wr, &mut cb, conn).await?;
            return Ok(Outcome::Close { reset: false });
        }
    }
    Ok(if close {
        Outcome::Close { reset: false }
    } else {
        Outcome::Done
    })
}

/// Sends nothing more (but keep-alive comments) until the connection's task
/// is stopped by the client leaving or the server stopping.
async fn stall<W: AsyncWrite + Unpin>(
    wr: &mut W,
    cb: &mut ChunkBuf,
    keepalive: Option<Duration>,
    conn: &ConnHandle,
) -> io::Result<Outcome> {
    let Some(every) = keepalive else {
        return std::future::pending().await;
    };
    loop {
        sleep(every).await;
        cb.data().extend_from_slice(b": keep-alive\n\n");
        flush(wr, cb, conn).await?;
    }
}

/// Sends nothing (but keep-alive comments) until `until`.
async fn stall_until<W: AsyncWrite + Unpin>(
    wr: &mut W,
    cb: &mut ChunkBuf,
    keepalive: Option<Duration>,
    until: Instant,
    conn: &ConnHandle,
) -> io::Result<()> {
    if let Some(every) = keepalive {
        let mut next = Instant::now() + every;
        while next < until {
            sleep_until(next).await;
            cb.data().extend_from_slice(b": keep-alive\n\n");
            flush(wr, cb, conn).await?;
            next += every;
        }
    }
    sleep_until(until).await;
    Ok(())
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
