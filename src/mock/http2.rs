//! HTTP/2 over cleartext with prior knowledge (h2c) for the mock server.
//!
//! Every stream is one request, answered as on HTTP/1.1 (faults included,
//! through [`respond`]) and recorded as a connection of its own: a stream is
//! what an HTTP/2 client resets to cancel one response. A body cut by a
//! fault ends with `RST_STREAM`, HTTP/2's way of saying it is incomplete,
//! once the bytes before the cut are out (a reset drops the stream's frames
//! still queued).

use std::future::poll_fn;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use h2::server::SendResponse;
use h2::SendStream;
use h2::{Ping, PingPong, Reason};
use tokio::net::TcpStream;
use tokio::sync::{watch, Mutex};
use tokio::time::Instant;

use super::http1::{Framing, Head, HttpError, Request, MAX_BODY};
use super::record::{ClosedBy, ConnHandle};
use super::respond::{respond, Outcome, Sink};
use super::shared::{stopping, CloseGuard, Shared};

/// The client preface every HTTP/2 connection starts with.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Streams a client may open at once by default: a benchmark opens thousands.
const MAX_STREAMS: u32 = 1 << 20;
/// Windows large enough that a paced stream never waits for a window update.
const STREAM_WINDOW: u32 = 1 << 20;
const CONNECTION_WINDOW: u32 = 1 << 30;
/// Waits at least this long also watch for the client resetting the
/// stream; shorter ones spare the connection's lock (taken by every check).
const WATCHED_WAIT: Duration = Duration::from_millis(200);
/// How long a reset waits for the frames before it to be written.
const FLUSH_LIMIT: Duration = Duration::from_secs(1);

/// Serves one HTTP/2 connection until the client closes it or the server stops.
pub async fn serve(stream: TcpStream, shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let max_streams = match shared.h2_max_streams.load(Ordering::Relaxed) {
        0 => MAX_STREAMS,
        n => n,
    };
    let handshake = h2::server::Builder::new()
        .max_concurrent_streams(max_streams)
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .handshake::<_, Bytes>(stream);
    let mut conn = tokio::select! {
        c = handshake => match c {
            Ok(c) => c,
            Err(_) => return,
        },
        _ = stopping(&mut shutdown) => return,
    };
    // Tells the streams' tasks that the connection is gone.
    let (gone, gone_rx) = watch::channel(false);
    let pings = Arc::new(Mutex::new(conn.ping_pong()));
    loop {
        // Accepting also drives the connection: its reads, and the frames
        // the streams' tasks queue.
        let next = tokio::select! {
            n = conn.accept() => n,
            _ = stopping(&mut shutdown) => break,
        };
        match next {
            Some(Ok((req, respond))) => {
                let task = answer(
                    req,
                    respond,
                    peer.clone(),
                    shared.clone(),
                    shutdown.clone(),
                    gone_rx.clone(),
                    pings.clone(),
                );
                tokio::spawn(task);
            }
            Some(Err(_)) | None => break,
        }
    }
    let _ = gone.send(true);
}

async fn answer(
    req: http::Request<h2::RecvStream>,
    respond_to: SendResponse<Bytes>,
    peer: String,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
    mut gone: watch::Receiver<bool>,
    pings: Pings,
) {
    let conn = shared.recorder.open_stream(peer);
    let mut guard = CloseGuard {
        shared: shared.clone(),
        id: conn.id,
        by: ClosedBy::Server,
    };
    let mut sink = H2Sink {
        respond: respond_to,
        send: None,
        ended: false,
        conn: &conn,
    };
    let (parts, mut body) = req.into_parts();
    let mut bytes = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let Ok(chunk) = chunk else {
            guard.by = ClosedBy::Client;
            return;
        };
        let _ = body.flow_control().release_capacity(chunk.len());
        if bytes.len() + chunk.len() > MAX_BODY {
            // As on HTTP/1.1: 413 (a refused stream would be retried by clients).
            let e = HttpError::TooLarge;
            let (headers, body) = e.answer();
            let _ = sink
                .fixed(e.status(), &headers, body.as_bytes(), false)
                .await;
            // The client is still sending: stop it (the response went first).
            flush_connection(&pings).await;
            sink.reset_after_end(Reason::NO_ERROR);
            return;
        }
        bytes.extend_from_slice(&chunk);
    }
    let req = Request {
        head: Head {
            method: parts.method.as_str().to_owned(),
            target: parts
                .uri
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
            version: 1,
            // `:authority` stands for HTTP/1.1's `host` (RFC 9113 §8.3.1).
            headers: parts
                .uri
                .authority()
                .filter(|_| !parts.headers.contains_key(http::header::HOST))
                .map(|a| ("host".to_owned(), a.as_str().to_owned()))
                .into_iter()
                .chain(parts.headers.iter().map(|(n, v)| {
                    let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
                    (n.as_str().to_owned(), v)
                }))
                .collect(),
        },
        body: bytes.freeze(),
    };
    let reply = shared.answer(&req, conn.id);
    let outcome = tokio::select! {
        biased;
        _ = stopping(&mut shutdown) => Outcome::Shutdown,
        _ = gone.wait_for(|g| *g) => Outcome::ClientGone,
        o = respond(&mut sink, reply, Framing::Frames, false) => o,
    };
    match outcome {
        Outcome::Done => sink.end(),
        Outcome::Close { .. } => {
            flush_connection(&pings).await;
            sink.reset(Reason::INTERNAL_ERROR);
        }
        Outcome::Shutdown => sink.reset(Reason::INTERNAL_ERROR),
        Outcome::ClientGone => guard.by = ClosedBy::Client,
    }
}

