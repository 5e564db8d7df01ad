//! The accept loop and one task per connection: HTTP/1.1 is served here, a
//! connection that starts with the HTTP/2 preface is handed to [`http2`].
//!
//! While a response is written the connection's task also reads the socket,
//! so that a client that goes away is noticed at once, even while the
//! response is paced or stalled: its close is then recorded as the client's.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::{sleep, sleep_until, Instant};

use super::http1::{self, Framing, ReadResult};
use super::http2;
use super::record::{ClosedBy, ConnHandle};
use super::respond::{respond, Outcome, Sink};
use super::shared::{stopping, CloseGuard, Shared};

/// Pipelined bytes read while a response is being written, at most.
const MAX_PIPELINED: usize = 1024 * 1024;
/// How long a reset waits for the bytes already written to be acknowledged.
const RESET_DRAIN: Duration = Duration::from_secs(1);

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
