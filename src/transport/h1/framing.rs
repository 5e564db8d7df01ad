//! HTTP/1.1 message body framing (RFC 9112 §6–7): where a response body ends,
//! as chunked transfer coding, a `Content-Length`, or the connection's close.
//! Pure: bytes in, body bytes out; the socket is in `body`.

use bytes::{Buf, Bytes, BytesMut};

/// Longest chunk-size line (with extensions) accepted.
const MAX_SIZE_LINE: usize = 4096;
/// Most bytes of trailer fields accepted after the last chunk.
const MAX_TRAILERS: usize = 64 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// `Content-Length` bytes.
    Length(u64),
    /// Until the server closes the connection.
    Close,
    /// No body (HEAD, 204, 304, `Content-Length: 0`).
    Empty,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Before a chunk-size line.
    Size,
    /// Inside a chunk's data, this many bytes left.
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// Trailer fields after the last chunk, this many bytes of them seen.
    Trailers(usize),
    /// `Content-Length` bytes left.
    Fixed(u64),
    /// Everything until the close.
    Close,
    Done,
}

/// Why a body's framing is broken; the message reads after "the connection
/// broke after N complete chunks: ".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramingError(pub &'static str);

impl std::fmt::Display for FramingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for FramingError {}

/// The decoder of one response body.
#[derive(Debug)]
pub struct Decoder {
    state: State,
}

impl Decoder {
    pub fn new(framing: Framing) -> Self {
        let state = match framing {
            Framing::Chunked => State::Size,
            Framing::Length(0) | Framing::Empty => State::Done,
            Framing::Length(n) => State::Fixed(n),
            Framing::Close => State::Close,
        };
        Decoder { state }
    }

    /// The body is complete.
    pub fn done(&self) -> bool {
        self.state == State::Done
    }

    /// The body ends at the close: EOF is its end, not a truncation.
    pub fn ends_at_close(&self) -> bool {
        self.state == State::Close
    }

    /// The next piece of body decodable from `buf` (consumed from it), or
    /// `Ok(None)` when more bytes are needed (or the body is done).
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FramingError> {
        loop {
            match self.state {
                State::Size => {
                    let Some(eol) = memchr::memchr(b'\n', buf) else {
                        if buf.len() > MAX_SIZE_LINE {
                            return Err(FramingError("chunk size line too long"));
                        }
                        return Ok(None);
                    };
                    if eol == 0 || buf[eol - 1] != b'\r' {
                        return Err(FramingError("invalid chunk size line"));
                    }
                    let size = chunk_size(&buf[..eol - 1])?;
                    buf.advance(eol + 1);
                    self.state = if size == 0 {
                        State::Trailers(0)
                    } else {
                        State::Data(size)
                    };
                }
                State::Data(left) => {
                    let Some((out, rest)) = take(buf, left) else {
                        return Ok(None);
                    };
                    self.state = if rest == 0 {
                        State::DataEnd
                    } else {
                        State::Data(rest)
                    };
                    return Ok(Some(out));
                }
                State::DataEnd => {
                    if buf.len() < 2 {
                        if buf.first().is_some_and(|&b| b != b'\r') {
                            return Err(FramingError("chunk data not followed by CRLF"));
                        }
                        return Ok(None);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(FramingError("chunk data not followed by CRLF"));
                    }
                    buf.advance(2);
                    self.state = State::Size;
                }
                State::Trailers(seen) => {
                    let Some(eol) = memchr::memchr(b'\n', buf) else {
                        if seen + buf.len() > MAX_TRAILERS {
                            return Err(FramingError("trailer fields too large"));
                        }
                        return Ok(None);
                    };
                    if eol == 0 || buf[eol - 1] != b'\r' {
                        return Err(FramingError("invalid trailer line"));
                    }
                    buf.advance(eol + 1);
                    self.state = if eol == 1 {
                        State::Done
                    } else if seen + eol + 1 > MAX_TRAILERS {
                        return Err(FramingError("trailer fields too large"));
                    } else {
                        State::Trailers(seen + eol + 1)
                    };
                }
                State::Fixed(left) => {
                    let Some((out, rest)) = take(buf, left) else {
                        return Ok(None);
                    };
                    self.state = if rest == 0 {
                        State::Done
                    } else {
                        State::Fixed(rest)
                    };
                    return Ok(Some(out));
                }
                State::Close => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    return Ok(Some(buf.split().freeze()));
                }
                State::Done => return Ok(None),
            }
        }
    }

    /// The connection reached EOF: `Ok` if that ends the body, else why not.
    pub fn eof(&mut self) -> Result<(), FramingError> {
        match self.state {
            State::Close | State::Done => {
                self.state = State::Done;
                Ok(())
            }
            _ => Err(FramingError(
                "connection closed before the message completed",
            )),
        }
    }
}

/// Up to `left` bytes of body from the buffer, and how many are left after
/// them; `None` when the buffer is empty.
fn take(buf: &mut BytesMut, left: u64) -> Option<(Bytes, u64)> {
    if buf.is_empty() {
        return None;
    }
    let n = left.min(buf.len() as u64);
    Some((buf.split_to(n as usize).freeze(), left - n))
}

