//! A response body read from the socket as it is polled, in the polling
//! (stream's) task; the connection goes back to the pool at the body's end.

use std::cell::RefCell;
use std::future::Future;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncRead;
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
                // Drops what the last read's pieces still share, if anything.
                self.buf = BytesMut::new();
            }
            let read = if self.buf.is_empty() && self.read_size == READ_SIZE {
                // Reads come in small (tokens tens of ms apart): between them a
                // stream holds no buffer, as thousands of idle streams would each
                // keep one. The read lands in the worker thread's buffer, and the
                // body bytes it holds are copied out at their size.
                let decoder = &mut self.decoder;
                let buf = &mut self.buf;
                let in_thread_buffer = READ.try_with(|read| {
                    let mut read = read.borrow_mut();
                    let n = ready!(read.poll_read(sock, cx, READ_SIZE))?;
                    let data = read.decode(n, decoder, buf).map_err(|e| e.to_string());
                    Poll::Ready(Ok::<_, std::io::Error>((n, data)))
                });
                match in_thread_buffer {
                    Ok(read) => read,
                    // The thread is ending (its buffer gone): the stream's own.
                    Err(_) => poll_read_buf(sock, cx, buf, READ_SIZE).map_ok(|n| (n, Ok(None))),
                }
            } else {
                // Reads fill up (a body sent back to back), or an unfinished piece
                // of framing waits for the rest: read into the stream's buffer,
                // whose pieces are handed on without a copy.
                poll_read_buf(sock, cx, &mut self.buf, self.read_size).map_ok(|n| (n, Ok(None)))
            };
            let (n, data) = match ready!(read) {
                Ok(read) => read,
                Err(e) => return self.fail(e.to_string()),
            };
            match n {
                0 => {
                    return match self.decoder.eof() {
                        Ok(()) => {
                            self.sock = None;
                            Poll::Ready(None)
                        }
                        Err(e) => self.fail(e.to_string()),
                    }
                }
                n if n >= self.read_size => self.read_size = (self.read_size * 2).min(READ_MAX),
                n if n < self.read_size / 4 => self.read_size = (self.read_size / 2).max(READ_SIZE),
                _ => {}
            }
            match data {
                Ok(Some(data)) => {
                    if self.decoder.done() {
                        self.release();
                    }
                    return Poll::Ready(Some(Ok(data)));
                }
                Ok(None) => {}
                Err(e) => return self.fail(e),
            }
        }
    }
}

thread_local! {
    /// This thread's read buffer for bodies read from the socket.
    static READ: RefCell<ReadBuffer> = const { RefCell::new(ReadBuffer { bytes: Vec::new(), pieces: Vec::new() }) };
}

/// A worker thread's read buffer: one per thread, not one per stream, and
/// nothing allocated per read but the body bytes handed on.
struct ReadBuffer {
    bytes: Vec<u8>,
    /// Where the body's pieces lie in the last read (start, length).
    pieces: Vec<(usize, usize)>,
}

impl ReadBuffer {
    /// Up to `size` bytes from the socket once it is readable, through tokio's
    /// `poll_read` as `poll_read_buf` reads (no failing read after each chunk).
    fn poll_read(
        &mut self,
        sock: &mut TcpStream,
        cx: &mut Context<'_>,
        size: usize,
    ) -> Poll<std::io::Result<usize>> {
        if self.bytes.len() < size {
            self.bytes.resize(size, 0); // once per thread
        }
        let mut read = tokio::io::ReadBuf::new(&mut self.bytes[..size]);
        ready!(std::pin::Pin::new(sock).poll_read(cx, &mut read))?;
        Poll::Ready(Ok(read.filled().len()))
    }

    /// The body bytes in the first `n` bytes read, in one piece of their
    /// size (`None` if there are none); an unfinished piece of framing, or
    /// anything after the body's end, is kept in `rest`.
    fn decode(
        &mut self,
        n: usize,
        decoder: &mut Decoder,
        rest: &mut BytesMut,
    ) -> Result<Option<Bytes>, super::framing::FramingError> {
        let input = &self.bytes[..n];
        self.pieces.clear();
        let used = decoder.decode_slice(input, &mut self.pieces)?;
        rest.extend_from_slice(&input[used..]);
        Ok(match self.pieces[..] {
            [] => None,
            [(at, len)] => Some(Bytes::copy_from_slice(&input[at..at + len])),
            ref pieces => {
                let mut body = Vec::with_capacity(pieces.iter().map(|&(_, len)| len).sum());
                for &(at, len) in pieces {
                    body.extend_from_slice(&input[at..at + len]);
                }
                Some(Bytes::from(body))
            }
        })
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