/// The connection's PING sender, shared by its streams' tasks (one ping at
/// a time).
type Pings = Arc<Mutex<Option<PingPong>>>;

/// Waits until the frames queued so far have been written: the connection
/// writes a PING before the streams' queued frames, so its PONG comes back
/// after they left.
async fn flush_connection(pings: &Pings) {
    let mut pings = pings.lock().await;
    let Some(p) = pings.as_mut() else { return };
    let round_trip = async {
        if p.send_ping(Ping::opaque()).is_err() {
            // The ping of an earlier flush timed out: it is still in flight,
            // or its PONG came and was never read. Read it, then send ours.
            poll_fn(|cx| p.poll_pong(cx)).await?;
            p.send_ping(Ping::opaque())?;
        }
        poll_fn(|cx| p.poll_pong(cx)).await.map(drop)
    };
    let _: Result<Result<(), h2::Error>, _> = tokio::time::timeout(FLUSH_LIMIT, round_trip).await;
}

/// One stream's sending half.
struct H2Sink<'a> {
    respond: SendResponse<Bytes>,
    /// Set once the head is sent.
    send: Option<SendStream<Bytes>>,
    /// The body ended (`END_STREAM` sent).
    ended: bool,
    conn: &'a ConnHandle,
}

fn gone(e: h2::Error) -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, e)
}

impl H2Sink<'_> {
    fn end(&mut self) {
        if let (Some(send), false) = (&mut self.send, self.ended) {
            let _ = send.send_data(Bytes::new(), true);
        }
        self.ended = true;
    }

    /// Resets the stream even after its body ended: a client still sending
    /// its request learns it can stop.
    fn reset_after_end(&mut self, reason: Reason) {
        match &mut self.send {
            Some(send) => send.send_reset(reason),
            None => self.respond.send_reset(reason),
        }
    }

    fn reset(&mut self, reason: Reason) {
        // Once the body is complete the client has all of it: nothing to cut.
        if !self.ended {
            self.reset_after_end(reason);
        }
    }

    fn head_only(
        &mut self,
        status: u16,
        headers: &[(String, String)],
        end: bool,
    ) -> io::Result<()> {
        let mut resp = http::Response::builder().status(status);
        for (n, v) in headers {
            // Connection-specific fields are malformed in HTTP/2 (RFC 9113 §8.2.2).
            let n = n.to_ascii_lowercase();
            if matches!(
                n.as_str(),
                "connection"
                    | "transfer-encoding"
                    | "keep-alive"
                    | "proxy-connection"
                    | "upgrade"
                    | "te"
            ) {
                continue;
            }
            resp = resp.header(n, v.as_str());
        }
        let resp = resp
            .body(())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        self.send = Some(self.respond.send_response(resp, end).map_err(gone)?);
        self.ended = end;
        Ok(())
    }
}

impl Sink for H2Sink<'_> {
    async fn head(
        &mut self,
        status: u16,
        headers: &[(String, String)],
        _framing: Framing,
        _close: bool,
    ) -> io::Result<()> {
        self.head_only(status, headers, false)
    }

    async fn fixed(
        &mut self,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
        _close: bool,
    ) -> io::Result<()> {
        self.head_only(status, headers, body.is_empty())?;
        if !body.is_empty() {
            self.write(body).await?;
            self.end();
        }
        Ok(())
    }

    /// Sends as the client's flow-control window allows (a client that
    /// stops reading makes this wait, as a full socket buffer does on
    /// HTTP/1.1, instead of the server buffering without bound).
    async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let Some(send) = &mut self.send else {
            return Err(io::Error::other("body before head"));
        };
        let mut rest = Bytes::copy_from_slice(bytes);
        while !rest.is_empty() {
            send.reserve_capacity(rest.len());
            // `poll_capacity` reports only increases: capacity assigned at
            // once by `reserve_capacity` is read here.
            let mut n = send.capacity();
            if n == 0 {
                n = match poll_fn(|cx| send.poll_capacity(cx)).await {
                    Some(Ok(n)) => n,
                    Some(Err(e)) => return Err(gone(e)),
                    None => return Err(io::ErrorKind::ConnectionReset.into()),
                };
            }
            let part = rest.split_to(n.min(rest.len()));
            let len = part.len();
            send.send_data(part, false).map_err(gone)?;
            self.conn.add_sent(len);
        }
        Ok(())
    }

    /// A reset during a short wait (pacing) is noticed by the next write;
    /// a longer one (a stall) watches for it, since no write may come.
    async fn sleep_until(&mut self, due: Instant) -> io::Result<()> {
        if due.saturating_duration_since(Instant::now()) < WATCHED_WAIT {
            tokio::time::sleep_until(due).await;
            return Ok(());
        }
        let reset = poll_fn(|cx| match &mut self.send {
            Some(send) => send.poll_reset(cx),
            None => self.respond.poll_reset(cx),
        });
        tokio::select! {
            _ = tokio::time::sleep_until(due) => Ok(()),
            r = reset => Err(match r {
                Ok(reason) => io::Error::new(io::ErrorKind::ConnectionReset, format!("stream reset: {reason}")),
                Err(e) => gone(e),
            }),
        }
    }
}
