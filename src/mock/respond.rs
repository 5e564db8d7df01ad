//! Writing one response, faults included, to an HTTP/1.1 connection or an
//! HTTP/2 stream alike: the transport is a [`Sink`].

use std::io;
use std::time::Duration;

use tokio::time::Instant;

use super::http1::{ChunkBuf, Framing};
use super::scenario::{mid_cut, FrameSource, ListSource, Reply, ReplyBody};

/// Body bytes gathered before a write when frames are not paced.
const BATCH: usize = 64 * 1024;

/// Where a response goes.
#[allow(async_fn_in_trait)]
pub trait Sink {
    /// Sends the status line and head fields of a body delimited by `framing`.
    async fn head(
        &mut self,
        status: u16,
        headers: &[(String, String)],
        framing: Framing,
        close: bool,
    ) -> io::Result<()>;
    /// Sends a whole response with a fixed body at once.
    async fn fixed(
        &mut self,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
        close: bool,
    ) -> io::Result<()>;
    /// Sends body bytes (already in HTTP/1.1 chunks when the body is chunked).
    async fn write(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Waits until `due`; fails as soon as the transport sees the client
    /// go away meanwhile (HTTP/2: a reset of the stream).
    async fn sleep_until(&mut self, due: Instant) -> io::Result<()>;
}

/// How writing a response ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Complete; the connection may serve another request.
    Done,
    /// The server closes the connection (a fault, or `connection: close`).
    Close {
        reset: bool,
    },
    ClientGone,
    Shutdown,
}

/// Writes `reply`; a streamed body goes out with `framing` (chunked or
/// until close on HTTP/1.1, frames on HTTP/2). `close`: HTTP/1.1's
/// `connection: close`.
pub async fn respond<S: Sink>(
    sink: &mut S,
    reply: Reply,
    framing: Framing,
    close: bool,
) -> Outcome {
    match respond_inner(sink, reply, framing, close).await {
        Ok(o) => o,
        // A failed write means the peer is gone (EPIPE, ECONNRESET).
        Err(_) => Outcome::ClientGone,
    }
}

async fn flush<S: Sink>(sink: &mut S, cb: &mut ChunkBuf) -> io::Result<()> {
    if !cb.is_empty() {
        sink.write(cb.take()).await?;
        cb.clear();
    }
    Ok(())
}

async fn respond_inner<S: Sink>(
    sink: &mut S,
    reply: Reply,
    stream_framing: Framing,
    close: bool,
) -> io::Result<Outcome> {
    let f = reply.faults;
    // Keep-alives as the body's framing has them: an SSE comment, or a blank NDJSON line.
    let ndjson = reply.headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("content-type") && v.to_ascii_lowercase().contains("ndjson")
    });
    let ka = Keepalive {
        every: f.keepalive,
        bytes: if ndjson { b"\n" } else { b": keep-alive\n\n" },
    };
    if let Some(d) = f.headers_delay {
        sink.sleep_until(Instant::now() + d).await?;
    }
    if f.close_before_headers {
        return Ok(Outcome::Close { reset: f.reset });
    }
    let (mut src, framing): (Box<dyn FrameSource>, Framing) = match reply.body {
        ReplyBody::Fixed(body) if !f.act_on_frames() => {
            sink.fixed(reply.status, &reply.headers, &body, close)
                .await?;
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
        ReplyBody::Stream(src) => (src, stream_framing),
    };
    sink.head(reply.status, &reply.headers, framing, close)
        .await?;

    let mut cb = ChunkBuf::new(framing == Framing::Chunked, BATCH + 4096);
    let mut sent = 0usize;
    let mut first_at = Instant::now();
    let mut stalled = false;
    loop {
        if f.stall_after == Some(sent) && !stalled {
            flush(sink, &mut cb).await?;
            match f.stall_for {
                None => return stall(sink, &mut cb, ka).await,
                Some(d) => stall_until(sink, &mut cb, ka, Instant::now() + d).await?,
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
            flush(sink, &mut cb).await?;
            // On a fixed schedule from the first frame, so pauses don't drift.
            let due = u32::try_from(sent)
                .ok()
                .and_then(|k| d.checked_mul(k))
                .and_then(|t| first_at.checked_add(t));
            match due {
                Some(due) if due <= Instant::now() => {}
                Some(due) => sink.sleep_until(due).await?,
                None => sink.sleep_until(Instant::now() + d).await?,
            }
        }
        if f.cut_after == Some(sent) {
            flush(sink, &mut cb).await?;
            if f.cut_mid_event {
                let mut frame = Vec::new();
                if src.next_frame(&mut frame) {
                    let at = mid_cut(&frame);
                    cb.data().extend_from_slice(&frame[..at]);
                    flush(sink, &mut cb).await?;
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
            flush(sink, &mut cb).await?;
        }
    }
    // The body is complete, but a cut or stall set past its end still applies.
    if f.cut_after.is_some() || f.reset {
        flush(sink, &mut cb).await?;
        return Ok(Outcome::Close { reset: f.reset });
    }
    if f.stall_after.is_some() && !stalled {
        flush(sink, &mut cb).await?;
        match f.stall_for {
            None => return stall(sink, &mut cb, ka).await,
            Some(d) => stall_until(sink, &mut cb, ka, Instant::now() + d).await?,
        }
    }
    match framing {
        Framing::Chunked => sink.write(cb.take_last()).await?,
        Framing::Length(_) | Framing::Frames => flush(sink, &mut cb).await?,
        Framing::Close => {
            flush(sink, &mut cb).await?;
            return Ok(Outcome::Close { reset: false });
        }
    }
    Ok(if close {
        Outcome::Close { reset: false }
    } else {
        Outcome::Done
    })
}

#[derive(Clone, Copy)]
struct Keepalive {
    every: Option<Duration>,
    bytes: &'static [u8],
}

/// Sends nothing more (but keep-alive comments) until the connection's task
/// is stopped by the client leaving or the server stopping.
async fn stall<S: Sink>(sink: &mut S, cb: &mut ChunkBuf, ka: Keepalive) -> io::Result<Outcome> {
    let every = ka.every.unwrap_or(Duration::from_secs(3600));
    loop {
        sink.sleep_until(Instant::now() + every).await?;
        if ka.every.is_some() {
            cb.data().extend_from_slice(ka.bytes);
            flush(sink, cb).await?;
        }
    }
}

/// Sends nothing (but keep-alive comments) until `until`.
async fn stall_until<S: Sink>(
    sink: &mut S,
    cb: &mut ChunkBuf,
    ka: Keepalive,
    until: Instant,
) -> io::Result<()> {
    if let Some(every) = ka.every {
        let mut next = Instant::now() + every;
        while next < until {
            sink.sleep_until(next).await?;
            cb.data().extend_from_slice(ka.bytes);
            flush(sink, cb).await?;
            next += every;
        }
    }
    sink.sleep_until(until).await?;
    Ok(())
}