/// A chunk-size line's size: hex digits, then optional whitespace and
/// `;extensions` (ignored, as every client does).
fn chunk_size(line: &[u8]) -> Result<u64, FramingError> {
    let digits = line
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(line.len());
    if digits == 0 {
        return Err(FramingError("invalid chunk size"));
    }
    if digits > 16 {
        return Err(FramingError("chunk size too large"));
    }
    let rest = &line[digits..];
    let rest = &rest[rest
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(rest.len())..];
    if !rest.is_empty() && rest[0] != b';' {
        return Err(FramingError("invalid chunk size"));
    }
    let hex =
        std::str::from_utf8(&line[..digits]).map_err(|_| FramingError("invalid chunk size"))?;
    u64::from_str_radix(hex, 16).map_err(|_| FramingError("chunk size too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `wire` to a decoder `step` bytes at a time; the body, or the error.
    fn run(framing: Framing, wire: &[u8], step: usize) -> Result<(Vec<u8>, bool), FramingError> {
        let mut d = Decoder::new(framing);
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        for piece in wire.chunks(step.max(1)) {
            buf.extend_from_slice(piece);
            while let Some(b) = d.decode(&mut buf)? {
                body.extend_from_slice(&b);
            }
        }
        Ok((body, d.done()))
    }

    #[test]
    fn chunked_at_every_split() {
        let wire = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nx-trailer: 1\r\n\r\n";
        for step in 1..wire.len() {
            assert_eq!(
                run(Framing::Chunked, wire, step),
                Ok((b"hello, world".to_vec(), true)),
                "step {step}"
            );
        }
    }

    #[test]
    fn chunked_sizes_in_either_case_with_whitespace_before_extensions() {
        assert_eq!(
            run(Framing::Chunked, b"A \t;x\r\n0123456789\r\n0\r\n\r\n", 64),
            Ok((b"0123456789".to_vec(), true))
        );
        assert_eq!(
            run(Framing::Chunked, b"a\r\n0123456789\r\n0\r\n\r\n", 64),
            Ok((b"0123456789".to_vec(), true))
        );
    }

    #[test]
    fn chunked_errors_name_what_is_wrong() {
        let err = |wire: &[u8]| run(Framing::Chunked, wire, 64).unwrap_err().0;
        assert_eq!(err(b"zz\r\n"), "invalid chunk size");
        assert_eq!(err(b"5x\r\nhello\r\n"), "invalid chunk size");
        assert_eq!(err(b"5\nhello"), "invalid chunk size line");
        assert_eq!(err(b"11111111111111111\r\n"), "chunk size too large");
        assert_eq!(err(b"5\r\nhelloXX"), "chunk data not followed by CRLF");
        assert_eq!(err(b"5\r\nhelloX"), "chunk data not followed by CRLF");
        assert_eq!(err(&[b'1'; MAX_SIZE_LINE + 1]), "chunk size line too long");
        let mut big = b"0\r\n".to_vec();
        big.extend(std::iter::repeat_n(b'x', MAX_TRAILERS + 1));
        assert_eq!(err(&big), "trailer fields too large");
    }

    #[test]
    fn a_truncated_chunked_body_is_an_error_at_eof() {
        let mut d = Decoder::new(Framing::Chunked);
        let mut buf = BytesMut::from(&b"5\r\nhel"[..]);
        assert_eq!(d.decode(&mut buf).unwrap().as_deref(), Some(&b"hel"[..]));
        assert_eq!(d.decode(&mut buf), Ok(None));
        assert_eq!(
            d.eof().unwrap_err().0,
            "connection closed before the message completed"
        );
    }

    #[test]
    fn content_length_stops_at_the_length_and_leaves_the_rest() {
        let mut d = Decoder::new(Framing::Length(5));
        let mut buf = BytesMut::from(&b"helloEXTRA"[..]);
        assert_eq!(d.decode(&mut buf).unwrap().as_deref(), Some(&b"hello"[..]));
        assert!(d.done());
        assert_eq!(d.decode(&mut buf), Ok(None));
        assert_eq!(&buf[..], b"EXTRA");
        let mut short = Decoder::new(Framing::Length(5));
        let mut buf = BytesMut::from(&b"hel"[..]);
        assert!(short.decode(&mut buf).unwrap().is_some());
        assert!(short.eof().is_err());
    }

    #[test]
    fn close_delimited_bodies_end_at_eof() {
        let mut d = Decoder::new(Framing::Close);
        let mut buf = BytesMut::from(&b"anything"[..]);
        assert_eq!(
            d.decode(&mut buf).unwrap().as_deref(),
            Some(&b"anything"[..])
        );
        assert!(d.ends_at_close() && !d.done());
        assert_eq!(d.eof(), Ok(()));
        assert!(d.done());
    }

    #[test]
    fn empty_bodies_are_done_at_once() {
        assert!(Decoder::new(Framing::Empty).done());
        assert!(Decoder::new(Framing::Length(0)).done());
    }
}
