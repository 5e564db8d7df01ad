//! A response body read from the socket as it is polled, in the polling
//! (stream's) task; the connection goes back to the pool at the body's end.

use std::future::Future;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use tokio::net::TcpStream;

use super::framing::Decoder;
use super::pool::{Origin, Pool};
use super::READ_SIZE;

/// The largest read asked for (hyper's adaptive reads stop higher, at
/// about 400 KiB; past 64 KiB a read costs the same per byte).
const READ_MAX: usize = 64 * 1024;

pub struct Body {
    /// `None` once the body ended (or failed): the connection was pooled or closed.
    sock: Option<TcpStream>,
    buf: BytesMut,
    decoder: Decoder,
    /// Where the connection goes when the body is read to its end.
    reuse: Option<(Arc<Pool>, Origin)>,
    /// Bytes asked of the next read: doubled while reads fill it (a body
    /// sent back to back), halved back while they come in small.
    read_size: usize,
}

impl Body {
    pub fn new(
        sock: TcpStream,
        buf: BytesMut,
        decoder: Decoder,
        reuse: Option<(Arc<Pool>, Origin)>,
    ) -> Self {
        let mut body = Body {
            sock: Some(sock),
            buf,
            decoder,
            reuse,
            read_size: READ_SIZE,
        };
        if body.decoder.done() {
            body.release();
        }
        body
    }

    /// The body is complete: the connection is pooled if it can carry
    /// another request (nothing read past the body), else closed.
    fn release(&mut self) {
        let sock = self.sock.take();
        if let (Some(sock), Some((pool, origin))) = (sock, self.reuse.take()) {
            if self.buf.is_empty() {
                pool.put(origin, sock);
            }
        }
        self.buf = BytesMut::new();
    }

    fn fail(&mut self, why: String) -> Poll<Option<Result<Bytes, String>>> {
        self.sock = None;
        self.reuse = None;
        Poll::Ready(Some(Err(why)))
    }

    /// The next piece of the body; `None` at its end; an error (why the body
    /// is broken) ends it too.
    pub fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, String>>> {
        loop {
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(data)) => {
                    if self.decoder.done() {
                        self.release();
                    }
                    return Poll::Ready(Some(Ok(data)));
                }
                Ok(None) => {}
                Err(e) => return self.fail(e.to_string()),
            }
            if self.decoder.done() {
                self.release();
                return Poll::Ready(None);
            }
            let Some(sock) = self.sock.as_mut() else {
                return Poll::Ready(None);
            };
            if self.buf.is_empty() {
                // Between reads a stream holds no buffer: LLM tokens come tens of
                // ms apart, and thousands of idle streams would each keep one.
                self.buf = BytesMut::new();
            }
            match ready!(poll_read_buf(sock, cx, &mut self.buf, self.read_size)) {
                Ok(0) => {
                    return match self.decoder.eof() {
                        Ok(()) => {
                            self.sock = None;
                            Poll::Ready(None)
                        }
                        Err(e) => self.fail(e.to_string()),
                    }
                }
                Ok(n) if n >= self.read_size => self.read_size = (self.read_size * 2).min(READ_MAX),
                Ok(n) if n < self.read_size / 4 => {
                    self.read_size = (self.read_size / 2).max(READ_SIZE)
                }
                Ok(_) => {}
                Err(e) => return self.fail(e.to_string()),
            }
        }
    }
}

/// Reads into the buffer's spare capacity once the socket is readable (the
/// buffer is allocated, or grown, only then). Through tokio's `poll_read`,
/// which takes a short read as the socket drained (edge-triggered epoll
/// reports the next bytes anyway), so a stream does not pay a read that
/// fails with `EAGAIN` after every chunk.
fn poll_read_buf(
    sock: &mut TcpStream,
    cx: &mut Context<'_>,
    buf: &mut BytesMut,
    size: usize,
) -> Poll<std::io::Result<usize>> {
    ready!(sock.poll_read_ready(cx))?;
    if buf.capacity() - buf.len() < size {
        buf.reserve(size);
    }
    let room = buf.capacity() - buf.len();
    let mut limited = bytes::BufMut::limit(&mut *buf, size.min(room));
    let read = tokio::io::AsyncReadExt::read_buf(sock, &mut limited);
    std::pin::pin!(read).poll(cx)
}
